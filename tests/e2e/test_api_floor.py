"""Docker 29's API floor, against a real engine (issue 22, item 6): Debian sid's Docker 28
(API 1.51) nested here, started with ``DOCKER_MIN_API_VERSION=1.44`` in its environment,
as GitHub's hosted runners' Docker 29.1 is. Bookworm's docker CLI 20.10 (API 1.41) and
Compose 1.29 (Python, docker-py underneath) are first in PATH.

- The engine's own words: the CLI is refused ("client version 1.41 is too old"), and so
  is Compose v1 pinned by ``COMPOSE_API_VERSION=1.41``; unpinned, it negotiates and works.
- The header names each refused tool, its path, the API it speaks, the engine's floor
  and the fix; docker-py is not named, and the suite that asks for no fixture
  (testcontainers, ``docker.from_env()``) passes on that engine.
- The same engine without the raised floor: no such warning, the same suite passes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND28
from .engines import write_project
from .helpers import INNER_TIMEOUT, LABEL
from .plain import passed
from .project import PLAIN_PROJECT, PYTEST_INI

pytestmark = pytest.mark.e2e

FLOOR = "1.44"
CLI = "/usr/bin/docker"  # bookworm's docker.io: 20.10, API 1.41
COMPOSE = "/usr/bin/docker-compose"  # bookworm's docker-compose: 1.29, Python
COMPOSE_FILE = f"services:\n  web:\n    image: {BUSYBOX}\n"
TOO_OLD = "client version 1.41 is too old. Minimum supported API version is 1.44"


def _client_api(cli: str) -> str:
    done = subprocess.run(
        [cli, "version", "--format", "{{.Client.APIVersion}}"],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},
        check=False,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def old_tools() -> str:
    """A PATH with bookworm's CLI and Compose v1 first."""
    if not os.access(CLI, os.X_OK) or _client_api(CLI) != "1.41":
        pytest.skip(f"needs bookworm's docker CLI 20.10 (API 1.41) at {CLI}")
    if not os.access(COMPOSE, os.X_OK) or b"python" not in Path(COMPOSE).read_bytes()[:64]:
        pytest.skip(f"needs bookworm's docker-compose 1.29 (Python) at {COMPOSE}")
    return os.pathsep.join(["/usr/bin", os.environ["PATH"]])


@pytest.fixture(scope="module", params=[FLOOR, ""], ids=["floor-1.44", "usual-floor"])
def engine28(
    request: pytest.FixtureRequest,
    engine: Any,
    test_images: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, str]]:
    """The nested Docker 28, and the minimum API it was started with ("": its own)."""
    from .engines import nested_engine

    floor = str(request.param)
    with nested_engine(
        engine,
        f"{os.getpid()}-floor{floor or 'usual'}",
        tmp_path_factory.mktemp("floor"),
        environment={"DOCKER_MIN_API_VERSION": floor} if floor else None,
    ) as nested:
        nested.load(engine, [BUSYBOX])
        yield nested, floor


def _engine_answer(nested: Any, path: str, folder: Path, *command: str, **env: str) -> str:
    done = subprocess.run(
        list(command),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": path, "DOCKER_HOST": nested.url, **env},
        check=False,
    )
    return f"exit {done.returncode}: {done.stdout}{done.stderr}"


