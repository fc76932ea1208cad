"""An engine pool (``--docker-pool``): each entry resolved as an explicit endpoint of its own,
pytest-xdist's local workers pinned to the engines that answered, weighted by their CPUs
and memory, and each engine claimed and reaped for the run.

The controller's own endpoint (its lifecycle's) is the pool's first engine that answers:
it is wired, claimed and followed as any endpoint is. The others are resolved when the
workers are about to start (``spread``), claimed here, and handed to their workers
instead of the controller's (``export_for``). Without workers, the first engine is all.
``sidecar`` / ``sidecar*N`` entries are sidecars the run starts (run/pool_sidecars.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, final

from ..config.pool import engines_of
from ..config.settings import Origin, Setting, Settings
from ..messages import pool as say_
from .placement import assign, local_workers, weights

if TYPE_CHECKING:
    from ..cleanup.reaper import RunIdentity
    from ..discovery.endpoint import DockerHost, TraceEntry
    from ..discovery.resolution import Resolution
    from .ending import RunCleanup
    from .pool_sidecars import PoolSidecars

# Variables that would name another engine than the entry: the entry alone is tried.
_STEERING = ("DOCKER_HOST", "DOCKER_CONTEXT", "CONTAINER_HOST")
Outcome = Literal["ok", "left out", "not tried"]


class Run(Protocol):
    """What the pool reads of the run's lifecycle (run/lifecycle.py imports this module)."""

    @property
    def host(self) -> DockerHost | None: ...
    @property
    def strategy(self) -> str: ...
    @property
    def identity(self) -> RunIdentity: ...
    @property
    def pool(self) -> Pool | None: ...
    @property
    def cleanup(self) -> RunCleanup: ...
    def progress(self, text: str) -> None: ...
    def export(self) -> dict[str, Any]: ...


@final
@dataclass(frozen=True)
class PoolEngine:
    """One entry and what came of it."""

    number: int  # 1-based, as users count the entries
    entry: str
    source: str  # "--docker-pool entry 2"
    outcome: Outcome
    resolution: Resolution | None = None
    sidecar: int = 0  # a sidecar the run starts: its number in the pool (1, 2, ...)

    @property
    def host(self) -> DockerHost | None:
        return self.resolution.host if self.resolution is not None else None

    @property
    def shown(self) -> str:
        """As the header names it: its URL; a sidecar's number, URL and engine."""
        host = self.host
        outer = host.outer if host is not None else None
        if self.sidecar and host is not None and outer is not None:
            return say_.sidecar_engine(self.sidecar, host.shown_url, outer.shown_url)
        return host.shown_url if host is not None else self.entry

    @property
    def failure(self) -> TraceEntry | None:
        """The entry's own failed or skipped candidate, with its detail and fix."""
        trace = self.resolution.trace if self.resolution is not None else ()
        return next((t for t in trace if t.source == self.source and not t.ok), None)


