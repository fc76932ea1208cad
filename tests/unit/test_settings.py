"""Settings: one precedence (CLI > env > ini > default), and errors that name the source."""

from __future__ import annotations

import pytest

from pytest_dockerhost.config.settings import DEFAULT_TIMEOUT, Origin, Settings
from pytest_dockerhost.errors import SettingError


def test_defaults() -> None:
    s = Settings.from_sources({}, {}, {})
    assert (s.mode.value, s.mode.source) == ("auto", "default")
    assert s.timeout.value == DEFAULT_TIMEOUT
    assert s.required.value is False
    assert s.host.value is None
    assert s.tls_verify.value is None
    assert not s.fail_without_docker


@pytest.mark.parametrize(
    ("cli", "env", "ini", "value", "source"),
    [
        (
            {"mode": "dind"},
            {"PYTEST_DOCKER_MODE": "dood"},
            {"mode": "auto"},
            "dind",
            "--docker-mode",
        ),
        ({}, {"PYTEST_DOCKER_MODE": "dood"}, {"mode": "dind"}, "dood", "PYTEST_DOCKER_MODE"),
        ({}, {}, {"mode": "dind"}, "dind", "ini docker_mode"),
        ({}, {}, {"mode": ""}, "auto", "default"),
        ({"mode": None}, {}, {}, "auto", "default"),
    ],
)
def test_mode_precedence(
    cli: dict[str, str], env: dict[str, str], ini: dict[str, str], value: str, source: str
) -> None:
    s = Settings.from_sources(cli, env, ini)
    assert (s.mode.value, s.mode.source) == (value, source)


def test_mode_is_case_and_space_insensitive() -> None:
    assert Settings.from_sources({}, {"PYTEST_DOCKER_MODE": " DinD "}, {}).mode.value == "dind"


@pytest.mark.parametrize(
    ("cli", "env", "ini", "named"),
    [
        (
            {"mode": "bogus"},
            {},
            {},
            "--docker-mode='bogus' is not valid: must be one of auto, dood",
        ),
        ({}, {"PYTEST_DOCKER_MODE": "bogus"}, {}, "PYTEST_DOCKER_MODE='bogus' is not valid"),
        ({}, {}, {"mode": "bogus"}, "ini docker_mode='bogus' is not valid"),
        ({"timeout": "-1"}, {}, {}, "--docker-timeout='-1' is not valid: must be a positive"),
        ({"timeout": "0"}, {}, {}, "--docker-timeout='0' is not valid: must be a positive"),
        (
            {},
            {"PYTEST_DOCKER_TIMEOUT": "soon"},
            {},
            "PYTEST_DOCKER_TIMEOUT='soon' is not valid: must",
        ),
        ({}, {"PYTEST_DOCKER_TIMEOUT": "nan"}, {}, "PYTEST_DOCKER_TIMEOUT='nan' is not valid"),
        ({}, {"PYTEST_DOCKER_TIMEOUT": "inf"}, {}, "PYTEST_DOCKER_TIMEOUT='inf' is not valid"),
        ({}, {}, {"timeout": "ten"}, "ini docker_timeout='ten' is not valid: must be a number"),
        (
            {},
            {"PYTEST_DOCKER_REQUIRED": "maybe"},
            {},
            "PYTEST_DOCKER_REQUIRED='maybe' is not valid",
        ),
        (
            {},
            {},
            {"required": "sometimes"},
            "ini docker_required='sometimes' is not valid: must be",
        ),
    ],
)
def test_bad_values_name_their_source(
    cli: dict[str, str], env: dict[str, str], ini: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_sources(cli, env, ini)
    assert named in str(info.value)
    assert info.value.source in str(info.value)


def test_a_long_bad_value_is_clipped() -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_sources({}, {"PYTEST_DOCKER_MODE": "x" * 500}, {})
    assert len(str(info.value)) < 200
    assert "..." in str(info.value)


def test_timeout_accepts_fractions() -> None:
    s = Settings.from_sources({}, {"PYTEST_DOCKER_TIMEOUT": " 2.5 "}, {"timeout": "9"})
    assert (s.timeout.value, s.timeout.source) == (2.5, "PYTEST_DOCKER_TIMEOUT")


@pytest.mark.parametrize("raw", ["", " "])
def test_empty_docker_host_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_sources({}, {"DOCKER_HOST": raw}, {})
    assert info.value.source == "DOCKER_HOST"
    assert "DOCKER_HOST is set but" in str(info.value)
    assert "Unset it" in str(info.value)


def test_cli_host_beats_docker_host_and_ini() -> None:
    s = Settings.from_sources(
        {"host": "tcp://a:2375"}, {"DOCKER_HOST": "tcp://b:2375"}, {"host": "tcp://c:2375"}
    )
    assert (s.host.value, s.host.source) == ("tcp://a:2375", "--docker-host")
    s = Settings.from_sources({}, {"DOCKER_HOST": "tcp://b:2375"}, {"host": "tcp://c:2375"})
    assert (s.host.value, s.host.source) == ("tcp://b:2375", "DOCKER_HOST")
    s = Settings.from_sources({}, {}, {"host": "tcp://c:2375"})
    assert (s.host.value, s.host.source) == ("tcp://c:2375", "ini docker_host")


@pytest.mark.parametrize(
    ("raw", "verify"), [("1", True), ("0", True), ("false", True), ("", False)]
)
def test_docker_tls_verify_follows_the_docker_cli(raw: str, verify: bool) -> None:
    s = Settings.from_sources({}, {"DOCKER_TLS_VERIFY": raw}, {})
    assert s.tls_verify.value is verify
    assert s.tls_verify.source == "DOCKER_TLS_VERIFY"


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "off"])
def test_docker_tls_verify_zero_warns_that_it_means_on(raw: str) -> None:
    s = Settings.from_sources({}, {"DOCKER_TLS_VERIFY": raw}, {})
    assert len(s.warnings) == 1
    assert f"DOCKER_TLS_VERIFY={raw} turns TLS verification ON" in s.warnings[0]
    assert "Unset DOCKER_TLS_VERIFY" in s.warnings[0]


