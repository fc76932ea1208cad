"""pytest-dockerhost benchmarks: ours (A) against what users would otherwise do (B).

    python benchmarks/run.py            # full run: medians, ratios, targets (exit 1 on a miss)
    python benchmarks/run.py --smoke    # one repetition, no targets (CI: exit 0 if it ran)
    python benchmarks/run.py --only dood,plugin-load

Every container, volume and network it creates carries the label
org.pytest-dockerhost.benchmark=<run id> and is removed at exit, on Ctrl-C and
on SIGTERM; leftovers of a crashed earlier run are removed at the next start.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import engine, harness, rows
from benchmarks.harness import Result


def _fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.0f} {unit}"


def _cell(text: str) -> str:
    return text.replace("|", r"\|")


def table(results: list[Result], *, smoke: bool) -> str:
    head = (
        "| row | A (ours) | B (baseline) | A median | B median | A/B | n (A/B) | target | result |"
    )
    lines = [head, "|" + "---|" * 9]
    for result in results:
        verdict, why = result.verdict()
        if smoke and verdict in ("pass", "MISS"):
            verdict = "(smoke)"
        ratio = "-" if math.isnan(result.ratio) else f"{result.ratio:.2f}"
        extra = "; ".join(f"{k} {v}" for k, v in result.extra.items())
        cell = verdict if verdict in ("pass", "-", "(smoke)") else f"{verdict}: {why}"
        if extra:
            cell += f" ({extra})"
        row = (
            f"| {result.title} | {_cell(result.a_label)} | {_cell(result.b_label)} | "
            f"{_fmt(result.a_median, result.unit)} | {_fmt(result.b_median, result.unit)} | "
            f"{ratio} | {len(result.a)}/{len(result.b)} | {result.target} | {cell} |"
        )
        lines.append(row)
    return "\n".join(lines)


def describe(results: list[Result]) -> str:
    out = []
    for result in results:
        if result.measures:
            spread = f"A {harness.spread(result.a)}, B {harness.spread(result.b)} {result.unit}"
            out.append(f"- **{result.title}**: {result.measures}. Spread: {spread}.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one repetition, no targets")
    parser.add_argument("--only", default="", help=f"comma-separated rows: {','.join(rows.ROWS)}")
    args = parser.parse_args(argv)
    selected = [name for name in args.only.split(",") if name] or list(rows.ROWS)
    unknown = [name for name in selected if name not in rows.ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {list(rows.ROWS)}")

    harness.install_cleanup()
    harness.on_cleanup(engine.sweep)
    started = time.monotonic()
    engine.sweep()  # leftovers of this run id (none) and of dead earlier runs
    engine.ensure_images()
    plan = harness.Plan(smoke=args.smoke)
    print(
        f"pytest-dockerhost benchmarks ({'smoke' if args.smoke else 'full'}), run "
        f"{harness.RUN_ID}: {os.cpu_count()} cores, {platform.python_version()}, "
        f"engine {engine.version_text()}",
        flush=True,
    )
    results: list[Result] = []
    broken = False
    for name in selected:
        print(f"- {name} ...", file=sys.stderr, flush=True)
        row_start = time.monotonic()
        try:
            produced = rows.ROWS[name](plan)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            traceback.print_exc()
            broken = True
            produced = Result(
                key=name,
                title=name,
                a_label="-",
                b_label="-",
                measures="",
                target="-",
                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}",
            )
        finally:
            engine.sweep()
        batch = produced if isinstance(produced, list) else [produced]
        for result in batch:
            result.seconds = time.monotonic() - row_start
            verdict, why = result.verdict()
            print(f"  {result.title}: {verdict} {why}", file=sys.stderr, flush=True)
        results.extend(batch)

    print()
    print(table(results, smoke=args.smoke))
    print()
    print(describe(results))
    for result in results:
        if result.skipped:
            print(f"skipped {result.title}: {result.skipped}")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    broken = broken or any(result.error for result in results)
    if broken:
        return 2
    if args.smoke:
        return 0
    missed = [r.title for r in results if r.verdict()[0] == "MISS"]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        sys.exit(130)
