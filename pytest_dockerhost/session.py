"""The plugin's state for one pytest run, independent of pytest's hook machinery."""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import DockerHostError, NoEndpointError
from .messages import header as say_
from .settings import Settings

if TYPE_CHECKING:
    from .claim import Claim
    from .endpoint import DockerHost
    from .reaper import Reaped, RunIdentity
    from .resolution import Resolution
    from .sidecar.sharing import SharedSidecar
    from .testcontainers import Wiring


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

    @property
    def wiring(self) -> Wiring:
        # Imported here: runs that never use Docker do not pay for shutil and tempfile.
        if self._wiring is None:
            from .testcontainers import Wiring

            self._wiring = Wiring()
        return self._wiring

    @property
    def identity(self) -> RunIdentity:
        if self._identity is None:
            from .reaper import RunIdentity

            self._identity = RunIdentity.new()
        return self._identity

    @property
    def mode(self) -> str:
        return self.settings.mode.value

    @property
    def needs_start(self) -> bool:
        return self.resolution is None and self.host is None and not self.error and not self.adopted

    def start(self) -> None:
        """Resolve the endpoint (cheap and bounded) and wire the environment to it.

        In sidecar mode this finds the outer daemon only; the sidecar itself starts when
        the first test needs Docker (``require``).
        """
        from .resolution import resolve  # http.client and ssl: only when Docker is needed

        self.resolution = resolve(self.settings)
        if self.resolution.host is None:
            self.error = self.resolution.error
            if self.mode == "sidecar":
                self.error = say_.NO_SIDECAR_DAEMON + self.error
            return
        if self.mode == "sidecar":
            self._plan_sidecar(self.resolution.host, None)
            return
        self._use(self.resolution.host)

    def _plan_sidecar(self, outer: DockerHost, run_data: dict[str, Any] | None) -> None:
        from .sidecar.sharing import Run, SharedSidecar
        from .sidecar.spec import Spec

        self.outer = outer
        try:
            spec = Spec.from_settings(self.settings)
        except DockerHostError as exc:
            self.error = str(exc)
            return
        owner = run_data is None
        if owner:
            self._claim(outer, reap=False)  # the sidecar's resources live on the outer daemon
            assert self.claim is not None
            run = Run.new(self.claim.owner)
        else:
            run = Run.from_dict(run_data or {})
        self.sidecar = SharedSidecar(run, outer, spec, owner=owner, say=self._say)

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
        from .endpoint import DockerHost

        self.adopted = True
        if data.get("run"):
            from .reaper import RunIdentity

            self._identity = RunIdentity.from_dict(data["run"])
        if data.get("sidecar") and data.get("outer"):
            self._plan_sidecar(DockerHost.from_dict(data["outer"]), data["sidecar"])
        elif data.get("host"):
            self._use(DockerHost.from_dict(data["host"]))
        else:
            self.error = str(data.get("error") or say_.NOT_RESOLVED)

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

    def _claim(self, host: DockerHost, *, reap: bool) -> None:
        """Lease the daemon, sweep what dead runs left there, and record this run."""
        from .claim import Claim

        self.claim = Claim(host, self.identity, lease=self.settings.lease.value, reap=reap)
        self.claim.take()
        # Last resorts for the owner: atexit, and SIGTERM (a CI abort) as Ctrl-C.
        atexit.register(self.close)
        self._trap_sigterm()
        self.swept = self.claim.swept
        self.notes.extend(self.claim.notes)

    def finish(self) -> None:
        """At the end of the owner's session: stop the sidecar, remove what the run's tests
        left behind, let the lease go; a second signal meanwhile is answered, not obeyed."""
        from .claim import shielded, write_stderr
        from .messages import reaper as reaper_
        from .reaper import Reaped

        self.finished = True
        failed: list[str] = []
        claim, self.claim = self.claim, None
        with shielded(write_stderr) as seen:
            try:
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

    def activate(self) -> None:
        """Resolve and wire now, for code that may use Docker without the fixtures. A failure
        is kept for the tests that need Docker, never raised here."""
        if self._busy or self.finished:
            return  # our own start-up or cleanup imported docker-py: the watch calls back
        with contextlib.suppress(DockerHostError):
            self.require()

    @property
    def settled(self) -> bool:
        """An endpoint, or the reason there is none: what the header's endpoint line says."""
        return self.host is not None or bool(self.error)

    def require(self) -> DockerHost:
        """The endpoint for a test that needs Docker, or an error saying why there is none."""
        if self.lost:
            from .errors import EndpointLostError

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
            from .errors import SidecarError

            try:
                started = self.sidecar.get()
            except SidecarError as exc:
                self.error = str(exc)  # later tests get the same answer without a retry
                self._isolate()
                raise
            self._use(started.host)
            return started.host
        self._isolate()
        raise NoEndpointError(self.error or say_.NOT_RESOLVED)

    def _isolate(self) -> None:
        """Sidecar mode without a sidecar: docker.from_env() and testcontainers must fail
        (and get our diagnosis) rather than quietly use the outer daemon."""
        if self.mode == "sidecar" and self.host is None:
            self.wiring.block()

    def explain_failure(self, exc: BaseException) -> tuple[str, bool]:
        """(the plugin's diagnosis, whether the endpoint was lost) when ``exc`` failed because
        Docker could not be reached; ("", False) for any other failure."""
        from . import health

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
        from . import health

        if not health.looks_like_lost_connection(exc):
            return ""
        message = health.endpoint_gone(self.host)
        if message:
            self.lost = message + health.sidecar_post_mortem(self.host)
        return self.lost

    def on_close(self, closer: Any) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        if self.claim is not None:
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

    def settings_lines(self, verbose: int, *, warnings: bool = True) -> list[str]:
        """Warnings about the settings, and with -v where each non-default one came from."""
        lines = [say_.warning(w) for w in self.settings.warnings] if warnings else []
        if verbose > 0:
            for name, value, source in self.settings.describe():
                if source != "default":
                    lines.append(say_.setting(name, value, source))
        return lines

    def header_lines(self, verbose: int, *, with_settings: bool = True) -> list[str]:
        lines: list[str] = []
        if self.needs_start:
            # Nothing resolved yet: resolution waits until a selected test needs Docker.
            return self.settings_lines(verbose) if with_settings else lines
        if (
            self.host is None
            and self.outer is not None
            and self.sidecar is not None
            and not self.error
        ):
            lines.append(self._sidecar_line())
            lines.extend(say_.warning(warning) for warning in self.outer.warnings)
        elif self.host is not None:
            lines.append(self.host.summary())
            lines.extend(say_.note(note) for note in self.host.notes)
            lines.extend(
                say_.warning(warning)
                for warning in self.host.warnings
                if with_settings or warning not in self.settings.warnings  # shown already
            )
        else:
            lines.append(say_.no_endpoint(self.mode, fail=self.settings.fail_without_docker))
            if verbose <= 0:
                lines.extend(say_.detail(line) for line in self.error.splitlines()[1:4])
        if verbose > 0:
            trace = (
                self.host.trace
                if self.host is not None
                else (self.resolution.trace if self.resolution is not None else ())
            )
            if self.host is not None:
                lines.append(self.host.engine_line())
            if with_settings:
                lines.extend(self.settings_lines(verbose, warnings=False))
            for entry in trace:
                lines.append(
                    say_.tried(entry.source, entry.url, entry.outcome, entry.elapsed, entry.detail)
                )
                if entry.fix and verbose > 1:
                    lines.append(say_.fix(entry.fix))
        return lines

    def summary_lines(self, verbose: int) -> list[str]:
        """The endpoint's line at the end of the run, when no earlier line showed it: resolved
        inside a test, or a sidecar that an xdist worker started."""
        if self.shown:
            return []
        self.shown = True
        if self.settled:
            return self.header_lines(verbose, with_settings=False)
        started = self.sidecar.peek() if self.sidecar is not None else None
        if started is None:
            return []
        host = started.host
        return [host.summary(), *(say_.note(note) for note in host.notes)]

    def reaper_lines(self) -> list[str]:
        """What the reaper did at the start (killed runs) and the end (this run)."""
        from .messages import reaper as reaped_

        lines = [say_.warning(note) for note in self.notes]
        if self.swept:
            lines.append(say_.note(reaped_.swept(len(self.swept))))
        if self.reaped is not None and self.reaped.removed:
            lines.append(reaped_.removed(len(self.reaped.removed), self.identity.session))
        if self.reaped is not None and self.reaped.failed:
            lines.extend(reaped_.not_removed(self.reaped.failed))
        return lines

    def _sidecar_line(self) -> str:
        assert self.outer is not None
        assert self.sidecar is not None
        spec = self.sidecar.spec
        extras = say_.sidecar_extras(
            spec.image,
            privileged=spec.privileged,
            runtime=spec.runtime,
            cache=spec.cache,
            reuse=spec.reuse,
            preload=spec.preload,
        )
        outer = self.outer
        return say_.planned_sidecar(
            extras,
            outer.mode,
            outer.url,
            engine=outer.engine_version,
            api=outer.api_version,
            source=outer.source,
        )