def test_docker_tls_verify_one_does_not_warn() -> None:
    assert Settings.from_sources({}, {"DOCKER_TLS_VERIFY": "1"}, {}).warnings == ()


def test_cli_bool_beats_env() -> None:
    s = Settings.from_sources({"tls_verify": "false"}, {"DOCKER_TLS_VERIFY": "1"}, {})
    assert (s.tls_verify.value, s.tls_verify.source) == (False, "--docker-tls-verify")
    assert s.warnings == ()


@pytest.mark.parametrize("name", ["CI", "JENKINS_URL", "GITLAB_CI", "GITHUB_ACTIONS"])
def test_ci_detection_turns_failing_on(name: str) -> None:
    s = Settings.from_sources({}, {name: "true"}, {})
    assert s.on_ci == name
    assert s.fail_without_docker


def test_explicit_not_required_beats_ci() -> None:
    s = Settings.from_sources({"required": "false"}, {"CI": "true"}, {})
    assert not s.fail_without_docker


def test_blank_ci_variable_is_not_ci() -> None:
    assert Settings.from_sources({}, {"CI": " "}, {}).on_ci is None


def test_preload_lines_from_ini_and_cli() -> None:
    s = Settings.from_sources({}, {}, {"preload": ["busybox:local", " a:1  b:2 "]})
    assert s.preload.value == ("busybox:local", "a:1", "b:2")
    s = Settings.from_sources({"preload": ["x:1"]}, {}, {"preload": ["busybox:local"]})
    assert (s.preload.value, s.preload.source) == (("x:1",), "--docker-preload")
    s = Settings.from_sources({}, {"PYTEST_DOCKER_PRELOAD": "a:1,b:2 c@sha256:00"}, {})
    assert (s.preload.value, s.preload.source) == (
        ("a:1", "b:2", "c@sha256:00"),
        "PYTEST_DOCKER_PRELOAD",
    )


def test_describe_lists_every_setting_with_its_source() -> None:
    s = Settings.from_sources({"mode": "dood"}, {"DOCKER_CERT_PATH": "/c"}, {"timeout": "4"})
    rows = {name: (value, source) for name, value, source in s.describe()}
    assert rows["mode"] == ("dood", "--docker-mode")
    assert rows["cert_path"] == ("/c", "DOCKER_CERT_PATH")
    assert rows["timeout"] == ("4.0", "ini docker_timeout")
    assert rows["host"] == ("-", "default")
    assert rows["required"] == ("false", "default")


def test_each_setting_knows_its_origin_and_where_the_text_names_it() -> None:
    s = Settings.from_sources(
        {"mode": "dood"}, {"DOCKER_HOST": "tcp://b:2375"}, {"timeout": "4", "host": "tcp://c"}
    )
    assert (s.mode.origin, s.mode.where, s.mode.source) == (
        Origin.CLI,
        "--docker-mode",
        "--docker-mode",
    )
    assert (s.host.origin, s.host.source) == (Origin.ENV, "DOCKER_HOST")
    assert s.host.from_variable("DOCKER_HOST")
    assert (s.timeout.origin, s.timeout.source) == (Origin.INI, "ini docker_timeout")
    assert (s.reap.origin, s.reap.source, s.reap.is_default) == (Origin.DEFAULT, "default", True)


def test_ini_docker_host_is_not_the_variable() -> None:
    s = Settings.from_sources({}, {}, {"host": "tcp://c:2375"})
    assert s.host.origin is Origin.INI
    assert not s.host.from_variable("DOCKER_HOST")


def test_describe_given_only_leaves_defaults_out() -> None:
    s = Settings.from_sources({"mode": "dood"}, {"DOCKER_CERT_PATH": "/c"}, {"timeout": "4"})
    rows = {name: source for name, _, source in s.describe(given_only=True)}
    assert rows == {
        "mode": "--docker-mode",
        "cert_path": "DOCKER_CERT_PATH",
        "timeout": "ini docker_timeout",
    }
