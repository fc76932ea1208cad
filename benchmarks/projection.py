"""A capacity projection (issue #23, item 5): 16 workers on a pool of 4 engines against the
same 16 workers on one engine. A projection, not a measurement: no 4 engines exist here.

What is measured, on this machine's engine: the cost of one test container's life
(create, start, remove) with 1 and with 2 in flight, interleaved. From them the engine's
parallelism (how many lives it serves at full speed at once) follows. A small
discrete-event simulation then runs the same suite, each test one container life plus its
body, with processor sharing on each engine: 16 workers on 1 engine, and 4 workers on
each of 4 engines of this one's kind. Each measured pair gives one projection, so the
spread of the measurements is the spread of the projection.

Left out, and said in the README: the workers' own CPU (they run elsewhere, on the
controller's machine), the network between workers and remote engines, and image pulls.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import engine, harness
from benchmarks.harness import Plan, Result, alternate

WORKERS = 16
ENGINES = 4
TESTS = 160  # ten per worker
BODY = 0.05  # seconds of a test's own work beside its container (an HTTP fetch or two)
LIVES = 6  # container lives per sample and thread


def _lives(count: int, threads: int) -> float:
    """Seconds per container life with ``threads`` lives in flight at once."""
    client = engine.client()
    labels = harness.labels(row="pool-projection")

    def one_thread() -> None:
        for _ in range(count):
            container = client.containers.create(
                engine.BUSYBOX_IMAGE, ["sleep", "30"], labels=labels
            )
            container.start()
            container.remove(force=True)

    began = time.perf_counter()
    workers = [threading.Thread(target=one_thread) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - began) / (count * threads)


@dataclass(frozen=True)
class EngineModel:
    """A life's cost alone (seconds) and how many lives the engine serves at full speed."""

    life: float
    parallel: float

    @classmethod
    def measured(cls, alone: float, paired: float) -> EngineModel:
        # Two in flight, each taking ``paired`` per life of the pair's throughput:
        # 2 * alone / (2 * paired) lives at full speed, between 1 (serial) and 2.
        return cls(alone, min(2.0, max(1.0, alone / paired)))


def simulate(model: EngineModel, *, workers: int, engines: int, tests: int, body: float) -> float:
    """The suite's wall time: workers pinned round-robin to engines, tests handed out as
    workers free up; a container life progresses at ``min(1, parallel / in flight)``."""
    per_worker = [tests // workers + (1 if i < tests % workers else 0) for i in range(workers)]
    engine_of = [i % engines for i in range(workers)]
    left = list(per_worker)
    # A worker is in its body until ``body_until`` or in a container life with work left.
    work = [0.0] * workers
    body_until = [0.0] * workers
    now, step = 0.0, model.life / 200
    for i in range(workers):
        if left[i]:
            work[i] = model.life
    while any(left):
        in_flight = [0] * engines
        for i in range(workers):
            if left[i] and work[i] > 0:
                in_flight[engine_of[i]] += 1
        now += step
        for i in range(workers):
            if not left[i]:
                continue
            if work[i] > 0:
                rate = min(1.0, model.parallel / in_flight[engine_of[i]])
                work[i] -= step * rate
                if work[i] <= 0:
                    body_until[i] = now + body
            elif now >= body_until[i]:
                left[i] -= 1
                if left[i]:
                    work[i] = model.life
    return now


def projection_row(plan: Plan) -> Result:
    result = Result(
        key="pool-projection",
        title=f"pool of {ENGINES} engines, {WORKERS} workers (projection)",
        a_label=f"{ENGINES} engines",
        b_label="1 engine",
        measures=(
            f"PROJECTED wall time of a {TESTS}-test suite (each test one container life + "
            f"{BODY}s) at {WORKERS} workers, by a discrete-event simulation fed with this "
            "engine's measured container life with 1 and 2 in flight; one projection per "
            "measured pair"
        ),
        target="none: a projection",
    )
    alone: list[float] = []
    paired: list[float] = []
    count = 2 if plan.smoke else LIVES
    alternate(
        [lambda: _lives(count, 1), lambda: _lives(count, 2)],
        [alone, paired],
        reps=plan.reps(7),
        warmup=plan.warmup,
        progress="pool-projection",
    )
    for one, two in zip(alone, paired, strict=True):
        model = EngineModel.measured(one, two)
        result.a.append(_project(model, ENGINES))
        result.b.append(_project(model, 1))
    models = [EngineModel.measured(a, b) for a, b in zip(alone, paired, strict=True)]
    result.extra = {
        "life_alone_s": _median(alone),
        "life_paired_s": _median(paired),
        "parallelism": _median([m.parallel for m in models]),
        "speedup": result.b_median / result.a_median if result.a else float("nan"),
    }
    return result


def _project(model: EngineModel, engines: int) -> float:
    return simulate(model, workers=WORKERS, engines=engines, tests=TESTS, body=BODY)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
