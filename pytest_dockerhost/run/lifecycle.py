"""The endpoint's lifecycle in one pytest run: found (or started), handed to tests, lost, put
back at the end. Independent of pytest's hook machinery: ``run/hooks.py`` drives it."""

from __future__ import annotations

import contextlib
import enum
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ..config.parsing import Mode, Strategy, strategy_for
from ..config.settings import Settings
from ..errors import DockerHostError, EndpointLostError, NoEndpointError
from . import tunnels
from .ending import RunCleanup

if TYPE_CHECKING:
    from ..cleanup.claim import Claim
    from ..cleanup.reaper import RunIdentity
    from ..discovery.endpoint import DockerHost
    from ..discovery.resolution import Resolution
    from ..sidecar.sharing import SharedSidecar
    from ..sidecar.started import Started
    from ..wiring.testcontainers import Wiring
    from .early import EarlyStart
    from .pool import Pool

Say = Callable[[str], None]

# The owner resolves, claims and cleans up; an xdist worker takes the owner's endpoint.
Role = Literal["owner", "worker"]


class Phase(enum.Enum):
    IDLE = "idle"  # nothing resolved: that waits for code that may use Docker
    DEFERRED = "deferred"  # an xdist worker that needs Docker before the owner's endpoint came
    STARTING = "starting"  # sidecar: the daemon that hosts it is found, the sidecar not yet
    READY = "ready"  # an endpoint, wired
    FAILED = "failed"  # no endpoint: ``error`` says why
    LOST = "lost"  # it answered, then stopped: ``lost`` says why
    CANCELLED = "cancelled"  # the sidecar begun early is removed: no selected test needs it
    FINISHED = "finished"  # the owner's cleanup has begun: nothing new starts


