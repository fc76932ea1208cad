"""One Settings object, built from CLI > env > ini > default, validated.

Every option is described once, in ``option_table.OPTIONS``. The pytest surface and
the diagnostic command both build their settings here, so the precedence and the
error messages are the same everywhere.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, final

from ..errors import SettingError
from . import texts as say_
from .option_table import OPTIONS, OPTIONS_BY_NAME, OptionSpec, dest
from .parsing import (
    CI_VARIABLES,
    DEFAULT_TIMEOUT,
    FALSE_WORDS,
    MODES,
    TRUE_WORDS,
    Mode,
    Resolve,
)

# Names other modules have always imported from here.
__all__ = [
    "CI_VARIABLES",
    "DEFAULT_TIMEOUT",
    "FALSE_WORDS",
    "MODES",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "TRUE_WORDS",
    "OptionSpec",
    "Origin",
    "Setting",
    "Settings",
    "dest",
]

T = TypeVar("T")


class Origin(enum.Enum):
    """Which of the four places, in precedence order, a setting's value came from."""

    CLI = "cli"  # a command-line flag
    ENV = "env"  # an environment variable
    INI = "ini"  # an ini key
    DEFAULT = "default"


@final
@dataclass(frozen=True)
class Setting(Generic[T]):
    """A value and the place it came from: its origin, and the flag, variable or ini key
    (``where``) that gave it, e.g. ``--docker-mode`` or ``PYTEST_DOCKER_MODE``."""

    value: T
    origin: Origin
    where: str = ""  # empty for the default

    @property
    def source(self) -> str:
        """Where the value came from, as messages name it."""
        if self.origin is Origin.DEFAULT:
            return say_.DEFAULT_SOURCE
        return say_.ini_source(self.where) if self.origin is Origin.INI else self.where

    @property
    def is_default(self) -> bool:
        return self.origin is Origin.DEFAULT

    def from_variable(self, name: str) -> bool:
        """Whether the environment variable ``name`` gave this value."""
        return self.origin is Origin.ENV and self.where == name


@final
@dataclass(frozen=True, eq=False)  # one per run; eq would cost 22 fields of codegen
class Settings:
    """The effective configuration, each value with its source."""

    mode: Setting[Mode]
    resolve: Setting[Resolve]
    host: Setting[str | None]
    socket: Setting[str | None]
    cert_path: Setting[str | None]
    tls_verify: Setting[bool | None]
    tls_x509_strict: Setting[bool]
    timeout: Setting[float]
    required: Setting[bool]
    reap: Setting[bool]
    lease: Setting[float]
    published_host: Setting[str | None]
    ssh: Setting[str | None]
    report: Setting[str | None]
    sidecar_image: Setting[str]
    sidecar_privileged: Setting[bool]
    sidecar_runtime: Setting[str | None]
    sidecar_cache: Setting[str | None]
    sidecar_reuse: Setting[bool]
    sidecar_keep_for: Setting[float]
    preload: Setting[tuple[str, ...]]
    sidecar_cap_drop: Setting[tuple[str, ...]]
    pool: Setting[tuple[str, ...]]
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
        from_env = values["tls_verify"].from_variable("DOCKER_TLS_VERIFY")
        if from_env and (tls_env or "").strip().lower() in ("0", "false", "no", "off"):
            warnings.append(say_.tls_verify_zero(str(tls_env)))
        on_ci = next((name for name in CI_VARIABLES if env.get(name, "").strip()), None)
        _refuse_pool_sidecars_in_sidecar_mode(values["pool"], values["mode"])
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

    def describe(self, *, given_only: bool = False) -> Iterable[tuple[str, str, str]]:
        """(name, value, source) for every setting, for ``-v`` output and the diagnostic;
        ``given_only``: only the ones not left at their default."""
        for spec in OPTIONS:
            setting: Setting[Any] = getattr(self, spec.name)
            if given_only and setting.is_default:
                continue
            yield spec.name, _show(setting.value), setting.source


def _refuse_pool_sidecars_in_sidecar_mode(pool: Setting[Any], mode: Setting[Any]) -> None:
    from .pool import sidecars_in_sidecar_mode

    sidecars = sidecars_in_sidecar_mode(pool.value, mode.value)
    if sidecars:
        text = say_.pool_sidecar_mode(pool.source, sidecars, mode.source)
        raise SettingError(text, source=pool.source)


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(value) or "-"
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pick(spec: OptionSpec, cli: Any, env: Mapping[str, str], ini: Any) -> Setting[Any]:
    if cli is not None and cli not in ([], ()):
        return Setting(_convert(spec, cli, spec.flag), Origin.CLI, spec.flag)
    if spec.env is not None and spec.env in env:
        raw = env[spec.env]
        parse = spec.env_parse or spec.parse
        if raw.strip() or spec.env_parse is not None:
            return Setting(_convert(spec, raw, spec.env, parse), Origin.ENV, spec.env)
        if spec.name == "host":
            # An empty DOCKER_HOST is almost always a CI variable that was not filled in.
            state = say_.BLANK_EMPTY if raw == "" else say_.BLANK_SPACES
            raise SettingError(
                say_.docker_host_blank(state),
                source="DOCKER_HOST",
            )
    if spec.ini is not None and ini not in (None, "", [], ()):
        return Setting(_convert(spec, ini, say_.ini_source(spec.ini)), Origin.INI, spec.ini)
    return Setting(spec.default, Origin.DEFAULT)


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