class Pool:
    """The run's engines: resolved in order, spread over the local workers, each reaped."""

    def __init__(self, settings: Settings, run: Run | None = None) -> None:
        self.settings = settings
        self.run = run  # the lifecycle: its identity and claim, for the sidecars
        self.engines: list[PoolEngine] = []
        for n, entry, k in engines_of(settings.pool.value):  # each sidecar an engine of its own
            where = say_.entry_source(n, settings.pool.source)
            named = say_.sidecar_entry(k) if k else entry
            self.engines.append(PoolEngine(n, named, where, "not tried", sidecar=k))
        self._sidecars: PoolSidecars | None = None
        self.placed: dict[str, int] = {}  # worker id -> index into engines
        self.spread_done = False
        self.cleanups: dict[int, RunCleanup] = {}  # the other engines' claims
        self.reaped: dict[int, dict[str, list[str]]] = {}  # what each claim's end did

    # --- resolution ------------------------------------------------------------------

    def first(self) -> Resolution:
        """The entries in order until one answers: that one is the controller's endpoint.
        All failing is the usual no-endpoint failure, with every entry's failure."""
        for index, listed in enumerate(self.engines):
            engine = self._resolve(index) if listed.outcome == "not tried" else listed
            if engine.host is not None:
                assert engine.resolution is not None
                return engine.resolution
        return self._all_failed()

    def diagnose(self) -> Resolution:
        """``python -m pytest_dockerhost``: every entry tried alone, nothing started. The
        verdict is the first engine that answers; with none, and sidecar entries (a run's
        to start), the engine the run finds without the pool, which they would run on."""
        for index, engine in enumerate(self.engines):
            if engine.outcome == "not tried" and not engine.sidecar:
                self._resolve(index)
        found = next((e.resolution for e in self.engines if e.host is not None), None)
        if found is not None:
            return found
        if any(engine.sidecar for engine in self.engines):
            from ..discovery.resolution import resolve

            none: Setting[tuple[str, ...]] = Setting((), Origin.DEFAULT)
            return resolve(dataclasses.replace(self.settings, pool=none))
        return self._all_failed()

    def _resolve(self, index: int) -> PoolEngine:
        from ..discovery.resolution import resolve
        from .pool_sidecars import workers_coming

        engine = self.engines[index]
        if engine.sidecar:  # with workers coming, every sidecar entry starts beside it
            rest = [i for i, e in enumerate(self.engines) if e.sidecar and i > index]
            return self._start_sidecars([index, *(rest if workers_coming() else ())])[0]
        env = {k: v for k, v in os.environ.items() if k not in _STEERING}
        none: Setting[str | None] = Setting(None, Origin.DEFAULT)
        if "://" in engine.entry:  # the explicit-endpoint source reads it, TLS and all
            given: Setting[str | None] = Setting(engine.entry, Origin.CLI, engine.source)
            one = dataclasses.replace(self.settings, host=given, socket=none)
        else:  # a docker context: its own endpoint and TLS files
            env["DOCKER_CONTEXT"] = engine.entry
            one = dataclasses.replace(self.settings, host=none, socket=none)
        return self._keep(index, resolve(one, env=env))

    def _keep(self, index: int, resolution: Resolution) -> PoolEngine:
        outcome: Outcome = "ok" if resolution.host is not None else "left out"
        engine = dataclasses.replace(self.engines[index], outcome=outcome, resolution=resolution)
        self.engines[index] = engine
        return engine

    def _start_sidecars(self, indices: Sequence[int]) -> list[PoolEngine]:
        """Sidecar entries, started side by side on the outer engine."""
        from .pool_sidecars import PoolSidecars

        assert self.run is not None, "the run starts its pool's sidecars"
        self._sidecars = self._sidecars or PoolSidecars(self.settings)
        wanted = [(self.engines[i].sidecar, self.engines[i].source) for i in indices]
        done = self._sidecars.start(wanted, self.run)
        return [self._keep(i, done[self.engines[i].sidecar]) for i in indices]

    def _all_failed(self) -> Resolution:
        from ..discovery.resolution import Resolution
        from ..errors import NoEndpointError
        from ..messages.resolution import no_endpoint

        trace = tuple(t for e in self.engines if e.resolution for t in e.resolution.trace)
        last = self.engines[-1].resolution
        assert last is not None
        text = no_endpoint(
            last.mode,
            self.settings.pool.source,
            failures=[(t.source, t.url, t.detail, t.fix) for t in trace if t.outcome == "failed"],
            skipped=[(t.source, t.detail) for t in trace if t.outcome == "skipped"],
            absent=0,
            warnings=self.settings.warnings,
            hints=(),
        )
        return Resolution(self.settings, last.mode, None, trace, NoEndpointError(text))

    # --- the workers -----------------------------------------------------------------

    @property
    def working(self) -> list[int]:
        return [i for i, e in enumerate(self.engines) if e.host is not None]

    def spread(self, lifecycle: Run, config: Any) -> None:
        """The xdist controller, before its workers start: resolve the rest, claim each
        engine that answered for the run, and pin the local workers (once)."""
        if self.spread_done or lifecycle.host is None or lifecycle.strategy != "discovered":
            return
        self.spread_done = True
        for index, engine in enumerate(self.engines):
            if engine.outcome == "not tried" and not engine.sidecar:
                self._resolve(index)
        sidecars = [i for i, e in enumerate(self.engines) if e.sidecar and e.outcome == "not tried"]
        if sidecars:
            self._start_sidecars(sidecars)
        for index in self.working:
            host = self.engines[index].host
            if host is not None and host is not lifecycle.host:
                self._claim(index, host, lifecycle.identity)
        self.place(local_workers(config))

    def place(self, workers: Sequence[str]) -> None:
        """Pin workers not placed yet (the first ones, or one xdist restarted)."""
        working = self.working
        new = [w for w in workers if w not in self.placed]
        if not working or not new:
            return
        sizes = []
        for index in working:
            host = self.engines[index].host
            assert host is not None
            sizes.append((host.profile.ncpu, host.profile.memory))
        counts = [sum(1 for i in self.placed.values() if i == index) for index in working]
        for worker, slot in assign(new, weights(sizes), counts).items():
            self.placed[worker] = working[slot]

    def host_for(self, worker: str) -> DockerHost | None:
        if not self.spread_done:
            return None
        self.place([worker])
        index = self.placed.get(worker)
        return self.engines[index].host if index is not None else None

    def _claim(self, index: int, host: DockerHost, identity: RunIdentity) -> None:
        """The run's lease on another engine, its sweep of dead runs there, and its reaper;
        and the tunnel that forwards what its containers publish, where it is remote."""
        from . import tunnels
        from .ending import RunCleanup

        tunnels.follow(host, identity, close_unused=False)  # the others' tunnels stay
        if not (self.settings.reap.value and host.profile.policy.reaper):
            return
        if self._sidecars is not None and self._sidecars.claims(host):
            return  # the sidecars' outer engine: claimed (and reaped) by their claim
        cleanup = RunCleanup(last_resort=self.finish)
        self.cleanups[index] = cleanup
        cleanup.take(host, identity, lease=self.settings.lease.value, reap=True, now=True)

    def finish(self) -> None:
        """At the run's end: each other engine's leftovers removed by its own claim; then
        the pool's sidecars (after their reap) and their claim on the outer engine."""
        for index, cleanup in list(self.cleanups.items()):
            if cleanup.claim is None:
                continue
            cleanup.end(stop_start=_nothing, remove_sidecar=list, daemon_lost=False)
            cleanup.restore_signals()
            done = cleanup.reaped
            self.reaped[index] = {
                "swept": list(cleanup.swept),
                "removed": list(done.removed) if done else [],
                "failed": list(done.failed) if done else [],
                "notes": list(cleanup.notes),
            }
        if self._sidecars is not None:
            self._sidecars.finish()

    # --- what users see --------------------------------------------------------------

    def workers_of(self, index: int) -> list[str]:
        named = [w for w, i in self.placed.items() if i == index]
        return sorted(named, key=lambda w: (len(w), w))

    def header_lines(self) -> list[str]:
        source = self.settings.pool.source
        count = len(self.engines)
        lines: list[str] = []
        if self.spread_done:
            shown = []
            for index in self.working:
                host = self.engines[index].host
                assert host is not None
                capacity = say_.size(host.profile.ncpu, host.profile.memory)
                workers = self.workers_of(index)
                shown.append(say_.engine_workers(self.engines[index].shown, capacity, workers))
            lines.append(say_.assignment(count, source, shown))
        else:
            used = next((i for i, e in enumerate(self.engines) if e.host is not None), None)
            if used is not None:
                untried = [e.entry for e in self.engines if e.outcome == "not tried"]
                said = say_.sidecar_on_first if self.settings.mode.value == "sidecar" else None
                shown_url = self.engines[used].shown
                lines.append((said or say_.first_only)(count, source, shown_url, untried))
        for engine in self.engines:
            failure = engine.failure
            if engine.outcome == "left out" and failure is not None:
                lines.append(
                    say_.left_out(
                        engine.source,
                        engine.entry,
                        failure.detail,
                        failure.fix,
                        spread=self.spread_done,
                    )
                )
        return lines

    def report(self) -> dict[str, Any]:
        """The JSON report's ``pool`` section: each entry, its engine and its workers."""
        entries = []
        for index, engine in enumerate(self.engines):
            host, failure = engine.host, engine.failure
            entries.append(
                {
                    "entry": engine.entry,
                    "source": engine.source,
                    "outcome": engine.outcome,
                    "url": host.shown_url if host is not None else "",
                    "ncpu": host.profile.ncpu if host is not None else 0,
                    "memory": host.profile.memory if host is not None else 0,
                    "published_host": host.published_host if host is not None else "",
                    "workers": self.workers_of(index),
                    "detail": failure.detail if failure is not None and host is None else "",
                    "fix": failure.fix if failure is not None and host is None else "",
                    "cleanup": self.reaped.get(index),
                    "sidecar": engine.sidecar,
                }
            )
        return {
            "source": self.settings.pool.source,
            "spread": self.spread_done,
            "sidecars": self._sidecars.done if self._sidecars is not None else None,
            "entries": entries,
            "assignment": {
                worker: self.engines[index].entry for worker, index in sorted(self.placed.items())
            },
        }


