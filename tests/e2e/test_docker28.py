"""Debian sid's Docker 28 (API 1.51) as the engine users run today, nested in the host's.

- From this machine, through its socket on a volume (how a forwarded socket looks: Docker
  Desktop, Colima, ``ssh -L``): resolution names the engine, makes no false claim about
  where published ports answer, and with ``--docker-published-host`` a suite that asks
  for no fixture passes against it.
- From a DooD agent inside it: the sidecar in its *default, privileged* profile (Docker
  28 grants privileged containers the capabilities it has), with testcontainers inside,
  preloaded images, and a kill -9'd run swept by the next.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import AGENT, BUSYBOX, DIND28
from .engines import write_project
from .helpers import PROJECT_DIR, Agent, started_images, wait_until
from .plain import passed
from .project import PLAIN_PROJECT

pytestmark = pytest.mark.e2e

VERSION = re.compile(r"\(engine 28\.\d+\.\d+\S*, API 1\.5\d")


@pytest.fixture(scope="module")
def engine28(
    engine: Any, test_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from .engines import nested_engine

    with nested_engine(engine, f"{os.getpid()}", tmp_path_factory.mktemp("docker28")) as nested:
        nested.load(engine, [BUSYBOX, DIND28, AGENT])
        yield nested


def test_a_forwarded_docker_28_socket_is_named_and_no_port_claim_is_false(
    engine28: Any, tmp_path: Path
) -> None:
    folder = write_project(tmp_path / "proj", PLAIN_PROJECT)
    diagnosis = engine28.run_here(folder, "docker28", "pytest_dockerhost")
    assert diagnosis.exit_code == 0, str(diagnosis)
    (line,) = [x for x in diagnosis.lines() if x.startswith("docker: dood ")]
    assert VERSION.search(line), line
    assert f"unix://{engine28.socket}" in line, line
    # Its bridge is 172.17.0.1 in its own namespace, as ours is here: only a published port
    # that answers could prove where ports are, and none does yet.
    assert line.endswith("(unverified)"), line
    assert "set --docker-published-host" in diagnosis.output, str(diagnosis)
    assert re.search(
        r"^docker: engine Docker 28\.\S+: API 1\.24-1\.5\d, graph driver overlay2, cgroup v1$",
        diagnosis.output,
        re.M,
    ), str(diagnosis)

    # With where its ports really answer, the suite that asks for no fixture passes.
    since = time.time()
    run = engine28.run_here(
        folder, "docker28", "pytest", "-rA", f"--docker-published-host={engine28.address}"
    )
    result = passed(run)
    assert result.hosts == {engine28.address}, str(run)
    assert result.daemons == {engine28.client.info()["ID"]}, str(run)
    assert VERSION.search(run.output), str(run)
    # The engine's own events: the services started there, nowhere else.
    assert BUSYBOX in started_images(engine28.client, since, time.time()), str(run)


@pytest.fixture
def agent28(engine28: Any, agent_wheel: Path) -> Iterator[Agent]:
    """A DooD agent on Docker 28 (its socket mounted), run as root like a container job."""
    from .engines import dood_agent

    with dood_agent(engine28, agent_wheel, PLAIN_PROJECT) as agent:
        yield agent


SIDECAR28 = {
    "PYTEST_DOCKER_SIDECAR_IMAGE": DIND28,
    "PYTEST_DOCKER_PRELOAD": BUSYBOX,
    "E2E_LABEL": "pytest-dockerhost-e2e=docker28",
}


def _ran_in_a_privileged_sidecar(
    engine28: Any, run: Any, result: Any, since: float, until: float
) -> None:
    """The suite (``result``, passed) ran in one sidecar on Docker 28, privileged without a
    fallback (Docker 28 takes --privileged as it is)."""
    assert "fallback" not in "\n".join(run.header()), str(run)
    engine28.assert_ran_in_one_sidecar(result, DIND28, since, until)


def test_the_default_privileged_sidecar_runs_on_docker_28_with_testcontainers_inside(
    engine28: Any, agent28: Agent
) -> None:
    since = time.time()
    run = agent28.pytest("-rA", "--docker-mode=sidecar", environment=SIDECAR28, user="root")
    until = time.time()
    result = passed(run)
    header = "\n".join(run.header())
    assert re.search(
        r"^docker: sidecar tcp://pytest-dockerhost-\w+:2376 \(engine 28\.\S+, API 1\.5\d, TLS "
        rf"verified\) via sidecar pytest-dockerhost-\w+ \({re.escape(DIND28)}\); published ports "
        r"on \S+; sidecar \(privileged\) on dood unix:///var/run/docker\.sock$",
        header,
        re.M,
    ), header
    assert "(engine 28." in header, header
    _ran_in_a_privileged_sidecar(engine28, run, result, since, until)


def test_the_default_privileged_sidecar_runs_from_docker_28s_own_host(
    engine28: Any, tmp_path: Path
) -> None:
    """From the daemon's host, as far as the network goes: a process of this machine in the
    nested engine's network namespace, with its socket. The sidecar publishes its TLS port
    on that loopback, as on a laptop, and runs privileged, the default."""
    if os.geteuid() != 0 or not shutil.which("nsenter"):
        pytest.skip("needs root and nsenter(1) to enter the engine's network namespace")
    folder = write_project(tmp_path / "proj", PLAIN_PROJECT)
    since = time.time()
    run = engine28.run_here(
        folder,
        "docker28",
        "pytest",
        "-rA",
        "--docker-mode=sidecar",
        in_its_network=True,
        PYTEST_DOCKER_SIDECAR_IMAGE=DIND28,
        PYTEST_DOCKER_PRELOAD=BUSYBOX,
    )
    until = time.time()
    result = passed(run)
    header = "\n".join(run.header())
    assert re.search(
        r"^docker: sidecar tcp://127\.0\.0\.1:\d+ \(engine 28\.\S+, API 1\.5\d, TLS verified\) "
        rf"via sidecar pytest-dockerhost-\w+ \({re.escape(DIND28)}\); published ports on \S+; "
        rf"sidecar \(privileged\) on dood {re.escape(engine28.url)}$",
        header,
        re.M,
    ), header
    _ran_in_a_privileged_sidecar(engine28, run, result, since, until)


HANGS = """
import pathlib
import time


