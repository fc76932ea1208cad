"""Start the sidecar early, on a thread, while pytest collects and xdist boots its workers.

The thread does what the first test would otherwise wait for: the owner's claim on the
outer daemon (lease, sweep) and the sidecar's start. Its progress lines are queued
(``tell``) and said by the main thread; its errors are not raised there but kept where the
first test that needs Docker finds them (``SharedSidecar``'s state), so they read exactly
as they would without the thread. ``cancel`` stops waiting for it when no test needs Docker.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cleanup.claim import Claim
    from ..cleanup.ownership import Owner
    from ..sidecar.sharing import SharedSidecar

Say = Callable[[str], None]

# How long the end of a run waits for a start it no longer needs; past that, what the
# thread made is found by its labels and removed anyway.
CANCEL_WAIT = 10.0


class EarlyStart:
    """One background start: begun once, waited for once, or cancelled."""

    def __init__(self, work: Callable[[threading.Event], None]) -> None:
        self._work = work
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.cancelled = threading.Event()
        # Its own end, not the thread's: Python 3.11 and 3.12 mark a thread stopped when a
        # signal (Ctrl-C) interrupts a join on it, while it still runs.
        self._ended = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="pytest-dockerhost-sidecar", daemon=True
        )
        self.crashed: BaseException | None = None

    def begin(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.ident is not None and not self._ended.is_set()

    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        try:
            self._work(self.cancelled)
        except BaseException as exc:  # a bug of ours: the waiter reports it
            self.crashed = exc
        finally:
            self._ended.set()

    def tell(self, text: str) -> None:
        """A progress line from the thread, for the main thread to say (``wait``, ``flush``)."""
        self._lines.put(text)

    def wait(self, say: Say) -> None:
        """Until the start is done, saying its progress lines as they come."""
        while not self._ended.wait(0.05):
            self.flush(say)
        self.flush(say)

    def flush(self, say: Say) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                say(self._lines.get_nowait())

    def cancel(self) -> None:
        """Ask the start to stop and wait for it (bounded)."""
        self.cancelled.set()
        self._ended.wait(CANCEL_WAIT)


def start_sidecar(claim: Claim, sidecar: SharedSidecar, cancelled: threading.Event) -> None:
    """The owner's start, on the early thread: what only waits on the engine runs side by
    side (the lease, the sweep; the outer's /info in the start itself), what needs the
    lease waits for it."""
    from ..errors import SidecarError
    from ..sidecar import certs
    from ..sidecar.sharing import Run

    # cryptography's import is most of the certificates' cost: under way meanwhile.
    threading.Thread(target=certs.available, daemon=True).start()
    # The start's first steps only look; the lease must be held before anything of ours
    # exists, so that other runs judge that alive. Dead runs' leftovers go beside the start
    # and the tests (a reattach skips kept sidecars near the age at which the sweep takes
    # them); the run's end waits for it.
    held = claim.lease_beside()

    def leased() -> Owner:
        owner = held()
        if owner != sidecar.run.owner:  # the daemon refused the lease
            sidecar.run = Run(owner, sidecar.run.folder)
        return owner

    with contextlib.suppress(SidecarError):  # kept in its state for the first test
        sidecar.get(cancelled=cancelled, leased=leased)