def test_tools_the_engines_floor_refuses_are_named_in_the_header(
    engine28: tuple[Any, str], old_tools: str, tmp_path: Path
) -> None:
    nested, floor = engine28
    # The engine's own word on its range.
    assert nested.client.version()["MinAPIVersion"] == (floor or "1.24")
    folder = write_project(tmp_path / "proj", {**PLAIN_PROJECT, "compose.yml": COMPOSE_FILE})
    cli = _engine_answer(nested, old_tools, folder, CLI, "ps")
    compose = ["docker-compose", "-f", "compose.yml", "ps"]
    unpinned = _engine_answer(nested, old_tools, folder, *compose)
    pinned = _engine_answer(nested, old_tools, folder, *compose, COMPOSE_API_VERSION="1.41")
    assert unpinned.startswith("exit 0"), unpinned  # docker-py underneath negotiates
    if floor:
        assert TOO_OLD in cli, cli
        assert TOO_OLD in pinned, pinned
    else:
        assert cli.startswith("exit 0"), cli
        assert pinned.startswith("exit 0"), pinned

    run = nested.run_here(
        folder,
        "api-floor",
        "pytest",
        "-rA",
        "-v",
        f"--docker-published-host={nested.address}",
        PATH=old_tools,
        COMPOSE_API_VERSION="1.41",
    )
    passed(run)  # testcontainers and docker.from_env() speak the engine's own version
    header = "\n".join(run.header())
    range_ = rf"API {re.escape(floor or '1.24')}-1\.5\d"
    assert re.search(rf"^docker: engine Docker 28\.\S+: {range_},", header, re.M), header
    assert "docker-py" not in header, header
    cli_warning = (
        f"docker: warning: the docker CLI at {CLI} speaks API 1.41, and this engine accepts "
        f"{FLOOR} and later: `docker` commands in tests will be refused ('client version 1.41 "
        f"is too old'). Fix: upgrade it to a version that speaks API {FLOOR} or later (or put "
        "one first in PATH); or, where the engine is yours, lower its minimum: "
        'DOCKER_MIN_API_VERSION=1.41 in the daemon\'s environment or "min-api-version": '
        '"1.41" in its daemon.json, or upgrade it to Docker 29.3 or later, whose minimum is 1.40'
    )
    compose_warning = (
        f"docker: warning: docker-compose (Compose v1) at {COMPOSE} speaks API 1.41, set by "
        f"COMPOSE_API_VERSION, and this engine accepts {FLOOR} and later"
    )
    if floor:
        assert cli_warning in run.header(), header
        assert compose_warning in header, header
        assert "Fix: unset COMPOSE_API_VERSION" in header, header
    else:
        assert "this engine accepts" not in header, header
        assert "speaks API" not in header, header


PING = """
def test_ping(docker_client):
    assert docker_client.ping()
"""


@pytest.fixture
def floored_dind28(engine: Any, test_images: None) -> Iterator[str]:
    """Docker 28's dind image with a raised minimum, as docker:dind 29.0-29.2 have it: made
    here (a commit with one ENV line), removed after."""
    tag = f"pdh-api-floor/dind:{os.getpid()}"
    container = engine.containers.create(DIND28, labels={LABEL: "api-floor"})
    try:
        container.commit(tag, changes=[f"ENV DOCKER_MIN_API_VERSION={FLOOR}"])
    finally:
        container.remove(force=True)
    try:
        yield tag
    finally:
        engine.images.remove(tag, force=True)


def test_in_sidecar_mode_the_sidecars_floor_decides(
    engine: Any, floored_dind28: str, old_tools: str, tmp_path: Path
) -> None:
    """The tests' tools talk to the sidecar, not to this machine's engine (whose minimum is
    its own 1.12): the sidecar's raised minimum names the CLI."""
    folder = write_project(tmp_path / "proj", {"pytest.ini": PYTEST_INI, "test_ping.py": PING})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "--docker-mode=sidecar"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")},
            "PATH": old_tools,
            "PYTEST_DOCKER_SIDECAR_IMAGE": floored_dind28,
            "COMPOSE_API_VERSION": "1.41",
        },
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    header = [line for line in output.splitlines() if line.startswith("docker: ")]
    assert any(line.startswith("docker: sidecar ") for line in header), output
    assert (
        f"docker: warning: the docker CLI at {CLI} speaks API 1.41, and this engine accepts "
        f"{FLOOR} and later"
    ) in "\n".join(header), output
    assert f"docker-compose (Compose v1) at {COMPOSE} speaks API 1.41" in output, output
    assert not engine.containers.list(all=True, filters={"ancestor": floored_dind28})
