"""Who owns what, proved rather than guessed.

Everything a run creates carries its owner's labels. Whether that owner still lives is
decided by one of two proofs, never by a hostname:

- **Same place.** The owner's *place* is the kernel's boot id and its pid namespace.
  When ours is the same, its pid means the same process to us, so ``kill(pid, 0)`` and
  the process's start time answer for certain, at once, both ways.
- **Its lease.** Otherwise (another container, a pod, another machine on one daemon) the
  owner's lease volumes on the daemon decide: the owner renews them while it lives, and
  a lease whose newest renewal is older than its term, by the daemon's own clock, is
  lapsed. Both sides read the same daemon, so no clock of ours takes part.

A resource without either proof (made by a run without a lease) counts as alive.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, final

from ..labels import (
    L_CREATED,
    L_LEASE,
    L_OWNER_CONTAINER,
    L_OWNER_HOST,
    L_OWNER_PID,
    L_OWNER_PLACE,
    L_OWNER_START,
    L_ROLE,
    L_RUN,
)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (empty when unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return []
    return text.rsplit(")", 1)[-1].split()


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot ("" when unknown)."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def is_zombie(pid: int) -> bool:
    """``pid`` has exited and waits for a parent that never reaps it (a CI container whose
    pid 1 is ``cat`` or a shell, without --init): dead, though kill(pid, 0) finds it."""
    fields = _stat(pid)
    return bool(fields) and fields[0] in ("Z", "X")


def current_place() -> str:
    """This kernel's boot id and our pid namespace ("" when either cannot be read): two
    processes with the same place see the same pids."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}" if boot and namespace else ""


@final
@dataclass(frozen=True)
class Owner:
    """The process that owns a run's resources: it alone removes them at the end."""

    run_id: str
    pid: int
    start: str
    host: str
    container: str  # our container's id when we run in one, else ""
    place: str = ""
    lease: float = 0.0  # the term of the run's lease on the daemon (0: it holds none)

    @classmethod
    def current(cls, run_id: str, container: str | None, lease: float = 0.0) -> Owner:
        pid = os.getpid()
        return cls(
            run_id,
            pid,
            process_start(pid),
            socket.gethostname(),
            container or "",
            current_place(),
            lease,
        )

    def labels(self, role: str) -> dict[str, str]:
        labels = {
            L_RUN: self.run_id,
            L_ROLE: role,
            L_OWNER_PID: str(self.pid),
            L_OWNER_START: self.start,
            L_OWNER_PLACE: self.place,
            L_OWNER_HOST: self.host,
            L_OWNER_CONTAINER: self.container,
            L_CREATED: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.lease:
            labels[L_LEASE] = f"{self.lease:g}"
        return labels

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pid": self.pid,
            "start": self.start,
            "host": self.host,
            "container": self.container,
            "place": self.place,
            "lease": self.lease,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        return cls(
            str(data["run_id"]),
            int(data["pid"]),
            str(data["start"]),
            str(data["host"]),
            str(data["container"]),
            str(data.get("place", "")),
            float(data.get("lease", 0.0)),
        )


def alive_here(labels: dict[str, str], place: str) -> bool | None:
    """The same-place proof: True or False when the owner shares our place, else None."""
    if not place or labels.get(L_OWNER_PLACE) != place:
        return None
    try:
        pid = int(labels.get(L_OWNER_PID, ""))
    except ValueError:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    if is_zombie(pid):
        return False
    started = labels.get(L_OWNER_START, "")
    return not started or process_start(pid) in ("", started)


@final
@dataclass(frozen=True)
class LeaseBook:
    """The leases on one daemon, read once: each run's newest renewal and its term, and
    the daemon's clock when they were read."""

    now: float  # the daemon's time (seconds since the epoch)
    renewed: dict[str, float] = field(default_factory=dict)
    terms: dict[str, float] = field(default_factory=dict)
    uses: dict[str, set[str]] = field(default_factory=dict)  # kept sidecar -> runs using it
    owners: dict[str, dict[str, str]] = field(default_factory=dict)  # run -> a lease's labels

    def held(self, run_id: str) -> bool | None:
        """True while the run's lease runs, False once it lapsed or is gone, None if the
        run never held one here."""
        if run_id not in self.renewed:
            return None
        return self.now - self.renewed[run_id] <= self.terms[run_id]


@final
@dataclass(frozen=True)
class Judge:
    """Tells, from a resource's labels, whether the run that made it is alive."""

    here: Owner
    book: LeaseBook

    def alive(self, labels: dict[str, str]) -> bool:
        run = labels.get(L_RUN, "")
        if run and run == self.here.run_id:
            return True
        verdict = alive_here(labels, self.here.place)
        if verdict is not None:
            return verdict
        held = self.book.held(run)
        if held is not None:
            return held
        # Its owner held a lease here, and it is gone: it ended, or a sweep took it.
        return not labels.get(L_LEASE)

    def in_use(self, sidecar_name: str) -> bool:
        """Does a live run use this kept sidecar now?"""
        runs = self.book.uses.get(sidecar_name, set())
        return any(self.alive(self.book.owners.get(run, {L_RUN: run})) for run in runs)
