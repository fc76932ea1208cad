"""Engines on another machine, simulated here (issue 21; docker-on-ci.md section 10).

A remote is a container of this machine's engine that runs ``sshd`` beside an engine:
bookworm's Docker 20.10 (``pytest-dockerhost-test/remote:local``) or sid's Podman 5
(``pytest-dockerhost-test/podman-remote:5``, no docker CLI). What the inner engine
publishes answers on that container's own loopback only (dockerd ``--ip=127.0.0.1``;
for Podman a firewall that refuses every port but 22 on its network side), so only SSH
reaches it, as with CircleCI's ``setup_remote_docker`` or a firewalled build host. The
Docker remote with TLS also serves tcp 2376 on its address, as CircleCI's does.

Nothing here talks to the inner engine except through SSH or ``docker exec`` of the
remote container (``inner``): no socket of it is on this machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conftest import BUSYBOX
from ..e2e.helpers import LABEL, create_unprivileged_dind

REMOTE = "pytest-dockerhost-test/remote:local"
PODMAN_REMOTE = "pytest-dockerhost-test/podman-remote:5"
# REMOTE plus python with pytest, pytest-xdist, testcontainers and docker in /opt/venv
REMOTE_PYTHON = "pytest-dockerhost-test/remote-python:local"
SSH = "/usr/bin/ssh"
DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_SOCKET = "/run/podman/podman.sock"
TLS_PORT = 2376
# Every sshd process: the listener, and per connection sshd (bookworm) or sshd-session
# and sshd-auth (OpenSSH 9.8 and later, sid).
SSHD_PROCESSES = "sshd|sshd-session|sshd-auth"
START_TIMEOUT = 90.0  # the TLS remote makes three 4096-bit RSA keys first


@dataclass
class RemoteHost:
    """One simulated remote: its container here, how a user's SSH reaches it, its engine."""

    container: Any  # docker-py Container on this machine's engine
    address: str  # its IP on the bridge: port 22 (and 2376 with TLS) answer there
    alias: str  # the SSH host alias in home/.ssh/config
    home: Path  # a HOME for the user who reaches it: .ssh/{config,id_ed25519,known_hosts}
    kind: str  # "docker" or "podman": also the CLI that ``inner`` runs
    socket: str  # the engine's socket on the remote
    tls_url: str | None = None  # tcp://ADDRESS:2376 when it serves TLS
    certs: Path | None = None  # ca.pem, cert.pem, key.pem of its /certs/client, copied here
    label: str = ""  # LABEL=value on what this remote's fixture created here

    @property
    def ssh_dir(self) -> Path:
        return self.home / ".ssh"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "config"

    @property
    def ssh_url(self) -> str:
        """What a user sets DOCKER_HOST (Docker) or CONTAINER_HOST (Podman) to."""
        if self.kind == "podman":
            return f"ssh://root@{self.address}{self.socket}"
        return f"ssh://{self.alias}"

    def env(self) -> dict[str, str]:
        """Variables for a subprocess that reaches this remote as its user would: HOME.
        Nothing that names an engine: the caller sets DOCKER_HOST or CONTAINER_HOST.
        OpenSSH's client reads ~/.ssh from the password database, not $HOME: run it (or a
        pytest that runs it) through ``as_user`` too."""
        return {"HOME": str(self.home)}

    def as_user(self, *argv: str) -> list[str]:
        """``argv`` in a mount namespace of its own where this user's home in the password
        database (/root here) is ``home``, so that ``ssh`` finds ~/.ssh/config, the key and
        known_hosts there, as on the user's machine. Needs root (unshare); hides the
        real home's contents from ``argv``."""
        real_home = pwd.getpwuid(os.getuid()).pw_dir
        bind = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return [
            *("unshare", "--mount", "--propagation", "private", "--"),
            *("sh", "-c", bind, "sh", str(self.home), real_home, *argv),
        ]

    def ssh_command(self, *args: str) -> list[str]:
        """``ssh -F HOME/.ssh/config ARGS``: this user's ssh, wherever it runs."""
        return [SSH, "-F", str(self.ssh_config), *args]

    def run(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the remote (docker exec), as root."""
        code, streams = self.container.exec_run(list(argv), environment=env, demux=True)
        out, err = ((part or b"").decode("utf-8", "replace") for part in streams)
        return subprocess.CompletedProcess(list(argv), code, out, err)

    def inner(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The inner engine's CLI inside the remote (``docker ARGS`` or ``podman ARGS``),
        for tests to read its events, containers and volumes."""
        quiet = {"PODMAN_IGNORE_CGROUPSV1_WARNING": "1"} if self.kind == "podman" else None
        return self.run(self.kind, *args, env=quiet)

    def events(self, since: float, until: float, *filters: str) -> list[dict[str, Any]]:
        """The inner engine's events in [since, until] (whole seconds, widened), each as its
        ``--format '{{json .}}'`` object; ``filters`` as for ``--filter``. Podman's
        ``--until`` stops reading its event file at that wall-clock time, so one already
        past may leave out events it has: Podman lists all since and this keeps those not
        after ``until``."""
        bound = ("--stream=false",) if self.kind == "podman" else ("--until", str(int(until) + 1))
        done = self.inner(
            *("events", "--since", str(int(since)), *bound),
            *(part for name in filters for part in ("--filter", name)),
            *("--format", "{{json .}}"),
        )
        assert done.returncode == 0, done.stderr
        found = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return [event for event in found if event["timeNano"] / 1e9 < int(until) + 1]

    def cut_ssh(self, timeout: float = 10.0) -> None:
        """Kill every sshd process inside: every connection drops, the engine runs on, and
        port 22 refuses until ``restore_ssh``."""
        self.run("pkill", "-KILL", "-x", SSHD_PROCESSES)
        _wait(lambda: self.run("pgrep", "-x", SSHD_PROCESSES).returncode == 1, timeout, "sshd gone")
        _wait(lambda: not connects(self.address, 22), timeout, "port 22 refusing")

    def restore_ssh(self, timeout: float = 30.0) -> None:
        """Start sshd again, as the image's entrypoint did, and wait until a login works."""
        done = self.run("/usr/local/bin/remote-entrypoint.sh", "start-sshd")
        assert done.returncode == 0, f"start-sshd failed: {done.stdout}{done.stderr}"
        self.wait_for_ssh(timeout)

    def wait_for_ssh(self, timeout: float = 30.0) -> None:
        said = ""

        def logged_in() -> bool:
            nonlocal said
            done = subprocess.run(
                self.ssh_command(self.alias, "true"),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            said = done.stderr.strip()
            return done.returncode == 0

        try:
            _wait(logged_in, timeout, f"an SSH login to {self.alias}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; ssh said: {said}") from None

    @contextlib.contextmanager
    def forward(
        self, local: str, target: str, timeout: float = 15.0
    ) -> Iterator[subprocess.Popen[bytes]]:
        """A hand-made ``ssh -F HOME/.ssh/config -N -L LOCAL:TARGET ALIAS``, as users write
        it, once LOCAL accepts: ``127.0.0.1:PORT`` or a unix socket ``/path``; TARGET is
        ``HOST:PORT`` or a socket path on the remote."""
        spec = f"{local}:{target}"
        command = self.ssh_command("-N", "-o", "ExitOnForwardFailure=yes", "-L", spec, self.alias)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:

            def ready() -> bool:
                if process.poll() is not None:
                    err = process.stderr.read().decode() if process.stderr else ""
                    raise AssertionError(f"{' '.join(command)} exited {process.returncode}: {err}")
                if local.startswith("/"):
                    return connects_unix(local)
                host, port = local.rsplit(":", 1)
                return connects(host, int(port))

            _wait(ready, timeout, f"the forward {spec}")
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr:
                process.stderr.close()

    def pid(self) -> int:
        """The remote's pid 1 on this machine, for ``nsenter`` into its namespaces."""
        self.container.reload()
        return int(self.container.attrs["State"]["Pid"])


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def connects(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def connects_unix(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
        return True


def _keys() -> tuple[str, str, str]:
    """A user key pair (private, public) and a host key (private), OpenSSH format."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def private(key: Ed25519PrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()

    user = Ed25519PrivateKey.generate()
    public = user.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private(user), public.decode(), private(Ed25519PrivateKey.generate())


def _host_public(private_key: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _write_home(home: Path, alias: str, address: str, user_key: str, host_key: str) -> None:
    """HOME/.ssh as a user keeps it: config for the alias (and the bare address), the key,
    known_hosts with the remote's real host key, nothing group- or world-readable."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    identity = ssh_dir / "id_ed25519"
    identity.touch(mode=0o600)
    identity.write_text(user_key)
    known = ssh_dir / "known_hosts"
    known.write_text(f"{alias},{address} {_host_public(host_key)}\n")
    (ssh_dir / "config").write_text(
        f"Host {alias} {address}\n"
        f"    HostName {address}\n"
        "    User root\n"
        f"    IdentityFile {identity}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known}\n"
        "    StrictHostKeyChecking yes\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 10\n"
    )
    for path in (known, ssh_dir / "config"):
        path.chmod(0o600)


def _load_busybox(engine: Any, host: RemoteHost) -> None:
    load_image(engine, host, BUSYBOX)


def load_image(engine: Any, host: RemoteHost, tag: str) -> None:
    """An image of this machine's engine into the inner engine, by ``CLI load`` inside (no
    registry). /var/tmp: the dind entrypoint mounts a tmpfs on /tmp, which a copy cannot see."""
    # By that name: Image.save(named=True) names the image's first tag, which another
    # session's fixture may have added to the same image.
    saved = b"".join(engine.api.get_image(tag))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("image.tar")
        info.size = len(saved)
        tar.addfile(info, io.BytesIO(saved))
    del saved
    assert host.container.put_archive("/var/tmp", buffer.getvalue())
    done = host.inner("load", "-i", "/var/tmp/image.tar")
    assert done.returncode == 0, f"loading {tag}: {done.stdout}{done.stderr}"
    host.run("rm", "-f", "/var/tmp/image.tar")


def _copy_client_certs(container: Any, dest: Path) -> Path:
    stream, _ = container.get_archive("/certs/client")
    dest.mkdir(parents=True, mode=0o700)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if member.isfile() and name in ("ca.pem", "cert.pem", "key.pem"):
                handle = tar.extractfile(member)
                assert handle is not None
                path = dest / name
                path.touch(mode=0o600)
                path.write_bytes(handle.read())
    dest.chmod(0o700)
    return dest


@contextlib.contextmanager
def remote_host(
    engine: Any,
    engine_kind: str,
    workdir: Path,
    run_id: str,
    *,
    tls: bool = False,
    args: Sequence[str] = (),
    extra_labels: Mapping[str, str] | None = None,
    ports: tuple[int, int] | None = None,
    image: str | None = None,
) -> Iterator[RemoteHost]:
    """A remote (``engine_kind`` "docker" or "podman") in the non-privileged nested-daemon
    profile, labelled ``LABEL=run_id``, with busybox loaded; removed with its volume.
    ``args`` go to the image's entrypoint: those starting with "-" reach dockerd (after
    --ip=127.0.0.1, so a later --ip wins) or ``podman system service``. ``extra_labels``
    are added to the container's and the volume's (the benchmarks' own cleanup labels).
    ``ports`` (first, last) is the range the inner engine picks published host ports from
    (its network namespace's ip_local_port_range, read when it starts). The run forwards
    each to the same number here: a range outside this machine's ephemeral one, where this
    engine publishes too, keeps them from being taken here already. ``image``: another
    image with the same contract (``REMOTE_PYTHON``, for pytest-xdist's ssh workers)."""
    podman = engine_kind == "podman"
    assert engine_kind in ("docker", "podman")
    assert not (podman and tls)
    image = image or (PODMAN_REMOTE if podman else REMOTE)
    alias = "remote-podman" if podman else "remote-docker"
    store = "/var/lib/containers" if podman else "/var/lib/docker"
    labels = {LABEL: run_id, **(extra_labels or {})}
    user_key, user_public, host_key = _keys()
    environment = {"SSH_AUTHORIZED_KEY": user_public, "SSH_HOST_ED25519_KEY": host_key}
    if tls:
        environment["DOCKER_TLS_CERTDIR"] = "/certs"
    volume = engine.volumes.create(f"pdh-remote-{engine_kind}-{run_id}", labels=labels)
    container = None
    try:
        container = create_unprivileged_dind(
            engine,
            image,
            command=list(args) or None,
            labels=labels,
            environment=environment,
            volumes={
                volume.name: {"bind": store, "mode": "rw"},
                "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
            },
            sysctls={"net.ipv4.ip_local_port_range": f"{ports[0]} {ports[1]}"} if ports else None,
        )
        container.start()
        container.reload()
        address = str(container.attrs["NetworkSettings"]["IPAddress"])
        home = workdir / "home"
        _write_home(home, alias, address, user_key, host_key)
        host = RemoteHost(
            container,
            address,
            alias,
            home,
            engine_kind,
            PODMAN_SOCKET if podman else DOCKER_SOCKET,
            label=f"{LABEL}={run_id}",
        )
        check = (
            ("--remote", "--url", f"unix://{PODMAN_SOCKET}", "version") if podman else ("version",)
        )

        def engine_answers() -> bool:
            container.reload()
            if container.status != "running":
                logs = container.logs()[-2000:].decode("utf-8", "replace")
                raise AssertionError(f"{image} stopped:\n{logs}")
            return host.inner(*check).returncode == 0

        _wait(engine_answers, START_TIMEOUT, f"the engine in {image}")
        host.wait_for_ssh()
        if tls:
            host.tls_url = f"tcp://{address}:{TLS_PORT}"
            host.certs = _copy_client_certs(container, workdir / "certs")
        _load_busybox(engine, host)
        yield host
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
        with contextlib.suppress(Exception):
            volume.remove(force=True)
