"""Fixtures shared by every test folder.

Each test starts from a neutral environment: no DOCKER_* or PYTEST_DOCKER_*
variables, no CI markers and no testcontainers overrides, so that what a test
sets is all the plugin sees. Tests that want CI behaviour set CI themselves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# pytester's in-process runs restore sys.modules afterwards; cryptography imported inside
# one of them and again later gets new classes that its Rust core rejects ("curve must be
# an EllipticCurve instance", "No SubjectKeyIdentifier extension was found"). Importing
# what the package and trustme use here keeps one copy for the whole session.
import cryptography.hazmat.primitives.asymmetric.ec
import cryptography.hazmat.primitives.asymmetric.rsa
import cryptography.hazmat.primitives.hashes
import cryptography.hazmat.primitives.serialization
import cryptography.x509
import cryptography.x509.oid  # noqa: F401
import pytest

from pytest_dockerhost.config.parsing import CI_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_SOCKET = "/var/run/docker.sock"
BUSYBOX = "pytest-dockerhost-test/busybox:local"
DIND = "pytest-dockerhost-test/dind:local"
AGENT = "pytest-dockerhost-test/agent:local"
DIND28 = "pytest-dockerhost-test/dind:28"  # Debian sid: Docker 28, API 1.51

_SCRUB_PREFIXES = ("DOCKER_", "PYTEST_DOCKER_", "TESTCONTAINERS_", "TC_", "RYUK_")
_SCRUB_NAMES = CI_VARIABLES


@pytest.fixture(autouse=True)
def neutral_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES) or name in _SCRUB_NAMES:
            monkeypatch.delenv(name)
    # Keep Ryuk (which would need a registry) out of every run the tests start.
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")


def engine_available() -> bool:
    return os.path.exists(SYSTEM_SOCKET)


requires_engine = pytest.mark.skipif(
    not engine_available(), reason=f"needs the real dockerd on {SYSTEM_SOCKET} (.ci/run starts it)"
)


@pytest.fixture(scope="session")
def engine() -> Iterator[object]:
    """A docker-py client for the machine's real engine, to set up and inspect."""
    if not engine_available():
        pytest.skip(f"needs the real dockerd on {SYSTEM_SOCKET}")
    import docker

    client = docker.DockerClient(base_url=f"unix://{SYSTEM_SOCKET}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def test_images(engine: object) -> None:
    """Make sure the locally built test images exist (the build is cached by tag)."""
    client = engine
    missing = [tag for tag in (BUSYBOX, DIND, AGENT, DIND28) if not _has_image(client, tag)]
    if missing:
        subprocess.run(["bash", str(ROOT / "tests/images/build.sh")], check=True)


@pytest.fixture(scope="session")
def privileged_refusal(engine: Any, test_images: None) -> str:
    """Why this engine refuses ``--privileged``, or "" where it grants it. Bookworm's 20.10
    here refuses it ("unable to apply caps", moby#42906); Docker 28 grants a privileged
    container the capabilities it has, so nested here it accepts it."""
    return start_refusal(engine, privileged=True)


def start_refusal(engine: Any, labels: dict[str, str] | None = None, **host_config: Any) -> str:
    """Why ``engine`` refuses to run a busybox container with ``host_config``, in its own
    words, or "" where it runs one. Newer engines refuse at create, Docker 20.10 at start."""
    api = engine.api
    try:
        probe = api.create_container(
            BUSYBOX,
            command=["true"],
            labels=labels or {},
            host_config=api.create_host_config(**host_config),
        )
    except Exception as exc:
        return str(exc)
    try:
        api.start(probe["Id"])
    except Exception as exc:
        return str(exc)
    finally:
        api.remove_container(probe["Id"], force=True)
    return ""


@contextlib.contextmanager
def tagged(engine: Any, image: str, tag: str) -> Iterator[str]:
    """``image`` under a tag of our own for the duration; only the tag is removed after."""
    repository, name = tag.rsplit(":", 1)
    engine.api.tag(image, repository, name)
    try:
        yield tag
    finally:
        with contextlib.suppress(Exception):
            engine.api.remove_image(tag)


def _has_image(client: object, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


@pytest.fixture
def python_bin() -> str:
    """The interpreter running the tests, for subprocess runs of pytest."""
    import sys

    return sys.executable


def which(name: str) -> str | None:
    return shutil.which(name)
