"""Extra dockerd instances on loopback for tests: a TCP+TLS daemon like a dind service."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TLSMaterial:
    folder: Path  # holds ca.pem, cert.pem and key.pem for clients, as DOCKER_CERT_PATH expects
    server_cert: Path
    server_key: Path


def make_tls_material(folder: Path, *names: str) -> TLSMaterial:
    """A CA, a server certificate for ``names`` and a client certificate, made with trustme."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(*(names or ("127.0.0.1", "localhost")))
    client = ca.issue_cert("client.pytest-dockerhost.test")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.private_key_pem.write_to_path(str(folder / "key.pem"))
    (folder / "cert.pem").write_bytes(b"".join(p.bytes() for p in client.cert_chain_pems))
    server_dir = folder / "server"
    server_dir.mkdir(exist_ok=True)
    server.private_key_pem.write_to_path(str(server_dir / "key.pem"))
    (server_dir / "cert.pem").write_bytes(b"".join(p.bytes() for p in server.cert_chain_pems))
    os.chmod(folder / "key.pem", 0o600)
    return TLSMaterial(folder, server_dir / "cert.pem", server_dir / "key.pem")


@contextlib.contextmanager
def running_tls_daemon(root: Path) -> Iterator[TLSDaemon]:
    """A ready TLS dockerd with fresh certificates under ``root``, stopped afterwards."""
    daemon = TLSDaemon(root, make_tls_material(root / "certs"))
    daemon.start()
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


class TLSDaemon:
    """A second dockerd on 127.0.0.1:<port> with --tlsverify and its own data and exec roots."""

    def __init__(self, root: Path, tls: TLSMaterial, port: int | None = None) -> None:
        self.root = root
        self.tls = tls
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.exec_root: Path | None = None

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def bridge(self) -> str:
        return f"dhtest{self.port % 100000}"[:15]

    def start(self) -> None:
        self._launch()

    def listen_flags(self) -> list[str]:
        """How it listens: TLS, verifying clients."""
        return [
            f"--host={self.url}",
            "--tlsverify",
            f"--tlscacert={self.tls.folder / 'ca.pem'}",
            f"--tlscert={self.tls.server_cert}",
            f"--tlskey={self.tls.server_key}",
        ]

    def client_env(self) -> dict[str, str]:
        """What a docker CLI needs to reach it."""
        return {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(self.tls.folder)}

    def _launch(self) -> None:
        # Its own bridge, in a range of its own, so it never touches the main engine's docker0.
        subprocess.run(
            ["ip", "link", "add", "name", self.bridge, "type", "bridge"],
            check=False,
            capture_output=True,
        )
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        # containerd's socket lives under the exec root: keep it short (unix paths < 108 bytes).
        self.exec_root = Path(tempfile.mkdtemp(prefix="dhx", dir="/tmp"))
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                "dockerd",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.exec_root}",
                f"--pidfile={self.root / 'dockerd.pid'}",
                *self.listen_flags(),
                # Never --bridge=none: dockerd then deletes the machine's docker0.
                f"--bridge={self.bridge}",
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
        env.update(self.client_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(["docker", "version"], env=env, capture_output=True, check=False)
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}'s dockerd did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.root / "dockerd.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)
        # dockerd leaves its data root mounted private; unmount so the folder can be removed.
        with open("/proc/self/mounts") as mounts:
            roots = [str(self.root), str(self.exec_root)]
            points = [
                line.split()[1]
                for line in mounts
                if any(line.split()[1].startswith(root) for root in roots)
            ]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        if self.exec_root is not None:
            shutil.rmtree(self.exec_root, ignore_errors=True)
