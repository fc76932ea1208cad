"""Which SSH implementation carries the tunnel (issue #21, item 2: chosen on measured
grounds): the OpenSSH client, which the plugin runs, against paramiko's port forwarding,
through the same remote to the same service. paramiko is installed into a scratch venv
for this row only (cached under the temp folder, like the bytecode); it is no dependency
of the project."""

from __future__ import annotations

import contextlib
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import remote_host
from benchmarks.harness import Plan, Result, alternate

if TYPE_CHECKING:
    from tests.remote.hosts import RemoteHost

VENV = Path(tempfile.gettempdir()) / "pytest-dockerhost-bench-paramiko"
SCRIPT = Path(__file__).resolve().parent / "paramiko_forward.py"
SETUP_TIMEOUT = 30.0
# paramiko has no sntrup761x25519, OpenSSH's default key exchange since 9.0: set-up is also
# timed with the one both agree on otherwise.
CURVE = ("-o", "KexAlgorithms=curve25519-sha256")


def paramiko_python() -> tuple[str, str]:
    """(the scratch venv's python, paramiko's version), or ("", why it could not be had)."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import paramiko; print(paramiko.__version__)"]
    if python.exists():
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return str(python), done.stdout.strip()
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--clear", str(VENV)], check=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "paramiko"],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        said = [line for line in install.stderr.splitlines() if line.startswith("ERROR")]
        return "", "paramiko could not be installed from the configured pip index: " + (
            said[-1] if said else install.stderr.strip()[-300:]
        )
    done = subprocess.run(probe, capture_output=True, text=True, check=True)
    return str(python), done.stdout.strip()


def openssh_version() -> str:
    done = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).split(",")[0].strip()


def _openssh_command(remote: RemoteHost, local: int, port: int, *options: str) -> list[str]:
    spec = f"127.0.0.1:{local}:127.0.0.1:{port}"
    return remote.ssh_command(
        "-N", "-o", "ExitOnForwardFailure=yes", *options, "-L", spec, remote.alias
    )


def openssh_agreed(remote: RemoteHost) -> str:
    """The key exchange and cipher OpenSSH agrees on with the remote (from ``ssh -v``)."""
    done = subprocess.run(
        remote.ssh_command("-v", remote.alias, "true"), capture_output=True, text=True, check=False
    )
    found = {}
    for line in done.stderr.splitlines():
        for key in ("kex: algorithm:", "kex: server->client cipher:"):
            if key in line:
                found[key] = line.split(key, 1)[1].split()[0]
    return " ".join(found.values())


def _paramiko_command(python: str, remote: RemoteHost, local: int, port: int) -> list[str]:
    keys = (str(remote.ssh_dir / "id_ed25519"), str(remote.ssh_dir / "known_hosts"))
    return [python, str(SCRIPT), remote.address, "root", *keys, str(local), "127.0.0.1", str(port)]


def _first_answer(process: subprocess.Popen[bytes], local: int) -> float:
    """time.perf_counter() of the first answer through the forward on ``local``."""
    deadline = time.monotonic() + SETUP_TIMEOUT
    while True:
        try:
            if b"ok" in remote_host.get(local, timeout=5):
                return time.perf_counter()
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the forward on {local} never answered") from None
        time.sleep(0.002)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()  # the paramiko script ends on it
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def paramiko_forward(
    python: str, remote: RemoteHost, port: int, imported: list[float] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int, float]]:
    """The paramiko forwarder, imported and told to connect: (process, local port, the
    perf_counter() at which it was told)."""
    local = remote_host.free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        _paramiko_command(python, remote, local, port),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        if process.stdout.readline().strip() != b"imported":
            raise RuntimeError(
                f"paramiko_forward.py: {process.stderr.read() if process.stderr else ''!r}"
            )
        if imported is not None:
            imported.append(time.perf_counter() - began)
        told = time.perf_counter()
        process.stdin.write(b"go\n")
        process.stdin.flush()
        yield process, local, told
    finally:
        _stop(process)


def openssh_setup(remote: RemoteHost, port: int, *options: str) -> float:
    """Seconds from launching ``ssh -N -L`` to the first answer through it."""
    local = remote_host.free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        _openssh_command(remote, local, port, *options),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        return _first_answer(process, local) - began
    finally:
        _stop(process)


def paramiko_setup(python: str, remote: RemoteHost, port: int, imported: list[float]) -> float:
    """Seconds from paramiko's connect() (interpreter and import done) to the first answer."""
    with paramiko_forward(python, remote, port, imported) as (process, local, told):
        return _first_answer(process, local) - told


