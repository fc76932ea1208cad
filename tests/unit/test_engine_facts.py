"""The engine as the header names it, and clients it will refuse. A Docker 29 engine (its
minimum API raised to 1.44) and a Podman one cannot run here: loopback servers answer
as they do. Docker 28 itself is exercised for real in tests/e2e/test_docker28.py."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from pytest_dockerhost.discovery import network
from pytest_dockerhost.discovery.resolution import resolve
from pytest_dockerhost.engine.skew import api_skew

from ..helpers import dood_host
from ..helpers.servers import docker_api, serving
from .conftest import MakeCtx

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
     |-- 172.17.0.0
        /16 link UNICAST
     |-- 172.17.0.1
        /32 host LOCAL
     |-- 172.17.255.255
        /32 link BROADCAST
"""


def test_local_addresses_are_the_host_local_entries_of_fib_trie() -> None:
    assert network.local_addresses(FIB_TRIE) == {"127.0.0.1", "172.17.0.1"}
    assert "127.0.0.1" in network.local_addresses()  # this machine's own table


def test_a_podman_engine_is_named_in_the_header(make_ctx: MakeCtx) -> None:
    fake = docker_api(version="5.8.6", api_version="1.44", components=("Podman Engine",))
    with serving(fake) as server:
        ctx = make_ctx({"DOCKER_HOST": server.url})
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None
    assert "(engine Podman 5.8.6, API 1.44, TLS off)" in result.host.summary()
    assert result.host.engine_line() == "docker: engine Podman 5.8.6: API 1.44"


def _old_cli(folder: Path, api: str) -> str:
    cli = folder / "docker"
    cli.write_text(f"#!/bin/sh\necho {api}\n")
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    return str(folder)


def test_clients_an_engine_will_refuse_are_named_with_the_fix(
    make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through resolution, as the header gets it. A real engine with a raised minimum is in
    tests/e2e/test_api_floor.py; here a loopback server answers as Docker 29.1 does."""
    monkeypatch.setenv("PATH", _old_cli(tmp_path, "1.41") + os.pathsep + os.environ["PATH"])
    monkeypatch.delenv("COMPOSE_API_VERSION", raising=False)
    fake = docker_api(version="29.1.0", api_version="1.52", min_api="1.44")
    with serving(fake) as server:
        ctx = make_ctx({"DOCKER_HOST": server.url})
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None
    warnings = "\n".join(result.host.warnings)
    assert f"the docker CLI at {tmp_path}/docker speaks API 1.41, and this engine accepts 1.44" in (
        warnings
    )
    assert "DOCKER_MIN_API_VERSION=1.41 in the daemon's environment" in warnings
    assert "upgrade it to Docker 29.3 or later, whose minimum is 1.40" in warnings
    # docker-py (from_env, testcontainers) speaks the engine's own version: never refused.
    assert "docker-py" not in warnings
    assert len(result.host.warnings) == 1, warnings
    assert result.host.engine_line() == "docker: engine Docker 29.1.0: API 1.44-1.52"


def test_an_engine_that_accepts_the_usual_range_costs_no_client_check() -> None:
    assert api_skew("1.24") == []
    assert api_skew("1.12") == []
    assert api_skew("") == []


@pytest.mark.parametrize(
    ("ipam", "gateway"),
    [
        ({"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}, "172.17.0.1"),
        # docker-on-ci.md section 9: some engines give the subnet alone.
        ({"Config": [{"Subnet": "172.17.0.0/16"}]}, "172.17.0.1"),
        ({"Config": [{"Subnet": "fd00::/64"}]}, None),
        ({"Config": []}, None),
        ({}, None),
    ],
)
def test_the_bridge_gateway_from_what_engines_report(
    ipam: dict[str, object], gateway: str | None
) -> None:
    assert network.gateway_of({"IPAM": ipam}) == gateway


def test_preload_exports_the_outer_daemons_platform_only_where_the_api_allows() -> None:
    import json

    from pytest_dockerhost.discovery.endpoint import DockerHost, EngineFacts
    from pytest_dockerhost.sidecar.preload import own_platform, same_image

    def host(api: str) -> DockerHost:
        arm = EngineFacts("20.10.24", api, os="linux", arch="arm64")
        return dataclasses.replace(dood_host(), engine=arm)

    platform = own_platform(host("1.51"))
    assert platform is not None
    assert json.loads(platform) == {"os": "linux", "architecture": "arm64"}
    assert own_platform(host("1.47")) is None  # the parameter came with API 1.48
    # The graph driver names an image by its config, the containerd store by its manifest.
    layers = {"RootFS": {"Layers": ["sha256:a"]}, "Created": "2026-11-30T10:00:00Z"}
    assert same_image({"Id": "sha256:config", **layers}, {"Id": "sha256:manifest", **layers})
    assert not same_image({"Id": "sha256:x", **layers}, {"Id": "sha256:y", "RootFS": {}})


def test_the_engines_line_comes_from_the_info_resolution_read_once(make_ctx: MakeCtx) -> None:
    """-v and the diagnostic show the image store and cgroup from the ``/info`` that
    resolution read for the profile: a busy engine is not asked again."""
    from ..helpers.servers import read_request, reply

    asked: list[str] = []
    engine = docker_api(version="28.5.2", api_version="1.51")
    info = {"Driver": "overlay2", "CgroupVersion": "2", "NCPU": 2, "MemTotal": 2**33}

    def answer(conn: socket.socket) -> None:
        line = conn.recv(1024, socket.MSG_PEEK).decode("latin-1")
        path = line.split()[1] if len(line.split()) > 1 else "/"
        asked.append(path)
        if not path.endswith("/info"):
            engine(conn)
            return
        read_request(conn)
        reply(conn, "200 OK", json.dumps(info).encode(), {"Content-Type": "application/json"})

    with serving(answer) as server:
        ctx = make_ctx({"DOCKER_HOST": server.url})
        result = resolve(ctx.settings, ctx=ctx)
        assert result.host is not None
        line = result.host.engine_line()
    assert line == "docker: engine Docker 28.5.2: API 1.51, graph driver overlay2, cgroup v2"
    assert [path for path in asked if path.endswith("/info")] == ["/info"], asked
