"""Option names as users write them, rendered from ``settings.OPTIONS``, never retyped."""

from __future__ import annotations

from ..config.settings import OPTIONS_BY_NAME, OptionSpec


def _spec(name: str) -> OptionSpec:
    return OPTIONS_BY_NAME[name]


def option(name: str, value: str | None = None) -> str:
    """``--flag`` (ini key, env variable) of one option, with ``value`` shown as set."""
    both = twins(name, value)
    return f"{flag(name, value)} ({both})" if both else flag(name, value)


def twins(name: str, value: str | None = None) -> str:
    """ "ini key, env VARIABLE" of one option (each with ``value`` shown as set)."""
    spec = _spec(name)
    parts = []
    if spec.ini is not None:
        parts.append(f"ini {spec.ini}" + ("" if value is None else f" = {value}"))
    if spec.env is not None:
        parts.append(f"env {spec.env}" + ("" if value is None else f"={value}"))
    return ", ".join(parts)


def flag(name: str, value: str | None = None) -> str:
    """The CLI flag alone, for sentences that name an option in passing."""
    spec = _spec(name)
    return spec.flag if value is None else f"{spec.flag}={value}"