def ssh_implementations_row(plan: Plan) -> list[Result]:
    throughput = Result(
        key="ssh-throughput",
        title="SSH forward throughput: OpenSSH vs paramiko",
        a_label="ssh -N -L (the client the plugin runs)",
        b_label="paramiko direct-tcpip channel (demos/forward.py's shape, 32 KiB reads)",
        measures=(
            f"MB/s of one GET of {remote_host.SERVICE_MIB} MiB through a forward kept open "
            "to the remote's loopback port, the same service for both (see the throughput "
            "row); both connect with the same ed25519 key and check the same known_hosts"
        ),
        target="- (reported)",
        unit="MB/s",
    )
    setup = Result(
        key="ssh-setup",
        title="SSH connection set-up to a forward's first answer: OpenSSH vs paramiko",
        a_label="launch `ssh -N -L` until a GET through it answers",
        b_label="paramiko: connect() (interpreter start and import excluded) until the same",
        measures=(
            "seconds from starting the connection to the first HTTP answer through a new "
            "local forward (TCP, key exchange, host key check, public-key auth, the listener, "
            "one channel); polled every 2 ms"
        ),
        target="- (reported)",
    )
    results = [throughput, setup]
    reason = remote_host.unavailable()
    python, version = ("", reason) if reason else paramiko_python()
    if not python:
        for result in results:
            result.skipped = version
        return results
    throughput.b_label = f"paramiko {version}: " + throughput.b_label.split(": ", 1)[-1]
    openssh = openssh_version()
    throughput.a_label = f"{openssh}: " + throughput.a_label
    remote = remote_host.host()
    imported: list[float] = []
    curve: list[float] = []
    try:
        with remote_host.big_service(remote) as port:
            alternate(
                [
                    functools.partial(openssh_setup, remote, port),
                    functools.partial(paramiko_setup, python, remote, port, imported),
                    functools.partial(openssh_setup, remote, port, *CURVE),
                ],
                [setup.a, setup.b, curve],
                reps=plan.reps(15),
                warmup=plan.warmup,
                progress="ssh-setup",
            )
            local = remote_host.free_port()
            with (
                remote.forward(f"127.0.0.1:{local}", f"127.0.0.1:{port}"),
                paramiko_forward(python, remote, port) as (process, theirs, _),
            ):
                _first_answer(process, theirs)
                assert process.stdout is not None
                agreed = process.stdout.readline().decode().split()[1:]
                alternate(
                    [
                        functools.partial(remote_host.download, local),
                        functools.partial(remote_host.download, theirs),
                    ],
                    [throughput.a, throughput.b],
                    reps=plan.reps(15),
                    warmup=plan.warmup,
                    progress="ssh-throughput",
                )
    finally:
        remote_host.sweep_inner(remote)
    throughput.extra["agreed"] = f"OpenSSH {openssh_agreed(remote)}; paramiko {' '.join(agreed)}"
    setup.extra[f"OpenSSH with {CURVE[1]} (median)"] = _ms(curve)
    if imported:
        setup.extra["paramiko's interpreter start + import (median, not counted)"] = _ms(imported)
    print(f"  {openssh}, paramiko {version} ({python})", file=sys.stderr, flush=True)
    return results


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms" if values else "-"
