"""The command line and the ini keys, generated from ``settings.OPTIONS``: pytest's and the
diagnostic command's take the same flags, help and spellings, and one parser reads them."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .settings import FALSE_WORDS, OPTIONS, OPTIONS_BY_NAME, TRUE_WORDS, OptionSpec, dest

if TYPE_CHECKING:
    import pytest


def _spellings(words: Iterable[str]) -> list[str]:
    return sorted({form for word in words if word for form in (word, word.title(), word.upper())})


def _add(add: Any, spec: OptionSpec, *, hidden_aliases: bool) -> None:
    """One option through ``add`` (pytest's ``addoption`` or argparse's ``add_argument``)."""
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
        if hidden_aliases:
            # ...and `--flag=WORD` with every word the settings parser takes: argparse matches
            # a whole option string before it splits at "=". The word itself is kept, so an
            # error names what was typed.
            for word in _spellings((*TRUE_WORDS, *FALSE_WORDS)):
                add(
                    f"{spec.flag}={word}",
                    dest=dest(spec),
                    action="store_const",
                    const=word,
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
    add(spec.flag, dest=dest(spec), default=None, metavar=metavar, help=spec.help)


def register(parser: pytest.Parser) -> None:
    """Every option on pytest's command line, with its ini twin."""
    group = parser.getgroup("dockerhost", "Docker endpoint (pytest-dockerhost)")
    for spec in OPTIONS:
        _add(group.addoption, spec, hidden_aliases=True)
        if spec.ini is not None and spec.kind == "lines":
            parser.addini(spec.ini, help=spec.help, type="linelist", default=None)
        elif spec.ini is not None:
            parser.addini(spec.ini, help=spec.help, type="string", default=None)


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Some options on an argparse command line (the diagnostic command)."""
    for name in names:
        _add(parser.add_argument, OPTIONS_BY_NAME[name], hidden_aliases=False)


def cli_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """What ``add_arguments`` parsed, keyed by option name, for ``Settings.from_sources``."""
    return {name: getattr(args, dest(OPTIONS_BY_NAME[name]), None) for name in names}
