"""The transport, probe and diagnosis against real conditions: socket files with real
permissions, loopback servers (a fake Docker API over HTTP and TLS, and things that are
not Docker) and real TLS material. Each case checks the message and the fix users see."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dockerhost.discovery.diagnosis import explain
from pytest_dockerhost.discovery.network import detect
from pytest_dockerhost.engine.probe import probe, wait_for
from pytest_dockerhost.engine.transport import Failure, make_ssl_context
from pytest_dockerhost.engine.url import DockerURL, TLSConfig, parse_url
from pytest_dockerhost.messages.failures import MachineFacts, socket_missing_fix

from ..helpers import DROP_TO_USER, cannot_run_as_user, servers
from ..helpers.servers import closed_port, docker_api, over_tls, serving, silent, web_server
from ..helpers.tls import (
    Material,
    expired_server,
    future_server,
    other_ca_dir,
    server_context_for,
    write_client_dir,
)


def tls_in(folder: Path, *, verify: bool = True) -> TLSConfig:
    return TLSConfig(
        verify,
        str(folder / "ca.pem"),
        str(folder / "cert.pem"),
        str(folder / "key.pem"),
        f"DOCKER_CERT_PATH={folder}",
    )


def fail(url: DockerURL, tls: TLSConfig | None, timeout: float = 1.0) -> tuple[Failure, str, str]:
    with pytest.raises(Failure) as info:
        probe(url, tls, timeout=timeout)
    what, fix = explain(info.value, url, tls, "DOCKER_HOST")
    return info.value, what, fix


# ---- unix sockets ---------------------------------------------------------------------------


def test_fake_docker_on_a_unix_socket_answers(short_dir: Path) -> None:
    path = str(short_dir / "d.sock")
    with serving(docker_api(version="24.0.7", api_version="1.43"), unix_path=path):
        info = probe(parse_url(f"unix://{path}"), None, timeout=1.0)
    assert (info.version, info.api_version, info.os) == ("24.0.7", "1.43", "linux")


def test_missing_socket(short_dir: Path) -> None:
    failure, what, fix = fail(parse_url(f"unix://{short_dir}/none.sock"), None)
    assert failure.kind == "socket-missing"
    assert what == f"{short_dir}/none.sock does not exist"
    # This machine's fix: the one for whether this process runs in a container.
    assert fix == socket_missing_fix(detect().in_container)
    url = parse_url(f"unix://{short_dir}/none.sock")
    on_a_host = explain(failure, url, None, "DOCKER_HOST", facts=MachineFacts())
    assert on_a_host == (what, "start Docker, or set DOCKER_HOST to a daemon that runs")
    _, in_container = explain(
        failure, url, None, "DOCKER_HOST", facts=MachineFacts(in_container=True)
    )
    assert in_container == (
        "mount the host's socket into this container: docker run -v "
        "/var/run/docker.sock:/var/run/docker.sock ... (plus --group-add with the socket's "
        "gid), or set DOCKER_HOST=tcp://docker:2376 for a dind service"
    )


def test_stale_socket_file(short_dir: Path) -> None:
    path = str(short_dir / "stale.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()  # the file stays, nothing listens
    failure, what, fix = fail(parse_url(f"unix://{path}"), None)
    assert failure.kind == "socket-stale"
    assert what == f"{path} exists but no daemon listens on it"
    assert "start the daemon" in fix


def test_regular_file(short_dir: Path) -> None:
    (short_dir / "f.sock").write_text("")
    failure, what, fix = fail(parse_url(f"unix://{short_dir}/f.sock"), None)
    assert failure.kind == "socket-not-socket"
    assert what == f"{short_dir}/f.sock is a regular file, not a socket"
    assert fix == "point DOCKER_HOST at the daemon's socket, usually /var/run/docker.sock"


def test_directory(short_dir: Path) -> None:
    (short_dir / "d.sock").mkdir()
    failure, what, _ = fail(parse_url(f"unix://{short_dir}/d.sock"), None)
    assert failure.kind == "socket-not-socket"
    assert what == f"{short_dir}/d.sock is a directory, not a socket"


def test_dangling_symlink(short_dir: Path) -> None:
    (short_dir / "l.sock").symlink_to(short_dir / "gone.sock")
    failure, what, fix = fail(parse_url(f"unix://{short_dir}/l.sock"), None)
    assert failure.kind == "socket-dangling"
    assert what == f"{short_dir}/l.sock is a symlink to nothing"
    assert "point DOCKER_HOST at the daemon's socket" in fix


EACCES_CHILD = """
import sys
from pytest_dockerhost.discovery.diagnosis import explain
from pytest_dockerhost.engine.url import parse_url
from pytest_dockerhost.engine.probe import probe
from pytest_dockerhost.engine.transport import Failure

