"""The owner's claim on the daemon for one run (lease, sweep of dead runs, reaper) and how
the run ends it: at its session's end, or at the last resorts, atexit and SIGTERM (a CI
abort, taken as Ctrl-C). What it found and did is kept for the summary and the report."""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cleanup.claim import Claim
    from ..cleanup.reaper import Reaped, RunIdentity
    from ..discovery.endpoint import DockerHost


class RunCleanup:
    """One run's claim, made at most once, and its end."""

    def __init__(self, *, last_resort: Callable[[], None]) -> None:
        self._last_resort = last_resort  # the run's close: at exit, if pytest never got there
        self.claim: Claim | None = None
        self.reaped: Reaped | None = None
        self.swept: list[str] = []  # what killed runs left, removed at this run's start
        self.notes: list[str] = []  # the reaper's warnings, for the terminal summary
        self._old_sigterm: Any = None

    @property
    def nothing_to_say(self) -> bool:
        return self.reaped is None and not self.notes and not self.swept

    def take(
        self, host: DockerHost, identity: RunIdentity, *, lease: float, reap: bool, now: bool
    ) -> Claim:
        """Lease the daemon, sweep what dead runs left there, and record this run (``now``;
        otherwise the caller takes it)."""
        from ..cleanup.claim import Claim
        from ..discovery import visibility

        self.claim = claim = Claim(host, identity, lease=lease, reap=reap)
        visibility.label_with(claim.owner.labels(visibility.ROLE_PROBE))
        atexit.register(self._last_resort)
        self._trap_sigterm()
        if now:
            claim.take()
            self.swept = claim.swept
            self.notes.extend(claim.notes)
        return claim

    def _trap_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        self._old_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def end(
        self,
        *,
        stop_start: Callable[[], None],
        remove_sidecar: Callable[[], list[str]],
        daemon_lost: bool,
    ) -> None:
        """Stop a start still under way, remove the sidecar and what the run's tests left
        behind, let the lease go; a second signal meanwhile is answered, not obeyed."""
        from ..cleanup.claim import shielded, write_stderr
        from ..cleanup.reaper import Reaped
        from ..messages import reaper as reaper_

        failed: list[str] = []
        with shielded(write_stderr) as seen:
            try:
                stop_start()
                claim, self.claim = self.claim, None
                if claim is not None and claim.swept_beside:
                    claim.wait_for_sweep()  # it ran beside the start: what it found is said
                    self.swept = claim.swept
                    self.notes.extend(claim.notes)
                failed.extend(remove_sidecar())
                if claim is not None and daemon_lost:
                    claim.abandon()  # its daemon is gone: the next run that reaches it sweeps
                elif claim is not None:
                    done = claim.end()
                    self.reaped = Reaped(done.removed, (*failed, *done.failed), done.retired)
                    return
            except KeyboardInterrupt:
                failed.append(reaper_.stopped(seen[-1] if seen else "signal"))
        if failed:
            self.reaped = Reaped(failed=tuple(failed))

    def restore_signals(self) -> None:
        if self._old_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
