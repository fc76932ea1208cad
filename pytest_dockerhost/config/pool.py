"""The engines of ``--docker-pool``: how one entry is written, checked when it is read.

An entry is an engine URL (``unix://``, ``tcp://``, ``ssh://``), a docker context's name,
or ``sidecar`` / ``sidecar*N`` (sidecars the run starts itself). The shape is checked here,
so that a typo fails at once with the setting's source; whether the engine answers is
resolution's business.
"""

from __future__ import annotations

import re

from . import texts as say_

SCHEMES = ("unix://", "tcp://", "ssh://")
# The docker CLI's rule for context names.
_CONTEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_SIDECAR = re.compile(r"^sidecar(\*.*)?$", re.IGNORECASE)
# Each sidecar is a dockerd of its own on one machine: more than this in a pool is a typo,
# not a plan.
MAX_SIDECARS = 8


def parse_pool(raw: str) -> tuple[str, ...]:
    """Entries one a line or between commas (a URL holds neither), in the order given."""
    entries = tuple(part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip())
    for entry in entries:
        _check(entry)
    seen: set[str] = set()
    for entry in entries:
        if entry in seen:
            raise ValueError(say_.pool_twice(entry))
        seen.add(entry)
    sidecars = [entry for entry in entries if sidecar_count(entry)]
    if sum(sidecar_count(entry) for entry in sidecars) > MAX_SIDECARS:
        raise ValueError(say_.pool_sidecars_in_all(sidecars, MAX_SIDECARS))
    return entries


def sidecar_count(entry: str) -> int:
    """How many sidecars an entry asks for: ``sidecar`` one, ``sidecar*N`` N, others 0.
    A sidecar entry with a bad count raises ValueError (never taken for a context name)."""
    if not _SIDECAR.match(entry):
        return 0
    _, star, count = entry.partition("*")
    if not star:
        return 1
    if not count.isdigit() or not 1 <= int(count) <= MAX_SIDECARS:
        raise ValueError(say_.pool_sidecar_count(entry, MAX_SIDECARS))
    return int(count)


def engines_of(entries: tuple[str, ...]) -> list[tuple[int, str, int]]:
    """One row per engine: (the entry's number, the entry, its sidecar's number or 0);
    ``sidecar*N`` is N rows, the sidecars numbered across the pool from 1."""
    rows: list[tuple[int, str, int]] = []
    sidecars = 0  # numbered so far
    for number, entry in enumerate(entries, start=1):
        count = sidecar_count(entry)
        rows.extend((number, entry, sidecars + k) for k in range(1, count + 1))
        sidecars += count
        if not count:
            rows.append((number, entry, 0))
    return rows


def sidecars_in_sidecar_mode(entries: tuple[str, ...], mode: str) -> list[str]:
    """The sidecar entries of a pool that sidecar mode cannot take: it starts its one
    sidecar on the pool's first engine, so a sidecar entry there has no engine to be."""
    return [entry for entry in entries if mode == "sidecar" and sidecar_count(entry)]


def _check(entry: str) -> None:
    if sidecar_count(entry):
        return
    if "://" in entry:
        scheme = entry.split("://", 1)[0] + "://"
        if scheme.lower() not in SCHEMES:
            raise ValueError(say_.pool_scheme(entry, SCHEMES))
        if not entry.split("://", 1)[1].strip("/"):
            raise ValueError(say_.pool_no_address(entry))
        return
    if any(ch.isspace() for ch in entry) or not _CONTEXT.match(entry):
        raise ValueError(say_.pool_not_an_entry(entry, SCHEMES))
