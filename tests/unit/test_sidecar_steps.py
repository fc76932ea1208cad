"""The sidecar's steps, each called with what it needs: readiness waits for a daemon that
answers late and says why one never will (the container's exit and its last log lines),
reach finds the published port and proves where published ports answer. Loopback servers
stand in for the outer engine and for the sidecar's daemon."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.engine.api import EngineAddress, EngineClient
from pytest_dockerhost.engine.url import parse_url
from pytest_dockerhost.errors import SidecarError
from pytest_dockerhost.sidecar.certs import client_tls
from pytest_dockerhost.sidecar.payload import INNER_PORT
from pytest_dockerhost.sidecar.reach import Located, locate, prove
from pytest_dockerhost.sidecar.readiness import ContainerWatch, wait_ready
from pytest_dockerhost.sidecar.spec import Spec

from ..helpers.servers import (
    LoopbackServer,
    closed_port,
    docker_api,
    over_tls,
    read_request,
    reply,
    serving,
)
from ..helpers.tls import make_material

SIDECAR_ID = "0123456789ab"
LATE = 0.8  # seconds before the sidecar's daemon answers


def _spec(timeout: str = "20") -> Spec:
    return Spec.from_settings(Settings.from_sources({}, {"PYTEST_DOCKER_TIMEOUT": timeout}, {}))


def outer_engine(inspect: dict[str, Any], logs: bytes = b"") -> Any:
    """The outer engine as the sidecar's start sees it: the container's inspect data and
    its log stream (multiplexed, as for a container without a TTY)."""

    def answer(conn: socket.socket) -> None:
        line = read_request(conn)
        if not line:
            return
        path = line.split()[1]
        headers = {"Api-Version": "1.41", "Server": "Docker/20.10.24 (linux)"}
        if f"/containers/{SIDECAR_ID}/logs" in path:
            frame = b"\x01\x00\x00\x00" + len(logs).to_bytes(4, "big") + logs
            reply(
                conn,
                "200 OK",
                frame,
                {**headers, "Content-Type": "application/vnd.docker.raw-stream"},
            )
        elif f"/containers/{SIDECAR_ID}/json" in path:
            body = json.dumps({"Id": SIDECAR_ID, "Config": {"Tty": False}, **inspect}).encode()
            reply(conn, "200 OK", body, {**headers, "Content-Type": "application/json"})
        else:
            body = b'{"message":"page not found"}'
            reply(conn, "404 Not Found", body, {**headers, "Content-Type": "application/json"})

    return answer


@contextlib.contextmanager
def watching(
    inspect: dict[str, Any], logs: bytes = b"", timeout: str = "20"
) -> Iterator[ContainerWatch]:
    with serving(outer_engine(inspect, logs)) as outer:
        address = EngineAddress(parse_url(outer.url), None, "1.41")
        client = EngineClient(
            address,
            10.0,
            lambda t: docker.DockerClient(base_url=outer.url, version="1.41", timeout=int(t)),
        )
        try:
            yield ContainerWatch(client, SIDECAR_ID, _spec(timeout))
        finally:
            client.close()


RUNNING = {"State": {"Running": True, "Status": "running"}}
EXITED = {"State": {"Running": False, "Status": "exited", "ExitCode": 1, "Error": ""}}


def test_readiness_waits_for_a_daemon_that_answers_late(tmp_path: Path) -> None:
    material = make_material(tmp_path / "client")
    port = closed_port()
    servers: list[LoopbackServer] = []
    failed: list[OSError] = []

    def later() -> None:
        time.sleep(LATE)
        handler = over_tls(material.server_context(), docker_api(version="28.5.1"))
        try:
            servers.append(LoopbackServer(handler, port=port))
        except OSError as exc:  # the port was taken meanwhile
            failed.append(exc)

    with watching(RUNNING) as watch:
        tls = client_tls(str(material.client_dir), "the sidecar's")
        thread = threading.Thread(target=later, daemon=True)
        # From before the thread starts: the daemon answers LATE seconds from here at the
        # earliest, however busy the machine is.
        t0 = time.monotonic()
        thread.start()
        try:
            info = wait_ready(
                watch, f"tcp://127.0.0.1:{port}", tls, str(material.client_dir), t0 + 20
            )
            waited = time.monotonic() - t0
        finally:
            thread.join()
            for server in servers:
                server.close()
    assert not failed, failed
    assert info.version == "28.5.1"
    assert LATE <= waited < LATE + 5, waited


def test_readiness_says_the_container_stopped_with_its_last_log_lines(tmp_path: Path) -> None:
    logs = b"certificate generation failed\nmkdir /certs: read-only file system\n"
    with watching(EXITED, logs) as watch:
        tls = client_tls(str(tmp_path), "the sidecar's")
        t0 = time.monotonic()
        with pytest.raises(SidecarError) as raised:
            wait_ready(watch, f"tcp://127.0.0.1:{closed_port()}", tls, str(tmp_path), t0 + 20)
    said = str(raised.value)
    assert time.monotonic() - t0 < 5, "said at the first look at the container, not at the deadline"
    assert "stopped before its daemon was ready: exited with exit status 1" in said
    assert "    mkdir /certs: read-only file system" in said


def test_readiness_is_bounded_by_the_timeout_and_names_it(tmp_path: Path) -> None:
    material = make_material(tmp_path / "client")
    with watching(RUNNING) as watch:
        tls = client_tls(str(material.client_dir), "the sidecar's")
        url = f"tcp://127.0.0.1:{closed_port()}"
        t0 = time.monotonic()
        with pytest.raises(SidecarError) as raised:
            wait_ready(watch, url, tls, str(material.client_dir), t0 + 1)
    assert 1 <= time.monotonic() - t0 < 4
    assert "was not ready within 20 s" in str(raised.value)
    assert "PYTEST_DOCKER_TIMEOUT" in str(raised.value)


def test_readiness_says_a_missing_client_certificate_at_once(tmp_path: Path) -> None:
    with watching(RUNNING) as watch:
        tls = client_tls(str(tmp_path), "the sidecar's")
        t0 = time.monotonic()
        with pytest.raises(SidecarError) as raised:
            wait_ready(watch, f"tcp://127.0.0.1:{closed_port()}", tls, str(tmp_path), t0 + 20)
    assert time.monotonic() - t0 < 5
    assert f"CA file {tmp_path}/ca.pem does not exist" in str(raised.value)


def test_locate_finds_the_port_published_on_loopback() -> None:
    inspect = {
        **RUNNING,
        "NetworkSettings": {
            "Ports": {
                f"{INNER_PORT}/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "40001"},
                    {"HostIp": "127.0.0.1", "HostPort": "40002"},
                ]
            },
            "Networks": {"bridge": {"IPAddress": "172.17.0.9"}},
        },
    }
    with watching(inspect) as watch:
        assert locate(watch, "sc", "host", None) == Located("tcp://127.0.0.1:40002", "172.17.0.9")


def test_locate_on_a_shared_network_uses_the_name_and_its_address_there() -> None:
    inspect = {**RUNNING, "NetworkSettings": {"Networks": {"sc-net": {"IPAddress": "10.9.0.2"}}}}
    with watching(inspect) as watch:
        located = locate(watch, "sc", "network", "sc-net")
    assert located == Located(f"tcp://sc:{INNER_PORT}", "10.9.0.2")


def test_locate_says_a_sidecar_that_stopped_has_no_port() -> None:
    inspect = {**EXITED, "NetworkSettings": {"Ports": {}}}
    with (
        watching(inspect, b"dockerd: failed to start\n") as watch,
        pytest.raises(SidecarError) as raised,
    ):
        locate(watch, "sc", "host", None)
    assert "exit status 1" in str(raised.value)
    assert "dockerd: failed to start" in str(raised.value)


def _listening(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((address, INNER_PORT))
    except OSError as exc:
        sock.close()
        pytest.skip(f"{address}:{INNER_PORT} is taken here: {exc}")
    sock.listen(4)
    return sock


def test_prove_verifies_an_address_that_answers_and_says_when_one_does_not() -> None:
    sock = _listening("127.0.0.77")
    try:
        reached = prove(Located("tcp://127.0.0.1:40002", "127.0.0.77"))
    finally:
        sock.close()
    assert (reached.url, reached.published_host, reached.verified) == (
        "tcp://127.0.0.1:40002",
        "127.0.0.77",
        True,
    )
    assert not prove(Located("tcp://127.0.0.1:40002", "127.0.0.78")).verified
