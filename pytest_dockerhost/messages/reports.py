"""What a test that Docker's absence stopped says, in place of the library's traceback."""

from __future__ import annotations

PREFIX = "pytest-dockerhost: "


def stopped(why: str) -> str:
    return PREFIX + why


def failing_not_skipping(why: str, reason: str) -> str:
    return f"{PREFIX}{why}\n  (failing instead of skipping: {reason})"


def ci_detected(variable: str) -> str:
    return f"CI detected via {variable}"


def with_original(message: str, original: str, limit: int = 300) -> str:
    line = " ".join(original.split())
    if len(line) > limit:
        line = line[: limit - 3] + "..."
    return f"{message}\n  original error: {line}"


def skipped(message: str) -> str:
    return f"Skipped: {message}"


def report_unwritable(path: str, source: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return (
        f"the report could not be written to {path} (from {source}): {reason}; "
        "give a path in a writable folder"
    )
