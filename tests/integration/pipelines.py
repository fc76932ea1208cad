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
        subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=False)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        import tempfile

        self.exec_root = Path(tempfile.mkdtemp(prefix="dhb", dir="/tmp"))
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.exec_root}",
                f"--pidfile={self.root / 'dockerd.pid'}",
                f"--host={self.url}",
                "--tls=false",  # said outright: no 16 s wait for a plain TCP listener
                f"--authorization-plugin={authz.NAME}",
                f"--bridge={self.bridge}",
                "--ip=127.0.0.1",
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "DOCKER_HOST": self.url}
        for key in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT"):
            env.pop(key, None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(["docker", "version"], env=env, capture_output=True, check=False)
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the pipelines dockerd did not start: {self.log_tail()}")

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
