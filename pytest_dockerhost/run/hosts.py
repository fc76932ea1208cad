"""pytest-xdist workers on other hosts (``--tx ssh=...``, ``socket=...``).

A unix socket path, a certificate folder, a host for published ports or a sidecar on the
controller's loopback mean nothing on another machine. So a worker whose execnet gateway
is not a local ``popen`` is not handed the controller's endpoint: it resolves on its own
host, with that host's environment and ini (the controller's command line reaches it in
its args), under a run identity of its own derived from the controller's, so that its
claim and reaper are its own on its engine. Once it has collected (and so resolved, if a
test needs Docker) it says what it found on a channel the controller handed it: the
controller lists each host's endpoint and its workers before the first test runs. At its
end it reports the rest (what its reaper removed) through xdist's ``workeroutput``, for the
JSON report. Local popen workers (with ``chdir`` or ``python=`` too) adopt the controller's
endpoint as before; a ``popen//via=`` worker runs on its via gateway's host."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from ..messages import hosts as say_

if TYPE_CHECKING:
    from ..cleanup.reaper import RunIdentity
    from .lifecycle import EndpointLifecycle

ELSEWHERE = "elsewhere"  # in the handover: the gateway, for a worker that resolves itself
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


def no_local_worker(options: Any) -> bool:
    """pytest's options (or the known ones, before the conftests) ask for a distributed run
    whose every ``--tx`` gateway is on another host: the controller runs no test, and has
    no use for an endpoint of its own (``-n N`` means local popen workers)."""
    tx: list[str] = getattr(options, "tx", None) or []
    distributed = getattr(options, "dist", "no") != "no" or getattr(options, "distload", False)
    if not tx or not distributed or getattr(options, "numprocesses", None):
        return False
    import execnet  # pytest-xdist's own dependency: present when --tx is an option

    return not any(is_local(execnet.XSpec(spec)) for spec in expand(tx))


def worker_identity(controller: RunIdentity, worker: str) -> RunIdentity:
    """A run identity of the worker's own, derived from the controller's: its claim, marker
    and reaper on its host's engine are its own, and still tell which run they belong to."""
    from ..cleanup.reaper import RunIdentity

    session = uuid.uuid5(uuid.NAMESPACE_URL, f"pytest-dockerhost:{controller.session}/{worker}")
    return RunIdentity(session.hex[:12], str(session))


def handover(controller: RunIdentity, place: str, worker: str) -> dict[str, Any]:
    """What a worker elsewhere gets instead of the controller's endpoint."""
    return {
        ELSEWHERE: place,
        "worker": worker,
        "run": worker_identity(controller, worker).to_dict(),
    }


def worker_output(state: EndpointLifecycle) -> dict[str, Any]:
    """What a worker elsewhere tells the controller at its end (xdist's ``workeroutput``):
    text and JSON it renders itself, so that a controller whose plugin is of another
    version than the host's reads it all the same."""
    from .report import endpoint_report

    host = state.host
    return {
        ELSEWHERE: state.elsewhere,
        "summary": host.summary() if host is not None else "",
        "endpoint": endpoint_report(host) if host is not None else None,
        "error": str(state.error) if state.error is not None else "",
        "session": state.identity.session,  # its testcontainers session id there
    }


@final
@dataclass(frozen=True)
class HostUse:
    """One host's endpoint (or why it had none), the workers that used it, and their
    session ids there (what their reapers removed; ``cleanup`` finds them by it)."""

    place: str
    workers: tuple[str, ...]
    summary: str  # the endpoint's header line, as the workers rendered it
    endpoint: dict[str, Any] | None  # as in the JSON report's "endpoint"
    error: str
    sessions: tuple[str, ...] = ()

    def line(self) -> str:
        if self.summary:
            return say_.resolved_there(self.workers, self.place, self.summary)
        if self.error:
            return say_.nothing_there(self.workers, self.place, self.error)
        return say_.not_needed(self.workers, self.place)

    def report(self) -> dict[str, Any]:
        """Its entry in the JSON report's ``hosts``."""
        return {
            "gateway": self.place,
            "workers": list(self.workers),
            "endpoint": self.endpoint,
            "error": self.error,
            "sessions": list(self.sessions),
        }


class RemoteWorkers:
    """The controller's record of what its workers elsewhere reported, grouped by host."""

    def __init__(self) -> None:
        self._reports: list[tuple[str, dict[str, Any]]] = []  # (worker id, worker_output)

    def add(self, worker: str, data: dict[str, Any]) -> None:
        if data.get(ELSEWHERE):
            self._reports.append((worker, data))

    def uses(self) -> list[HostUse]:
        """One entry per host and endpoint (or reason for none), in worker order."""
        grouped: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        for worker, data in sorted(self._reports, key=lambda report: _worker_order(report[0])):
            endpoint = data.get("endpoint") or {}
            found = endpoint.get("url") or data.get("summary") or data.get("error") or ""
            grouped.setdefault((str(data[ELSEWHERE]), str(found)), []).append((worker, data))
        uses = []
        for (place, _), reports in grouped.items():
            data = reports[0][1]
            endpoint = data.get("endpoint")
            uses.append(
                HostUse(
                    place,
                    tuple(worker for worker, _ in reports),
                    str(data.get("summary") or ""),
                    endpoint if isinstance(endpoint, dict) else None,
                    str(data.get("error") or ""),
                    tuple(str(d["session"]) for _, d in reports if d.get("session")),
                )
            )
        return uses


def _worker_order(worker: str) -> tuple[int, str]:
    digits = worker.removeprefix("gw")
    return (int(digits), worker) if digits.isdigit() else (1 << 30, worker)