def test_hangs(docker_client):
    pathlib.Path("/tmp/started").write_text("1")
    time.sleep(300)
"""


def test_a_killed_sidecar_run_on_docker_28_is_swept_by_the_next(
    engine28: Any, agent28: Agent
) -> None:
    agent28.put(PROJECT_DIR, {"test_hangs.py": HANGS}, uid=0)
    agent28.container.exec_run(
        ["python", "-m", "pytest", "--docker-mode=sidecar", "test_hangs.py"],
        environment=SIDECAR28,
        workdir=PROJECT_DIR,
        detach=True,
    )
    wait_until(lambda: agent28.exec(["test", "-e", "/tmp/started"]).exit_code == 0, 120, "it")
    labelled = {"label": "org.pytest-dockerhost.run"}
    (sidecar,) = engine28.client.containers.list(filters=labelled)
    agent28.exec(["pkill", "-KILL", "-f", "pytest --docker-mode"], user="root")
    time.sleep(0.5)
    assert engine28.client.containers.get(sidecar.id).status == "running"  # what kill -9 left
    run = agent28.pytest(
        "-rA", "--docker-mode=sidecar", "test_plain.py", environment=SIDECAR28, user="root"
    )
    assert run.exit_code == 0, str(run)
    # Its sidecar, the sidecar's data volume and its network (its lease goes too, uncounted).
    assert "docker: note: removed 3 leftovers of runs that were killed" in run.output, str(run)
    assert not engine28.client.containers.list(all=True, filters=labelled)


def test_xdist_workers_share_one_privileged_sidecar_on_docker_28(
    engine28: Any, agent28: Agent
) -> None:
    since = time.time()
    run = agent28.pytest(
        "-rA", "-n", "2", "--docker-mode=sidecar", environment=SIDECAR28, user="root"
    )
    until = time.time()
    assert run.exit_code == 0, str(run)
    assert "4 passed" in run.output, str(run)
    started = started_images(engine28.client, since, until)
    assert started.count(DIND28) == 1, started  # one sidecar for the controller and workers
    assert BUSYBOX not in started, started


def test_a_mismatched_socket_group_on_docker_28_is_diagnosed_with_its_gid(
    agent28: Agent,
) -> None:
    gid = agent28.exec(["stat", "-c", "%g", "/var/run/docker.sock"], user="root").output.strip()
    run = agent28.pytest("-rA")  # as jenkins: uid 1000, groups 1000 and 1999 (docker)
    assert run.exit_code == 2, str(run)  # the module-level client fails collection
    assert re.search(
        rf"permission denied on /var/run/docker\.sock: the socket is \S+ owned by uid 0, "
        rf"gid {gid}\b",
        run.output,
    ), str(run)
    assert f"`docker run --group-add {gid} ...`" in run.output, str(run)
    assert "chmod" not in run.output, str(run)
