"""Rows that need ``--docker-mode=sidecar``: skipped, with the reason, until it exists."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from benchmarks import harness
from benchmarks.harness import Result

if TYPE_CHECKING:
    from benchmarks.rows import Plan


def unavailable() -> str:
    """Why sidecar mode cannot be measured, or "" when it can."""
    plugin = harness.REPO / "pytest_dockerhost" / "plugin.py"
    text = " ".join(plugin.read_text().split())
    if "available yet" in text:
        return "--docker-mode=sidecar is not available yet in pytest_dockerhost (plugin.py)"
    if importlib.util.find_spec("pytest_dockerhost.sidecar") is None:
        return "pytest_dockerhost.sidecar does not exist yet"
    return ""


def cold_start_sample() -> float:
    raise NotImplementedError


def _skipped(key: str, title: str, target: str, reason: str) -> Result:
    return Result(
        key=key, title=title, a_label="-", b_label="-", measures="", target=target, skipped=reason
    )


def rows(plan: Plan) -> list[Result]:
    reason = unavailable()
    specs = [
        ("sidecar-reuse", "sidecar warm reattach", "<= 0.15 s and <= 3x DooD"),
        ("xdist", "xdist -n 4 vs -n 1, one sidecar", "1 sidecar; ratio <= 1.15"),
        ("preload", "preload of a ~50 MB image", "throughput ratio >= 0.8"),
    ]
    return [
        _skipped(key, title, target, reason or "not written yet") for key, title, target in specs
    ]
