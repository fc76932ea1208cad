"""``python -m pytest_dockerhost``: the trace as a table, a fix per failure, exit 0/1/2."""

from __future__ import annotations

import json
import sys

import pytest

from ..helpers.servers import closed_port, docker_api, serving


def test_exit_0_and_the_summary_when_an_endpoint_works(pytester: pytest.Pytester) -> None:
    with serving(docker_api()) as server:
        result = pytester.run(
            sys.executable, "-m", "pytest_dockerhost", "--docker-host", server.url, timeout=20
        )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "pytest-dockerhost: mode auto (from default)",
            "#  source*endpoint*result*ms",
            f"1  --docker-host  {server.url}  ok*",
            f"docker: dind {server.url} (engine 20.10.24, API 1.41, TLS off) via --docker-host;*",
        ]
    )


def test_exit_1_with_what_happened_and_the_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    result = pytester.run(sys.executable, "-m", "pytest_dockerhost", timeout=20)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"1  DOCKER_HOST  tcp://127.0.0.1:{port}  failed*",
            f"1. 127.0.0.1:{port} refused the connection",
            f"   fix: check that a Docker daemon listens on tcp://127.0.0.1:{port}*",
            "no working Docker endpoint.",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--docker-timeout", "-1"], {}, "--docker-timeout='-1' is not valid"),
        ([], {"PYTEST_DOCKER_TIMEOUT": "x"}, "PYTEST_DOCKER_TIMEOUT='x' is not valid"),
        ([], {"PYTEST_DOCKER_MODE": "x"}, "PYTEST_DOCKER_MODE='x' is not valid"),
        ([], {"DOCKER_HOST": ""}, "DOCKER_HOST is set but empty"),
    ],
)
def test_exit_2_for_a_bad_setting(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    said: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.run(sys.executable, "-m", "pytest_dockerhost", *args, timeout=20)
    assert result.ret == 2
    result.stderr.fnmatch_lines([f"pytest-dockerhost: {said}*"])
    assert "Traceback" not in result.stderr.str()


def test_a_bad_option_value_gets_the_plugins_own_message(pytester: pytest.Pytester) -> None:
    # The diagnostic's options come from the same table and parser as the plugin's.
    result = pytester.run(
        sys.executable, "-m", "pytest_dockerhost", "--docker-mode=bogus", timeout=20
    )
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        [
            "pytest-dockerhost: --docker-mode='bogus' is not valid: must be one of auto, dood, "
            "dind, sidecar."
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_the_diagnostic_takes_the_plugins_help_and_flags(pytester: pytest.Pytester) -> None:
    from pytest_dockerhost.config.settings import OPTIONS_BY_NAME

    result = pytester.run(sys.executable, "-m", "pytest_dockerhost", "--help", timeout=20)
    assert result.ret == 0
    text = " ".join(result.stdout.str().split())
    for name in ("mode", "host", "socket", "cert_path", "tls_verify", "timeout"):
        spec = OPTIONS_BY_NAME[name]
        assert spec.flag in text
        assert " ".join(spec.help.split())[:40] in text


def test_render_lists_absent_sockets_in_one_line(pytester: pytest.Pytester) -> None:
    from pytest_dockerhost.__main__ import render
    from pytest_dockerhost.config.settings import Settings
    from pytest_dockerhost.discovery.endpoint import TraceEntry
    from pytest_dockerhost.discovery.resolution import NOT_PRESENT, Resolution
    from pytest_dockerhost.errors import NoEndpointError

    trace = (
        TraceEntry("DOCKER_HOST", "tcp://d:2375", "failed", 0.01, "d refused", "start it"),
        TraceEntry(
            "~/.rd/docker.sock (Rancher Desktop)",
            "unix:///h/.rd/docker.sock",
            "skipped",
            0,
            NOT_PRESENT,
        ),
    )
    failed = NoEndpointError("x")
    text = render(Resolution(Settings.from_sources({}, {}, {}), "auto", None, trace, failed))
    assert "not present: /h/.rd/docker.sock" in text
    assert "1. d refused" in text
    assert "   fix: start it" in text
    assert text.endswith("no working Docker endpoint.")


def test_a_pool_is_shown_entry_by_entry_then_the_engine_a_run_would_use(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = f"tcp://127.0.0.1:{closed_port()}"
    with serving(docker_api(version="28.5.2", api_version="1.51")) as server:
        monkeypatch.setenv("PYTEST_DOCKER_POOL", f"{down},{server.url},sidecar*2")
        result = pytester.run(sys.executable, "-m", "pytest_dockerhost", timeout=20)
        as_json = pytester.run(sys.executable, "-m", "pytest_dockerhost", "--json", timeout=20)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "pool of 4 engines (from PYTEST_DOCKER_POOL); each tried alone:",
            f"  1  {down}*left out: 127.0.0.1:* refused the connection",
            f"     fix: check that a Docker daemon listens on {down}*",
            f"  2  {server.url}*ok: engine 28.5.2, CPUs unknown, memory unknown",
            "  3  sidecar #1*a sidecar the run starts, on the engine it finds without the pool",
            "  3  sidecar #2*a sidecar the run starts, on the engine it finds without the pool",
            "pytest-dockerhost: mode auto (from default)",
            f"1  PYTEST_DOCKER_POOL entry 2  {server.url}  ok*",
            f"docker: dind {server.url} (engine 28.5.2, API 1.51, TLS off)*",
        ]
    )
    data = json.loads(as_json.stdout.str())
    outcomes = [(e["entry"], e["outcome"]) for e in data["pool"]["entries"]]
    assert outcomes == [
        (down, "left out"),
        (server.url, "ok"),
        ("sidecar #1", "not tried"),
        ("sidecar #2", "not tried"),
    ]
    assert data["endpoint"]["url"] == server.url
