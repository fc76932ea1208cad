"""A failure that Docker's absence caused gets the plugin's diagnosis as its report, and
the client library's chained traceback becomes one line naming the original error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..messages import reports as say_

if TYPE_CHECKING:
    import pytest

    from ..config.settings import Settings


def verdict(settings: Settings, why: str, *, lost: bool) -> tuple[bool, str]:
    """(fail rather than skip, the message) for a test that Docker's absence stopped."""
    if lost:
        return True, say_.stopped(why)  # it worked before: this is a failure, not a skip
    if not settings.fail_without_docker:
        return False, say_.stopped(why)
    reason = (
        settings.required.source
        if not settings.required.is_default
        else say_.ci_detected(settings.on_ci or "")
    )
    return True, say_.failing_not_skipping(why, reason)


def replace_test_report(
    report: pytest.TestReport,
    item: pytest.Item,
    settings: Settings,
    *,
    why: str,
    lost: bool,
    exc: BaseException,
) -> None:
    """The diagnosis instead of the client library's traceback, skipped or failed."""
    failed, message = verdict(settings, why, lost=lost)
    name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    message = say_.with_original(message, f"{name}: {exc}")
    if failed:
        report.longrepr = message
        return
    report.outcome = "skipped"
    lineno = item.location[1]
    report.longrepr = (str(item.path), (lineno or 0) + 1, say_.skipped(message))


def replace_collect_report(report: Any, path: str, settings: Settings, why: str) -> None:
    """A module whose import-time client could not reach Docker: the same, for collection."""
    from ..discovery.health import unreachable_text

    text = str(report.longrepr)
    if not unreachable_text(text):
        return
    crash = getattr(report.longrepr, "reprcrash", None)
    original = getattr(crash, "message", "") or text.strip().splitlines()[-1]
    failed, message = verdict(settings, why, lost=False)
    message = say_.with_original(message, original)
    if failed:
        report.longrepr = message
    else:
        report.outcome = "skipped"
        report.longrepr = (path, 1, say_.skipped(message))


def replace_collect_denial(report: Any) -> None:
    """A module whose import-time code made a request the engine's authorization plugin
    refused: the refusal explained, with the original error in one line."""
    from ..discovery.authz import denial_in_text

    text = str(report.longrepr)
    found = denial_in_text(text)
    if found is None:
        return
    crash = getattr(report.longrepr, "reprcrash", None)
    original = getattr(crash, "message", "") or text.strip().splitlines()[-1]
    report.longrepr = say_.with_original(say_.stopped(found.explain()), original)
