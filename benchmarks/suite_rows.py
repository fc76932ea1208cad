"""Time to first test for a realistic suite (issue #13, item 5).

The suite of ``suite_workloads``: 20 tests, a session fixture that starts two busybox
httpd services with testcontainers, ``-n 2``, no plugin fixture anywhere. Three ways to
run it, interleaved:

- A: the plugin's sidecar (``--docker-mode=sidecar`` with ``--docker-preload`` of busybox);
- B: the plugin in DooD (services on the host's engine);
- C: the hand-rolled dind of teams without the plugin (``-p no:dockerhost``).

Time to first test: from just before the pytest process is launched to the start of the
first test's call phase, in whichever worker gets there first (``time.time()`` stamps
that every process's conftest writes; see ``suite_workloads``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import engine, harness, sidecar_rows, suite_workloads
from benchmarks.harness import Result, alternate, ratio_at_most

if TYPE_CHECKING:
    from benchmarks.harness import Plan

WORKERS = "2"
TIMEOUT = 300.0

# The steps of the first test's way, in order; their sum is the time to first test.
STEPS = ("session", "workers", "endpoint", "load", "services", "call")


@dataclass
class Sample:
    first_test: float  # seconds from launch to the first test's call
    steps: dict[str, float]
    conftest: float  # the controller's conftest imports (with the plugin: where it resolves)
    wall: float  # the whole pytest run, teardown included
    worker: str


@dataclass
class Way:
    key: str
    args: tuple[str, ...]
    root: Path
    samples: list[Sample] = field(default_factory=list)
    sidecars: list[int] = field(default_factory=list)  # per run (A only)
    leftovers: list[int] = field(default_factory=list)  # per run: what the run left behind


def unavailable() -> str:
    """Why the row cannot run here, or ""."""
    reason = sidecar_rows.unavailable()
    if reason:
        return reason
    for module, what in (
        ("xdist", "pytest-xdist"),
        ("testcontainers", "testcontainers"),
        ("filelock", "filelock"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed"
    return ""


def _stamps(folder: Path) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The controller's stamps, and each worker's by its id."""
    controller: dict[str, float] = {}
    workers: dict[str, dict[str, float]] = {}
    for path in sorted(folder.glob("*.json")):
        role = path.name.split("-", 1)[0]
        data = json.loads(path.read_text())
        if role == "controller":
            controller = data
        else:
            workers[role] = data
    return controller, workers


def breakdown(
    launch: float, controller: dict[str, float], workers: dict[str, dict[str, float]]
) -> tuple[float, dict[str, float], str]:
    """(time to first test, its steps, the worker that ran it) from one run's stamps."""
    ran = {name: stamps for name, stamps in workers.items() if "call" in stamps}
    if not ran or "sessionstart" not in controller:
        raise RuntimeError(
            f"no first test recorded: controller {sorted(controller)}, workers {sorted(workers)}"
        )
    name = min(ran, key=lambda worker: ran[worker]["call"])
    first = ran[name]
    points = [("session", controller["sessionstart"]), ("workers", first["sessionstart"])]
    if "dind_answers" in first:  # the hand-rolled way
        points += [("endpoint", first["dind_answers"]), ("load", first["dind_loaded"])]
    else:
        points.append(("endpoint", first["setup_hook"]))
    points += [("services", first["services_up"]), ("call", first["call"])]
    steps: dict[str, float] = {}
    before = launch
    for step, stamp in points:
        steps[step] = stamp - before
        before = stamp
    return first["call"] - launch, steps, name


def _leftovers(pid: int) -> int:
    """What the run left on the host's engine (removed here, so runs stay independent)."""
    api = engine.client()
    ours = {"label": f"{harness.LABEL}={harness.RUN_ID}"}
    plugin = {"label": f"{sidecar_rows.L_OWNER_PID}={pid}"}
    found = [
        *api.containers.list(all=True, filters=ours),
        *api.containers.list(all=True, filters=plugin),
        *api.volumes.list(filters=ours),
        *api.volumes.list(filters=plugin),
    ]
    if found:
        engine.sweep()
    return len(found)


def _measure(way: Way) -> float:
    from benchmarks.harness import pytest_cmd

    with tempfile.TemporaryDirectory(prefix="pdh-bench-stamps-") as folder:
        env = harness.clean_env(PDH_BENCH_DIR=folder)
        launch = time.time()
        done = harness.run(pytest_cmd(*way.args), env=env, cwd=way.root, timeout=TIMEOUT)
        ended = time.time()
        controller, workers = _stamps(Path(folder))
    pid: int = done.pid  # type: ignore[attr-defined]
    first, steps, worker = breakdown(launch, controller, workers)
    conftest = controller.get("conftest_done", 0.0) - controller.get("conftest_start", 0.0)
    way.samples.append(Sample(first, steps, conftest, ended - launch, worker))
    if way.key == "A":
        way.sidecars.append(sidecar_rows.sidecars_created(pid, launch, ended))
    way.leftovers.append(_leftovers(pid))
    return first


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def summary(way: Way) -> str:
    """Median of each step over the runs (medians need not add up to the median total)."""
    parts = []
    for step in STEPS:
        values = [s.steps[step] for s in way.samples if step in s.steps]
        if not values:
            continue
        text = f"{step} {_seconds(_median(values))}"
        if step == "session":
            text += f" (conftest import {_seconds(_median([s.conftest for s in way.samples]))})"
        parts.append(text)
    wall = _median([s.wall for s in way.samples])
    return " + ".join(parts) + f"; whole run {_seconds(wall)}"


