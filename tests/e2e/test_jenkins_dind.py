"""Scenario 2: examples/jenkins-dind/docker-compose.yml, run with docker-compose.

The agent (``jenkins``) reaches the ``docker`` service (our dind stand-in) at
tcp://docker:2376 with TLS, using the client certificates dind writes into a
shared volume. The first run starts *before* the dind service does, so the
plugin's readiness wait has to absorb the start-up (including the certificate
generation); the second runs against the settled stack. On an engine that grants
--privileged (Docker 28, in test_modules_on_docker28.py) the recipe runs as written, with
Docker 28's dind as the service; on one that refuses it, with the unprivileged override.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..conftest import AGENT, DIND, DIND28, ROOT
from .helpers import AGENT_ENV, LABEL, PROJECT_DIR, Agent, Compose, Run, leftovers
from .plain import passed
from .project import PLAIN_PROJECT, PROJECT

pytestmark = pytest.mark.e2e

RECIPE = ROOT / "examples" / "jenkins-dind" / "docker-compose.yml"
UNPRIVILEGED = Path(__file__).with_name("compose.unprivileged.yml")
PLAIN_DIR = "/home/jenkins/plain"  # the suite without plugin fixtures
DIND_HEADER = re.compile(
    r"docker: dind tcp://docker:2376 \(engine [^,]+, API [\d.]+, TLS verified\) via DOCKER_HOST; "
    r"published ports on docker"
)


@dataclass
class Stack:
    compose: Compose
    agent: Agent
    engine: Any

    @property
    def env(self) -> dict[str, str]:
        """What a Jenkins job adds to the service's environment (the compose file has the rest)."""
        return {**AGENT_ENV, "E2E_LABEL": f"{LABEL}={self.compose.project}"}

    def dind(self) -> Any:
        return self.compose.container(self.engine, "docker")


@pytest.fixture(scope="module")
def stack(
    engine: Any,
    test_images: None,
    agent_wheel: Path,
    busybox_archive: bytes,
    privileged_refusal: str,
) -> Iterator[Stack]:
    # The recipe as it is (privileged: true, today's dind) where the engine grants it, as
    # Docker 28 does (tests/e2e/test_modules_on_docker28.py); the override where it refuses.
    files, dind = ([RECIPE, UNPRIVILEGED], DIND) if privileged_refusal else ([RECIPE], DIND28)
    compose = Compose(
        f"pdh-e2e-{uuid.uuid4().hex[:10]}",
        files,
        {
            "DIND_IMAGE": dind,
            "AGENT_IMAGE": AGENT,
            "JENKINS_PORT": "127.0.0.1:0",
            "AGENT_PORT": "127.0.0.1:0",
        },
    )
    try:
        # Containers exist, nothing runs yet: the agent is prepared before dind starts.
        compose("up", "--no-start", "--no-build")
        agent = Agent(compose.container(engine, "jenkins"))
        compose("start", "jenkins")
        agent.put(PROJECT_DIR, {**PROJECT, "images/busybox.tar": busybox_archive})
        agent.put(PLAIN_DIR, {**PLAIN_PROJECT, "images/busybox.tar": busybox_archive})
        agent.install(agent_wheel)
        yield Stack(compose, agent, engine)
    finally:
        compose.down()


def _pytest_in_background(
    agent: Agent, env: dict[str, str], *args: str
) -> tuple[threading.Thread, list[Run]]:
    result: list[Run] = []
    thread = threading.Thread(
        target=lambda: result.append(agent.pytest(*args, environment=env)), daemon=True
    )
    thread.start()
    return thread, result


def test_agent_started_before_dind_waits_for_it_then_testcontainers_passes(stack: Stack) -> None:
    assert stack.dind().status == "created"  # dind has not started: no daemon, no certificates
    thread, result = _pytest_in_background(stack.agent, stack.env, "-s", "-v")
    time.sleep(1.0)  # pytest is resolving by now, against a service that is not running
    stack.compose("start", "docker")
    thread.join(timeout=300)
    (run,) = result
    assert run.exit_code == 0, str(run)
    assert any(DIND_HEADER.fullmatch(line) for line in run.header()), str(run)
    assert "docker: note: TLS verified with DOCKER_CERT_PATH=/certs/client (DOCKER_TLS_VERIFY)" in (
        run.output
    )
    assert "docker: setting mode = dind (from PYTEST_DOCKER_MODE)" in run.output
    waited = re.search(
        r"docker: tried DOCKER_HOST: tcp://docker:2376 -> ok in (\d+) ms", run.output
    )
    assert waited, str(run)
    assert int(waited.group(1)) > 1000, "the run must have waited for the starting daemon"
    assert "E2E fetched 'pytest-dockerhost-test ok' from docker:" in run.output


def test_settled_stack_runs_the_testcontainers_test_on_the_dind_service(stack: Stack) -> None:
    run = stack.agent.pytest("-s", "--docker-mode=dind", environment=stack.env)
    assert run.exit_code == 0, str(run)
    assert any(DIND_HEADER.fullmatch(line) for line in run.header()), str(run)
    assert "E2E fetched 'pytest-dockerhost-test ok' from docker:" in run.output
    # The service ran inside dind, not on the host engine: nothing with our label there.
    inner = stack.dind().exec_run(["docker", "ps", "-a", "-q", "--filter", f"label={LABEL}"])
    assert inner.exit_code == 0
    assert inner.output.decode().split() == []  # testcontainers removed it on exit


def test_a_suite_without_plugin_fixtures_runs_on_the_dind_service(stack: Stack) -> None:
    run = stack.agent.pytest("-rA", environment=stack.env, workdir=PLAIN_DIR)
    result = passed(run)
    assert result.hosts == {"docker"}, str(run)
    assert any(DIND_HEADER.fullmatch(line) for line in run.header()), str(run)
    # docker.from_env() reached the dind service's daemon, not the host's engine.
    dind_id = stack.dind().exec_run(["docker", "info", "--format", "{{.ID}}"])
    assert dind_id.exit_code == 0, dind_id.output
    assert result.daemons == {dind_id.output.decode().strip()}, str(run)
    assert stack.engine.info()["ID"] not in result.daemons
    inner = stack.dind().exec_run(["docker", "ps", "-a", "-q", "--filter", f"label={LABEL}"])
    assert inner.exit_code == 0
    assert inner.output.decode().split() == []  # the suite's containers are gone


def test_compose_down_leaves_nothing_on_the_engine(stack: Stack) -> None:
    stack.compose.down()
    assert leftovers(stack.engine, stack.compose.selector) == {
        "containers": [],
        "volumes": [],
        "networks": [],
    }
