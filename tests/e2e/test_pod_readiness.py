"""A pod whose dind starts several seconds after the job: readiness is /_ping, not a file.

In a pod every container starts at once, and the job's often wins. Here the job's
container owns the pod's network namespace and its pytest starts first; LATE seconds
later the dind container joins that namespace and starts its daemon. Meanwhile the job
meets what a starting dind leaves: ARC's shared /var/run holds a socket file nothing
listens on (the file a Jenkins readiness probe would accept); GitLab's and Tekton's
/certs/client is there and empty until dind's entrypoint writes it; Jenkins' port 2375
refuses. The plugin (auto mode, a configured DOCKER_HOST, in a pod) waits for /_ping,
picks up the certificates when they appear, and the suite, which asks for no plugin
fixture in one module, passes. The daemon's image comes from an earlier start of the same
dind on the same data volume: the job's daemon has no registry to pull from.

The pod's network has MTU 1400, as pod networks are smaller than Ethernet (Calico, VXLAN),
while the dind's bridge keeps its 1500: the plugin warns, with that CI's fix.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import DIND
from ..helpers import engine_events
from .conftest import Labelled
from .helpers import LABEL, PROJECT_DIR, Agent, Run, create_unprivileged_dind, remove_labelled
from .test_pods import ARC_GID, FETCHED, POD_PROJECT, SETUPS, Setup, dind_binds, pod_volumes

pytestmark = pytest.mark.e2e

LATE = 5.0  # seconds between the job's pytest starting and its daemon's container
POD_MTU = 1400
WAITED = re.compile(r"^docker: note: waited ([\d.]+) s for (\S+) to answer /_ping", re.M)


def _wait_for_socket(path: str, dind: Any) -> None:
    import docker

    deadline = time.monotonic() + 90
    while True:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            if os.path.exists(path):
                client = docker.DockerClient(base_url=f"unix://{path}", version="1.41")
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
        if time.monotonic() > deadline:
            logs = dind.logs()[-3000:].decode("utf-8", "replace")
            raise AssertionError(f"the seeding dockerd never answered:\n{logs}")
        time.sleep(0.2)


def _seed(engine: Any, labels: dict[str, str], busybox: bytes) -> tuple[Any, Any]:
    """The data volume with busybox in it, and the /var/run volume, from a first start of the
    dind image (plain TCP: no keys to make) that is stopped again."""
    import docker

    run_volume = engine.volumes.create(labels=labels)
    data = engine.volumes.create(labels=labels)
    dind = create_unprivileged_dind(
        engine,
        DIND,
        command=["--tls=false"],
        environment={"DOCKER_TLS_CERTDIR": ""},
        labels=labels,
        volumes=dind_binds(run_volume, data),
    )
    try:
        dind.start()
        path = os.path.join(run_volume.attrs["Mountpoint"], "docker.sock")
        _wait_for_socket(path, dind)
        client = docker.DockerClient(base_url=f"unix://{path}", version="1.41", timeout=120)
        try:
            client.images.load(busybox)
        finally:
            client.close()
        dind.stop(timeout=20)
    finally:
        dind.remove(force=True)
    # The network state goes, as a new pod's dind has none: its bridge's subnet was chosen
    # in the seeding container's namespace and may be the pod network's in the next one.
    network_db = os.path.join(data.attrs["Mountpoint"], "network", "files", "local-kv.db")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(network_db)
    return run_volume, data


def _leave_a_stale_socket(path: str) -> None:
    """A socket file that refuses connections, as a daemon not (yet) listening leaves it:
    ARC's, so root:123 and 0660, which the job's user may connect to."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()
    os.chown(path, 0, ARC_GID)
    os.chmod(path, 0o660)


