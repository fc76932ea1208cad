"""``python -m pytest_dockerhost``: show every candidate tried, what happened, and the fix."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config.options import add_arguments, cli_values
from .config.settings import Settings
from .discovery.resolution import NOT_PRESENT, Resolution, resolve
from .errors import SettingError
from .messages import command as say_

if TYPE_CHECKING:
    from .run.pool import Pool

# What the diagnostic takes on its command line; the rest comes from the environment.
DIAGNOSTIC_OPTIONS = ("mode", "host", "socket", "cert_path", "tls_verify", "timeout", "pool")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["cleanup"]:
        return cleanup(args_list[1:])
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dockerhost",
        description=say_.DIAGNOSE,
    )
    add_arguments(parser, DIAGNOSTIC_OPTIONS)
    parser.add_argument("--json", action="store_true", help=say_.JSON)
    args = parser.parse_args(argv)
    cli = cli_values(args, DIAGNOSTIC_OPTIONS)
    try:
        settings = Settings.from_sources(cli, os.environ, {})
    except SettingError as exc:
        print(say_.bad_setting(exc), file=sys.stderr)
        return 2
    pool = None
    if settings.pool.value:
        from .run.pool import Pool

        pool = Pool(settings)
        resolution = pool.diagnose()
    else:
        resolution = resolve(settings)
    if args.json:
        import json

        from .run.report import resolution_report

        data = resolution_report(resolution)
        if pool is not None:
            data["pool"] = pool.report()
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print("\n".join([*(render_pool(pool) if pool is not None else []), render(resolution)]))
    return 0 if resolution.host is not None else 1


def cleanup(argv: Sequence[str]) -> int:
    """``python -m pytest_dockerhost cleanup``: remove what sidecar runs left behind."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dockerhost cleanup",
        description=say_.cleanup(),
    )
    parser.add_argument("--all", action="store_true", help=say_.CLEANUP_ALL)
    parser.add_argument("--kept", action="store_true", help=say_.cleanup_kept())
    parser.add_argument(
        "--cache",
        action="store_true",
        help=say_.cleanup_cache(),
    )
    add_arguments(parser, ["host"])
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_sources(
            {"mode": "auto", **cli_values(args, ["host"])}, os.environ, {}
        )
    except SettingError as exc:
        print(say_.bad_setting(exc), file=sys.stderr)
        return 2
    resolution = resolve(settings)
    if resolution.host is None:
        print(say_.bad_setting(resolution.error), file=sys.stderr)
        return 1
    from .cleanup.claim import cleanup_command

    client = resolution.host.client(timeout=60)
    try:
        removed = cleanup_command(
            client, resolution.host, everything=args.all, kept=args.kept, cache=args.cache
        )
    finally:
        client.close()
    for line in removed:
        print(say_.removed(line))
    print(say_.removed_count(len(removed), resolution.host.url))
    return 0


def render(resolution: Resolution) -> str:
    """The trace as a readable table, then the verdict."""
    width = 100
    lines = [
        say_.mode_line(resolution.mode, resolution.settings.mode.source),
        "",
    ]
    rows = [say_.TABLE_HEAD]
    shown = [e for e in resolution.trace if e.detail != NOT_PRESENT]
    absent = [e for e in resolution.trace if e.detail == NOT_PRESENT]
    for number, entry in enumerate(shown, 1):
        result = entry.outcome if entry.outcome != "skipped" else say_.skipped(entry.detail)
        rows.append(
            (
                str(number),
                entry.source,
                entry.url or "-",
                result,
                f"{entry.elapsed * 1000:.0f}",
            )
        )
    widths = [
        min(max(len(row[i]) for row in rows), limit) for i, limit in enumerate((3, 44, 40, 40, 6))
    ]
    for row in rows:
        cells = [_cut(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    if absent:
        names = ", ".join(e.url.removeprefix("unix://") for e in absent)
        lines.extend(textwrap.wrap(say_.not_present(names), width))
    details = [(n, e) for n, e in enumerate(shown, 1) if e.outcome == "failed"]
    if details:
        lines.append("")
    for number, entry in details:
        lines.extend(
            textwrap.wrap(say_.numbered(number, entry.detail), width, subsequent_indent="   ")
        )
        if entry.fix:
            lines.extend(
                textwrap.wrap(
                    say_.fix(entry.fix), width, initial_indent="   ", subsequent_indent="        "
                )
            )
    lines.append("")
    if resolution.host is not None:
        lines.extend(resolution.host.header())
        lines.append(resolution.host.engine_line())
        lines.extend(say_.note(note) for note in resolution.host.notes)
        lines.extend(say_.warning(warning) for warning in resolution.host.warnings)
    else:
        lines.append(say_.NO_ENDPOINT)
        lines.extend(say_.warning(warning) for warning in resolution.settings.warnings)
        lines.extend(say_.note(hint) for hint in resolution.hints)
        fix = resolution.ci_fix  # no break inside a name such as ubuntu-latest
        lines.extend(textwrap.wrap(fix, width, subsequent_indent="   ", break_on_hyphens=False))
    return "\n".join(lines)


def render_pool(pool: Pool) -> list[str]:
    """Each engine of the pool, tried alone: what it is, or why it is left out."""
    from .messages.pool import size

    lines = [say_.pool_head(len(pool.engines), pool.settings.pool.source)]
    width = max(len(engine.entry) for engine in pool.engines)
    for engine in pool.engines:
        host, failure = engine.host, engine.failure
        if engine.sidecar:
            result = say_.POOL_SIDECAR
        elif host is not None:
            result = say_.pool_ok(host.engine_label, size(host.profile.ncpu, host.profile.memory))
        else:
            result = say_.pool_left_out(failure.detail if failure is not None else "")
        lines.append(f"  {engine.number}  {engine.entry.ljust(width)}  {result}")
        if host is None and failure is not None and failure.fix and not engine.sidecar:
            lines.append(f"     {say_.fix(failure.fix)}")
    return [*lines, ""]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
