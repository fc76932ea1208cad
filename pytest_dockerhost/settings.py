"""One Settings object, built from CLI > env > ini > default, validated.

Every option is described once, in ``OPTIONS``: the CLI flag, its ini twin, its
environment variable, its help text and how a raw value is parsed. The pytest
surface and the diagnostic command both read from here, so the precedence and
the error messages are the same everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, final

from .errors import SettingError
from .messages import settings as say_
from .parsing import (
    CI_VARIABLES,
    DEFAULT_SIDECAR_IMAGE,
    DEFAULT_TIMEOUT,
    FALSE_WORDS,
    MODES,
    RESOLVE_WHEN,
    TRUE_WORDS,
    Mode,
    parse_bool,
    parse_capabilities,
    parse_lines,
    parse_mode,
    parse_resolve,
    parse_text,
    parse_timeout,
    parse_tls_verify_env,
)

# Names other modules have always imported from here.
__all__ = ["CI_VARIABLES", "FALSE_WORDS", "MODES", "OPTIONS", "TRUE_WORDS", "Settings"]

T = TypeVar("T")


@final
@dataclass(frozen=True)
class Setting(Generic[T]):
    """A value and the place it came from, e.g. ``--docker-mode`` or ``PYTEST_DOCKER_MODE``."""

    value: T
    source: str

    @property
    def is_default(self) -> bool:
        return self.source == "default"


@final
@dataclass(frozen=True)
class OptionSpec:
    """One option, described once for the CLI, the ini file and the environment."""

    name: str
    flag: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    ini: str | None = None
    env: str | None = None
    kind: str = "string"  # how the CLI and ini take it: string, bool, lines, choice
    env_parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "mode",
        "--docker-mode",
        "how to reach Docker: auto (discover and verify), dood (a local "
        "unix socket), dind (a daemon over TCP, waiting for it to start), sidecar (start our own "
        "TLS dind container). Default: auto.",
        parse_mode,
        "auto",
        ini="docker_mode",
        env="PYTEST_DOCKER_MODE",
        kind="choice",
        choices=MODES,
    ),
    OptionSpec(
        "resolve",
        "--docker-resolve",
        "when to find the endpoint and wire docker-py and testcontainers to it: auto (when the "
        "run may use Docker: a docker marker, a plugin fixture, or the first import of docker "
        "or testcontainers), always (at start-up, before any conftest is imported), marked "
        "(only for tests with the docker marker or a plugin fixture). Default: auto.",
        parse_resolve,
        "auto",
        ini="docker_resolve",
        env="PYTEST_DOCKER_RESOLVE",
        kind="choice",
        choices=RESOLVE_WHEN,
    ),
    OptionSpec(
        "host",
        "--docker-host",
        "explicit Docker endpoint URL (unix:///path, tcp://host:port, "
        "ssh://user@host); wins over discovery. The environment twin is the usual DOCKER_HOST.",
        parse_text,
        None,
        ini="docker_host",
        env="DOCKER_HOST",
    ),
    OptionSpec(
        "socket",
        "--docker-socket",
        "unix socket path for dood mode (default: DOCKER_HOST, then the well-known socket paths).",
        parse_text,
        None,
        ini="docker_socket",
    ),
    OptionSpec(
        "cert_path",
        "--docker-cert-path",
        "folder holding ca.pem, cert.pem and key.pem for a TLS "
        "daemon (environment: DOCKER_CERT_PATH).",
        parse_text,
        None,
        ini="docker_cert_path",
        env="DOCKER_CERT_PATH",
    ),
    OptionSpec(
        "tls_verify",
        "--docker-tls-verify",
        "verify the daemon's TLS certificate against ca.pem "
        "(environment: DOCKER_TLS_VERIFY; as in the docker CLI, any non-empty value turns it on).",
        parse_bool,
        None,
        ini="docker_tls_verify",
        env="DOCKER_TLS_VERIFY",
        kind="bool",
        env_parse=parse_tls_verify_env,
    ),
    OptionSpec(
        "timeout",
        "--docker-timeout",
        "seconds to wait for a daemon that is still starting (dind "
        "and sidecar modes). Default: 30.",
        parse_timeout,
        DEFAULT_TIMEOUT,
        ini="docker_timeout",
        env="PYTEST_DOCKER_TIMEOUT",
    ),
    OptionSpec(
        "required",
        "--docker-required",
        "fail, rather than skip, Docker tests when no endpoint "
        f"works. On by default on CI ({', '.join(CI_VARIABLES)}).",
        parse_bool,
        False,
        ini="docker_required",
        env="PYTEST_DOCKER_REQUIRED",
        kind="bool",
    ),
    OptionSpec(
        "reap",
        "--docker-reap",
        "remove what this run's tests created (testcontainers' containers, networks and "
        "volumes, found by its session label) at the end of the run, and what killed runs "
        "left behind at the start of the next; needs nothing but the API (default true).",
        parse_bool,
        True,
        ini="docker_reap",
        env="PYTEST_DOCKER_REAP",
        kind="bool",
    ),
    OptionSpec(
        "published_host",
        "--docker-published-host",
        "host or IP where ports published by test "
        "containers are reached (default: worked out and verified; environment: "
        "PYTEST_DOCKER_PUBLISHED_HOST).",
        parse_text,
        None,
        ini="docker_published_host",
        env="PYTEST_DOCKER_PUBLISHED_HOST",
    ),
    OptionSpec(
        "sidecar_image",
        "--docker-sidecar-image",
        "image for sidecar mode; any image that "
        "follows the docker:dind contract. Default: docker:dind.",
        parse_text,
        DEFAULT_SIDECAR_IMAGE,
        ini="docker_sidecar_image",
        env="PYTEST_DOCKER_SIDECAR_IMAGE",
    ),
    OptionSpec(
        "sidecar_privileged",
        "--docker-sidecar-privileged",
        "run the sidecar with --privileged "
        "(default true); false uses an explicit capability set instead.",
        parse_bool,
        True,
        ini="docker_sidecar_privileged",
        env="PYTEST_DOCKER_SIDECAR_PRIVILEGED",
        kind="bool",
    ),
    OptionSpec(
        "sidecar_runtime",
        "--docker-sidecar-runtime",
        "container runtime for the sidecar, such as sysbox-runc.",
        parse_text,
        None,
        ini="docker_sidecar_runtime",
        env="PYTEST_DOCKER_SIDECAR_RUNTIME",
    ),
    OptionSpec(
        "sidecar_cache",
        "--docker-sidecar-cache",
        "named volume for the sidecar's /var/lib/docker, "
        "kept between runs so images pulled inside survive.",
        parse_text,
        None,
        ini="docker_sidecar_cache",
        env="PYTEST_DOCKER_SIDECAR_CACHE",
    ),
    OptionSpec(
        "sidecar_reuse",
        "--docker-sidecar-reuse",
        "keep the sidecar after the run and reattach to it next time.",
        parse_bool,
        False,
        ini="docker_sidecar_reuse",
        env="PYTEST_DOCKER_SIDECAR_REUSE",
        kind="bool",
    ),
    OptionSpec(
        "preload",
        "--docker-preload",
        "image to copy from the outer daemon into the sidecar (repeatable; ini: one per line).",
        parse_lines,
        (),
        ini="docker_preload",
        env="PYTEST_DOCKER_PRELOAD",
        kind="lines",
        metavar="IMAGE",
    ),
    OptionSpec(
        "sidecar_cap_drop",
        "--docker-sidecar-cap-drop",
        "capabilities to leave out of an unprivileged sidecar, for runtimes that lack them "
        "(repeatable or comma-separated, e.g. SYS_RESOURCE,SYS_MODULE).",
        parse_capabilities,
        (),
        ini="docker_sidecar_cap_drop",
        env="PYTEST_DOCKER_SIDECAR_CAP_DROP",
        kind="lines",
        metavar="CAP",
    ),
)

OPTIONS_BY_NAME: Mapping[str, OptionSpec] = {spec.name: spec for spec in OPTIONS}


@final
@dataclass(frozen=True)
class Settings:
    """The effective configuration, each value with its source."""

    mode: Setting[Mode]
    resolve: Setting[str]
    host: Setting[str | None]
    socket: Setting[str | None]
    cert_path: Setting[str | None]
    tls_verify: Setting[bool | None]
    timeout: Setting[float]
    required: Setting[bool]
    reap: Setting[bool]
    published_host: Setting[str | None]
    sidecar_image: Setting[str]
    sidecar_privileged: Setting[bool]
    sidecar_runtime: Setting[str | None]
    sidecar_cache: Setting[str | None]
    sidecar_reuse: Setting[bool]
    preload: Setting[tuple[str, ...]]
    sidecar_cap_drop: Setting[tuple[str, ...]]
    on_ci: str | None = None  # the variable that says we run on CI, if any
    warnings: tuple[str, ...] = ()

    @property
    def fail_without_docker(self) -> bool:
        return self.required.value or (self.required.is_default and self.on_ci is not None)

    @classmethod
    def from_sources(
        cls,
        cli: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        ini: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Build settings from raw CLI values, the environment and raw ini values.

        ``cli`` maps option names to parsed argparse values (None = not given);
        ``ini`` maps option names to raw ini values (None or "" = not given).
        """
        cli = cli or {}
        env = os.environ if env is None else env
        ini = ini or {}
        values: dict[str, Setting[Any]] = {}
        warnings: list[str] = []
        for spec in OPTIONS:
            values[spec.name] = _pick(spec, cli.get(spec.name), env, ini.get(spec.name))
        tls_env = env.get("DOCKER_TLS_VERIFY")
        from_env = values["tls_verify"].source == "DOCKER_TLS_VERIFY"
        if from_env and (tls_env or "").strip().lower() in ("0", "false", "no", "off"):
            warnings.append(say_.tls_verify_zero(str(tls_env)))
        on_ci = next((name for name in CI_VARIABLES if env.get(name, "").strip()), None)
        return cls(**values, on_ci=on_ci, warnings=tuple(warnings))

    @classmethod
    def from_config(cls, config: Any, namespace: Any = None) -> Settings:
        """Build settings from a pytest ``Config`` (or, before its options are parsed, from
        the ``namespace`` of its early parse)."""
        cli: dict[str, Any] = {}
        ini: dict[str, Any] = {}
        for spec in OPTIONS:
            if namespace is not None:
                cli[spec.name] = getattr(namespace, dest(spec), None)
            else:
                cli[spec.name] = config.getoption(dest(spec), default=None)
            if spec.ini is not None:
                ini[spec.name] = config.getini(spec.ini)
        return cls.from_sources(cli, os.environ, ini)

    def describe(self) -> Iterable[tuple[str, str, str]]:
        """(name, value, source) for every setting, for ``-v`` output and the diagnostic."""
        for spec in OPTIONS:
            setting: Setting[Any] = getattr(self, spec.name)
            yield spec.name, _show(setting.value), setting.source


