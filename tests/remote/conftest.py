"""Fixtures for engines on another machine: simulated remotes that only SSH reaches
(hosts.py). Each is started once per session, when a test first asks for it, and removed
with its volume at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import ROOT
from .hosts import PODMAN_REMOTE, REMOTE, RemoteHost, remote_host


@pytest.fixture(scope="session")
def remote_images(engine: Any, test_images: None) -> None:
    """The two remote images, built (cached by tag) when missing."""
    import docker.errors

    missing = []
    for tag in (REMOTE, PODMAN_REMOTE):
        try:
            engine.images.get(tag)
        except docker.errors.ImageNotFound:
            missing.append(tag)
    if missing:
        build = ROOT / "tests/images/build.sh"
        subprocess.run(["bash", str(build), "remote", "podman-remote"], check=True)


# The remotes' engines publish apart from this machine's own (which starts at 32768): both
# are forwarded to one 127.0.0.1 here, under their own numbers.
PORTS = (20000, 29999)


def _run_id(kind: str) -> str:
    return f"remote-{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def remote_docker(
    engine: Any, remote_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RemoteHost]:
    """Docker 20.10 on a remote reached over SSH (``ssh_url`` ssh://remote-docker); only
    its unix socket, no TCP."""
    folder = tmp_path_factory.mktemp("remote-docker")
    with remote_host(engine, "docker", folder, _run_id("docker"), ports=PORTS) as host:
        yield host


@pytest.fixture(scope="session")
def remote_docker_tls(
    engine: Any, remote_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RemoteHost]:
    """CircleCI's remote engine: Docker 20.10 over TCP with TLS (``tls_url``, ``certs``),
    plus the SSH alias remote-docker."""
    folder = tmp_path_factory.mktemp("remote-docker-tls")
    with remote_host(engine, "docker", folder, _run_id("tls"), tls=True, ports=PORTS) as host:
        yield host


@pytest.fixture(scope="session")
def remote_podman(
    engine: Any, remote_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RemoteHost]:
    """Podman 5 (rootful) on a remote with no docker CLI: ``ssh_url`` is
    ssh://root@ADDRESS/run/podman/podman.sock."""
    folder = tmp_path_factory.mktemp("remote-podman")
    with remote_host(engine, "podman", folder, _run_id("podman"), ports=PORTS) as host:
        yield host


@pytest.fixture
def private_tmp() -> Iterator[str]:
    """A TMPDIR of an inner run's own, short (the tunnel's unix socket goes below it), so
    that its ssh process is told from other runs' by its command line."""
    folder = tempfile.mkdtemp(prefix="pdh-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
