"""The plugin's state for one pytest run, independent of pytest's hook machinery."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config.parsing import Mode
from ..config.settings import Settings
from ..errors import DockerHostError, NoEndpointError

if TYPE_CHECKING:
    from ..cleanup.claim import Claim
    from ..cleanup.reaper import Reaped, RunIdentity
    from ..discovery.endpoint import DockerHost
    from ..discovery.resolution import Resolution
    from ..sidecar.sharing import SharedSidecar
    from ..sidecar.started import Started
    from ..wiring.testcontainers import Wiring
    from .early import EarlyStart, Say


class DockerSession:
    """Resolves once, hands the endpoint to tests, and puts everything back at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.resolution: Resolution | None = None
        self.host: DockerHost | None = None
        self.error: str = ""
        self._wiring: Wiring | None = None  # made when there is something to wire
        self._closers: list[Any] = []
        self.adopted = False
        # Sidecar mode: the daemon that hosts the sidecar, and this process's handle on it.
        self.outer: DockerHost | None = None
        self.sidecar: SharedSidecar | None = None
        self.say: Callable[[str], None] | None = None  # progress lines (image pulls)
        self.early_lines: list[str] = []  # progress said before the terminal existed
        self._old_sigterm: Any = None
        self.lost = ""  # why the endpoint stopped answering mid-session, once known
        self.shown = False  # the endpoint's header line has been printed
        self.deferred = False  # activation waits for the xdist controller's endpoint
        self._busy = False  # resolving or starting the sidecar right now
        self.finished = False  # the owner's end-of-run cleanup has begun: start nothing new
        self.collecting = False  # between pytest_collection and its finish
        self.module_cache: dict[str, bool] = {}  # module name -> imports docker/testcontainers
        self._identity: RunIdentity | None = None  # xdist workers take the controller's
        self.claim: Claim | None = None  # the owner's lease, sweep and reaper on the daemon
        self.reaped: Reaped | None = None
        self.swept: list[str] = []  # what killed runs left, removed at this run's start
        self.notes: list[str] = []  # the reaper's warnings, for the terminal summary
        self._early: EarlyStart | None = None  # the owner's sidecar, starting on a thread
        self.starts_early = True  # False for --collect-only, --help and the like
        self.sidecar_timings: dict[str, float] = {}  # seconds, for the report
        self.sidecar_started: Started | None = None  # kept when the handle goes (cancelled)
        self.sidecar_cancelled = False  # started early, removed unused
        self.report_error = ""  # --docker-report could not be written: the summary says so

    @property
    def wiring(self) -> Wiring:
        # Imported here: runs that never use Docker do not pay for shutil and tempfile.
        if self._wiring is None:
            from ..wiring.testcontainers import Wiring

            self._wiring = Wiring()
        return self._wiring

    @property
    def identity(self) -> RunIdentity:
        if self._identity is None:
            from ..cleanup.reaper import RunIdentity

            self._identity = RunIdentity.new()
        return self._identity

    @property
    def mode(self) -> Mode:
        return self.settings.mode.value

    @property
    def needs_start(self) -> bool:
        return self.resolution is None and self.host is None and not self.error and not self.adopted

    def start(self) -> None:
        """Resolve the endpoint (cheap and bounded) and wire the environment to it.

        In sidecar mode this finds the outer daemon; the owner then starts the sidecar on
        a thread (``EarlyStart``), which the first test that needs Docker waits for.
        """
        from ..discovery.resolution import (
            resolve,  # http.client and ssl: only when Docker is needed
        )

        self.resolution = resolve(self.settings)
        if self.resolution.host is None:
            self.error = str(self.resolution.error)
            if self.mode == "sidecar":
                from ..messages.header import NO_SIDECAR_DAEMON

                self.error = NO_SIDECAR_DAEMON + self.error
            return
        if self.mode == "sidecar":
            self._plan_sidecar(self.resolution.host, None)
            return
        self._use(self.resolution.host)

    def _plan_sidecar(self, outer: DockerHost, run_data: dict[str, Any] | None) -> None:
        from ..sidecar.sharing import Run, SharedSidecar
        from ..sidecar.spec import Spec

        self.outer = outer
        try:
            spec = Spec.from_settings(self.settings)
        except DockerHostError as exc:
            self.error = str(exc)
            return
        owner = run_data is None
        if owner:
            # The sidecar's resources live on the outer daemon; the claim is taken on the
            # thread, before the sidecar starts.
            self._claim(outer, reap=False, take=False)
            assert self.claim is not None
            run = Run.new(self.claim.owner)
        else:
            run = Run.from_dict(run_data or {})
        self.sidecar = SharedSidecar(run, outer, spec, owner=owner, say=self._say)
        if owner and self.starts_early:
            self._begin_early()

    def _begin_early(self) -> None:
        from .early import EarlyStart, start_sidecar

        claim, sidecar = self.claim, self.sidecar
        assert claim is not None
        assert sidecar is not None
        began = time.monotonic()

        def work(say: Say, cancelled: threading.Event) -> None:
            try:
                start_sidecar(claim, sidecar, say, cancelled)
            finally:
                self.sidecar_timings["early_start_seconds"] = round(time.monotonic() - began, 3)

        self._early = EarlyStart(work)
        self._early.begin()

    def _await_early(self) -> None:
        """The early start's end: its progress said, a crash of ours kept as the error (its
        sweep's findings are taken over at the end, ``finish``)."""
        early = self._early
        if early is None:
            return
        waited = time.monotonic()
        early.wait(self._say)
        # Forgotten only once it is over: a Ctrl-C in the wait leaves it for ``finish`` to
        # cancel and wait for, so the run folder is not removed under a start still writing.
        self._early = None
        self.sidecar_timings["waited_seconds"] = round(time.monotonic() - waited, 3)
        if self.sidecar is not None:
            self.sidecar.say = self._say
        if early.crashed is not None and not self.error:
            from ..messages.header import internal_error

            self.error = internal_error(early.crashed)

    def cancel_sidecar(self) -> None:
        """No selected test needs Docker after all: stop the early start and remove it."""
        early = self._early
        if early is None or self.sidecar is None:
            return
        early.cancel()
        self._await_early()
        self.sidecar.close()
        self.sidecar_started = self.sidecar.started
        self.sidecar = None  # not this run's endpoint: the summary does not name it
        self.sidecar_cancelled = True

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(text)

    def _trap_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        self._old_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def adopt(self, data: dict[str, Any]) -> None:
        """Take the endpoint the controller resolved (pytest-xdist workers)."""
        from ..discovery.endpoint import DockerHost

        self.adopted = True
        if data.get("run"):
            from ..cleanup.reaper import RunIdentity

            self._identity = RunIdentity.from_dict(data["run"])
        if data.get("sidecar") and data.get("outer"):
            self._plan_sidecar(DockerHost.from_dict(data["outer"]), data["sidecar"])
        elif data.get("host"):
            self._use(DockerHost.from_dict(data["host"]))
        else:
            from ..messages.header import NOT_RESOLVED

            self.error = str(data.get("error") or NOT_RESOLVED)

    def export(self) -> dict[str, Any]:
        """What a pytest-xdist worker needs to adopt this session's endpoint."""
        data: dict[str, Any] = {
            "host": self.host.to_dict() if self.host else None,
            "error": self.error,
            "run": self.identity.to_dict(),
        }
        if self.sidecar is not None and self.outer is not None:
            data["outer"] = self.outer.to_dict()
            data["sidecar"] = self.sidecar.run.to_dict()
        return data

    def _use(self, host: DockerHost) -> None:
        self.host = host
        self.error = ""
        self.wiring.apply(host, disable_ryuk=host.outer is not None)
        self.wiring.set_session(self.identity.session)
        if not self.adopted and host.outer is None and self.settings.reap.value:
            self._claim(host, reap=True)  # a sidecar's removal reaps everything in it instead

    def _claim(self, host: DockerHost, *, reap: bool, take: bool = True) -> None:
        """Lease the daemon, sweep what dead runs left there, and record this run (``take``;
        otherwise the caller takes it)."""
        from ..cleanup.claim import Claim

        self.claim = Claim(host, self.identity, lease=self.settings.lease.value, reap=reap)
        from ..discovery import visibility

        visibility.label_with(self.claim.owner.labels(visibility.ROLE_PROBE))
        # Last resorts for the owner: atexit, and SIGTERM (a CI abort) as Ctrl-C.
        atexit.register(self.close)
        self._trap_sigterm()
        if take:
            self.claim.take()
            self.swept = self.claim.swept
            self.notes.extend(self.claim.notes)

    def finish(self) -> None:
        """At the end of the owner's session: stop the sidecar, remove what the run's tests
        left behind, let the lease go; a second signal meanwhile is answered, not obeyed."""
        self.finished = True
        if self.claim is None and (self.sidecar is None or not self.sidecar.owner):
            return  # nothing claimed or started: a Docker-free run imports nothing here
        from ..cleanup.claim import shielded, write_stderr
        from ..cleanup.reaper import Reaped
        from ..messages import reaper as reaper_

        failed: list[str] = []
        with shielded(write_stderr) as seen:
            try:
                if self._early is not None:
                    self._early.cancel()  # unused: no test needed Docker before the end
                    self._await_early()
                claim, self.claim = self.claim, None
                if claim is not None and claim.swept_beside:
                    claim.wait_for_sweep()  # it ran beside the start: what it found is said
                    self.swept = claim.swept
                    self.notes.extend(claim.notes)
                if self.sidecar is not None and self.sidecar.owner:
                    failed.extend(self.sidecar.close())
                if claim is not None and self.lost and self.outer is None:
                    claim.abandon()  # its daemon is gone: the next run that reaches it sweeps
                elif claim is not None:
                    done = claim.end()
                    self.reaped = Reaped(done.removed, (*failed, *done.failed), done.retired)
                    return
            except KeyboardInterrupt:
                failed.append(reaper_.stopped(seen[-1] if seen else "signal"))
        if failed:
            self.reaped = Reaped(failed=tuple(failed))

    def begin_sidecar(self) -> None:
        """Sidecar mode, before the conftests import: resolve the outer daemon and start the
        sidecar on a thread now, since it takes longer than anything pytest does first."""
        if self.mode != "sidecar" or not self.needs_start or not self.starts_early:
            return
        if "PYTEST_XDIST_WORKER" in os.environ:
            return  # a worker waits for the controller's endpoint (adopt)
        self._start_busy()

    def _start_busy(self) -> None:
        """``start``, marked busy: our own import of docker-py must not call back in."""
        self._busy = True
        try:
            self.start()
        finally:
            self._busy = False

    def activate(self, *, wait: bool = True) -> None:
        """Resolve and wire now, for code that may use Docker without the fixtures. A failure
        is kept for the tests that need Docker, never raised here.

        ``wait=False`` (an import, the end of collection): a sidecar still starting is not
        waited for; ``docker.from_env()`` waits for it instead, and so does the first test
        that may use Docker."""
        if self._busy or self.finished:
            return  # our own start-up or cleanup imported docker-py: the watch calls back
        if self._early is not None and self._early.in_thread():
            return  # the early start's own import of docker-py
        if not wait:
            if self.needs_start:
                self._start_busy()
            if self._early is not None and self._early.running:
                self.wiring.hold(self.activate)
                return
        with contextlib.suppress(DockerHostError):
            self.require()

    @property
    def settled(self) -> bool:
        """An endpoint, or the reason there is none: what the header's endpoint line says."""
        return self.host is not None or bool(self.error)

    def require(self) -> DockerHost:
        """The endpoint for a test that needs Docker, or an error saying why there is none."""
        if self.lost:
            from ..errors import EndpointLostError

            raise EndpointLostError(self.lost)
        self._busy = True
        try:
            return self._require()
        finally:
            self._busy = False

    def _require(self) -> DockerHost:
        if self.needs_start:
            self.start()  # a test that asked for a fixture dynamically, or a bare API user
        if self.host is not None:
            # testcontainers may have been imported since the session started.
            self.wiring.patch_config(self.host, disable_ryuk=self.host.outer is not None)
            return self.host
        if self.sidecar is not None and not self.error:
            from ..errors import SidecarError

            self._await_early()
            if self.error:  # the early start crashed (a bug of ours): said, not retried
                self._isolate()
                raise NoEndpointError(self.error)
            try:
                started = self.sidecar.get()
            except SidecarError as exc:
                self.error = str(exc)  # later tests get the same answer without a retry
                self._isolate()
                raise
            self._use(started.host)
            return started.host
        self._isolate()
        from ..messages.header import NOT_RESOLVED

        raise NoEndpointError(self.error or NOT_RESOLVED)

    def _isolate(self) -> None:
        """Sidecar mode without a sidecar: docker.from_env() and testcontainers must fail
        (and get our diagnosis) rather than quietly use the outer daemon."""
        if self.mode == "sidecar" and self.host is None:
            self.wiring.block()

    def explain_failure(self, exc: BaseException) -> tuple[str, bool]:
        """(the plugin's diagnosis, whether the endpoint was lost) when ``exc`` failed because
        Docker could not be reached; ("", False) for any other failure."""
        from ..discovery import health

        if not health.unreachable(exc):
            return "", False
        if self.lost:
            return self.lost, True
        if self.host is None:
            return (self.error, False) if self.error else ("", False)
        lost = self.check_lost(exc)
        return lost, bool(lost)

    def check_lost(self, exc: BaseException | None) -> str:
        """After a Docker test failed: if the endpoint is gone, say so (once) and why."""
        if self.lost or self.host is None:
            return self.lost
        from ..discovery import health

        if not health.looks_like_lost_connection(exc):
            return ""
        message = health.endpoint_gone(self.host)
        if message:
            self.lost = message + health.sidecar_post_mortem(self.host)
        return self.lost

    def on_close(self, closer: Any) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        if self.claim is not None or self._early is not None:
            self.finish()  # pytest never reached its session's end
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(DockerHostError, OSError):
                closer()
        if self.sidecar is not None:
            self.sidecar.close()
        if self._old_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        if self._wiring is not None:
            self._wiring.restore()
