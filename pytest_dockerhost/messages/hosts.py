"""What the run says about pytest-xdist workers on other hosts (``--tx ssh=...``,
``socket=...``): each resolves on its own host, and the controller lists what each used."""

from __future__ import annotations

from collections.abc import Sequence

from .header import PREFIX


def resolved_there(workers: Sequence[str], where: str, summary: str) -> str:
    """``summary`` is the endpoint's own header line, as the workers' run would print it."""
    return f"{PREFIX}{','.join(workers)} on {where}: {summary.removeprefix(PREFIX)}"


def nothing_there(workers: Sequence[str], where: str, error: str) -> str:
    """The workers found no working endpoint on their host: the first line of why (the
    tests that needed Docker there say the rest)."""
    first = error.strip().splitlines()[0] if error.strip() else "no working Docker endpoint"
    return f"{PREFIX}{','.join(workers)} on {where}: {first}"


def not_needed(workers: Sequence[str], where: str) -> str:
    return f"{PREFIX}{','.join(workers)} on {where}: no test needed Docker there"


def on_host(where: str, worker: str) -> str:
    """Put before a worker's diagnosis, so that a failure on another host says which."""
    return (
        f"on the pytest-xdist host {where} (worker {worker}; it finds its own Docker "
        "endpoint there, with that host's settings and environment):\n"
    )
