"""The engines of ``--docker-pool``: how one entry is written, checked when it is read.

An entry is an engine URL (``unix://``, ``tcp://``, ``ssh://``), a docker context's name,
or ``sidecar`` / ``sidecar*N``. The shape is checked here, so that a typo fails at once
with the setting's source; whether the engine answers is resolution's business.
"""

from __future__ import annotations

import re

from . import texts as say_

SCHEMES = ("unix://", "tcp://", "ssh://")
# The docker CLI's rule for context names.
_CONTEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_SIDECAR = re.compile(r"^sidecar(\*[0-9]+)?$", re.IGNORECASE)


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
    return entries


def _check(entry: str) -> None:
    if _SIDECAR.match(entry):
        # Not built yet: refused by name rather than taken for a context called "sidecar".
        raise ValueError(say_.pool_sidecar(entry))
    if "://" in entry:
        scheme = entry.split("://", 1)[0] + "://"
        if scheme.lower() not in SCHEMES:
            raise ValueError(say_.pool_scheme(entry, SCHEMES))
        if not entry.split("://", 1)[1].strip("/"):
            raise ValueError(say_.pool_no_address(entry))
        return
    if any(ch.isspace() for ch in entry) or not _CONTEXT.match(entry):
        raise ValueError(say_.pool_not_an_entry(entry, SCHEMES))
