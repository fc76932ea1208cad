"""The pool's sidecar entries (``sidecar``, ``sidecar*N``): TLS dind sidecars the run starts
itself on the outer engine (the one it would resolve without the pool), side by side, each
then a pool engine of its own; removed, with their certificate folders, at the run's end.

Each is sidecar mode's sidecar (``sidecar.lifecycle.Sidecar``): labelled with the run's
owner, published on 127.0.0.1 only, TLS only. The run's lease on the outer engine is held
before any of them exists (its own claim there, or the run's claim when the outer engine
is the run's endpoint already), so that the next run sweeps the sidecars of a run killed
with -9; their private folders are swept by the next run too.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..cleanup.claim import Claim
    from ..cleanup.ownership import Owner
    from ..cleanup.reaper import RunIdentity
    from ..config.settings import Settings
    from ..discovery.endpoint import DockerHost
    from ..discovery.resolution import Resolution
    from ..sidecar.lifecycle import Sidecar
    from ..sidecar.spec import Spec
    from .ending import RunCleanup


class Run(Protocol):
    """What the sidecars read of the run's lifecycle: its identity and its claim."""

    @property
    def identity(self) -> RunIdentity: ...
    @property
    def cleanup(self) -> RunCleanup: ...
    def progress(self, text: str) -> None: ...


# True while the xdist controller resolves: its workers will need every sidecar entry.
_WORKERS_COMING: ContextVar[bool] = ContextVar("pytest_dockerhost_workers", default=False)


def for_workers(start: Callable[[], None]) -> None:
    """The xdist controller's ``start``: a pool's first sidecar starts with all the others
    (the workers are spread over them next), not before them."""
    token = _WORKERS_COMING.set(True)
    try:
        start()
    finally:
        _WORKERS_COMING.reset(token)


def workers_coming() -> bool:
    return _WORKERS_COMING.get()


def same_engine(one: DockerHost, other: DockerHost) -> bool:
    return one.url == other.url


def _image_ready(outer: DockerHost, spec: Spec, say: Callable[[str], None]) -> None:
    """The sidecars' image on the outer engine, pulled once here, its progress said, before
    they start side by side (each would pull it, and say nothing from its thread)."""
    from ..engine.api import EngineClient
    from ..sidecar.preflight import ensure_image

    timeout = max(60.0, spec.timeout)
    client = EngineClient(outer.address, timeout, lambda t: outer.client(timeout=t))
    try:
        ensure_image(client, spec, outer, say)
    finally:
        client.close()


