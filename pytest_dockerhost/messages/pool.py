"""What the header, the summary and the tests say about an engine pool (``--docker-pool``)."""

from __future__ import annotations

from collections.abc import Iterable

from . import units
from .header import PREFIX


def entry_source(number: int, source: str) -> str:
    """Where one entry came from, as the trace and the failures name it."""
    return f"{source} entry {number}"


def size(ncpu: int, memory: int) -> str:
    """An engine's capacity as /info gives it: "2 CPUs, 7.8 GiB"."""
    cpus = f"{ncpu} CPU{'s' if ncpu != 1 else ''}" if ncpu else "CPUs unknown"
    mem = units.memory(memory) or "memory unknown"
    return f"{cpus}, {mem}"


def engine_workers(url: str, capacity: str, workers: Iterable[str]) -> str:
    named = ", ".join(workers)
    return f"{url} ({capacity}) -> {named or 'no worker'}"


def assignment(count: int, source: str, engines: Iterable[str]) -> str:
    """The header's line: each engine and the xdist workers pinned to it."""
    return f"{PREFIX}pool of {count} engines (from {source}): " + "; ".join(engines)


def first_only(count: int, source: str, url: str, untried: Iterable[str]) -> str:
    """Without xdist workers (or with -n 0), a pool is one engine: the first that answers."""
    rest = list(untried)
    line = (
        f"{PREFIX}pool of {count} engines (from {source}): no xdist workers, so this run uses "
        f"the first that answers, {url}"
    )
    return line + (f"; not tried: {', '.join(rest)}" if rest else "")


def sidecar_on_first(count: int, source: str, url: str, untried: Iterable[str]) -> str:
    """Sidecar mode: the sidecar starts on the pool's first engine that answers."""
    rest = list(untried)
    line = (
        f"{PREFIX}pool of {count} engines (from {source}): sidecar mode starts its one sidecar "
        f"on the first that answers, {url}; every worker uses the sidecar"
    )
    return line + (f"; not tried: {', '.join(rest)}" if rest else "")


def left_out(where: str, entry: str, detail: str, fix: str, *, spread: bool) -> str:
    """An entry whose engine failed its probe at the start."""
    then = "; its workers go to the others" if spread else ""
    said = f"{where} ({entry}) is left out: {detail.rstrip('.')}"  # more follows after ";"
    return f"{PREFIX}note: {said}" + (f"; fix: {fix}" if fix else "") + then


# --- the pool's sidecar entries (sidecar, sidecar*N) --------------------------------------


START_STOPPED = "its start ended without an answer (a crash of the plugin's own: please report it)"


def sidecar_entry(number: int) -> str:
    """One sidecar of the pool, as the header, the notes and the report name it."""
    return f"sidecar #{number}"


def sidecar_where(number: int, outer_url: str) -> str:
    on = f" on {outer_url}" if outer_url else ""
    return f"{sidecar_entry(number)}{on}"


def sidecar_engine(number: int, url: str, outer_url: str) -> str:
    """A sidecar in the header's pool line: its own URL, and the engine it runs on."""
    return f"{sidecar_entry(number)} {url} on {outer_url}"


def no_outer_engine(error: str) -> str:
    """No engine to start the pool's sidecars on: the resolution's own failure follows."""
    return f"no engine to start it on (the one the run finds without the pool): {error}"