def suite_row(plan: Plan) -> list[Result]:
    count = suite_workloads.TESTS
    measures = (
        f"seconds from launching `pytest -n {WORKERS}` to the first test's call phase (first "
        f"worker to get there), for {count} tests that share a session fixture starting two "
        "busybox httpd services with testcontainers, each waited for on its mapped port; no "
        "test uses a plugin fixture; Ryuk off"
    )
    vs_hand = Result(
        key="suite-vs-hand-rolled",
        title=f"time to first test, {count}-test suite, -n {WORKERS}: vs hand-rolled dind",
        a_label="--docker-mode=sidecar --docker-preload=busybox (unprivileged sidecar)",
        b_label="-p no:dockerhost; conftest runs dind (filelock), copies certs, "
        "save | load, sets DOCKER_HOST",
        measures=measures
        + "; B: same dind image and unprivileged profile, DOCKER_TLS_CERTDIR=/certs (the "
        "entrypoint makes RSA keys), one dind for both workers under a FileLock in the "
        "basetemp's parent, services addressed at the dind's bridge IP",
        target="ratio <= 0.5",
        check=ratio_at_most(0.5),
    )
    vs_dood = Result(
        key="suite-vs-dood",
        title=f"time to first test, {count}-test suite, -n {WORKERS}: vs DooD",
        a_label="sidecar, as above",
        b_label="-p dockerhost (DooD: services on the host's engine)",
        measures=measures + "; B: the plugin resolves the local socket",
        target="- (reported)",
    )
    reason = unavailable()
    if reason:
        vs_hand.skipped = vs_dood.skipped = reason
        return [vs_hand, vs_dood]

    labels = harness.labels()
    plugin_files = suite_workloads.plugin_suite(engine.BUSYBOX_IMAGE, labels)
    hand_files = suite_workloads.hand_rolled_suite(
        engine.BUSYBOX_IMAGE, engine.DIND_IMAGE, labels, engine.unprivileged_profile()
    )
    with harness.workspace(plugin_files) as plugin_root, harness.workspace(hand_files) as hand_root:
        preload = f"--docker-preload={engine.BUSYBOX_IMAGE}"
        ways = [
            Way("A", (*sidecar_rows.SIDECAR_ARGS, preload, "-n", WORKERS), plugin_root),
            Way("B", ("-p", "dockerhost", "-n", WORKERS), plugin_root),
            Way("C", ("-p", "no:dockerhost", "-n", WORKERS), hand_root),
        ]
        contenders: list[Callable[[], float | None]] = [
            functools.partial(_measure, w) for w in ways
        ]
        for _ in range(plan.slow_warmup):  # untimed, and not kept
            for fn in contenders:
                fn()
        warmup_left = [sum(way.leftovers) for way in ways]
        for way in ways:
            way.samples.clear()
            way.sidecars.clear()
            way.leftovers.clear()
        alternate(
            contenders,
            [vs_hand.a, vs_dood.b, vs_hand.b],
            reps=plan.reps(7),
            warmup=0,
            progress="suite",
        )
    vs_dood.a = list(vs_hand.a)
    _report(vs_hand, vs_dood, ways, warmup_left)
    return [vs_hand, vs_dood]


def _report(vs_hand: Result, vs_dood: Result, ways: list[Way], warmup_left: list[int]) -> None:
    a, b, c = ways
    vs_hand.extra["A/B (DooD)"] = f"{vs_dood.ratio:.2f}"
    vs_hand.extra["A steps"] = summary(a)
    vs_hand.extra["C steps"] = summary(c)
    vs_hand.extra["sidecars per run (A)"] = "/".join(str(n) for n in a.sidecars)
    vs_dood.extra["B steps"] = summary(b)
    left = {way.key: sum(way.leftovers) for way in (a, b, c) if sum(way.leftovers)}
    if left or any(warmup_left):
        vs_hand.extra["left behind (removed)"] = f"{left}, warm-up {warmup_left}"
    for way in (a, b, c):  # each run, for the notes
        for n, sample in enumerate(way.samples, 1):
            steps = " + ".join(f"{k} {_seconds(v)}" for k, v in sample.steps.items())
            print(
                f"  suite {way.key}#{n}: first test {_seconds(sample.first_test)} on "
                f"{sample.worker} = {steps}; controller conftest {_seconds(sample.conftest)}; "
                f"run {_seconds(sample.wall)}",
                file=sys.stderr,
                flush=True,
            )
