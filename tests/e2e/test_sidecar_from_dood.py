"""Scenario 4: ``--docker-mode=sidecar`` from inside a Jenkins DooD agent.

The agent has the host's socket (gid fixed with ``--group-add``); the plugin starts its
own dind sidecar through it, reaches it from inside the agent, runs the testcontainers
test inside the sidecar, and removes everything it created, also under pytest-xdist.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND
from .conftest import Labelled
from .helpers import Agent, socket_gid
from .project import TEST_SERVICE

pytestmark = pytest.mark.e2e

# On every sidecar, volume and network the plugin makes: the container the run was in.
OWNER_LABEL = "org.pytest-dockerhost.owner-container"
SIDECAR_ENV = {
    "PYTEST_DOCKER_SIDECAR_IMAGE": DIND,
    # This engine refuses --privileged (moby#42906); real hosts keep the default (true).
    "PYTEST_DOCKER_SIDECAR_PRIVILEGED": "false",
    # ...and lacks CAP_SYS_RESOURCE, which the agent cannot see from inside.
    "PYTEST_DOCKER_SIDECAR_CAP_DROP": "SYS_RESOURCE",
}
# Which sidecar each test ran against, for the xdist run.
WHICH = """

def test_which_sidecar(docker_host):
    print(f"E2E sidecar {docker_host.sidecar.container_id} at {docker_host.url}")
    outer = docker_host.outer.client()
    try:
        labels = outer.containers.get(docker_host.sidecar.container_id).labels
    finally:
        outer.close()
    print(f"E2E sidecar owner {labels['org.pytest-dockerhost.owner-container']}")
"""
HEADER = (
    f"docker: sidecar (image {DIND}, unprivileged, preload {BUSYBOX}) on dood "
    "unix:///var/run/docker.sock (engine *, API *) via /var/run/docker.sock (the system "
    "socket); starting now, while pytest collects: the first test that may use Docker waits for it"
)
STARTED = re.compile(
    rf"docker: note: sidecar (pytest-dockerhost-\w+) from {re.escape(DIND)} started in [\d.]+ s on "
    r"unix:///var/run/docker\.sock"
)


def created_from(engine: Any, agent: Agent) -> dict[str, list[str]]:
    """What the plugin made from inside ``agent`` (other runs on this engine don't count)."""
    label = f"{OWNER_LABEL}={agent.container.id}"
    return {
        "containers": [c.name for c in engine.containers.list(all=True, filters={"label": label})],
        "volumes": [v.name for v in engine.volumes.list(filters={"label": label})],
        "networks": [n.name for n in engine.networks.list(filters={"label": label})],
    }


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist-n2"])
def test_sidecar_from_a_dood_agent(
    workers: int, make_agent: Callable[..., Agent], engine: Any, labelled: Labelled
) -> None:
    agent = make_agent(
        files={"test_service.py": TEST_SERVICE + WHICH, "test_service_2.py": TEST_SERVICE},
        group_add=[socket_gid()],
    )
    args = ["--docker-mode=sidecar", f"--docker-preload={BUSYBOX}", "-v", "-rA"]
    if workers:
        args += ["-n", str(workers)]
    run = agent.pytest(*args, environment=SIDECAR_ENV)
    assert run.exit_code == 0, str(run)
    assert "3 passed" in run.output, str(run)
    assert fnmatch.fnmatch(run.header()[0], HEADER), str(run)
    # One sidecar for the whole run, whichever worker asked, and the tests used it.
    seen = set(re.findall(r"E2E sidecar (\S+) at tcp://(pytest-dockerhost-\w+):2376", run.output))
    assert len(seen) == 1, str(run)
    ((sidecar_id, name),) = seen
    # ...labelled with the agent it was started from, which the leftover check relies on.
    assert f"E2E sidecar owner {agent.container.id}" in run.output, str(run)
    started = {m.group(1) for m in map(STARTED.search, run.lines()) if m}
    assert started <= {name}, str(run)
    if not workers:
        assert started == {name}, str(run)
    # The testcontainers tests reached their services where the plugin said ports are:
    # the sidecar's address on the network it shares with the agent, not localhost.
    hosts = set(re.findall(r"E2E fetched 'pytest-dockerhost-test ok' from (\S+):\d+", run.output))
    assert len(hosts) == 1, str(run)
    assert hosts.isdisjoint({"localhost", "127.0.0.1"})
    # Afterwards: the sidecar, its volume and its network are gone, and the agent left it.
    assert created_from(engine, agent) == {"containers": [], "volumes": [], "networks": []}
    assert not [c for c in engine.containers.list(all=True) if c.id == sidecar_id]
    agent.container.reload()
    assert list(agent.container.attrs["NetworkSettings"]["Networks"]) == ["bridge"]
    agent.remove()
    labelled.assert_clean()
