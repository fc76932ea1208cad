"""A run's lease on a daemon: volumes the run renews while it lives.

A lease is a small volume, ``pytest-dockerhost-lease-<run>-<n>``, labelled with its
owner and the lease's term. Every quarter of the term the owner makes the next one and
removes the one before, so the newest's ``CreatedAt`` (the daemon's clock) says when
the run last proved it was alive. Labels cannot change after creation; a new volume
can carry new ones, such as the kept sidecar the run now uses. See ``ownership``.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from calendar import timegm
from collections.abc import Callable

from ..engine.api import EngineClientLike, engine_errors
from ..labels import L_LEASE, L_ROLE, L_RUN, L_USES
from .ownership import LeaseBook, Owner

ROLE_LEASE = "lease"
PREFIX = "pytest-dockerhost-lease-"
_STAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?", re.I
)


def parse_created(text: str) -> float | None:
    """A volume's ``CreatedAt`` (RFC 3339, any precision, any offset) as epoch seconds."""
    match = _STAMP.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    stamp = timegm((year, month, day, hour, minute, second, 0, 0, 0))
    offset = (match.group(7) or "Z").upper().replace(":", "")
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        stamp -= sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    return float(stamp)


def read_book(client: EngineClientLike, now: float) -> LeaseBook:
    """Every lease on the daemon, by run."""
    book = LeaseBook(now)
    volumes = client.api.volumes(filters={"label": f"{L_ROLE}={ROLE_LEASE}"}).get("Volumes")
    for entry in volumes or []:
        labels = dict(entry.get("Labels") or {})
        run = labels.get(L_RUN, "")
        created = parse_created(str(entry.get("CreatedAt", "")))
        try:
            term = float(labels.get(L_LEASE, ""))
        except ValueError:
            continue
        if not run or created is None:
            continue
        if created >= book.renewed.get(run, float("-inf")):
            book.renewed[run] = created
            book.terms[run] = term
            book.owners[run] = labels
        if labels.get(L_USES):
            book.uses.setdefault(labels[L_USES], set()).add(run)
    return book


def record_use(client: EngineClientLike, owner: Owner, sidecar_name: str) -> None:
    """Say on the daemon that this run uses a kept sidecar, from any of its processes:
    the run's lease covers it until the run ends."""
    labels = {**owner.labels(ROLE_LEASE), L_USES: sidecar_name}
    name = f"{PREFIX}{owner.run_id}-uses-{sidecar_name[-12:]}"
    with contextlib.suppress(*engine_errors()):  # already recorded
        client.api.create_volume(name, labels=labels)


class Lease:
    """The lease the run's owner holds while it lives: taken once, renewed on a thread,
    released at the end."""

    def __init__(self, open_client: Callable[[], EngineClientLike], owner: Owner) -> None:
        self._open_client = open_client
        self.owner = owner
        self._seq = 0
        self._current = ""
        self._daemon_t0 = 0.0
        self._mono_t0 = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, client: EngineClientLike) -> None:
        """The first lease, before the run makes anything; then renewals in the background."""
        self._renew(client)
        self._thread = threading.Thread(
            target=self._keep, name="pytest-dockerhost-lease", daemon=True
        )
        self._thread.start()

    def now(self) -> float:
        """The daemon's time, from the last lease it stamped (epoch seconds)."""
        return self._daemon_t0 + (time.monotonic() - self._mono_t0)

    def book(self, client: EngineClientLike) -> LeaseBook:
        return read_book(client, self.now())

    def _renew(self, client: EngineClientLike) -> None:
        with self._lock:
            self._seq += 1
            name = f"{PREFIX}{self.owner.run_id}-{self._seq}"
            before = time.monotonic()
            made = client.api.create_volume(name, labels=self.owner.labels(ROLE_LEASE))
            stamped = parse_created(str((made or {}).get("CreatedAt", "")))
            # Half the round trip: when the daemon stamped it, as best we can tell.
            self._mono_t0 = (before + time.monotonic()) / 2
            self._daemon_t0 = stamped if stamped is not None else time.time()
            previous, self._current = self._current, name
        if previous:
            with contextlib.suppress(*engine_errors()):
                client.api.remove_volume(previous, force=True)

    def _keep(self) -> None:
        client: EngineClientLike | None = None
        try:
            while not self._stop.wait(self.owner.lease / 4):
                try:
                    client = client or self._open_client()
                    self._renew(client)
                except engine_errors():
                    pass  # the daemon is busy or gone: the next turn tries again
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

    def stop(self) -> None:
        """No more renewals."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def release(self, client: EngineClientLike) -> list[str]:
        """Stop renewing and remove every lease of this run; what would not go is returned."""
        self.stop()
        failed: list[str] = []
        flt = {"label": [f"{L_ROLE}={ROLE_LEASE}", f"{L_RUN}={self.owner.run_id}"]}
        try:
            volumes = client.api.volumes(filters=flt).get("Volumes") or []
        except engine_errors() as exc:
            return [f"the run's lease volumes: {exc}"]
        for entry in volumes:
            try:
                client.api.remove_volume(str(entry["Name"]), force=True)
            except engine_errors() as exc:
                failed.append(f"volume {entry['Name']}: {exc}")
        return failed
