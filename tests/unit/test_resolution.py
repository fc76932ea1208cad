"""The chain end to end without dockerd: fake sockets and loopback servers stand in."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_dockerhost.discovery.network import detect
from pytest_dockerhost.discovery.resolution import resolve
from pytest_dockerhost.errors import NoEndpointError
from pytest_dockerhost.messages.failures import socket_missing_fix

from ..helpers.servers import closed_port, docker_api, serving, silent
from .conftest import MakeCtx


def test_auto_finds_the_system_socket_and_says_how(make_ctx: MakeCtx, short_dir: Path) -> None:
    path = str(short_dir / "docker.sock")
    ctx = make_ctx(system_sockets=(path,))
    with serving(docker_api(), unix_path=path):
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None
    assert result.host.url == f"unix://{path}"
    assert result.host.mode == "dood"
    assert result.host.source == f"{path} (the system socket)"
    assert result.host.engine_version == "20.10.24"
    assert result.trace[-1].outcome == "ok"


def test_docker_host_wins_and_tcp_publishes_on_its_host(make_ctx: MakeCtx) -> None:
    with serving(docker_api()) as server:
        ctx = make_ctx({"DOCKER_HOST": server.url})
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None
    assert (result.host.mode, result.host.source) == ("dind", "DOCKER_HOST")
    assert result.host.published_host == "127.0.0.1"
    assert result.host.daemon_socket == "/var/run/docker.sock"
    assert result.host.summary().startswith(
        f"docker: dind {server.url} (engine 20.10.24, API 1.41, TLS off) via DOCKER_HOST;"
    )


def test_pinned_failure_does_not_fall_back_but_hints(make_ctx: MakeCtx, short_dir: Path) -> None:
    path = str(short_dir / "docker.sock")
    port = closed_port()
    ctx = make_ctx({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, system_sockets=(path,))
    with serving(docker_api(), unix_path=path):
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is None
    assert (
        str(result.error).splitlines()[0] == "no working Docker endpoint (mode auto, from default)."
    )
    assert f"  DOCKER_HOST: tcp://127.0.0.1:{port}" in str(result.error)
    assert f"    what happened: 127.0.0.1:{port} refused the connection" in str(result.error)
    assert f"  note: unix://{path} answers (engine 20.10.24); to use it, remove DOCKER_HOST" in str(
        result.error
    )
    assert "run `python -m pytest_dockerhost`" in str(result.error)


@pytest.mark.parametrize(
    ("configured", "setting"),
    [
        ({"env": {"DOCKER_CONTEXT": "gone"}}, "DOCKER_CONTEXT"),
        ({"cli": {"host": "tcp://127.0.0.1:{port}"}}, "--docker-host"),
        ({"ini": {"host": "tcp://127.0.0.1:{port}"}}, "ini docker_host"),
    ],
)
def test_the_hint_names_the_setting_that_configured_the_failed_endpoint(
    make_ctx: MakeCtx, short_dir: Path, configured: dict[str, dict[str, str]], setting: str
) -> None:
    path = str(short_dir / "docker.sock")
    port = closed_port()
    given = {
        where: {key: value.format(port=port) for key, value in values.items()}
        for where, values in configured.items()
    }
    env = given.pop("env", {})
    ctx = make_ctx(env, system_sockets=(path,), **given)
    with serving(docker_api(), unix_path=path):
        result = resolve(ctx.settings, ctx=ctx)
    assert result.hints == (
        f"unix://{path} answers (engine 20.10.24); to use it, remove {setting}",
    )


def test_no_endpoint_is_an_error_that_require_raises(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(cli={"mode": "sidecar"})
    result = resolve(ctx.settings, ctx=ctx)
    assert result.mode == "auto"  # a sidecar's host daemon is searched for as auto does
    assert isinstance(result.error, NoEndpointError)
    with pytest.raises(NoEndpointError) as info:
        result.require()
    assert str(info.value) == str(result.error)
    assert str(info.value).startswith("no working Docker endpoint (mode auto, from --docker-mode).")


def test_nothing_found(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    result = resolve(ctx.settings, ctx=ctx)
    assert result.host is None
    assert "no-docker.sock (the system socket): unix://" in str(result.error)
    assert "no-docker.sock does not exist" in str(result.error)
    # The fix for this machine: whether this process runs in a container decides it.
    assert f"    fix: {socket_missing_fix(detect().in_container)}\n" in str(result.error)
    assert "none present" in str(result.error)


def test_dind_without_a_tcp_endpoint(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(cli={"mode": "dind"})
    result = resolve(ctx.settings, ctx=ctx)
    assert str(result.error).startswith(
        "no working Docker endpoint (mode dind, from --docker-mode)."
    )
    assert "dind mode needs a TCP endpoint: set DOCKER_HOST=tcp://docker:2376" in str(result.error)


def test_dood_skips_tcp(make_ctx: MakeCtx) -> None:
    ctx = make_ctx({"DOCKER_HOST": "tcp://127.0.0.1:1"}, cli={"mode": "dood"})
    result = resolve(ctx.settings, ctx=ctx)
    assert "skipped DOCKER_HOST: dood mode uses only unix sockets" in str(result.error)


def test_dind_waits_for_a_late_daemon_within_the_timeout(make_ctx: MakeCtx) -> None:
    port = closed_port()
    ctx = make_ctx({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, cli={"mode": "dind", "timeout": "1"})
    start = time.monotonic()
    result = resolve(ctx.settings, ctx=ctx)
    elapsed = time.monotonic() - start
    assert result.host is None
    assert 0.9 < elapsed < 2.5
    assert "what happened: not ready after" in str(result.error)


def test_auto_is_bounded_against_a_silent_host(make_ctx: MakeCtx) -> None:
    with serving(silent) as server:
        ctx = make_ctx({"DOCKER_HOST": server.url})
        start = time.monotonic()
        result = resolve(ctx.settings, ctx=ctx)
        elapsed = time.monotonic() - start
    assert result.host is None
    assert elapsed < 3
    assert "nothing answered within" in str(result.error)


def test_a_configured_engine_slow_to_compose_its_version_is_used(make_ctx: MakeCtx) -> None:
    """Podman runs its components for /version: under load that outlasts the 1.5 s that
    keeps a silent host short, though its /_ping answered at once."""
    with serving(docker_api(version="5.8.6", version_delay=2.5)) as server:
        ctx = make_ctx({"DOCKER_HOST": server.url})
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None, result.error
    assert result.host.engine_version == "5.8.6"


def test_broken_config_is_reported_and_discovery_goes_on(
    make_ctx: MakeCtx, short_dir: Path
) -> None:
    path = str(short_dir / "docker.sock")
    ctx = make_ctx(system_sockets=(path,))
    (ctx.home / ".docker").mkdir()
    (ctx.home / ".docker/config.json").write_text("{oops")
    with serving(docker_api(), unix_path=path):
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None
    assert result.trace[0].source == "~/.docker/config.json"
    assert result.trace[0].outcome == "failed"
    (warning,) = result.host.warnings
    assert warning.startswith("~/.docker/config.json was passed over: ~/.docker/config.json is not")
    assert warning.endswith("fix: repair or remove ~/.docker/config.json; docker login rewrites it")


def test_failed_settings_warnings_reach_the_failure_message(make_ctx: MakeCtx) -> None:
    ctx = make_ctx({"DOCKER_HOST": f"tcp://127.0.0.1:{closed_port()}", "DOCKER_TLS_VERIFY": "0"})
    result = resolve(ctx.settings, ctx=ctx)
    assert "  warning: DOCKER_TLS_VERIFY=0 turns TLS verification ON" in str(result.error)


def test_tls_verify_zero_warning_reaches_the_host(make_ctx: MakeCtx, tmp_path: Path) -> None:
    from ..helpers.servers import over_tls
    from ..helpers.tls import make_material

    material = make_material(tmp_path / "certs")
    env = {"DOCKER_TLS_VERIFY": "0", "DOCKER_CERT_PATH": str(material.client_dir)}
    with serving(over_tls(material.server_context(), docker_api())) as server:
        ctx = make_ctx({**env, "DOCKER_HOST": server.url})
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None
    assert result.host.tls is not None
    assert result.host.tls.verify
    assert any("DOCKER_TLS_VERIFY=0 turns TLS verification ON" in w for w in result.host.warnings)
    assert "TLS verified" in result.host.summary()