class PoolSidecars:
    """The run's pool sidecars: started on demand (a few at a time, side by side), stopped
    once at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outer: Resolution | None = None
        self.cleanup: RunCleanup | None = None  # our own claim on the outer engine, if made
        self._claim: Claim | None = None  # the claim whose owner labels the sidecars
        self._leased: Callable[[], Owner] | None = None
        self._cancelled = threading.Event()
        self.running: dict[int, Sidecar] = {}  # sidecar number -> its handle, for stop
        self.folders: dict[int, str] = {}  # sidecar number -> its private folder
        self.names: dict[int, str] = {}  # sidecar number -> its container's name
        self.done: dict[str, Any] | None = None  # what the end did, for the report

    # --- the outer engine and the run's claim there ----------------------------------

    def _outer(self) -> Resolution:
        """The engine the run would resolve without the pool: resolved once."""
        if self.outer is None:
            from ..config.settings import Origin, Setting
            from ..discovery.resolution import resolve

            none: Setting[tuple[str, ...]] = Setting((), Origin.DEFAULT)
            self.outer = resolve(dataclasses.replace(self.settings, pool=none))
        return self.outer

    def claims(self, host: DockerHost) -> bool:
        """Whether our own claim (lease, sweep, reaper) covers ``host`` already."""
        return (
            self.cleanup is not None
            and self._claim is not None
            and (same_engine(self._claim.host, host))
        )

    def _hold(self, outer: DockerHost, run: Run) -> Callable[[], Owner]:
        """The owner to label with, once the run's lease on the outer engine is held: the
        run's own claim there when it has one, else ours, taken now (its sweep beside)."""
        if self._leased is not None:
            return self._leased
        held = run.cleanup.claim
        if held is not None and same_engine(held.host, outer):
            self._claim = held
            self._leased = lambda: held.owner
            return self._leased
        from .ending import RunCleanup

        reap = self.settings.reap.value and outer.profile.policy.reaper
        self.cleanup = RunCleanup(last_resort=self.finish)
        claim = self.cleanup.take(
            outer, run.identity, lease=self.settings.lease.value, reap=reap, now=False
        )
        self._claim = claim
        # Dead runs' leftovers swept beside, a killed run's pool sidecars among them.
        self._leased = claim.lease_beside()
        return self._leased

    # --- the start -------------------------------------------------------------------

    def start(self, wanted: Sequence[tuple[int, str]], run: Run) -> dict[int, Resolution]:
        """Start the sidecars ``wanted`` (number, source) side by side: each one's
        resolution, an endpoint or the failure that leaves it out."""
        from ..errors import DockerHostError
        from ..messages import pool as say_
        from ..sidecar.fits import refuse_unfit
        from ..sidecar.spec import Spec
        from . import tunnels

        outer = self._outer()
        if outer.host is None:
            assert outer.error is not None
            why = say_.no_outer_engine(str(outer.error))
            return {n: self._failed(n, source, why, 0.0) for n, source in wanted}
        try:
            refuse_unfit(outer.host)
            # Fresh sidecars, none kept: two daemons must never share a kept one or a cache.
            spec = dataclasses.replace(Spec.from_settings(self.settings), reuse=False, cache=None)
            _image_ready(outer.host, spec, run.progress)
        except DockerHostError as exc:
            return {n: self._failed(n, source, str(exc), 0.0) for n, source in wanted}
        leased = self._hold(outer.host, run)
        tunnels.follow(outer.host, run.identity, close_unused=False)  # a remote outer's ports
        results: dict[int, Resolution] = {}
        threads = [
            threading.Thread(
                target=self._start_one,
                args=(number, source, (outer.host, spec, leased), results),
                name=f"pytest-dockerhost-pool-sidecar-{number}",
                daemon=True,
            )
            for number, source in wanted
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:
            self._cancelled.set()  # Ctrl-C: each start stops and removes what it made
            for thread in threads:
                thread.join(30)
            raise
        for number, source in wanted:  # a thread that died of something else: said so
            if number not in results:
                results[number] = self._failed(number, source, say_.START_STOPPED, 0.0)
        return results

    def _start_one(
        self,
        number: int,
        source: str,
        how: tuple[DockerHost, Spec, Callable[[], Owner]],
        results: dict[int, Resolution],
    ) -> None:
        """One sidecar, on its own thread: ``how`` is (the outer engine, the spec, the
        owner once leased)."""
        import os

        from ..errors import DockerHostError
        from ..messages import sidecar as say_sidecar
        from ..sidecar.lifecycle import Sidecar
        from ..tempdirs import private_dir

        outer, spec, leased = how
        began = time.monotonic()
        claim = self._claim
        assert claim is not None
        owner = claim.owner
        try:
            folder = private_dir(f"pytest-dockerhost-{owner.run_id}-sidecar{number}-")
            self.folders[number] = folder
            sidecar = Sidecar(
                outer,
                spec,
                owner,
                os.path.join(folder, "client"),
                cancelled=self._cancelled,
                leased=leased,
                number=number,
            )
            self.running[number] = sidecar
            started = sidecar.start()
        except DockerHostError as exc:
            results[number] = self._failed(number, source, str(exc), began)
            return
        except Exception as exc:  # docker-py and requests errors: no traceback for users
            text = say_sidecar.start_crashed(outer.shown_url, type(exc).__name__, exc)
            results[number] = self._failed(number, source, text, began)
            return
        self.names[number] = started.name
        # Its size is the outer's (one kernel): the weights count it as the outer says.
        ncpu, memory = outer.profile.ncpu, outer.profile.memory
        profile = dataclasses.replace(started.host.profile, ncpu=ncpu, memory=memory)
        host = dataclasses.replace(started.host, profile=profile)
        results[number] = self._ok(source, host, began)

    def _ok(self, source: str, host: DockerHost, began: float) -> Resolution:
        from ..discovery.endpoint import TraceEntry
        from ..discovery.resolution import Resolution

        seconds = time.monotonic() - began
        trace = (TraceEntry(source, host.url, "ok", seconds),)
        return Resolution(self.settings, self._mode(), host, trace)

    def _failed(self, number: int, source: str, text: str, began: float) -> Resolution:
        """Left out: what was made is removed now, its folder too."""
        from ..discovery.endpoint import TraceEntry
        from ..discovery.resolution import Resolution
        from ..errors import NoEndpointError
        from ..messages import pool as say_

        self._remove(number)
        seconds = time.monotonic() - began if began else 0.0
        outer = self.outer.host if self.outer is not None else None
        where = say_.sidecar_where(number, outer.shown_url if outer is not None else "")
        trace = (TraceEntry(source, where, "failed", seconds, detail=text),)
        return Resolution(self.settings, self._mode(), None, trace, NoEndpointError(text))

    def _mode(self) -> Any:
        return self.outer.mode if self.outer is not None else "auto"

    # --- the end ---------------------------------------------------------------------

    def _remove(self, number: int) -> None:
        from ..tempdirs import remove_private_dir

        sidecar = self.running.pop(number, None)
        if sidecar is not None:
            sidecar.stop()
        folder = self.folders.pop(number, None)
        if folder is not None:
            remove_private_dir(folder)

    def stop(self) -> list[str]:
        """Every sidecar removed (container, volume, network) and its folder: what stays."""
        self._cancelled.set()
        for number in list(self.running):
            self._remove(number)
        return self._left()

    def _left(self) -> list[str]:
        """Our sidecars still on the outer engine after their removal (by their names)."""
        from ..engine.api import engine_errors

        outer = self.outer.host if self.outer is not None else None
        if outer is None or not self.names:
            return []
        try:
            client = outer.engine_client(30)
        except engine_errors() as exc:
            return [str(exc)]
        try:
            found = client.api.containers(all=True, filters={"name": list(self.names.values())})
            names = set(self.names.values())
            return [
                f"container {name}"
                for entry in found
                for name in (str(n).lstrip("/") for n in entry.get("Names") or ())
                if name in names
            ]
        except engine_errors() as exc:
            return [str(exc)]
        finally:
            client.close()

    def finish(self) -> None:
        """At the run's end (after the sidecars' own reap): the sidecars removed, then our
        claim on the outer engine ended (its sweep waited for, its lease let go)."""
        cleanup = self.cleanup
        if cleanup is None:
            left = self.stop()
            if self.names or left:
                self.done = {"removed": sorted(self.names.values()), "failed": left}
            return
        if cleanup.claim is None and not self.running:
            return
        cleanup.end(stop_start=self._cancelled.set, remove_sidecar=self.stop, daemon_lost=False)
        cleanup.restore_signals()
        reaped = cleanup.reaped
        self.done = {
            "removed": sorted(self.names.values()),
            "swept": list(cleanup.swept),
            "failed": list(reaped.failed) if reaped is not None else [],
            "notes": list(cleanup.notes),
        }
