"""The ``docker:`` lines of the report header and the terminal summary."""

from __future__ import annotations

PREFIX = "docker: "


def warning(text: str) -> str:
    return f"{PREFIX}warning: {text}"


def note(text: str) -> str:
    return f"{PREFIX}note: {text}"


def setting(name: str, value: str, source: str) -> str:
    return f"{PREFIX}setting {name} = {value} (from {source})"


def no_endpoint(mode: str, *, fail: bool) -> str:
    action = "fail" if fail else "be skipped"
    return f"{PREFIX}no working endpoint (mode {mode}); tests that need Docker will {action}"


def detail(line: str) -> str:
    return PREFIX + line.strip()


def tried(source: str, url: str, outcome: str, elapsed: float, detail_text: str) -> str:
    text = f"{PREFIX}tried {source}: {url} -> {outcome} in {elapsed * 1000:.0f} ms"
    return text + (f" ({detail_text})" if detail_text else "")


def fix(text: str) -> str:
    return f"{PREFIX}  fix: {text}"


def planned_sidecar(
    extras: list[str], mode: str, url: str, *, engine: str, api: str, source: str
) -> str:
    return (
        f"{PREFIX}sidecar ({', '.join(extras)}) on {mode} {url} (engine {engine}, API {api}) via "
        f"{source}; starting now, while pytest collects: the first test that may use Docker "
        "waits for it"
    )


def sidecar_extras(
    image: str,
    *,
    privileged: bool,
    runtime: str | None,
    cache: str | None,
    reuse: bool,
    preload: tuple[str, ...],
) -> list[str]:
    extras = [f"image {image}", "privileged" if privileged else "unprivileged"]
    if runtime:
        extras.append(f"runtime {runtime}")
    if cache:
        extras.append(f"cache volume {cache}")
    if reuse:
        extras.append("kept for reuse")
    if preload:
        extras.append("preload " + " ".join(preload))
    return extras


NO_SIDECAR_DAEMON = "sidecar mode found no daemon to start the sidecar on: "
NOT_RESOLVED = "Docker endpoint not resolved"


def internal_error(exc: BaseException) -> str:
    return f"resolving the endpoint failed: {type(exc).__name__}: {exc}"
