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

import contextlib
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from ..messages import hosts as say_
from .gateways import expand, is_local

if TYPE_CHECKING:
    from ..cleanup.reaper import RunIdentity
    from .lifecycle import EndpointLifecycle

ELSEWHERE = "elsewhere"  # in the handover: the gateway, for a worker that resolves itself
REPLY = "reply"  # in the handover: the execnet channel on which it says what it found


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
    """What a worker elsewhere tells the controller once it has collected (on its reply
    channel) and at its end (xdist's ``workeroutput``): text and JSON it renders itself,
    so that a controller whose plugin is of another version than the host's reads it all
    the same."""
    from .report import endpoint_report

    host = state.host
    return {
        ELSEWHERE: state.elsewhere,
        "summary": host.summary() if host is not None else "",
        "endpoint": endpoint_report(host) if host is not None else None,
        "error": str(state.error) if state.error is not None else "",
        "session": state.identity.session,  # its testcontainers session id there
        # Activated, not settled: a sidecar still starting there (said at the end).
        "pending": not state.settled and not state.needs_start,
    }


def tell_controller(handed: Any, state: EndpointLifecycle) -> None:
    """In a worker elsewhere, once it has collected: what it found, on the channel the
    controller handed it (a controller of an older version handed none)."""
    reply = handed.get(REPLY) if isinstance(handed, dict) else None
    if reply is None or not state.elsewhere:
        return
    with contextlib.suppress(Exception):  # a controller gone: nothing to tell
        reply.send(worker_output(state))
        reply.close()


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
    """The controller's record of what its workers elsewhere said, grouped by host: once
    they have collected (before the first test; ``ready``) and at their end (``add``)."""

    def __init__(self) -> None:
        self._reports: list[tuple[str, dict[str, Any]]] = []  # (worker id, worker_output)
        self._ready: list[tuple[str, dict[str, Any]]] = []  # the same, said on collecting
        self._lock = threading.Lock()  # ready() runs on execnet's receiver thread
        self._listening: set[str] = set()  # workers handed a reply channel
        self._collected: set[str] = set()
        self._said: set[str] = set()  # lines said before the tests

    def listen(self, gateway: Any, worker: str) -> Any:
        """A reply channel on the worker's gateway, for its handover."""
        channel = gateway.newchannel()
        channel.setcallback(lambda data: self.ready(worker, data))
        self._listening.add(worker)
        return channel

    def ready(self, worker: str, data: Any) -> None:
        if isinstance(data, dict) and data.get(ELSEWHERE) and not data.get("pending"):
            with self._lock:
                self._ready.append((worker, data))

    def collected(self, worker: str) -> list[str]:
        """A worker has collected: once every worker elsewhere has, each host's line (its
        reply came before its collection, on the same connection), said once."""
        self._collected.add(worker)
        if self._said or not self._listening or not self._listening <= self._collected:
            return []
        with self._lock:
            lines = [use.line() for use in _grouped(self._ready)]
        self._said.update(lines)
        return lines

    def add(self, worker: str, data: dict[str, Any]) -> None:
        if data.get(ELSEWHERE):
            self._reports.append((worker, data))

    def uses(self) -> list[HostUse]:
        """One entry per host and endpoint (or reason for none), in worker order."""
        return _grouped(self._reports)

    def summary_lines(self) -> list[str]:
        """The end's lines: those not said before the tests (a worker that resolved later,
        or was restarted, or whose host's plugin did not reply)."""
        return [line for line in (use.line() for use in self.uses()) if line not in self._said]


def _grouped(reports: list[tuple[str, dict[str, Any]]]) -> list[HostUse]:
    grouped: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for worker, data in sorted(reports, key=lambda report: _worker_order(report[0])):
        endpoint = data.get("endpoint") or {}
        found = endpoint.get("url") or data.get("summary") or data.get("error") or ""
        grouped.setdefault((str(data[ELSEWHERE]), str(found)), []).append((worker, data))
    uses = []
    for (place, _), grouped_reports in grouped.items():
        data = grouped_reports[0][1]
        endpoint = data.get("endpoint")
        uses.append(
            HostUse(
                place,
                tuple(worker for worker, _ in grouped_reports),
                str(data.get("summary") or ""),
                endpoint if isinstance(endpoint, dict) else None,
                str(data.get("error") or ""),
                tuple(str(d["session"]) for _, d in grouped_reports if d.get("session")),
            )
        )
    return uses


def _worker_order(worker: str) -> tuple[int, str]:
    digits = worker.removeprefix("gw")
    return (int(digits), worker) if digits.isdigit() else (1 << 30, worker)
