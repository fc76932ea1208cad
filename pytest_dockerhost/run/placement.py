"""How a pool's engines are shared out among pytest-xdist's local workers: each engine's
share from its CPUs and memory, and which worker goes to which engine (pure, so the
assignment is tested on hand-worked cases)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def weights(sizes: Sequence[tuple[int, int]]) -> list[float]:
    """Each engine's share of the pool, from its (NCPU, memory): the mean of its share of
    the CPUs and its share of the memory. An engine that did not say counts as average."""
    if not sizes:
        return []
    shares: list[list[float]] = []
    for column in zip(*sizes, strict=True):
        known = [value for value in column if value > 0]
        fill = sum(known) / len(known) if known else 1.0
        filled = [float(value) if value > 0 else fill for value in column]
        total = sum(filled)
        shares.append([value / total for value in filled])
    return [sum(parts) / len(parts) for parts in zip(*shares, strict=True)]


def assign(
    workers: Sequence[str], shares: Sequence[float], counts: Sequence[int] = ()
) -> dict[str, int]:
    """Each worker's engine (an index into ``shares``), in the order xdist names them: the
    next worker goes where it leaves the load per share lowest, the first engine on a tie.
    ``counts``: workers each engine has already (a worker xdist restarted is placed among
    them)."""
    held = list(counts) or [0] * len(shares)
    placed: dict[str, int] = {}
    for worker in workers:
        best = min(range(len(shares)), key=lambda i: ((held[i] + 1) / shares[i], i))
        held[best] += 1
        placed[worker] = best
    return placed


def local_workers(config: Any) -> list[str]:
    """The ids xdist gives its local (popen) workers, gw0, gw1, ... in the order of its
    ``--tx`` specs (``-n N`` is N popen specs): workers elsewhere resolve on their host."""
    import execnet

    from .gateways import expand, is_local

    ids: list[str] = []
    counter = 0
    for text in expand(config.getvalue("tx") or ()):
        spec = execnet.XSpec(text)
        name = spec.id or f"gw{counter}"
        counter += 0 if spec.id else 1
        if is_local(spec):
            ids.append(name)
    return ids
