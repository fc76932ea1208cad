"""``python -m pytest_dockerhost``: show every candidate tried, what happened, and the fix."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence

from .errors import SettingError
from .options import add_arguments, cli_values
from .resolution import NOT_PRESENT, Resolution, resolve
from .settings import Settings

# What the diagnostic takes on its command line; the rest comes from the environment.
DIAGNOSTIC_OPTIONS = ("mode", "host", "socket", "cert_path", "tls_verify", "timeout")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["cleanup"]:
        return cleanup(args_list[1:])
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dockerhost",
        description="Find the Docker endpoint pytest-dockerhost would use and explain every "
        "candidate. Reads the same environment variables as the plugin (DOCKER_HOST, "
        "DOCKER_CONTEXT, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, PYTEST_DOCKER_*). "
        "Exit status: 0 when an endpoint works, 1 when none does, 2 for a bad setting.",
    )
    add_arguments(parser, DIAGNOSTIC_OPTIONS)
    args = parser.parse_args(argv)
    cli = cli_values(args, DIAGNOSTIC_OPTIONS)
    try:
        settings = Settings.from_sources(cli, os.environ, {})
    except SettingError as exc:
        print(f"pytest-dockerhost: {exc}", file=sys.stderr)
        return 2
    resolution = resolve(settings)
    print(render(resolution))
    return 0 if resolution.host is not None else 1


def cleanup(argv: Sequence[str]) -> int:
    """``python -m pytest_dockerhost cleanup``: remove what sidecar runs left behind."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dockerhost cleanup",
        description="Remove sidecar containers, networks and volumes that pytest-dockerhost "
        "labelled and whose run's owner process is gone (a kill -9, an aborted CI job). Live "
        "runs, sidecars kept with --docker-sidecar-reuse and named cache volumes are left "
        "alone unless asked. "
        "The daemon is found as in auto mode (DOCKER_HOST, contexts, sockets).",
    )
    parser.add_argument(
        "--all", action="store_true", help="also remove the resources of runs still going on"
    )
    parser.add_argument(
        "--kept", action="store_true", help="also remove sidecars kept by --docker-sidecar-reuse"
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="also remove named cache volumes (--docker-sidecar-cache)",
    )
    add_arguments(parser, ["host"])
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_sources(
            {"mode": "auto", **cli_values(args, ["host"])}, os.environ, {}
        )
    except SettingError as exc:
        print(f"pytest-dockerhost: {exc}", file=sys.stderr)
        return 2
    resolution = resolve(settings)
    if resolution.host is None:
        print(f"pytest-dockerhost: {resolution.error}", file=sys.stderr)
        return 1
    from .sidecar import cleanup as remove_leftovers

    client = resolution.host.client(timeout=60)
    try:
        removed = remove_leftovers(client, everything=args.all, kept=args.kept, cache=args.cache)
    finally:
        client.close()
    for line in removed:
        print(f"removed {line}")
    print(f"pytest-dockerhost: {len(removed)} removed on {resolution.host.url}")
    return 0


def render(resolution: Resolution) -> str:
    """The trace as a readable table, then the verdict."""
    width = 100
    lines = [
        f"pytest-dockerhost: mode {resolution.mode} (from {resolution.settings.mode.source})",
        "",
    ]
    rows = [("#", "source", "endpoint", "result", "ms")]
    shown = [e for e in resolution.trace if e.detail != NOT_PRESENT]
    absent = [e for e in resolution.trace if e.detail == NOT_PRESENT]
    for number, entry in enumerate(shown, 1):
        result = entry.outcome if entry.outcome != "skipped" else f"skipped: {entry.detail}"
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
        lines.extend(textwrap.wrap(f"not present: {names}", width))
    details = [(n, e) for n, e in enumerate(shown, 1) if e.outcome == "failed"]
    if details:
        lines.append("")
    for number, entry in details:
        lines.extend(textwrap.wrap(f"{number}. {entry.detail}", width, subsequent_indent="   "))
        if entry.fix:
            lines.extend(
                textwrap.wrap(
                    f"fix: {entry.fix}", width, initial_indent="   ", subsequent_indent="        "
                )
            )
    lines.append("")
    if resolution.host is not None:
        lines.append(resolution.host.summary())
        lines.extend(f"note: {note}" for note in resolution.host.notes)
        lines.extend(f"warning: {warning}" for warning in resolution.host.warnings)
    else:
        lines.append("no working Docker endpoint.")
        lines.extend(f"warning: {warning}" for warning in resolution.settings.warnings)
        lines.extend(f"note: {hint}" for hint in resolution.hints)
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
