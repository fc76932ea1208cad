"""One OpenSSH connection per run: a ControlMaster that carries the Engine API and every
forwarded port, started as our child and ended with the run.

Why the OpenSSH client: it is where users already configured the host (``~/.ssh/config``,
the agent, ``known_hosts``, ProxyJump); it forwards a local unix socket to the remote's
socket, so the API needs no docker CLI there; and ``-O forward`` adds a port to the running
connection in one round trip of its control socket. paramiko or asyncssh would read none of
that configuration, and add a dependency (figures in benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import final

from ..engine.transport import FailureKind
from ..messages import details as D
from ..messages import remote as say_

CONTROL = "ctl"  # the control socket's name in the tunnel's folder
# Short: a dead connection is found within about 6 s, and a test fails then, not later.
KEEPALIVE = ("-o", "ServerAliveInterval=3", "-o", "ServerAliveCountMax=2")


class SSHError(Exception):
    """SSH could not connect. The message is what ssh said; ``kind`` classifies it."""

    def __init__(self, said: str, kind: FailureKind) -> None:
        super().__init__(said)
        self.kind = kind


# What ssh says, by the fix it needs.
_SAYS: tuple[tuple[str, FailureKind], ...] = (
    ("host key verification failed", FailureKind.SSH_HOST_KEY),
    ("remote host identification has changed", FailureKind.SSH_HOST_KEY),
    ("no matching host key", FailureKind.SSH_HOST_KEY),
    ("permission denied", FailureKind.SSH_AUTH),
    ("too many authentication failures", FailureKind.SSH_AUTH),
    ("could not resolve hostname", FailureKind.SSH_UNREACHABLE),
    ("connection refused", FailureKind.SSH_UNREACHABLE),
    ("connection timed out", FailureKind.SSH_UNREACHABLE),
    ("no route to host", FailureKind.SSH_UNREACHABLE),
    ("network is unreachable", FailureKind.SSH_UNREACHABLE),
)


def classify(said: str) -> FailureKind:
    lowered = said.lower()
    return next((kind for text, kind in _SAYS if text in lowered), FailureKind.SSH_ERROR)


@final
@dataclass(frozen=True)
class SSHTarget:
    """Where to connect: a host or ``~/.ssh/config`` alias, with the user and port if given."""

    host: str
    user: str = ""
    port: int | None = None
    identity: str = ""  # a key file named by the endpoint's source, else ssh's own choice

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"

    def arguments(self) -> list[str]:
        args = ["-p", str(self.port)] if self.port else []
        if self.identity:
            args += ["-i", self.identity]
        if self.user:
            args += ["-l", self.user]
        return [*args, "--", self.host]

    @classmethod
    def parse(cls, text: str) -> SSHTarget:
        """``host``, ``user@host``, ``host:port``, ``user@host:port`` or ``ssh://...``."""
        rest = text.strip().removeprefix("ssh://").rstrip("/")
        user, _, hostport = rest.rpartition("@")
        host, colon, port = hostport.partition(":")
        if not host or host.startswith("-") or (colon and not port.isdigit()):
            raise ValueError(text)
        return cls(host, user, int(port) if port else None)


def _die_with_parent() -> None:
    # Linux: ssh gets SIGTERM when pytest dies, even by kill -9, so no process outlives the run.
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class SSHMaster:
    """``ssh -M -N``: the run's connection. Forwards are added and removed through its
    control socket; its stderr is kept, so a dropped connection can be told in words."""

    def __init__(self, target: SSHTarget, folder: str) -> None:
        self.target = target
        self.folder = folder
        self.control = os.path.join(folder, CONTROL)
        self._process: subprocess.Popen[bytes] | None = None
        self._ssh = "ssh"
        self._stderr = bytearray()
        self._ended = threading.Event()
        self.closed_at: float | None = None  # wall-clock time the connection ended
        self.closing = False  # we ended it

    @property
    def alive(self) -> bool:
        return self._process is not None and not self._ended.is_set()

    @property
    def said(self) -> str:
        """What ssh wrote to stderr, in one line."""
        return " ".join(self._stderr.decode("utf-8", "replace").split())

    def start(self, socket_forward: tuple[str, str] | None, timeout: float) -> None:
        """Connect, and forward ``(local path, remote path)`` when given. Raises SSHError
        with what ssh said, or when nothing is established within ``timeout``."""
        ssh = shutil.which("ssh")
        if ssh is None:
            raise SSHError(D.SSH_NO_CLIENT, FailureKind.SSH_MISSING)
        self._ssh = ssh
        command = [
            ssh,
            "-M",
            "-S",
            self.control,
            "-N",
            "-o",
            "BatchMode=yes",  # never a password prompt: it would hang the run
            "-o",
            "ControlPersist=no",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "StreamLocalBindUnlink=yes",
            "-o",
            f"ConnectTimeout={max(1, int(timeout))}",
            *KEEPALIVE,
        ]
        if socket_forward is not None:
            command += ["-L", f"{socket_forward[0]}:{socket_forward[1]}"]
        command += self.target.arguments()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C is ours to handle: the cleanup needs ssh
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        threading.Thread(target=self._watch, name="pytest-dockerhost-ssh", daemon=True).start()
        ready = socket_forward[0] if socket_forward is not None else self.control
        deadline = time.monotonic() + timeout + 2
        while not os.path.exists(ready) or not os.path.exists(self.control):
            if self._ended.wait(0.01):
                said = self.said or say_.ssh_ended(self._returncode())
                raise SSHError(said, classify(said))
            if time.monotonic() > deadline:
                self.close()
                raise SSHError(say_.ssh_silent(str(self.target), timeout), FailureKind.TIMEOUT)

    def _watch(self) -> None:
        process = self._process
        assert process is not None
        stderr = process.stderr
        assert stderr is not None
        for chunk in iter(lambda: stderr.read1(4096), b""):  # type: ignore[attr-defined]
            if len(self._stderr) < 8192:  # a broken forward says a line per connection
                self._stderr += chunk
        process.wait()
        self.closed_at = time.time()
        self._ended.set()

    def _returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    def _control(self, *args: str, timeout: float = 5.0) -> subprocess.CompletedProcess[str]:
        command = [self._ssh, "-S", self.control, "-o", "LogLevel=ERROR", *args, "--"]
        command.append(self.target.host)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def forward(self, local: str, remote: str) -> str:
        """Add ``-L local:remote`` to the connection; "" when done, else what ssh said."""
        return self._mux("forward", local, remote)

    def cancel(self, local: str, remote: str) -> str:
        return self._mux("cancel", local, remote)

    def _mux(self, verb: str, local: str, remote: str) -> str:
        if not self.alive:
            return say_.ssh_ended(self._returncode())
        try:
            done = self._control("-O", verb, "-L", f"{local}:{remote}")
        except subprocess.TimeoutExpired:
            return say_.MUX_SILENT
        return "" if done.returncode == 0 else " ".join(done.stderr.split()) or verb

    def close(self, timeout: float = 3.0) -> None:
        """End the connection and the process: asked first, then terminated."""
        process = self._process
        if process is None or self._ended.is_set():
            return
        self.closing = True
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self._control("-O", "exit", timeout=timeout)
        if not self._ended.wait(timeout):
            process.terminate()
            if not self._ended.wait(timeout):
                process.kill()
                self._ended.wait(timeout)
