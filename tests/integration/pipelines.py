"""A Bitbucket Pipelines docker service on this machine: a dockerd on tcp://127.0.0.1:PORT
without TLS, behind a real authorization plugin named ``pipelines`` (tests/helpers/authz.py)
with Bitbucket's rules. Like the build container, pytest shares that engine's network: the
ports it publishes (on 127.0.0.1 only, ``--ip``) answer on localhost, and the clone dir is
the same folder on both sides."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..helpers import authz
from .daemons import TLSDaemon, free_port

LOCK = "/tmp/pytest-dockerhost-pipelines.lock"
RYUK = "testcontainers/ryuk:0.8.1"  # testcontainers' default: made here of busybox, never pulled


class PipelinesDaemon(TLSDaemon):
    """A plain-TCP dockerd with ``--authorization-plugin=pipelines``; stopped as TLSDaemon."""

    def __init__(self, root: Path, clone_dir: Path) -> None:
        super().__init__(root, tls=None, port=free_port())  # type: ignore[arg-type]
        self.clone_dir = clone_dir
        self.decisions_log = root / "authz.jsonl"
        self.plugin: subprocess.Popen[bytes] | None = None

    @property
    def tcp_url(self) -> str:
        return f"tcp://localhost:{self.port}"  # as Bitbucket sets DOCKER_HOST

    def start(self) -> None:
        helper = Path(authz.__file__)
        self.plugin = subprocess.Popen(
            [
                sys.executable,
                str(helper),
                authz.SOCKET,
                str(self.clone_dir),
                str(self.decisions_log),
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not os.path.exists(authz.SOCKET) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._launch()

    def listen_flags(self) -> list[str]:
        return [
            f"--host={self.url}",
            "--tls=false",  # said outright: no 16 s wait for a plain TCP listener
            f"--authorization-plugin={authz.NAME}",
            "--ip=127.0.0.1",
        ]

    def client_env(self) -> dict[str, str]:
        return {}

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.url, version="1.41", timeout=60)

    def decided(self) -> int:
        """How many requests the authorization plugin has decided on so far."""
        return len(authz.decisions(str(self.decisions_log)))

    def denied(self, after: int = 0) -> list[dict[str, Any]]:
        """The authorization plugin's denials after its first ``after`` decisions."""
        decided = authz.decisions(str(self.decisions_log))[after:]
        return [line for line in decided if not line["allowed"]]

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.plugin is not None:
                self.plugin.terminate()
                self.plugin.wait(timeout=10)
                self.plugin = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(authz.SOCKET)


@contextlib.contextmanager
def running_pipelines(root: Path, engine: Any, image: str) -> Iterator[PipelinesDaemon]:
    """A ready pipelines dockerd whose clone dir is ``root/clone``, holding ``image`` (from
    the machine's engine, sent with a Content-Length) and Ryuk's name for it."""
    clone = root / "clone"
    clone.mkdir(parents=True, exist_ok=True)
    daemon = PipelinesDaemon(root, clone)
    # The plugin's socket has one path for every dockerd: one pipelines engine at a time on
    # this machine (another run of this module, or its run on Docker 28, waits here).
    lock = open(LOCK, "a")  # noqa: SIM115 - held until the daemon is stopped
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        daemon.start()
        daemon.wait_ready()
        client = daemon.client()
        try:
            client.images.load(b"".join(engine.images.get(image).save(named=True)))
            client.images.get(image).tag(RYUK)
        finally:
            client.close()
        yield daemon
    finally:
        try:
            daemon.stop()
        finally:
            lock.close()  # and the lock with it
