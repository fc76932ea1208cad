"""Where an execnet gateway spec (pytest-xdist's ``--tx``) runs its worker: on this machine
(a ``popen``) or on another (``ssh=``, ``socket=``, a ``popen`` started ``via`` one of
those). The one home for that question: the pool pins only local workers, and a worker
elsewhere resolves on its own host (run/hosts.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# execnet's gateway kinds that run the worker on another machine (or another user's
# interpreter through a socket server): every kind but popen.
REMOTE_KINDS = ("ssh", "socket", "vagrant_ssh")


def is_local(spec: Any) -> bool:
    """An execnet XSpec's worker runs on this machine: a ``popen`` not started ``via``
    another gateway (that one runs on the via gateway's host)."""
    return bool(getattr(spec, "popen", None)) and not getattr(spec, "via", None)


def expand(tx: Iterable[str]) -> list[str]:
    """``--tx`` values as xdist reads them: ``3*popen`` is three ``popen`` specs."""
    texts: list[str] = []
    for text in tx:
        times, star, rest = str(text).partition("*")
        texts.extend([rest] * int(times) if star and times.isdigit() else [str(text)])
    return texts


def gateway_place(spec: Any) -> str | None:
    """Where an execnet XSpec runs its worker: None for a local ``popen`` (with ``chdir``
    or ``python=`` still local), else ``ssh=user@host``, ``socket=host:port``,
    ``popen//via=ID``."""
    if spec is None or is_local(spec):
        return None
    if getattr(spec, "popen", None):
        return f"popen//via={spec.via}"
    for kind in REMOTE_KINDS:
        value = getattr(spec, kind, None)
        if value:
            return f"{kind}={value}"
    return str(getattr(spec, "_spec", spec))  # not popen: another machine's, whatever kind
