"""pytest-xdist's controller-side hooks, registered only when pytest-xdist is present: the
endpoint handed to local workers, workers on other hosts told to resolve there (run/hosts.py)
and their reports taken, the shared sidecar cancelled when no worker needs Docker."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pytest

    from .hosts import RemoteWorkers
    from .lifecycle import EndpointLifecycle

WORKER_KEY = "pytest_dockerhost"  # in xdist's workerinput: the owner's endpoint
# The same, in the environment xdist's local workers start with: config.workerinput comes
# only after a worker has imported its conftests, and a module-level docker.from_env() in
# one must already reach the owner's endpoint (the sidecar, never the daemon under it).
HANDOVER_ENV = "PYTEST_DOCKERHOST_HANDOVER"


class RunHooks(Protocol):
    """What these hooks need of the run's hooks object (run/hooks.py)."""

    @property
    def lifecycle(self) -> EndpointLifecycle: ...

    @property
    def remote_workers(self) -> RemoteWorkers: ...

    def say(self, text: str) -> None: ...


class XdistHooks:
    """Registered only when pytest-xdist is present: hand the endpoint to workers."""

    def __init__(self, plugin: RunHooks) -> None:
        self.plugin = plugin

    @property
    def lifecycle(self) -> EndpointLifecycle:
        return self.plugin.lifecycle  # made at session start in the owner of workers

    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: Any) -> None:
        # Before the local workers start (restarted ones too): they inherit it.
        import json

        from .pool import handover  # a pool's workers each get their own engine

        os.environ[HANDOVER_ENV] = json.dumps(handover(self.lifecycle, specs))

    def pytest_configure_node(self, node: Any) -> None:
        from . import hosts
        from .gateways import gateway_place
        from .pool import export_for

        place = gateway_place(getattr(node.gateway, "spec", None))
        worker = str(node.workerinput.get("workerid", ""))
        if place is None:  # a local popen worker: the controller's endpoint (or its pool's)
            node.workerinput[WORKER_KEY] = export_for(self.lifecycle, worker)
            return
        # Another host: it resolves there, under an identity of its own (run/hosts.py), and
        # says what it found on a channel of its own once it has collected.
        handed = hosts.handover(self.lifecycle.identity, place, worker)
        handed[hosts.REPLY] = self.plugin.remote_workers.listen(node.gateway, worker)
        node.workerinput[WORKER_KEY] = handed

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if isinstance(data, dict):  # a worker elsewhere: what it used, for the summary
            self.plugin.remote_workers.add(str(node.workerinput.get("workerid", "")), data)

    def pytest_sessionfinish(self) -> None:
        os.environ.pop(HANDOVER_ENV, None)  # a run inside a test process leaves nothing

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # Every worker elsewhere has collected: each host's endpoint, before the first test.
        worker = str(node.workerinput.get("workerid", ""))
        for line in self.plugin.remote_workers.collected(worker):
            if node.config.get_verbosity() >= 0:
                self.plugin.say(line)
        # The owner collects nothing: its workers tell whether any test needs Docker.
        shared = self.lifecycle.sidecar
        dsession = node.config.pluginmanager.get_plugin("dsession")
        specs = getattr(getattr(dsession, "nodemanager", None), "specs", None)
        if (
            shared is not None
            and shared.owner
            and specs
            and shared.no_worker_needs_docker(len(specs))
        ):
            self.lifecycle.cancel_sidecar()