def dest(spec: OptionSpec) -> str:
    """Where argparse keeps an option's raw value."""
    return "dockerhost_" + spec.name


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(value) or "-"
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pick(spec: OptionSpec, cli: Any, env: Mapping[str, str], ini: Any) -> Setting[Any]:
    if cli is not None and cli not in ([], ()):
        return Setting(_convert(spec, cli, spec.flag), spec.flag)
    if spec.env is not None and spec.env in env:
        raw = env[spec.env]
        parse = spec.env_parse or spec.parse
        if raw.strip() or spec.env_parse is not None:
            return Setting(_convert(spec, raw, spec.env, parse), spec.env)
        if spec.name == "host":
            # An empty DOCKER_HOST is almost always a CI variable that was not filled in.
            state = say_.BLANK_EMPTY if raw == "" else say_.BLANK_SPACES
            raise SettingError(
                say_.docker_host_blank(state),
                source="DOCKER_HOST",
            )
    if spec.ini is not None and ini not in (None, "", [], ()):
        return Setting(_convert(spec, ini, f"ini {spec.ini}"), f"ini {spec.ini}")
    return Setting(spec.default, "default")


def _convert(
    spec: OptionSpec, raw: Any, source: str, parse: Callable[[str], Any] | None = None
) -> Any:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (list, tuple)):
        if spec.kind == "lines":
            try:
                return tuple(item for part in raw for item in spec.parse(str(part)))
            except ValueError as exc:
                raise SettingError(say_.invalid(source, None, str(exc)), source=source) from None
        raw = "\n".join(str(part) for part in raw)
    try:
        return (parse or spec.parse)(str(raw))
    except ValueError as exc:
        shown = str(raw)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise SettingError(say_.invalid(source, shown, str(exc)), source=source) from None
