"""The options page, generated from the option table (``config.option_table.OPTIONS``): every
option's flag, ini key, environment variable, default, choices and help, never retyped.

The docs hook (``docs/hooks.py``) calls ``render()`` at build time; the unit test calls it
with a table of its own, to show that an option added to the table reaches the page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_dockerhost.config.option_table import OPTIONS, OptionSpec
from pytest_dockerhost.config.parsing import FALSE_WORDS, TRUE_WORDS, parse_duration

TITLE = "Options"

INTRO = """\
Every option has a command-line flag, and most have an ini key and an environment
variable. One precedence everywhere: **command line > environment > ini > default**. A bad
value is a usage error that names where it came from (the flag, the variable or the ini
key).

This page is generated from the plugin's option table when the docs are built.
"""


def _code(text: str) -> str:
    return f"`{text}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _duration(seconds: float) -> str:
    """60.0 -> 60s, 86400.0 -> 24h, as the option help and the duration parser write them."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return f"{seconds:g}s"


def default_text(spec: OptionSpec) -> str:
    """The default as a user would write it, or "none"."""
    value: Any = spec.default
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and spec.parse is parse_duration:
        return _code(_duration(value))
    if isinstance(value, float):
        return _code(f"{value:g}")
    if isinstance(value, (tuple, list)):
        return ", ".join(_code(str(item)) for item in value)
    return _code(str(value))


def flag_forms(spec: OptionSpec) -> list[str]:
    """How the flag is written on the command line, as the option parser registers it."""
    if spec.kind == "bool":
        return [spec.flag, f"{spec.flag}=BOOL", "--no-" + spec.flag[2:]]
    if spec.kind == "lines":
        return [f"{spec.flag}={spec.metavar or 'VALUE'}"]
    if spec.choices:
        return [f"{spec.flag}={{{','.join(spec.choices)}}}"]
    return [f"{spec.flag}={spec.metavar or spec.flag[len('--docker-') :].upper()}"]


def _how_it_is_taken(spec: OptionSpec) -> str | None:
    if spec.kind == "bool":
        true = ", ".join(_code(word) for word in TRUE_WORDS if word)
        false = ", ".join(_code(word) for word in FALSE_WORDS if word)
        return f"On or off: the bare flag or one of {true} turns it on; {false} turn it off."
    if spec.kind == "lines":
        return (
            "Repeatable on the command line; one value per line in the ini file; spaces or "
            "commas between values in the environment variable."
        )
    return None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def anchor(spec: OptionSpec) -> str:
    return spec.flag.lstrip("-")


def _summary(options: Sequence[OptionSpec]) -> str:
    rows = ["| flag | ini key | environment | default |", "|---|---|---|---|"]
    for spec in options:
        rows.append(
            f"| [{_code(spec.flag)}](#{anchor(spec)}) "
            f"| {_code(spec.ini) if spec.ini else 'none'} "
            f"| {_code(spec.env) if spec.env else 'none'} "
            f"| {_cell(default_text(spec))} |"
        )
    return "\n".join(rows)


def _section(spec: OptionSpec) -> str:
    lines = [f"## `{spec.flag}` {{ #{anchor(spec)} }}", "", _sentence(spec.help), ""]
    lines.append("- command line: " + " or ".join(_code(form) for form in flag_forms(spec)))
    lines.append(f"- ini key: {_code(spec.ini) if spec.ini else 'none'}")
    lines.append(f"- environment: {_code(spec.env) if spec.env else 'none'}")
    lines.append(f"- default: {default_text(spec)}")
    if spec.choices:
        lines.append("- choices: " + ", ".join(_code(choice) for choice in spec.choices))
    taken = _how_it_is_taken(spec)
    if taken:
        lines += ["", taken]
    return "\n".join(lines)


def render(options: Sequence[OptionSpec] = OPTIONS) -> str:
    """The options page's Markdown, from ``options`` (the plugin's table by default)."""
    if not options:
        raise ValueError("the option table is empty: no options page to generate")
    parts = [f"# {TITLE}", INTRO, _summary(options), *(_section(spec) for spec in options)]
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"