def _nothing() -> None:
    return None


# --- what run/lifecycle.py and run/hooks.py call ----------------------------------------


def resolve_or_pool(settings: Settings, run: Run | None = None) -> tuple[Resolution, Pool | None]:
    """The run's resolution: of the pool's first engine that answers, when there is a pool
    (``run``: the lifecycle, whose identity and claim the pool's sidecars take)."""
    if not settings.pool.value:
        from ..discovery.resolution import resolve

        return resolve(settings), None
    pool = Pool(settings, run)
    return pool.first(), pool


def export_for(lifecycle: Run, worker: str) -> dict[str, Any]:
    """What one local worker adopts: the controller's export, with its own engine."""
    data = lifecycle.export()
    host = lifecycle.pool.host_for(worker) if lifecycle.pool is not None else None
    if host is not None:
        data["host"] = host.to_dict()
    return data


def handover(lifecycle: Run, specs: Sequence[Any]) -> dict[str, Any]:
    """The environment's handover to the local workers: with a pool spread over them, each
    worker's own (``pick`` takes it out); otherwise the one export they all adopt."""
    pool = lifecycle.pool
    if pool is None or not pool.spread_done:
        return lifecycle.export()
    from .gateways import is_local

    ids = [str(spec.id) for spec in specs if is_local(spec)]
    return {"pool": {worker: export_for(lifecycle, worker) for worker in ids}}


def pick(data: Mapping[str, Any], worker: str) -> dict[str, Any] | None:
    """In a worker: its own export from the handover; None for one the controller did not
    know then (restarted): it waits for ``config.workerinput``."""
    if "pool" not in data:
        return dict(data)
    mine = data["pool"].get(worker)
    return dict(mine) if isinstance(mine, dict) else None
