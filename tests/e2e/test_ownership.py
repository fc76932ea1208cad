"""Two CI jobs on one host's daemon that share a hostname, as two agent containers with
``--network host`` do, and whose container ids cannot be detected (their /etc/hostname,
/etc/hosts and /etc/resolv.conf are not Docker's, as in a pod). Neither may take the
other's live resources for a dead run's; once one is killed, its lapsed lease lets the
other's next run remove what it left.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from .helpers import PROJECT_DIR, Agent, socket_gid, wait_until
from .project import PYTEST_INI

pytestmark = pytest.mark.e2e

SESSION = "org.testcontainers.session-id"
LEASE = "3"  # seconds: short, so that a killed job's lease lapses within the test
# A suite that leaks a container and a network, says so, and holds until released.
LEAKS = f"""
import json
import os
import pathlib
import time

import docker
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network


def test_leaks():
    container = DockerContainer("{BUSYBOX}").with_command("sleep 300")
    container.start()
    network = Network()
    network.create()
    wrapped = docker.from_env().containers.get(container.get_wrapped_container().id)
    here = pathlib.Path(os.environ["RECORD"])
    record = {{"container": wrapped.id, "network": network.name,
              "session": wrapped.labels["{SESSION}"]}}
    here.with_suffix(".tmp").write_text(json.dumps(record))
    here.with_suffix(".tmp").rename(here)
    while not (here.parent / "release").exists():
        time.sleep(0.1)
"""
QUICK = "def test_quick(docker_client):\n    assert docker_client.ping()\n"
RECORD = f"{PROJECT_DIR}/record.json"


@pytest.fixture
def etc_files(tmp_path: Path) -> dict[str, dict[str, str]]:
    """/etc files that are not Docker's, so mountinfo names no container (DooD: the daemon
    reads these paths on this machine, where the test runs)."""
    binds: dict[str, dict[str, str]] = {}
    for name, text in (
        ("hostname", socket.gethostname() + "\n"),
        ("hosts", "127.0.0.1 localhost\n"),
        ("resolv.conf", "nameserver 127.0.0.1\n"),
    ):
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o644)
        binds[str(path)] = {"bind": f"/etc/{name}", "mode": "ro"}
    return binds


@pytest.fixture
def host_agent(
    make_agent: Callable[..., Agent], etc_files: dict[str, dict[str, str]]
) -> Callable[[], Agent]:
    project = {"pytest.ini": PYTEST_INI, "test_leaks.py": LEAKS, "test_quick.py": QUICK}

    def make() -> Agent:
        return make_agent(
            project=project,
            network="host",
            group_add=[socket_gid()],
            volumes=etc_files,
            cgroupns="private",  # no container id in /proc/self/cgroup either
        )

    return make


def _pytest_in_background(agent: Agent, *args: str) -> None:
    agent.container.exec_run(
        ["timeout", "240", "python", "-m", "pytest", f"--docker-lease={LEASE}", *args],
        user="jenkins",
        workdir=PROJECT_DIR,
        environment={"RECORD": RECORD},
        detach=True,
    )


def _record(agent: Agent) -> dict[str, str]:
    def read() -> dict[str, str] | None:
        found = agent.exec(["cat", RECORD])
        return json.loads(found.output) if found.exit_code == 0 else None

    record: dict[str, str] = wait_until(read, 120, "the job's leak record")
    return record


def _alive(engine: Any, record: dict[str, str]) -> dict[str, int]:
    flt = {"label": f"{SESSION}={record['session']}"}
    return {
        "containers": len(engine.api.containers(all=True, filters=flt)),
        "networks": len(engine.api.networks(filters=flt)),
    }


def _run_id(engine: Any, record: dict[str, str]) -> str:
    flt = {"label": [f"{SESSION}={record['session']}", "org.pytest-dockerhost.role=run"]}
    (marker,) = engine.api.volumes(filters=flt)["Volumes"]
    return str(marker["Labels"]["org.pytest-dockerhost.run"])


def _bookkeeping(engine: Any, run_id: str) -> list[str]:
    flt = {"label": f"org.pytest-dockerhost.run={run_id}"}
    return [v["Name"] for v in engine.api.volumes(filters=flt).get("Volumes") or []]


@pytest.fixture
def sessions(engine: Any) -> Iterator[list[dict[str, str]]]:
    records: list[dict[str, str]] = []
    yield records
    from pytest_dockerhost.cleanup.reaper import reap

    for record in records:  # whatever a failed test left
        reap(engine, record["session"])


def test_two_jobs_sharing_a_hostname_keep_their_own_and_a_killed_ones_lapse(
    host_agent: Callable[[], Agent], engine: Any, sessions: list[dict[str, str]]
) -> None:
    first, second = host_agent(), host_agent()
    for agent in (first, second):
        assert agent.exec(["hostname"]).output.strip() == socket.gethostname()
        detected = agent.exec(
            [
                "python",
                "-c",
                "from pytest_dockerhost.discovery.network import detect; print(detect())",
            ]
        )
        assert "container_id=None" in detected.output, detected  # a pod-like container

    _pytest_in_background(first, "test_leaks.py")
    record_1 = _record(first)
    sessions.append(record_1)
    run_1 = _run_id(engine, record_1)
    _pytest_in_background(second, "test_leaks.py")  # its start sweeps: the first is alive
    record_2 = _record(second)
    sessions.append(record_2)
    run_2 = _run_id(engine, record_2)
    # A third job in the second agent, start to end, while both live.
    quick = second.pytest("test_quick.py", f"--docker-lease={LEASE}")
    assert quick.exit_code == 0, str(quick)
    assert "leftovers of runs that were killed" not in quick.output, str(quick)
    assert _alive(engine, record_1) == {"containers": 1, "networks": 1}
    assert _alive(engine, record_2) == {"containers": 1, "networks": 1}

    first.container.kill()  # the whole job dies at once, as when its agent is lost
    assert _alive(engine, record_1) == {"containers": 1, "networks": 1}
    time.sleep(float(LEASE) + 2)  # its lease lapses: nobody renews it
    after = second.pytest("test_quick.py", f"--docker-lease={LEASE}")
    assert after.exit_code == 0, str(after)
    assert "docker: note: removed 2 leftovers of runs that were killed" in after.output, str(after)
    assert _alive(engine, record_1) == {"containers": 0, "networks": 0}
    assert _bookkeeping(engine, run_1) == []  # its marker and its lease went too
    assert _alive(engine, record_2) == {"containers": 1, "networks": 1}

    second.exec(["touch", f"{PROJECT_DIR}/release"])
    wait_until(lambda: not _bookkeeping(engine, run_2), 60, "the second job's own cleanup")
    assert _alive(engine, record_2) == {"containers": 0, "networks": 0}
