"""Many runs on one engine (issue #23, item 3): the concurrent-runs load's wall time
against the same runs one after another.

Eight pytest runs (``-p dockerhost -n 2``), each in a throwaway project of its own with
``workloads.tc_workload``'s suite (each test starts busybox httpd with testcontainers'
``DockerContainer``, waits for its first HTTP answer on the mapped port and stops it; no
plugin fixture). A: all eight launched at once, timed from the launch to the last one's
end. B: the same eight, one after another. Interleaved (A B, B A, ...). Each run must
pass; each reaps its own containers at its end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import threading
from pathlib import Path

from benchmarks import engine, harness, workloads
from benchmarks.harness import Plan, Result, alternate, pytest_cmd

RUNS = 8
TESTS = 4  # per run
ARGS = ("-p", "dockerhost", "-n", "2")
TIMEOUT = 300.0


def _one(root: Path, env: dict[str, str]) -> None:
    harness.run(pytest_cmd(*ARGS), env=env, cwd=root, timeout=TIMEOUT)


def _together(roots: list[Path], env: dict[str, str]) -> None:
    """All runs at once, each on a thread of its own (a run's process does the work)."""
    failures: list[BaseException] = []

    def one(root: Path) -> None:
        try:
            _one(root, env)
        except BaseException as exc:  # a failed run fails the row, after the others end
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(root,)) for root in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _in_turn(roots: list[Path], env: dict[str, str]) -> None:
    for root in roots:
        _one(root, env)


def concurrent_runs_row(plan: Plan) -> Result:
    result = Result(
        key="concurrent-runs",
        title=f"{RUNS} runs on one engine at once vs one after another",
        a_label=f"{RUNS} x pytest {' '.join(ARGS)}, launched together",
        b_label="the same runs, one after another",
        measures=(
            f"wall time of {RUNS} pytest runs (-n 2 each, a project each) whose {TESTS} tests "
            "each start busybox httpd with testcontainers' DockerContainer, wait for its "
            "first HTTP answer and stop it; A from launching all to the last one's end"
        ),
        target="-",
    )
    for module in ("xdist", "testcontainers"):
        if importlib.util.find_spec(module) is None:
            result.skipped = f"{module} is not installed"
            return result
    env = harness.clean_env()
    files = workloads.tc_workload(engine.BUSYBOX_IMAGE, harness.labels(), TESTS)
    with contextlib.ExitStack() as stack:
        roots = [stack.enter_context(harness.workspace(files)) for _ in range(RUNS)]
        alternate(
            [lambda: _together(roots, env), lambda: _in_turn(roots, env)],
            [result.a, result.b],
            reps=plan.reps(4),
            warmup=plan.slow_warmup,
            progress="concurrent-runs",
        )
    if result.a and result.b:
        pairs = [a / b for a, b in zip(result.a, result.b, strict=True)]
        result.extra["ratio per pair"] = (
            f"median {statistics.median(pairs):.2f}, {harness.spread(pairs)}"
        )
        result.extra["containers per side and rep"] = str(RUNS * TESTS)
    return result
