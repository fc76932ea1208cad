"""What the run's reaper says: what it removed, and what it could not, with the fix."""

from __future__ import annotations

from .names import flag

CLEANUP = "python -m pytest_dockerhost cleanup"


STILL_CLEANING = (
    "pytest-dockerhost: still removing what this run created; signal again to stop now "
    f"(`{CLEANUP}` removes the rest later)"
)


def stopped(signal_name: str) -> str:
    return (
        f"the rest of this run's containers, networks and volumes (cleanup stopped by "
        f"{signal_name})"
    )


def could_not_remove(kind: str, ident: str, why: str) -> str:
    return f"{kind} {ident[:12]}: {why}"


def removed(count: int, session: str) -> str:
    return (
        f"docker: removed {count} leftover{'s' if count != 1 else ''} of this run "
        f"(org.testcontainers.session-id={session})"
    )


def swept(count: int) -> str:
    return f"removed {count} leftover{'s' if count != 1 else ''} of runs that were killed"


def not_removed(items: tuple[str, ...]) -> list[str]:
    lines = [f"docker: warning: could not remove {item}" for item in items]
    lines.append(f"docker: warning: remove them with `{CLEANUP}`, or by hand")
    return lines


def unavailable(why: object) -> str:
    return (
        f"the run's reaper could not record this run on the daemon ({why}); what its tests "
        f"leave behind is not removed after a crash. {flag('reap', 'false')} turns it off"
    )
