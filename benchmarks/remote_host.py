"""The engine on another machine that the remote rows share: one simulated remote host
(``tests/remote/hosts.py``: a container of this engine running sshd and a dockerd that
publishes on its own loopback only), started once per benchmark run, when a remote row
first asks for it, and removed at exit.

It carries ``org.pytest-dockerhost.benchmark=<run id>-shared`` (and the pid label), so the
sweep after each row leaves it and the next run removes it after a crash. Containers on
its inner engine carry the run's label and are removed after each row.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import engine, harness

if TYPE_CHECKING:
    from tests.remote.hosts import RemoteHost

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_DUMP_REQUEST = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
_LOOPBACK = socket.inet_aton("127.0.0.1")

REMOTE_IMAGE = "pytest-dockerhost-test/remote:local"
# The remote engine's host ports, forwarded to the same numbers here: out of this machine's
# ephemeral range (32768 and up), where its own engine publishes other runs' containers.
PORTS = (20000, 29999)
SERVICE_MIB = 64  # what one throughput sample transfers
# The service: the file is complete before httpd starts, so an answer means all of it.
SERVE = (
    f"dd if=/dev/urandom of=/www/big.part bs=1048576 count={SERVICE_MIB} 2>/dev/null"
    " && mv /www/big.part /www/big && exec httpd -f -p 80 -h /www"
)

_shared: dict[str, RemoteHost] = {}


def unavailable() -> str:
    """Why the remote rows cannot run here, or ""."""
    if importlib.util.find_spec("pytest_dockerhost.remote") is None:
        return "pytest_dockerhost.remote does not exist yet"
    if not (harness.REPO / "tests/remote/hosts.py").is_file():
        return "tests/remote/hosts.py (the simulated remote) does not exist yet"
    if shutil.which("ssh") is None:
        return "no OpenSSH client here (apt-get install openssh-client)"
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        # OpenSSH reads ~/.ssh from the password database: the remote's user home is bound
        # over this user's in a mount namespace of its own (RemoteHost.as_user).
        return "needs root and unshare, to give pytest's ssh the remote user's ~/.ssh"
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    for path in (sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)):
        if Path(path).resolve().is_relative_to(home):
            return (
                f"this Python ({path}) is under {home}, which the remote user's home hides "
                "from pytest: run the benchmarks from a venv of /usr/bin/python3"
            )
    return ""


def host() -> RemoteHost:
    """The run's remote (Docker 20.10 over SSH, busybox loaded), started on first use."""
    if "docker" in _shared:
        return _shared["docker"]
    from tests.remote.hosts import remote_host

    api = engine.client()
    try:
        api.images.get(REMOTE_IMAGE)
    except Exception:
        harness.run(["bash", str(harness.REPO / "tests/images/build.sh"), "remote"], timeout=900)
    stack = contextlib.ExitStack()
    harness.on_cleanup(stack.close)
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pdh-bench-remote-")))
    shared = {harness.LABEL: f"{harness.RUN_ID}-shared", harness.LABEL_PID: str(os.getpid())}
    started = time.monotonic()
    remote = stack.enter_context(
        remote_host(api, "docker", workdir, harness.RUN_ID, extra_labels=shared, ports=PORTS)
    )
    print(
        f"  remote host {remote.address} ready in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    _shared["docker"] = remote
    return remote


def sweep_inner(remote: RemoteHost) -> None:
    """Remove what this run left on the remote's engine (the plugin's runs remove theirs)."""
    found = remote.inner("ps", "-aq", "--filter", f"label={harness.LABEL}={harness.RUN_ID}")
    ids = found.stdout.split()
    if ids:
        remote.inner("rm", "-f", "-v", *ids)


def env(remote: RemoteHost, **extra: str) -> dict[str, str]:
    """A measured process's environment, as the remote's user (HOME with its .ssh)."""
    return harness.clean_env(**remote.env(), **extra)


def pytest_command(remote: RemoteHost, *args: str) -> list[str]:
    """pytest as the user whose ~/.ssh reaches the remote (the plugin runs the ssh client)."""
    return remote.as_user(*harness.pytest_cmd("-p", "dockerhost", *args))


@contextlib.contextmanager
def launched(
    command: list[str], *, env: Mapping[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A process left running while the row measures; stopped (TERM, then KILL) after."""
    process = subprocess.Popen(
        command, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    harness.CHILD_PIDS.add(process.pid)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextlib.contextmanager
def big_service(remote: RemoteHost) -> Iterator[int]:
    """busybox httpd with a file of SERVICE_MIB random MiB on the remote's engine, started
    through its CLI (no plugin), published on its loopback: yields the port there."""
    label = f"{harness.LABEL}={harness.RUN_ID}"
    run = remote.inner(
        *("run", "-d", "--label", label, "-p", "127.0.0.1::80", engine.BUSYBOX_IMAGE),
        *("sh", "-c", SERVE),
    )
    if run.returncode != 0:
        raise RuntimeError(f"the service did not start on the remote: {run.stderr}")
    container = run.stdout.split()[-1]
    try:
        deadline = time.monotonic() + 60
        while remote.inner("exec", container, "test", "-s", "/www/big").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the service's file was not written within 60 s")
            time.sleep(0.1)
        port = remote.inner("port", container, "80/tcp").stdout.split()[0].rsplit(":", 1)[1]
        yield int(port)
    finally:
        remote.inner("rm", "-f", container)


# --- what a client here sees ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """Ports of the remote's range free here now (the remote's own loopback has none)."""
    taken = listening_ports()
    found: list[int] = []
    for port in random.sample(range(PORTS[0], PORTS[1] + 1), PORTS[1] - PORTS[0] + 1):
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"fewer than {count} ports free here in {PORTS}")


def get(port: int, path: str = "/", timeout: float = 30.0) -> bytes:
    """An HTTP/1.0 GET on 127.0.0.1:``port``: the body (raises on anything but 200)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        raise OSError(f"127.0.0.1:{port}{path} answered {head[:60]!r}")
    return body


def wait_answers(port: int, timeout: float = 30.0, interval: float = 0.005) -> float:
    """Poll the index page until it answers; returns time.perf_counter() of the answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if b"ok" in get(port, timeout=5):
                return time.perf_counter()
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def download(port: int) -> float:
    """MB/s (10^6 bytes) of one GET of the service's file through 127.0.0.1:``port``,
    the connection's set-up included; reads into one 1 MiB buffer."""
    want = SERVICE_MIB * 1024 * 1024
    buffer = bytearray(1 << 20)
    total = 0
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /big HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        while count := sock.recv_into(buffer):
            total += count
    elapsed = time.perf_counter() - start
    if total < want:
        raise OSError(f"got {total} bytes through 127.0.0.1:{port}, want at least {want}")
    return want / 1e6 / elapsed


def listening_ports() -> set[int]:
    """Ports in LISTEN on 127.0.0.1 here, asked of the kernel as ``ss -lt`` does (sock_diag
    over netlink, about 0.1 ms; /proc/net/tcp takes about 9 ms here). No socket of ours is
    bound, so the probe cannot race a forward being set up, nor the plugin's own probe."""
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
    request += bytes(48)  # inet_diag_sockid: any
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _DUMP_REQUEST, 1, 0)
    ports: set[int] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as link:
        link.sendto(header + request, (0, 0))
        while True:
            data = link.recv(65536)
            offset = 0
            while offset < len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == _NLMSG_DONE:
                    return ports
                if kind == _NLMSG_ERROR:
                    raise OSError("sock_diag refused the request")
                # inet_diag_msg after the 16-byte header: family, state, timer, retrans,
                # then the socket id: sport (big-endian), dport, src, ...
                port = struct.unpack_from(">H", data, offset + 20)[0]
                if data[offset + 24 : offset + 28] == _LOOPBACK:
                    ports.add(port)
                offset += (length + 3) & ~3
