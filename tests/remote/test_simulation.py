"""The simulated remotes are faithful: what the inner engine publishes answers inside the
remote and through SSH only; a forwarded socket is the remote's engine; docker-py's
``ssh://`` needs a docker CLI on the remote, which a Podman host lacks; cutting sshd drops
what goes through it within seconds; the fixtures leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from ..e2e.helpers import leftovers
from .hosts import SSH, RemoteHost, connects, remote_host

pytestmark = pytest.mark.e2e

PAGE = "pytest-dockerhost-test ok"
CUT_WITHIN = 5.0  # seconds: "fails within seconds" (issue 21, item 5)


@pytest.fixture(params=["remote_docker", "remote_docker_tls", "remote_podman"])
def remote(request: pytest.FixtureRequest) -> RemoteHost:
    host: RemoteHost = request.getfixturevalue(request.param)
    return host


def http_get(url: str, timeout: float = 5.0) -> str:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no *_proxy
    with direct.open(url, timeout=timeout) as reply:
        return str(reply.read().decode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def busybox(remote: RemoteHost, publish: str = "80") -> Iterator[int]:
    """busybox's httpd on the inner engine, ``-p PUBLISH``: yields the published port."""
    run = remote.inner("run", "-d", "-p", publish, BUSYBOX)
    assert run.returncode == 0, run.stderr
    container = run.stdout.strip().splitlines()[-1]
    try:
        port = remote.inner("port", container, "80/tcp")
        assert port.returncode == 0, port.stderr
        yield int(port.stdout.split()[0].rsplit(":", 1)[1])
    finally:
        remote.inner(*remove(remote), container)


def remove(remote: RemoteHost) -> tuple[str, ...]:
    """``rm -f`` at once: Podman's would first wait 10 s for httpd to stop on SIGTERM."""
    return ("rm", "-f", "-t", "0") if remote.kind == "podman" else ("rm", "-f")


