"""The command line and the ini keys, generated from ``option_table.OPTIONS``: pytest's and the
diagnostic command's take the same flags, help and spellings, and one parser reads them."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .option_table import OPTIONS, OPTIONS_BY_NAME, OptionSpec, dest
from .parsing import FALSE_WORDS, TRUE_WORDS

if TYPE_CHECKING:
    import pytest


def _spellings(words: Iterable[str]) -> list[str]:
    return sorted({form for word in words if word for form in (word, word.title(), word.upper())})


def _add(add: Any, spec: OptionSpec, *, aliases: Iterable[str] | None) -> None:
    """One option through ``add`` (pytest's ``addoption`` or argparse's ``add_argument``).

    ``aliases``: the ``--flag=WORD`` strings to accept for a bool option; None for every
    word the settings parser takes."""
    if spec.kind == "bool":
        # A bare flag, so that `--docker-required tests/` keeps its path...
        add(
            spec.flag,
            dest=dest(spec),
            action="store_const",
            const="true",
            default=None,
            help=spec.help,
        )
        add(
            "--no-" + spec.flag[2:],
            dest=dest(spec),
            action="store_const",
            const="false",
            help=f"the opposite of {spec.flag}",
        )
        # ...and `--flag=WORD`: argparse matches a whole option string before it splits at
        # "=". The word itself is kept, so the settings parser's error names what was typed.
        words = _spellings((*TRUE_WORDS, *FALSE_WORDS)) if aliases is None else ()
        typed = [] if aliases is None else [a for a in aliases if a.startswith(spec.flag + "=")]
        for alias in [f"{spec.flag}={word}" for word in words] + typed:
            add(
                alias,
                dest=dest(spec),
                action="store_const",
                const=alias.split("=", 1)[1],
                help=argparse.SUPPRESS,
            )
        return
    if spec.kind == "lines":
        add(
            spec.flag,
            dest=dest(spec),
            action="append",
            default=None,
            metavar=spec.metavar,
            help=spec.help,
        )
        return
    metavar = "{" + ",".join(spec.choices) + "}" if spec.choices else spec.flag[9:].upper()
    metavar = spec.metavar or metavar
    add(spec.flag, dest=dest(spec), default=None, metavar=metavar, help=spec.help)


def _given_assignments(pluginmanager: Any) -> set[str] | None:
    """The ``--option=VALUE`` strings this run was given (command line, PYTEST_ADDOPTS, the
    ini file's addopts), or None when they cannot be known yet.

    Registering only those keeps a typed bad word for the settings parser, whose error
    names it (without them argparse answers "ignored explicit argument"). Kept for that:
    as a start-up shortcut it buys less than 5 ms (CPU time of pytest's configuration,
    median of 41 interleaved pairs: 0.7 ms; benchmarks/README.md)."""
    config = pluginmanager.get_plugin("pytestconfig") if pluginmanager is not None else None
    if config is None:
        return None
    try:
        from_ini = config.getini("addopts")
    except (ValueError, KeyError):
        return None  # registered before pytest knows its ini keys
    given = [
        *config.invocation_params.args,
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *from_ini,
    ]
    return {arg for arg in given if isinstance(arg, str) and arg.startswith("--") and "=" in arg}


def register(parser: pytest.Parser, pluginmanager: Any = None) -> None:
    """Every option on pytest's command line, with its ini twin."""
    group = parser.getgroup("dockerhost", "Docker endpoint (pytest-dockerhost)")
    given = _given_assignments(pluginmanager)
    for spec in OPTIONS:
        _add(group.addoption, spec, aliases=given)
        if spec.ini is not None and spec.kind == "lines":
            parser.addini(spec.ini, help=spec.help, type="linelist", default=None)
        elif spec.ini is not None:
            parser.addini(spec.ini, help=spec.help, type="string", default=None)


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Some options on an argparse command line (the diagnostic command)."""
    for name in names:
        _add(parser.add_argument, OPTIONS_BY_NAME[name], aliases=())


def cli_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """What ``add_arguments`` parsed, keyed by option name, for ``Settings.from_sources``."""
    return {name: getattr(args, dest(OPTIONS_BY_NAME[name]), None) for name in names}
