"""Readiness is /_ping, never a file: a daemon that starts after the job (a pod's dind)
is waited for, bounded, past a socket file nothing listens on yet, a socket or client
certificates not written yet; a wrong path is said at once. Real sockets and a real TLS
server that start late stand in for the daemon."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pytest_dockerhost.discovery.resolution import resolve

from ..helpers.servers import LoopbackServer, closed_port, docker_api, over_tls
from ..helpers.tls import make_material
from .conftest import MakeCtx

LATE = 1.2  # seconds before the daemon answers
KUBERNETES = {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}


@contextlib.contextmanager
def starting_late(start: Callable[[], LoopbackServer]) -> Iterator[None]:
    """``start()`` runs LATE seconds from now, in a thread; its server is closed at the end."""
    servers: list[LoopbackServer] = []

    def later() -> None:
        time.sleep(LATE)
        servers.append(start())

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        for server in servers:
            server.close()


def stale_socket(path: str) -> socket.socket:
    """A socket file that refuses connections: bound, not listening, as a daemon that has not
    started (or died) leaves it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    return sock


def serve_at(path: str) -> Callable[[], LoopbackServer]:
    def start() -> LoopbackServer:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # dockerd replaces a stale socket file at its start
        return LoopbackServer(docker_api(), unix_path=path)

    return start


def test_dind_mode_waits_for_a_configured_socket_that_appears_late(
    make_ctx: MakeCtx, short_dir: Path
) -> None:
    """ARC's dind container shares its socket through /var/run: not there yet at the job's
    start."""
    path = str(short_dir / "docker.sock")
    ctx = make_ctx({"DOCKER_HOST": f"unix://{path}"}, cli={"mode": "dind", "timeout": "10"})
    with starting_late(serve_at(path)):
        started = time.monotonic()
        result = resolve(ctx.settings, ctx=ctx)
        elapsed = time.monotonic() - started
    assert result.host is not None, result.error
    assert result.host.url == f"unix://{path}"
    assert LATE <= elapsed < LATE + 2
    (note,) = [n for n in result.host.notes if n.startswith("waited ")]
    assert note.endswith(
        f"s for unix://{path} to answer /_ping: its daemon was still starting (the wait is "
        "bounded by --docker-timeout (ini docker_timeout, env PYTEST_DOCKER_TIMEOUT))"
    )
    assert float(note.split()[1]) >= LATE


def test_auto_in_a_pod_waits_past_a_stale_socket_file(make_ctx: MakeCtx, short_dir: Path) -> None:
    """The file is there (Jenkins' readiness probe would pass) but nothing answers yet."""
    path = str(short_dir / "docker.sock")
    stale = stale_socket(path)
    ctx = make_ctx({**KUBERNETES, "DOCKER_HOST": f"unix://{path}"}, cli={"timeout": "10"})
    try:
        with starting_late(serve_at(path)):
            result = resolve(ctx.settings, ctx=ctx)
    finally:
        stale.close()
    assert result.host is not None, result.error
    assert any(n.startswith("waited ") for n in result.host.notes), result.host.notes


def test_auto_outside_a_pod_does_not_wait(make_ctx: MakeCtx, short_dir: Path) -> None:
    path = str(short_dir / "docker.sock")
    stale = stale_socket(path)
    ctx = make_ctx({"DOCKER_HOST": f"unix://{path}"}, cli={"timeout": "10"})
    try:
        started = time.monotonic()
        result = resolve(ctx.settings, ctx=ctx)
        elapsed = time.monotonic() - started
    finally:
        stale.close()
    assert result.host is None
    assert elapsed < 1
    assert f"{path} exists but no daemon listens on it" in str(result.error), result.error


def test_dind_mode_picks_up_client_certificates_that_appear_late(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """GitLab's /certs/client emptyDir: there, empty, until dind's entrypoint writes it; the
    daemon listens only after that."""
    certs = tmp_path / "certs-client"
    certs.mkdir()
    port = closed_port()

    def start() -> LoopbackServer:
        material = make_material(certs)
        return LoopbackServer(over_tls(material.server_context(), docker_api()), port=port)

    env = {
        "DOCKER_HOST": f"tcp://localhost:{port}",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs),
    }
    ctx = make_ctx(env, cli={"mode": "dind", "timeout": "10"})
    with starting_late(start):
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None, result.error
    assert "TLS verified" in result.host.summary()
    assert any(n.startswith("waited ") for n in result.host.notes), result.host.notes


def test_a_certificate_folder_that_is_not_there_fails_at_once(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    """A wrong DOCKER_CERT_PATH is not a daemon that is starting: no wait."""
    missing = tmp_path / "no-such-folder"
    env = {
        "DOCKER_HOST": f"tcp://localhost:{closed_port()}",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(missing),
    }
    ctx = make_ctx(env, cli={"mode": "dind", "timeout": "10"})
    started = time.monotonic()
    result = resolve(ctx.settings, ctx=ctx)
    assert time.monotonic() - started < 1
    assert result.host is None
    assert f"{missing}/ca.pem does not exist" in str(result.error), result.error


def test_a_late_daemon_that_never_comes_is_bounded_and_says_what_it_waited_for(
    make_ctx: MakeCtx, short_dir: Path
) -> None:
    path = str(short_dir / "docker.sock")
    ctx = make_ctx({"DOCKER_HOST": f"unix://{path}"}, cli={"mode": "dind", "timeout": "1"})
    started = time.monotonic()
    result = resolve(ctx.settings, ctx=ctx)
    assert 0.9 < time.monotonic() - started < 2.5
    assert result.host is None
    assert f"what happened: not ready after 1.0 s: {path} does not exist" in str(result.error), (
        result.error
    )