url = parse_url("unix://" + sys.argv[1])
try:
    probe(url, None, timeout=1.0)
except Failure as failure:
    what, fix = explain(failure, url, None, "DOCKER_HOST")
    print(failure.kind, what, fix, sep="\\n")
"""


def test_eacces_names_the_gid_and_the_fix(short_dir: Path) -> None:
    """A real EACCES: a socket mode 660 owned by gid 4321, probed from a child as uid 1000."""
    if cannot_run_as_user():
        pytest.skip(cannot_run_as_user())
    path = str(short_dir / "d.sock")
    with serving(docker_api(), unix_path=path):
        os.chown(path, 0, 4321)
        os.chmod(path, 0o660)
        # The probe runs in a child as uid 1000 with no supplementary groups.
        child = subprocess.run(
            [*DROP_TO_USER, sys.executable, "-c", EACCES_CHILD, path],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    kind, what, fix = (child.stdout + "\n\n").split("\n", 2)
    fix = fix.strip()
    assert kind == "socket-eacces", child.stdout + child.stderr
    assert f"permission denied on {path}: the socket is srw-rw---- owned by uid 0, gid 4321" in what
    assert "(uid 1000) with groups 1000" in what
    assert "none of which is 4321" in what
    assert "`docker run --group-add 4321 ...`" in fix
    assert 'group_add: ["4321"]' in fix
    assert "args '--group-add 4321'" in fix
    assert "groupmod -g ${DOCKER_GID} docker" in fix
    assert "ARG DOCKER_GID=4321" in fix
    assert "chmod" not in fix
    assert "666" not in fix + what


# ---- TCP: refused, DNS, silent, not Docker ---------------------------------------------------


def test_connection_refused() -> None:
    port = closed_port()
    failure, what, fix = fail(parse_url(f"tcp://127.0.0.1:{port}"), None)
    assert failure.kind == "refused"
    assert failure.retryable
    assert what == f"127.0.0.1:{port} refused the connection"
    assert f"check that a Docker daemon listens on tcp://127.0.0.1:{port}" in fix
    assert "--docker-mode=dind" in fix


def test_dns_failure() -> None:
    failure, what, fix = fail(parse_url("tcp://docker.invalid:2376"), None)
    assert failure.kind == "dns"
    assert what.startswith("cannot resolve 'docker.invalid'")
    assert "check the host name in DOCKER_HOST" in fix
    assert "service name" in fix


def test_silent_server_is_bounded_by_the_timeout() -> None:
    with serving(silent) as server:
        start = time.monotonic()
        failure, what, fix = fail(parse_url(server.url), None, timeout=0.5)
        elapsed = time.monotonic() - start
    assert failure.kind == "silent"
    assert elapsed < 2
    assert what == "connected, but nothing answered within 0.5 s"
    assert "does not answer as Docker does" in fix
    assert "check the host and port in DOCKER_HOST" in fix


def test_slow_server_is_bounded_too() -> None:
    with serving(docker_api(delay=3)) as server:
        start = time.monotonic()
        failure, _, _ = fail(parse_url(server.url), None, timeout=0.3)
        assert time.monotonic() - start < 2
    assert failure.kind == "silent"


def test_slow_but_in_time_server_answers() -> None:
    with serving(docker_api(delay=0.2)) as server:
        assert probe(parse_url(server.url), None, timeout=2).version == "20.10.24"


def test_an_engine_that_answered_its_ping_gets_longer_for_its_version() -> None:
    with serving(docker_api(version_delay=1.0)) as server:
        url = parse_url(server.url)
        assert probe(url, None, timeout=0.3, answered=5).version == "20.10.24"
        failure, _, _ = fail(url, None, timeout=0.3)  # without: bounded like the ping
    assert failure.kind == "silent"


def test_web_server_is_not_docker() -> None:
    with serving(web_server) as server:
        failure, what, fix = fail(parse_url(server.url), None)
    assert failure.kind == "not-docker"
    assert what == (
        f"{server.url} answered, but it is not a Docker engine: /_ping answered HTTP 200 "
        "(Server: nginx/1.25.3) without Docker's API headers"
    )
    assert fix == "check the host and port in DOCKER_HOST; Docker listens on 2376 (TLS) or 2375"


def test_garbage_bytes_are_not_http() -> None:
    def garbage(conn: socket.socket) -> None:
        servers.read_request(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    with serving(garbage) as server:
        failure, what, _ = fail(parse_url(server.url), None)
    assert failure.kind == "not-http"
    assert "answered, but not with HTTP" in what


def test_empty_reply() -> None:
    with serving(lambda conn: servers.read_request(conn) and None) as server:
        failure, what, fix = fail(parse_url(server.url), None)
    assert failure.kind == "empty-reply"
    assert what.endswith("the server closed the connection without answering")
    assert "still starting" in fix


def test_docker_still_starting_is_retryable() -> None:
    def starting(conn: socket.socket) -> None:
        servers.read_request(conn)
        servers.reply(conn, "503 Service Unavailable", b"", {"Api-Version": "1.41"})

    with serving(starting) as server:
        failure, _, fix = fail(parse_url(server.url), None)
    assert failure.kind == "not-ready"
    assert failure.retryable
    assert "--docker-timeout" in fix


def test_old_api_is_refused_with_a_fix() -> None:
    with serving(docker_api(version="1.11.2", api_version="1.23")) as server:
        failure, what, fix = fail(parse_url(server.url), None)
    assert failure.kind == "api-too-old"
    assert what == "engine 1.11.2 speaks API 1.23; docker-py needs 1.24 or newer"
    assert f"upgrade the Docker engine at {server.url}, or point DOCKER_HOST" in fix


def test_version_without_docker_json() -> None:
    def half(conn: socket.socket) -> None:
        line = servers.read_request(conn)
        body = b"OK" if "_ping" in line else b"{}"
        servers.reply(conn, "200 OK", body, {"Api-Version": "1.41"})

    with serving(half) as server:
        failure, what, _ = fail(parse_url(server.url), None)
    assert failure.kind == "not-docker"
    assert "/version did not answer with Docker's JSON" in what


def test_wait_for_a_daemon_that_starts_late() -> None:
    port = closed_port()
    url = parse_url(f"tcp://127.0.0.1:{port}")
    started: list[servers.LoopbackServer] = []

    def later() -> None:
        time.sleep(0.4)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.close()
        started.append(servers.LoopbackServer(docker_api(), port=port))

    import threading

    thread = threading.Thread(target=later)
    thread.start()
    try:
        info = wait_for(url, None, deadline=time.monotonic() + 5, timeout=0.5)
    finally:
        thread.join()
        for server in started:
            server.close()
    assert info.api_version == "1.41"


def test_wait_for_gives_up_at_the_deadline() -> None:
    url = parse_url(f"tcp://127.0.0.1:{closed_port()}")
    start = time.monotonic()
    with pytest.raises(Failure) as info:
        wait_for(url, None, deadline=start + 0.6, timeout=0.2)
    assert info.value.kind == "refused"
    assert 0.5 < time.monotonic() - start < 2


def test_wait_for_does_not_retry_tls_errors(tmp_path: Path, material: Material) -> None:
    wrong = other_ca_dir(tmp_path / "other")
    with serving(over_tls(material.server_context(), docker_api())) as server:
        start = time.monotonic()
        with pytest.raises(Failure) as info:
            wait_for(parse_url(server.url), tls_in(wrong), deadline=start + 10, timeout=1)
    assert info.value.kind == "tls-verify"
    assert time.monotonic() - start < 2


# ---- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_docker(material: Material) -> Iterator[servers.LoopbackServer]:
    with serving(over_tls(material.server_context(), docker_api())) as server:
        yield server


def test_tls_docker_answers_with_the_right_material(
    tls_docker: servers.LoopbackServer, material: Material
) -> None:
    info = probe(parse_url(tls_docker.url), tls_in(material.client_dir), timeout=2)
    assert info.version == "20.10.24"
    url = parse_url(f"tcp://localhost:{tls_docker.port}")
    assert probe(url, tls_in(material.client_dir), timeout=2).api_version == "1.41"


def test_plain_http_against_a_tls_port(tls_docker: servers.LoopbackServer) -> None:
    failure, what, fix = fail(parse_url(tls_docker.url), None)
    assert failure.kind == "http-to-https"
    assert what == (
        f"{tls_docker.url} speaks TLS, but the client sent plain HTTP "
        '("Client sent an HTTP request to an HTTPS server")'
    )
    assert "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH" in fix
    assert "/certs/client" in fix


def test_tls_against_a_plain_port(material: Material) -> None:
    with serving(docker_api()) as server:
        failure, what, fix = fail(parse_url(server.url), tls_in(material.client_dir))
    assert failure.kind == "https-to-http"
    assert what == (
        f"{server.url} speaks plain HTTP, but the client started TLS "
        f"(TLS from DOCKER_CERT_PATH={material.client_dir})"
    )
    assert "unsetting DOCKER_TLS_VERIFY and DOCKER_CERT_PATH" in fix
    assert "never drops TLS by itself" in fix


def test_tls_against_a_silent_port(material: Material) -> None:
    with serving(silent) as server:
        failure, what, fix = fail(parse_url(server.url), tls_in(material.client_dir), 0.5)
    assert failure.kind == "tls-timeout"
    assert "no answer to the TLS handshake" in what
    assert f"TLS is on (from DOCKER_CERT_PATH={material.client_dir})" in fix


def test_ca_from_another_daemon(tls_docker: servers.LoopbackServer, tmp_path: Path) -> None:
    wrong = other_ca_dir(tmp_path / "other")
    failure, what, fix = fail(parse_url(tls_docker.url), tls_in(wrong))
    assert failure.kind == "tls-verify"
    assert what.startswith("the daemon's certificate failed verification:")
    assert f"the CA in DOCKER_CERT_PATH={wrong} did not sign the daemon's certificate" in fix


@pytest.mark.parametrize(
    ("issue", "said"),
    [(expired_server, "certificate has expired"), (future_server, "not yet valid")],
)
def test_server_certificate_outside_its_validity(
    material: Material, issue: object, said: str
) -> None:
    leaf = issue(material.ca)  # type: ignore[operator]
    handler = over_tls(server_context_for(leaf, material.ca), docker_api())
    with serving(handler) as server:
        failure, what, fix = fail(parse_url(server.url), tls_in(material.client_dir))
    assert failure.kind == "tls-verify"
    assert said in what
    assert "outside its validity period" in fix
    assert "check the clocks" in fix


def test_server_certificate_without_the_host(material: Material) -> None:
    handler = over_tls(
        server_context_for(material.ca.issue_cert("docker"), material.ca), docker_api()
    )
    with serving(handler) as server:
        failure, what, fix = fail(parse_url(server.url), tls_in(material.client_dir))
        _, _, by_name = fail(
            parse_url(f"tcp://localhost:{server.port}"), tls_in(material.client_dir)
        )
    assert failure.kind == "tls-verify"
    assert "IP address mismatch" in what
    assert 'DOCKER_TLS_SAN="IP:127.0.0.1"' in fix
    assert 'DOCKER_TLS_SAN="DNS:localhost"' in by_name


def test_client_certificate_from_another_ca(
    tls_docker: servers.LoopbackServer, material: Material, tmp_path: Path
) -> None:
    foreign = other_ca_dir(tmp_path / "foreign")
    shutil.copy(material.client_dir / "ca.pem", foreign / "ca.pem")  # trusts the server
    failure, what, fix = fail(parse_url(tls_docker.url), tls_in(foreign))
    assert failure.kind in ("tls-client-rejected", "tls-eof")
    assert "client certificate" in what + fix
    assert f"DOCKER_CERT_PATH={foreign}" in fix


def test_no_client_certificate(tls_docker: servers.LoopbackServer, material: Material) -> None:
    tls = TLSConfig(True, str(material.client_dir / "ca.pem"), None, None, "DOCKER_CERT_PATH=x")
    failure, what, fix = fail(parse_url(tls_docker.url), tls)
    assert failure.kind in ("tls-client-rejected", "tls-eof")
    assert "client certificate" in what + fix


def test_tls_server_that_is_not_docker(material: Material) -> None:
    handler = over_tls(material.server_context(require_client_cert=False), web_server)
    with serving(handler) as server:
        failure, what, _ = fail(parse_url(server.url), tls_in(material.client_dir))
    assert failure.kind == "not-docker"
    assert "it is not a Docker engine" in what


# ---- cert files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ca.pem", "cert.pem", "key.pem"])
def test_missing_cert_file(material: Material, name: str) -> None:
    (material.client_dir / name).unlink()
    tls = tls_in(material.client_dir)
    with pytest.raises(Failure) as info:
        make_ssl_context(tls)
    what, fix = explain(info.value, parse_url("tcp://d:2376"), tls, "DOCKER_HOST")
    assert info.value.kind == "cert-missing"
    assert f"{material.client_dir / name} does not exist" in what
    assert f"TLS material comes from DOCKER_CERT_PATH={material.client_dir}" in fix


def test_missing_cert_folder(tmp_path: Path) -> None:
    tls = tls_in(tmp_path / "nowhere")
    with pytest.raises(Failure) as info:
        make_ssl_context(tls)
    assert info.value.kind == "cert-missing"
    assert "CA file" in info.value.detail


def test_key_not_matching_cert(material: Material) -> None:
    other = material.ca.issue_cert("someone-else")
    other.private_key_pem.write_to_path(str(material.client_dir / "key.pem"))
    tls = tls_in(material.client_dir)
    with pytest.raises(Failure) as info:
        make_ssl_context(tls)
    what, fix = explain(info.value, None, tls, "DOCKER_HOST")
    assert info.value.kind == "cert-mismatch"
    assert what == f"{tls.client_key} is not the key of {tls.client_cert}"
    assert "copy cert.pem and key.pem together" in fix


@pytest.mark.parametrize(
    ("name", "kind", "said"),
    [
        ("ca.pem", "cert-garbage", "is not a PEM certificate"),
        ("cert.pem", "cert-garbage", "is not valid PEM"),
        ("key.pem", "cert-garbage", "is not valid PEM"),
    ],
)
def test_pem_garbage(material: Material, name: str, kind: str, said: str) -> None:
    (material.client_dir / name).write_text("-----BEGIN CERTIFICATE-----\ngarbage\n")
    tls = tls_in(material.client_dir)
    with pytest.raises(Failure) as info:
        make_ssl_context(tls)
    what, fix = explain(info.value, None, tls, "DOCKER_HOST")
    assert info.value.kind == kind
    assert said in what
    assert "replace the damaged file" in fix


def test_unverified_tls_ignores_a_missing_ca(material: Material) -> None:
    tls = TLSConfig(
        False,
        None,
        str(material.client_dir / "cert.pem"),
        str(material.client_dir / "key.pem"),
        "x",
    )
    with serving(over_tls(material.server_context(), docker_api())) as server:
        assert probe(parse_url(server.url), tls, timeout=2).version == "20.10.24"


def test_expired_client_cert_is_refused(
    tls_docker: servers.LoopbackServer, material: Material, tmp_path: Path
) -> None:
    from ..helpers.tls import expired_client

    folder = write_client_dir(tmp_path / "old", material.ca, expired_client(material.ca))
    failure, what, fix = fail(parse_url(tls_docker.url), tls_in(folder))
    assert failure.kind in ("tls-client-rejected", "tls-eof")
    assert "client certificate" in what + fix


def test_a_clean_tls_close_is_a_hang_up_not_a_protocol_error() -> None:
    # Debian's OpenSSL 3.0 reports a daemon that hangs up after the handshake this way.
    import ssl

    from pytest_dockerhost.engine.transport import _classify_ssl

    failure = _classify_ssl(ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed (EOF)"))
    assert failure.kind == "tls-eof"
