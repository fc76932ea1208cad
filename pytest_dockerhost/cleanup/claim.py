"""The run's claim on the daemon where it creates things.

At the start the owner takes a lease there (``lease``), removes what dead runs left
(``reaper.sweep_dead``: their tests' resources, our sidecars, expired kept sidecars;
``tempdirs``: their key folders) and records itself for the reaper. At the end it reaps
its own session and lets the lease go. Workers of the run take no claim: the owner's
covers them. A second Ctrl-C or SIGTERM during the end is said, not obeyed halfway
silently (``shielded``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..engine.api import EngineClientLike, engine_errors
from ..messages import reaper as say_
from .ownership import Judge, Owner
from .reaper import Reaped, RunIdentity, mark, marker_name, retire, sweep_dead

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost
    from .lease import Lease


class Claim:
    """This run's lease, start-of-run sweep, marker and end-of-run reaping on one daemon."""

    def __init__(
        self, host: DockerHost, identity: RunIdentity, *, lease: float, reap: bool
    ) -> None:
        self.host = host
        self.identity = identity
        self.reap = reap
        self.owner = Owner.current(identity.run_id, host.container_id, lease)
        self.lease: Lease | None = None
        self.marked = False
        self.swept: list[str] = []
        self.notes: list[str] = []
        self._sweeper: threading.Thread | None = None

    def take(self) -> None:
        """Lease, sweep, mark. What the daemon refuses becomes a note; nothing is raised."""
        self.take_lease()
        self.sweep()

    def take_lease(self) -> None:
        """The lease alone: what this run makes from now on is judged alive by others.
        Without one (the daemon unreachable or refusing), a note says so."""
        from .lease import Lease

        try:
            client = self.host.engine_client(10)
        except engine_errors() as exc:  # docker-py's DockerException, requests' errors
            self._without_lease(exc)
            return
        try:
            lease = Lease(lambda: self.host.engine_client(10), self.owner)
            lease.take(client)
            self.lease = lease
        except engine_errors() as exc:  # the daemon said no (a read-only socket proxy, say)
            self._without_lease(exc)
        finally:
            client.close()

    def lease_beside(self) -> Callable[[], Owner]:
        """The lease taken on a thread, and the sweep beside it once held, for a start that
        has other work meanwhile: returns what waits for the lease and gives the owner to
        label with (nothing of the run may exist before it is held)."""
        lease = threading.Thread(target=self.take_lease, daemon=True)
        lease.start()
        self.sweep_beside(lease)

        def leased() -> Owner:
            lease.join()
            return self.owner

        return leased

    def sweep_beside(self, lease: threading.Thread) -> None:
        """``sweep`` on a thread of its own once ``lease`` (taking the lease) is done: a dead
        run's sidecar can take seconds to remove, and nothing of this run waits for it
        but the end (``wait_for_sweep``)."""

        def sweep_when_leased() -> None:
            lease.join()
            self.sweep()

        self._sweeper = threading.Thread(target=sweep_when_leased, daemon=True)
        self._sweeper.start()

    @property
    def swept_beside(self) -> bool:
        return self._sweeper is not None

    def wait_for_sweep(self, timeout: float = 60.0) -> None:
        if self._sweeper is not None:
            self._sweeper.join(timeout)

    def sweep(self) -> None:
        """Remove what dead runs left (judged with the lease book), then mark this run;
        without a lease, only this machine's folders of dead processes."""
        from ..tempdirs import sweep_folders

        if self.lease is None:
            sweep_folders()
            return
        try:
            client = self.host.engine_client(30)
        except engine_errors() as exc:
            self.notes.append(say_.unavailable(exc))
            return
        try:
            self.swept = sweep_dead(client, Judge(self.owner, self.lease.book(client)))
            if self.reap:
                mark(client, self.identity, self.owner.labels("run"))
                self.marked = True
        except engine_errors() as exc:
            self.notes.append(say_.unavailable(exc))
        finally:
            client.close()
        sweep_folders()

    def _without_lease(self, exc: Exception) -> None:
        # Labels then claim no lease: others treat what we make as alive (unknown).
        self.owner = dataclasses.replace(self.owner, lease=0.0)
        self.notes.append(say_.unavailable(exc))

    def abandon(self) -> None:
        """Stop renewing: the lease lapses, and the next run judges this one dead."""
        if self.lease is not None:
            self.lease.stop()
            self.lease = None

    def end(self) -> Reaped:
        """Reap this run's session and remove its marker, then let go of the lease."""
        try:
            client = self.host.engine_client(30)
        except engine_errors() as exc:  # the daemon is gone: the next run sweeps
            return Reaped(failed=(str(exc),))
        try:
            done = Reaped()
            if self.marked:
                self.marked = False
                marker = marker_name(self.identity)
                done = retire(client, self.identity.session, marker, self.owner.labels("run"))
            if self.lease is not None:
                failed = self.lease.release(client)
                self.lease = None
                done = dataclasses.replace(done, failed=(*done.failed, *failed))
            return done
        except engine_errors() as exc:  # docker-py's and requests' errors: said, never raised
            return Reaped(failed=(str(exc),))
        finally:
            client.close()


def cleanup_command(
    client: EngineClientLike, host: DockerHost, *, everything: bool, kept: bool, cache: bool
) -> list[str]:
    """``python -m pytest_dockerhost cleanup``: a claim of its own for as long as it runs,
    so that the daemon's clock judges the leases."""
    from ..tempdirs import sweep_folders
    from .janitor import cleanup
    from .lease import Lease

    owner = Owner.current(RunIdentity.new().run_id, host.container_id, 60.0)
    lease = Lease(lambda: host.engine_client(10), owner)
    lease.take(client)
    try:
        judge = Judge(owner, lease.book(client))
        removed = sweep_dead(client, judge, everything=everything)
        removed += cleanup(client, judge, everything=everything, kept=kept, cache=cache)
        removed += [f"folder {path}" for path in sweep_folders()]
        return removed
    finally:
        lease.release(client)


@contextlib.contextmanager
def shielded(say: Callable[[str], None]) -> Iterator[list[str]]:
    """Cleanup that a second Ctrl-C or SIGTERM does not cut short without a word: the
    first one is answered and cleanup goes on; the next stops it (KeyboardInterrupt),
    and the caller names what is left. Yields the signals seen."""
    seen: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def answer(signum: int, frame: object) -> None:
        seen.append(signal.Signals(signum).name)
        if len(seen) > 1:
            raise KeyboardInterrupt(seen[-1])
        say(say_.STILL_CLEANING)

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            previous[signum] = signal.signal(signum, answer)
    try:
        yield seen
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)


def write_stderr(text: str) -> None:
    """Said from a signal handler: one write, no buffering."""
    with contextlib.suppress(OSError):
        os.write(2, (text + "\n").encode())