@pytest.fixture(scope="module", params=SETUPS, ids=[s.name for s in SETUPS])
def late_pod(
    request: pytest.FixtureRequest,
    engine: Any,
    test_images: None,
    agent_wheel: Path,
    busybox_archive: bytes,
) -> Iterator[tuple[Setup, Run, float, float, Any]]:
    """(setup, the job's run, when the job's pytest started, when its dind started, the
    pod's daemon's id as the job saw it) for one pod whose dind starts LATE s late."""
    setup: Setup = request.param
    labelled = Labelled(engine, f"{os.getpid()}-late-{uuid.uuid4().hex[:8]}")
    labels = {LABEL: labelled.value}
    agent: Agent | None = None
    try:
        run_volume, data = _seed(engine, labels, busybox_archive)
        socket_path = os.path.join(run_volume.attrs["Mountpoint"], "docker.sock")
        dind_volumes, job_volumes = pod_volumes(engine, setup, labels, run_volume, data)
        if "/var/run" in setup.shared:
            _leave_a_stale_socket(socket_path)
        pod_network = engine.networks.create(
            f"pdh-pod-{labelled.value}",
            driver="bridge",
            options={"com.docker.network.driver.mtu": str(POD_MTU)},
            labels=labels,
        )
        agent = job_agent = Agent.create(
            engine,
            labelled.value,
            socket=None,
            group_add=setup.group_add,
            environment={"E2E_LABEL": labelled.selector, **setup.job_env},
            volumes=job_volumes,
            network=pod_network.name,
            **setup.extra,
        ).start()
        for alias in setup.aliases:  # hostAliases: written before any container runs
            done = agent.exec(["sh", "-c", f"echo '127.0.0.1\t{alias}' >> /etc/hosts"], user="root")
            assert done.exit_code == 0, str(done)
        agent.put(PROJECT_DIR, POD_PROJECT)
        agent.install(wheel=agent_wheel)

        runs: list[Run] = []
        job = threading.Thread(
            target=lambda: runs.append(
                job_agent.pytest(
                    "-v",
                    "-s",
                    "-rA",
                    environment={"E2E_PUBLISHED_HOST": setup.published},
                    user=setup.job_user,
                )
            ),
            daemon=True,
        )
        job_started = time.time()
        job.start()
        time.sleep(LATE)
        dind = create_unprivileged_dind(
            engine,
            DIND,
            command=setup.dind_command or None,
            environment=setup.dind_env,
            labels=labels,
            volumes=dind_volumes,
            network_mode=f"container:{agent.container.id}",
        )
        dind.start()
        job.join(timeout=300)
        assert runs, "the job's pytest did not end"
        dind_started = _started_at(engine, dind.id, job_started)
        yield setup, runs[0], job_started, dind_started, dind
        with contextlib.suppress(Exception):
            dind.remove(force=True, v=True)
        agent.remove()
        remove_labelled(engine, labelled.selector)
        labelled.assert_clean()
    finally:
        if agent is not None:
            agent.remove()
        remove_labelled(engine, labelled.selector)


def _started_at(engine: Any, container_id: str, since: float) -> float:
    """When the engine started the container, from its own events."""
    events = engine_events(
        engine,
        since,
        time.time(),
        {"type": "container", "event": "start", "container": container_id},
    )
    assert len(events) == 1, events
    return int(events[0]["timeNano"]) / 1e9


def test_the_job_started_first_and_its_suite_passes(
    late_pod: tuple[Setup, Run, float, float, Any],
) -> None:
    setup, run, job_started, dind_started, _ = late_pod
    # The engine's own record: the daemon's container started LATE s after the job's pytest.
    assert dind_started - job_started >= LATE - 0.5, (job_started, dind_started)
    assert run.exit_code == 0, str(run)
    assert re.search(r"^=+ 3 passed in ", run.output, re.M), str(run)
    assert any(setup.header.fullmatch(line) for line in run.header()), str(run)


def test_the_header_says_the_plugin_waited_for_ping(
    late_pod: tuple[Setup, Run, float, float, Any],
) -> None:
    setup, run, _, _, _ = late_pod
    waited = WAITED.search(run.output)
    assert waited, str(run)
    # The job's interpreter and plugin start take about a second of the LATE ones.
    assert float(waited.group(1)) >= LATE - 2.5, str(run)
    assert waited.group(2) == setup.job_env["DOCKER_HOST"], str(run)


def test_published_ports_answer_on_loopback_after_the_wait(
    late_pod: tuple[Setup, Run, float, float, Any],
) -> None:
    setup, run, _, _, _ = late_pod
    fetched = {}
    for line in run.lines():
        found = FETCHED.search(line)
        if found:
            kind, host, address = found.groups()
            fetched[kind] = (host, address)
    assert fetched == {
        "testcontainers": (setup.published, "127.0.0.1"),
        "docker_host": (setup.published, "127.0.0.1"),
    }, str(run)


def test_a_pod_network_smaller_than_the_dind_bridge_is_warned_with_the_cis_fix(
    late_pod: tuple[Setup, Run, float, float, Any],
) -> None:
    setup, run, _, _, _ = late_pod
    warning = (
        f"docker: warning: the daemon at {setup.job_env['DOCKER_HOST']} gives its bridge MTU "
        f"1500, larger than this job's eth0 ({POD_MTU}): packets larger than {POD_MTU} from "
        "test containers can stall silently"
    )
    assert any(line.startswith(warning) for line in run.lines()), str(run)
    fix = {
        "arc-dind": '"--group=123", "--mtu=1400", "--default-network-opt=',
        "jenkins-kubernetes": 'in the pod template\'s dind container: `args: ["--mtu=1400"',
        "gitlab-kubernetes": 'services: [{name: "docker:dind", command: ["--mtu=1400"',
        "tekton-sidecar": 'on the task\'s dind sidecar: `args: ["--mtu=1400"',
    }[setup.name]
    assert fix in run.output, str(run)