class EndpointLifecycle:
    """Resolves once, hands the endpoint to tests, and puts everything back at the end."""

    def __init__(self, settings: Settings, *, say: Say, start_early: bool = True) -> None:
        self.settings = settings
        self.strategy: Strategy = strategy_for(settings.mode.value)
        self.role: Role = "owner"
        self.phase = Phase.IDLE
        self.ended_in = Phase.IDLE  # the phase the owner's cleanup found, for the report
        self._say = say  # progress lines (image pulls), said on the main thread
        self._start_early = start_early  # False for --collect-only, --help and the like
        self.resolution: Resolution | None = None
        self.pool: Pool | None = None  # --docker-pool's engines (run/pool.py)
        self.host: DockerHost | None = None
        self.error: DockerHostError | None = None
        self.lost: EndpointLostError | None = None
        self._wiring: Wiring | None = None  # made when there is something to wire
        # Sidecar strategy: the daemon that hosts the sidecar, and this process's handle on it.
        self.outer: DockerHost | None = None
        self.sidecar: SharedSidecar | None = None
        self._early: EarlyStart | None = None  # the owner's sidecar, starting on a thread
        self.sidecar_timings: dict[str, float] = {}  # seconds, for the report
        self.sidecar_started: Started | None = None  # kept when the handle goes (cancelled)
        # A re-entrancy guard, not a phase: while we resolve, start or hand out the endpoint,
        # our own import of docker-py makes the import watch call back in.
        self._inside = False
        self._identity: RunIdentity | None = None  # xdist workers take the owner's
        self.elsewhere: str | None = None  # an xdist worker's other host: it resolves there
        self.cleanup = RunCleanup(last_resort=self.close)  # the owner's claim on the daemon

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
    def deferred(self) -> bool:
        return self.phase is Phase.DEFERRED

    @property
    def needs_start(self) -> bool:
        return self.phase in (Phase.IDLE, Phase.DEFERRED)

    @property
    def settled(self) -> bool:
        """An endpoint, or the reason there is none: what the header's endpoint line says."""
        return self.host is not None or self.error is not None

    @property
    def starts_at_session_start(self) -> bool:
        """A sidecar takes longer than anything pytest does first: begun at once. A discovered
        endpoint waits for collection, so runs that select no Docker test pay nothing."""
        return self.strategy == "sidecar"

    def _fail(self, error: DockerHostError) -> None:
        self.error = error
        self.phase = Phase.FAILED

    def defer(self) -> None:
        """An xdist worker asked for Docker before the owner's endpoint reached it."""
        if self.phase is Phase.IDLE:
            self.phase = Phase.DEFERRED

    def start(self) -> None:
        """Resolve the endpoint (cheap and bounded) and wire the environment to it.

        Sidecar strategy: this finds the outer daemon; the owner then starts the sidecar on
        a thread (``EarlyStart``), which the first test that needs Docker waits for.
        Guarded: our own import of docker-py meanwhile (a preload, a pool's sidecars) makes
        the import watch call back in, which must not start again.
        """
        inside, self._inside = self._inside, True
        try:
            self._start()
        finally:
            self._inside = inside

    def _start(self) -> None:
        from .pool import resolve_or_pool  # http.client and ssl: only when Docker is needed

        self.resolution, self.pool = resolve_or_pool(self.settings, self)
        try:
            found = self.resolution.require()
        except NoEndpointError as exc:
            if self.strategy == "sidecar":
                from ..messages.header import NO_SIDECAR_DAEMON

                exc = NoEndpointError(NO_SIDECAR_DAEMON + str(exc))
            self._fail(exc)
            return
        if self.strategy == "sidecar":
            self._plan_sidecar(found, None)
            return
        self._use(found)

    def _plan_sidecar(self, outer: DockerHost, run_data: dict[str, Any] | None) -> None:
        from ..sidecar.fits import refuse_unfit
        from ..sidecar.sharing import Run, SharedSidecar
        from ..sidecar.spec import Spec

        self.outer = outer
        if run_data is None:
            tunnels.follow(outer, self.identity)  # the sidecar's own port, on a remote engine
        try:
            refuse_unfit(outer)
            spec = Spec.from_settings(self.settings)
        except DockerHostError as exc:
            self._fail(exc)
            return
        owner = run_data is None
        if owner:
            # The sidecar's resources live on the outer daemon; the claim is taken on the
            # thread, before the sidecar starts.
            run = Run.new(self._claim(outer, reap=False, now=False).owner)
        else:
            run = Run.from_dict(run_data or {})
        self.sidecar = SharedSidecar(run, outer, spec, owner=owner, say=self.progress)
        self.phase = Phase.STARTING
        if owner and self._start_early:
            self._begin_early()

    def progress(self, text: str) -> None:
        """The sidecar's progress: queued when the early thread says it (the main thread says
        it, in order), said at once otherwise."""
        early = self._early
        if early is not None and early.in_thread():
            early.tell(text)
        else:
            self._say(text)

    def _begin_early(self) -> None:
        from .early import EarlyStart, start_sidecar

        claim, sidecar = self.cleanup.claim, self.sidecar
        assert claim is not None
        assert sidecar is not None
        began = time.monotonic()

        def work(cancelled: threading.Event) -> None:
            try:
                start_sidecar(claim, sidecar, cancelled)
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
        if early.crashed is not None:
            self.keep_crash(early.crashed)

    def keep_crash(self, exc: BaseException) -> None:
        """A bug of ours while resolving or starting: kept as the reason there is no endpoint
        (said by the tests that need Docker), unless one is kept already."""
        if self.error is None:
            from ..messages.header import internal_error

            self.error = NoEndpointError(internal_error(exc))
            if self.host is None:  # an endpoint already wired stays the run's endpoint
                self.phase = Phase.FAILED

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
        self.phase = Phase.CANCELLED

    def adopt(self, data: dict[str, Any]) -> None:
        """Take the endpoint the owner resolved (pytest-xdist workers)."""
        from ..cleanup.reaper import RunIdentity
        from ..discovery.endpoint import DockerHost

        if data.get("elsewhere"):  # its own host's endpoint, claim and reaper (run/hosts.py)
            self._identity, self.elsewhere = RunIdentity.from_dict(data["run"]), data["elsewhere"]
            return
        self.role = "worker"
        if data.get("run"):
            self._identity = RunIdentity.from_dict(data["run"])
        if data.get("sidecar") and data.get("outer"):
            self._plan_sidecar(DockerHost.from_dict(data["outer"]), data["sidecar"])
        elif data.get("host"):
            self._use(DockerHost.from_dict(data["host"]))
        else:
            from ..messages.header import NOT_RESOLVED

            self._fail(NoEndpointError(str(data.get("error") or NOT_RESOLVED)))

    def export(self) -> dict[str, Any]:
        """What a pytest-xdist worker needs to adopt this run's endpoint."""
        data: dict[str, Any] = {
            "host": self.host.to_dict() if self.host else None,
            "error": str(self.error) if self.error is not None else "",
            "run": self.identity.to_dict(),
        }
        if self.sidecar is not None and self.outer is not None:
            data["outer"] = self.outer.to_dict()
            data["sidecar"] = self.sidecar.run.to_dict()
        return data

    def _use(self, host: DockerHost) -> None:
        self.host = host
        self.error = None
        self.phase = Phase.READY
        self.wiring.apply(host, disable_ryuk=not host.ryuk_allowed)
        self.wiring.set_session(self.identity.session)
        if self.role == "owner":
            tunnels.follow(host, self.identity)
            if host.outer is None and self.settings.reap.value and host.profile.policy.reaper:
                self._claim(host, reap=True, now=True)  # a sidecar's removal reaps all in it

    def _claim(self, host: DockerHost, *, reap: bool, now: bool) -> Claim:
        lease = self.settings.lease.value
        return self.cleanup.take(host, self.identity, lease=lease, reap=reap, now=now)

    def finish(self) -> None:
        """At the end of the owner's session: stop the sidecar, remove what the run's tests
        left behind, let the lease go."""
        if self.phase is not Phase.FINISHED:
            self.ended_in, self.phase = self.phase, Phase.FINISHED
        if self.pool is not None:
            self.pool.finish()  # the pool's other engines, each reaped by its own claim
        owns_sidecar = self.sidecar is not None and self.sidecar.owner
        if self.cleanup.claim is None and not owns_sidecar:
            return  # nothing claimed or started: a Docker-free run imports nothing here
        lost = self.lost is not None and self.outer is None
        self.cleanup.end(stop_start=self._stop_early, remove_sidecar=self._remove, daemon_lost=lost)

    def _stop_early(self) -> None:
        if self._early is not None:
            self._early.cancel()  # unused: no test needed Docker before the end
            self._await_early()

    def _remove(self) -> list[str]:
        """The owner's sidecar removed: what could not be."""
        return self.sidecar.close() if self.sidecar is not None and self.sidecar.owner else []

    def begin_sidecar(self) -> None:
        """Sidecar strategy, before the conftests import: resolve the outer daemon and start
        the sidecar on a thread now, since it takes longer than anything pytest does first."""
        if self.strategy != "sidecar" or not self.needs_start or not self._start_early:
            return
        if "PYTEST_XDIST_WORKER" in os.environ:
            return  # a worker waits for the owner's endpoint (adopt)
        self.start()

    def activate(self, *, wait: bool = True) -> None:
        """Resolve and wire now, for code that may use Docker without the fixtures. A failure
        is kept for the tests that need Docker, never raised here.

        ``wait=False`` (an import, the end of collection): a sidecar still starting is not
        waited for; ``docker.from_env()`` waits for it instead, and so does the first test
        that may use Docker."""
        if self._inside or self.phase is Phase.FINISHED:
            return  # our own start-up or cleanup imported docker-py: the watch calls back
        if self._early is not None and self._early.in_thread():
            return  # the early start's own import of docker-py
        if not wait:
            if self.needs_start:
                self.start()
            if self._early is not None and self._early.running:
                self.wiring.hold(self.activate)
                return
        with contextlib.suppress(DockerHostError):
            self.require()

    def require(self) -> DockerHost:
        """The endpoint for a test that needs Docker, or an error saying why there is none."""
        if self.lost is not None:
            raise self.lost.with_traceback(None)  # the same error each time, not a longer one
        self._inside = True
        try:
            return self._require()
        finally:
            self._inside = False

    def _require(self) -> DockerHost:
        if self.needs_start:
            self.start()  # a test that asked for a fixture dynamically, or a bare API user
        if self.host is not None:
            # testcontainers may have been imported since the session started.
            self.wiring.patch_config(self.host, disable_ryuk=not self.host.ryuk_allowed)
            return self.host
        if self.sidecar is not None and self.error is None:
            from ..errors import SidecarError

            self._await_early()
            if self.error is not None:  # the early start crashed (a bug of ours): not retried
                self._isolate()
                raise self.error.with_traceback(None)
            try:
                started = self.sidecar.get()
            except SidecarError as exc:
                self._fail(exc)  # later tests get the same answer without a retry
                self._isolate()
                raise
            self._use(started.host)
            return started.host
        self._isolate()
        if self.error is not None:
            raise self.error.with_traceback(None)
        from ..messages.header import NOT_RESOLVED

        raise NoEndpointError(NOT_RESOLVED)

    def _isolate(self) -> None:
        """A sidecar run without a sidecar: docker.from_env() and testcontainers must fail
        (and get our diagnosis) rather than quietly use the outer daemon."""
        if self.strategy == "sidecar" and self.host is None:
            self.wiring.block()

    def explain_failure(self, exc: BaseException) -> DockerHostError | None:
        """The plugin's diagnosis of a failed test (run/failures.py), or None."""
        from .failures import explain_failure

        return explain_failure(self, exc)

    def mark_lost(self, lost: EndpointLostError) -> None:
        self.lost = lost
        self.phase = Phase.LOST

    def close(self) -> None:
        if self.cleanup.claim is not None or self._early is not None:
            self.finish()  # pytest never reached its session's end
        if self.sidecar is not None:
            self.sidecar.close()
        self.cleanup.restore_signals()
        if self._wiring is not None:
            self._wiring.restore()
        tunnels.close()
