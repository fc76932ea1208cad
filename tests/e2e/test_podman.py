"""Debian sid's Podman 5 as the outer engine, through its Docker-compatible API socket on
a volume (``podman system service``), nested in the host's engine.

Resolution recognises it and the header says Podman; a suite that asks for no fixture
and a ``docker_client`` test pass through it; Ryuk's different needs are said; sidecar
mode fails at once with a clear message where it cannot work, and works from a DooD
agent on Podman.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import AGENT, BUSYBOX, DIND28
from .engines import write_project
from .helpers import LABEL, Run
from .plain import passed
from .project import PLAIN_PROJECT

pytestmark = pytest.mark.e2e

CLIENT_TEST = f"""
def test_docker_client(docker_client, docker_host):
    out = docker_client.containers.run("{BUSYBOX}", ["echo", "podman ok"], remove=True)
    assert out == b"podman ok\\n"
"""


@pytest.fixture(scope="module")
def podman(
    engine: Any, test_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from .engines import PODMAN, nested_engine

    folder = tmp_path_factory.mktemp("podman")
    with nested_engine(engine, f"p{os.getpid()}", folder, image=PODMAN) as nested:
        nested.load(engine, [BUSYBOX])
        yield nested


PROJECT = {**PLAIN_PROJECT, "test_client.py": CLIENT_TEST}


def test_podman_is_named_and_suites_pass_through_it(podman: Any, tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj", PROJECT)
    diagnosis = podman.run_here(folder, "podman", "pytest_dockerhost")
    assert diagnosis.exit_code == 0, str(diagnosis)
    (line,) = [x for x in diagnosis.lines() if x.startswith("docker: dood ")]
    assert re.search(r"\(engine Podman 5\.\d+\.\d+, API 1\.\d+\)", line), line
    assert line.endswith("(unverified)"), line  # Podman has no docker0 to go by
    assert re.search(r"^docker: engine Podman 5\.\S+: API [\d.]+-[\d.]+", diagnosis.output, re.M)

    run = podman.run_here(
        folder, "podman", "pytest", "-rA", "-v", f"--docker-published-host={podman.address}"
    )
    result = passed_with_client(run)
    assert result.hosts == {podman.address}, str(run)
    assert "engine Podman 5." in run.output, str(run)


def test_sidecar_from_a_dood_agent_on_podman_runs_the_suite_inside_it(
    podman: Any, engine: Any, agent_wheel: Path
) -> None:
    """A CI job in a container on Podman, with Podman's socket as its /var/run/docker.sock:
    the sidecar starts there, privileged by default (Podman grants a privileged container
    the capabilities it has), and the suite that asks for no fixture passes inside it, the
    image preloaded under the name the suite uses (Podman exports it as localhost/NAME)."""
    from .engines import dood_agent

    podman.load(engine, [AGENT, DIND28])
    env = {
        "PYTEST_DOCKER_SIDECAR_IMAGE": DIND28,
        "PYTEST_DOCKER_PRELOAD": BUSYBOX,
        "E2E_LABEL": f"{LABEL}=podman-sidecar",
    }
    with dood_agent(podman, agent_wheel, PLAIN_PROJECT) as agent:
        since = time.time()
        run = agent.pytest("-rA", "--docker-mode=sidecar", environment=env, user="root")
        until = time.time()
    result = passed(run)
    header = "\n".join(run.header())
    planned = r"on dood unix:///var/run/docker\.sock \(engine Podman 5\.\d+\.\d+, API 1\.\d+\) via"
    assert re.search(planned, header), header
    live = r"\(engine 28\.\S+, API 1\.5\d, TLS verified\) .*; sidecar \(privileged\) on dood"
    assert re.search(live, header), header
    assert f"docker: preloaded {BUSYBOX} into the sidecar" in header, header
    podman.assert_ran_in_one_sidecar(result, DIND28, since, until)


def passed_with_client(run: Run) -> Any:
    """The plain suite's four, and the docker_client test: five passed."""
    fixed = Run(run.exit_code, run.output.replace("5 passed", "4 passed"))
    assert "test_client.py::test_docker_client PASSED" in run.output, str(run)
    return passed(fixed)


def test_ryuk_on_podman_is_said_with_what_it_needs(podman: Any, tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj", PROJECT)
    run = podman.run_here(
        folder, "podman", "pytest_dockerhost", TESTCONTAINERS_RYUK_DISABLED="false"
    )
    assert "TESTCONTAINERS_RYUK_PRIVILEGED=true" in run.output, str(run)
    assert "--docker-reap" in run.output, str(run)


def test_sidecar_mode_on_a_podman_it_cannot_reach_fails_at_once_and_says_why(
    podman: Any, tmp_path: Path
) -> None:
    folder = write_project(tmp_path / "proj", PROJECT)
    run = podman.run_here(
        folder, "podman", "pytest", "--docker-mode=sidecar", "--docker-required", "-x"
    )
    assert run.exit_code == 1, str(run)
    assert (
        f"pytest-dockerhost: sidecar mode cannot reach a sidecar started on {podman.url}"
    ) in run.output, str(run)
    assert "Traceback" not in run.output, str(run)
