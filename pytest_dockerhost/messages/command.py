"""What ``python -m pytest_dockerhost`` says: its help, its table, its verdicts."""

from __future__ import annotations

from .names import flag

DIAGNOSE = (
    "Find the Docker endpoint pytest-dockerhost would use and explain every candidate. Reads "
    "the same environment variables as the plugin (DOCKER_HOST, DOCKER_CONTEXT, "
    "DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, PYTEST_DOCKER_*). Exit status: 0 when an endpoint "
    "works, 1 when none does, 2 for a bad setting."
)


def cleanup() -> str:
    return (
        "Remove what runs whose owner process is gone (a kill -9, an aborted CI job) left "
        "behind: their tests' containers, networks and volumes (testcontainers' session label) "
        "and pytest-dockerhost's sidecars. Live runs, sidecars "
        f"kept with {flag('sidecar_reuse')} and named cache volumes are left alone unless "
        "asked. The daemon is found as in auto mode (DOCKER_HOST, contexts, sockets)."
    )


CLEANUP_ALL = "also remove the resources of runs still going on"


def cleanup_kept() -> str:
    return f"also remove sidecars kept by {flag('sidecar_reuse')}"


def cleanup_cache() -> str:
    return f"also remove named cache volumes ({flag('sidecar_cache')})"


def bad_setting(why: object) -> str:
    return f"pytest-dockerhost: {why}"


def removed(line: str) -> str:
    return f"removed {line}"


def removed_count(count: int, url: str) -> str:
    return f"pytest-dockerhost: {count} removed on {url}"


def mode_line(mode: str, source: str) -> str:
    return f"pytest-dockerhost: mode {mode} (from {source})"


TABLE_HEAD = ("#", "source", "endpoint", "result", "ms")


def skipped(detail: str) -> str:
    return f"skipped: {detail}"


def not_present(names: str) -> str:
    return f"not present: {names}"


def numbered(number: int, detail: str) -> str:
    return f"{number}. {detail}"


def fix(text: str) -> str:
    return f"fix: {text}"


def note(text: str) -> str:
    return f"note: {text}"


def warning(text: str) -> str:
    return f"warning: {text}"


NO_ENDPOINT = "no working Docker endpoint."


JSON = (
    "print the report as JSON instead of the table: the same document --docker-report writes "
    "(the docs' \"JSON report\" page), without a run's sidecar and cleanup"
)


# --- an engine pool (--docker-pool): each entry's row, above the verdict's table -----------


def pool_head(count: int, source: str) -> str:
    return f"pool of {count} engines (from {source}); each tried alone:"


def pool_ok(engine: str, capacity: str) -> str:
    return f"ok: engine {engine}, {capacity}"


def pool_left_out(detail: str) -> str:
    return f"left out: {detail}"


POOL_SIDECAR = "a sidecar the run starts, on the engine it finds without the pool"
