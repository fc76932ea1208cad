"""Start the sidecar early, on a thread, while pytest collects and xdist boots its workers.

The thread does what the first test would otherwise wait for: the owner's claim on the
outer daemon (lease, sweep) and the sidecar's start. Its progress lines are queued and
said by the main thread; its errors are not raised there but kept where the first test
that needs Docker finds them (``SharedSidecar``'s state), so they read exactly as they
would without the thread. ``cancel`` stops waiting for it when no test needs Docker.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

Say = Callable[[str], None]

# How long the end of a run waits for a start it no longer needs; past that, what the
# thread made is found by its labels and removed anyway.
CANCEL_WAIT = 10.0


class EarlyStart:
    """One background start: begun once, waited for once, or cancelled."""

    def __init__(self, work: Callable[[Say, threading.Event], None]) -> None:
        self._work = work
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.cancelled = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="pytest-dockerhost-sidecar", daemon=True
        )
        self.crashed: BaseException | None = None

    def begin(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        try:
            self._work(self._lines.put, self.cancelled)
        except BaseException as exc:  # a bug of ours: the waiter reports it
            self.crashed = exc

    def wait(self, say: Say) -> None:
        """Until the start is done, saying its progress lines as they come."""
        while self._thread.is_alive():
            self._thread.join(0.05)
            self.flush(say)
        self.flush(say)

    def flush(self, say: Say) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                say(self._lines.get_nowait())

    def cancel(self) -> bool:
        """Ask the start to stop and wait for it (bounded). True when it has ended."""
        self.cancelled.set()
        self._thread.join(CANCEL_WAIT)
        return not self._thread.is_alive()