def in_its_network(remote: RemoteHost, url: str) -> subprocess.CompletedProcess[str]:
    """GET ``url`` from a process of this machine in the remote's network namespace, where
    its loopback is the remote's own."""
    code = (
        "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=5).read().decode())"
    )
    return subprocess.run(
        ["nsenter", f"--net=/proc/{remote.pid()}/ns/net", sys.executable, "-c", code, url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_published_ports_answer_inside_the_remote_only(remote: RemoteHost) -> None:
    with busybox(remote) as port:
        inside = in_its_network(remote, f"http://127.0.0.1:{port}/")
        assert inside.stdout.strip() == PAGE, inside.stderr
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((remote.address, port), timeout=5).close()
    assert connects(remote.address, 22)  # the address itself answers
    if remote.kind == "docker":
        # Published on 0.0.0.0 on purpose, it does answer from here: only dockerd's
        # --ip=127.0.0.1 keeps the default in.
        with busybox(remote, "0.0.0.0::80") as port:
            assert http_get(f"http://{remote.address}:{port}/") == PAGE


def test_a_hand_made_tcp_forward_reaches_a_published_port(remote: RemoteHost) -> None:
    local = free_port()
    with busybox(remote) as port, remote.forward(f"127.0.0.1:{local}", f"127.0.0.1:{port}"):
        assert http_get(f"http://127.0.0.1:{local}/") == PAGE


def test_a_forwarded_unix_socket_is_the_remote_engine(
    remote: RemoteHost, engine: Any, tmp_path: Path
) -> None:
    import docker

    local = tmp_path / "engine.sock"
    name = f"pdh-remote-probe-{os.getpid()}"
    made = remote.inner("create", "--name", name, BUSYBOX)
    assert made.returncode == 0, made.stderr
    try:
        with remote.forward(str(local), remote.socket):
            client = docker.DockerClient(base_url=f"unix://{local}", version="1.41", timeout=30)
            try:
                assert client.ping() is True
                assert client.containers.get(name).name == name
                components = [part["Name"] for part in client.version()["Components"]]
                want = "Podman Engine" if remote.kind == "podman" else "Engine"
                assert components[0] == want, components
            finally:
                client.close()
    finally:
        remote.inner(*remove(remote), name)
    assert not engine.containers.list(all=True, filters={"name": name})  # not this machine's


DIAL = """
import sys, docker
client = docker.DockerClient(base_url=sys.argv[1], use_ssh_client=True, timeout=30)
print(client.version()["Version"])
"""


def dial(remote: RemoteHost, url: str) -> subprocess.CompletedProcess[str]:
    """docker-py's ``ssh://`` through the ssh CLI, run as the remote's user."""
    return subprocess.run(
        remote.as_user(sys.executable, "-c", DIAL, url),
        env={**os.environ, **remote.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", ["remote_docker", "remote_podman"])
def test_docker_py_ssh_needs_a_docker_cli_on_the_remote(
    name: str, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("paramiko", reason="docker-py's ssh:// imports paramiko even to shell out")
    remote: RemoteHost = request.getfixturevalue(name)
    if remote.kind == "docker":
        done = dial(remote, remote.ssh_url)
        want = remote.inner("version", "-f", "{{.Server.Version}}").stdout.strip()
        assert (done.returncode, done.stdout.strip()) == (0, want), done.stderr
        return
    # The remote's ssh runs `docker system dial-stdio`: bash has no such command there.
    done = dial(remote, f"ssh://root@{remote.address}")
    assert done.returncode != 0, done.stdout
    assert "docker: command not found" in done.stderr, done.stderr
    assert "Error while fetching server API version" in done.stderr, done.stderr
    # Podman's own URL names its socket: docker-py 7 refuses the path before connecting.
    done = dial(remote, remote.ssh_url)
    assert done.returncode != 0, done.stdout
    assert "no path allowed for this protocol" in done.stderr, done.stderr


def test_cut_ssh_drops_an_established_forward_within_seconds(remote: RemoteHost) -> None:
    local = free_port()
    with busybox(remote) as port:
        with remote.forward(f"127.0.0.1:{local}", f"127.0.0.1:{port}") as ssh:
            assert http_get(f"http://127.0.0.1:{local}/") == PAGE
            held = socket.create_connection(("127.0.0.1", local), timeout=CUT_WITHIN)
            try:
                started = time.monotonic()
                remote.cut_ssh()
                assert ssh.wait(timeout=CUT_WITHIN) == 255
                with contextlib.suppress(ConnectionResetError):
                    assert held.recv(1) == b""  # closed, not left hanging
                assert time.monotonic() - started < CUT_WITHIN
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", local), timeout=5).close()
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection((remote.address, 22), timeout=5).close()
                assert remote.inner("ps", "-q").returncode == 0  # the engine runs on
            finally:
                held.close()
                remote.restore_ssh()
        with remote.forward(f"127.0.0.1:{local}", f"127.0.0.1:{port}"):
            assert http_get(f"http://127.0.0.1:{local}/") == PAGE


def test_only_the_tls_remote_serves_tcp(
    remote_docker_tls: RemoteHost, remote_docker: RemoteHost
) -> None:
    import docker

    certs = remote_docker_tls.certs
    assert certs is not None
    assert remote_docker_tls.tls_url is not None
    tls = docker.tls.TLSConfig(
        client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
        ca_cert=str(certs / "ca.pem"),
        verify=True,
    )
    url = remote_docker_tls.tls_url
    client = docker.DockerClient(base_url=url, tls=tls, version="1.41", timeout=30)
    client.api.trust_env = False  # else REQUESTS_CA_BUNDLE replaces the remote's CA
    try:
        want = remote_docker_tls.inner("info", "-f", "{{.ID}}").stdout.strip()
        assert client.info()["ID"] == want
    finally:
        client.close()
    assert not connects(remote_docker.address, 2376)
    assert not connects(remote_docker.address, 2375)
    assert remote_docker.tls_url is None
    assert remote_docker.certs is None


def test_the_users_own_ssh_finds_its_config(remote: RemoteHost) -> None:
    """``as_user``: a bare ``ssh ALIAS`` reads HOME/.ssh, as on the user's machine."""
    done = subprocess.run(
        remote.as_user(SSH, remote.alias, remote.kind, "--version"),
        env={**os.environ, **remote.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.lower().startswith(f"{remote.kind} version"), done.stdout
    private = [remote.home, remote.ssh_dir, remote.ssh_dir / "id_ed25519"]
    if remote.certs is not None:
        private += [remote.certs, remote.certs / "key.pem"]
    for path in private:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_a_remote_leaves_nothing_behind(engine: Any, remote_images: None, tmp_path: Path) -> None:
    run_id = f"remote-gone-{os.getpid()}"
    with remote_host(engine, "docker", tmp_path, run_id) as host:
        assert leftovers(engine, host.label)["containers"]
        assert leftovers(engine, host.label)["volumes"]
        assert host.inner("images", "-q", BUSYBOX).stdout.strip()
    assert leftovers(engine, host.label) == {"containers": [], "volumes": [], "networks": []}
