"""Rows that need ``--docker-mode=sidecar``; skipped, with the reason, when it is missing."""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import engine, harness, workloads
from benchmarks.harness import Result, alternate

if TYPE_CHECKING:
    from benchmarks.harness import Plan

L_ROLE = "org.pytest-dockerhost.role"
L_OWNER_PID = "org.pytest-dockerhost.owner-pid"
SIDECAR_ARGS = (
    "-p",
    "dockerhost",
    "--docker-mode=sidecar",
    f"--docker-sidecar-image={engine.DIND_IMAGE}",
    # --privileged fails on this engine (docker-on-ci.md section 3): the unprivileged profile.
    "--no-docker-sidecar-privileged",
)


def unavailable() -> str:
    """Why sidecar mode cannot be measured (an older checkout), or "" when it can."""
    if importlib.util.find_spec("pytest_dockerhost.sidecar") is None:
        return "pytest_dockerhost.sidecar does not exist yet"
    return ""


# --- running pytest with a sidecar ---------------------------------------------------------

_roots: dict[str, Path] = {}


def _root(name: str, files: dict[str, str]) -> Path:
    """A workspace kept for the whole benchmark run (removed at exit)."""
    if name not in _roots:
        stack = contextlib.ExitStack()
        _roots[name] = stack.enter_context(harness.workspace(files))
        harness.on_cleanup(stack.close)
    return _roots[name]


def _pytest(root: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    from benchmarks.harness import pytest_run

    return pytest_run(root, *args, env=env)


def _setup_seconds(timings: dict[str, Any]) -> float:
    """Getting the first test its endpoint: session start + end of collection + its setup."""
    return (
        float(timings["sessionstart"])
        + float(timings.get("collection_finish", 0.0))
        + float(timings["setup"])
    )


def launch_to_docker_sample(sidecar: bool) -> float:
    """From launching pytest to its first Docker test's setup done: in sidecar mode, or
    resolving the local socket (DooD), the same one-test project."""
    args = SIDECAR_ARGS if sidecar else ("-p", "dockerhost")
    return float(_cold_run(*args)["launch_to_docker"])


def _cold_run(*args: str) -> dict[str, Any]:
    root = _root("docker", workloads.docker_tests())
    return _pytest(root, *args, "-k", "test_docker_host")


def overlapped_wait_sample() -> float:
    """What the first Docker test's setup waits when collection takes 1.5 s first."""
    root = _root("slow-collection", workloads.slow_collection_tests(1.5))
    timings = _pytest(root, *SIDECAR_ARGS, "-k", "test_docker_host or test_plain")
    return float(timings["docker_setup"])


def sidecars_created(pid: int, since: float, until: float) -> int:
    """Sidecar containers created by the pytest process ``pid`` (from the engine's events)."""
    api = engine.client()
    events = api.events(
        since=int(since),
        until=int(until) + 1,
        filters={"type": "container", "event": "create", "label": f"{L_ROLE}=sidecar"},
        decode=True,
    )
    return sum(
        1
        for event in events
        if (event.get("Actor") or {}).get("Attributes", {}).get(L_OWNER_PID) == str(pid)
    )


# --- rows ---------------------------------------------------------------------------------


def reuse_row(plan: Plan) -> Result:
    result = Result(
        key="sidecar-reuse",
        title="sidecar warm reattach",
        a_label="--docker-sidecar-reuse, second run's setup",
        b_label="DooD resolution (auto), same setup measure",
        measures=(
            "seconds of session start + the first test's setup (docker_host) in a pytest "
            "subprocess: A reattaches to the sidecar a previous run kept, B resolves the local "
            "socket"
        ),
        target="<= 0.1 s and <= 3x",
    )

    def check(res: Result) -> tuple[bool, str]:
        ok = res.a_median <= 0.1 and res.ratio <= 3.0
        return ok, f"A {res.a_median * 1000:.0f} ms vs <= 100 ms; ratio {res.ratio:.2f} vs <= 3"

    result.check = check
    with tempfile.TemporaryDirectory(prefix="pdh-bench-cache-") as cache:
        env = harness.clean_env(XDG_CACHE_HOME=cache)  # the kept sidecar's client certs
        root = _root("docker", workloads.docker_tests())
        args = (*SIDECAR_ARGS, "--docker-sidecar-reuse", "-k", "test_docker_host")
        _pytest(root, *args, env=env)  # starts the sidecar and keeps it
        alternate(
            [
                lambda: _setup_seconds(_pytest(root, *args, env=env)),
                lambda: _setup_seconds(_pytest(root, "-p", "dockerhost", "-k", "test_docker_host")),
            ],
            [result.a, result.b],
            reps=plan.reps(9),
            warmup=plan.warmup,
        )
        engine.sweep()  # the kept sidecar, its volume
    return result


def xdist_row(plan: Plan) -> Result:
    count = 16
    result = Result(
        key="xdist",
        title="xdist -n 4 vs -n 1, one sidecar",
        a_label="pytest -n 4, sidecar",
        b_label="pytest -n 1, sidecar",
        measures=(
            f"wall time of a pytest subprocess with {count} tests that each run a busybox "
            "container in the sidecar (preloaded with --docker-preload); sidecars counted "
            "from the engine's create events labelled with the pytest process's pid"
        ),
        target="1 sidecar per run; ratio <= 1.15",
    )
    counts: list[int] = []

    def check(res: Result) -> tuple[bool, str]:
        ok = set(counts) == {1} and res.ratio <= 1.15
        return ok, f"sidecars per run {sorted(set(counts))}; ratio {res.ratio:.2f} vs <= 1.15"

    result.check = check
    files = workloads.xdist_tests(engine.BUSYBOX_IMAGE, harness.labels(), count)
    root = _root("xdist", files)
    preload = f"--docker-preload={engine.BUSYBOX_IMAGE}"

    def sample(workers: str) -> float:
        since = time.time()
        start = time.perf_counter()
        done = harness.run(
            [*_pytest_cmd(), *SIDECAR_ARGS, preload, "-n", workers],
            env=harness.clean_env(),
            cwd=root,
        )
        elapsed = time.perf_counter() - start
        counts.append(sidecars_created(done.pid, since, time.time()))  # type: ignore[attr-defined]
        return elapsed

    alternate(
        [lambda: sample("4"), lambda: sample("1")],
        [result.a, result.b],
        reps=plan.reps(4),
        warmup=plan.slow_warmup,
    )
    result.extra["sidecars per run"] = "/".join(str(c) for c in counts)
    return result


def _pytest_cmd() -> list[str]:
    from benchmarks.harness import pytest_cmd

    return pytest_cmd()


@contextlib.contextmanager
def _inner_daemon() -> Iterator[tuple[Any, dict[str, str]]]:
    """A ready dind (the floor recipe), as a resolved DockerHost and a CLI environment."""
    from pytest_dockerhost import Settings, resolve

    with tempfile.TemporaryDirectory(prefix="pdh-bench-certs-") as tmp:
        certs = engine.make_certs(Path(tmp))
        with engine.running_floor_dind(certs) as port:
            env = harness.clean_env(
                DOCKER_HOST=f"tcp://127.0.0.1:{port}",
                DOCKER_TLS_VERIFY="1",
                DOCKER_CERT_PATH=str(certs.client_dir),
            )
            host = resolve(Settings.from_sources({}, env, {}), env=env).require()
            yield host, env


def preload_row(plan: Plan) -> Result:
    from pytest_dockerhost.sidecar.preload import preload

    size = engine.ensure_big_image()
    mb = size / 1e6
    result = Result(
        key="preload",
        title=f"preload of a {mb:.0f} MB image",
        a_label="sidecar.preload() (what --docker-preload runs)",
        b_label="docker save IMG | DOCKER_HOST=<sidecar> docker load",
        measures=(
            f"MB/s copying {engine.BIG_IMAGE} (busybox + {engine.BIG_MB} MB of random data, "
            f"{mb:.0f} MB) from the outer engine into a ready dind over TLS; the image is "
            "removed inside between copies"
        ),
        target="throughput ratio >= 1.0; a second preload (image there) <= 0.1 s",
        unit="MB/s",
    )
    again: list[float] = []

    def check(res: Result) -> tuple[bool, str]:
        repeat = statistics.median(again) if again else float("inf")
        ok = res.ratio >= 1.0 and repeat <= 0.1
        res.extra["second preload, image there (median s)"] = f"{repeat:.3f}"
        return ok, f"ratio {res.ratio:.3f} vs >= 1.0; second preload {repeat * 1000:.0f} ms"

    result.check = check
    with _inner_daemon() as (host, inner_env):
        inner = host.client(timeout=600)
        outer = engine.client()

        def clear() -> None:
            with contextlib.suppress(Exception):
                inner.images.remove(engine.BIG_IMAGE, force=True)

        def ours() -> float:
            clear()
            start = time.perf_counter()
            copied = preload(outer, host, (engine.BIG_IMAGE,), source="benchmark", say=_quiet)
            elapsed = time.perf_counter() - start
            assert copied == [engine.BIG_IMAGE], copied
            return mb / elapsed

        def theirs() -> float:
            clear()
            outer_env = harness.clean_env()
            start = time.perf_counter()
            save = subprocess.Popen(
                ["docker", "save", engine.BIG_IMAGE], stdout=subprocess.PIPE, env=outer_env
            )
            load = subprocess.Popen(
                ["docker", "load", "-q"],
                stdin=save.stdout,
                stdout=subprocess.DEVNULL,
                env=inner_env,
            )
            assert save.stdout is not None
            save.stdout.close()
            if load.wait(timeout=300) or save.wait(timeout=300):
                raise RuntimeError("docker save | docker load failed")
            return mb / (time.perf_counter() - start)

        def ours_again() -> None:
            # The image is there from the copy just made: only the same-image check runs.
            start = time.perf_counter()
            copied = preload(outer, host, (engine.BIG_IMAGE,), source="benchmark", say=_quiet)
            again.append(time.perf_counter() - start)
            assert copied == [], copied

        try:
            alternate(
                [ours, theirs], [result.a, result.b], reps=plan.reps(5), warmup=plan.slow_warmup
            )
            ours()
            for _ in range(plan.reps(5)):
                ours_again()
        finally:
            inner.close()
    return result


def _quiet(_: str) -> None:
    pass


SKIPPED = {
    "sidecar-reuse": ("sidecar warm reattach", "<= 0.1 s and <= 3x DooD"),
    "xdist": ("xdist -n 4 vs -n 1, one sidecar", "1 sidecar; ratio <= 1.15"),
    "preload": ("preload of a ~50 MB image", "throughput ratio >= 1.0"),
}


def guarded(key: str, fn: Callable[[Plan], Result]) -> Callable[[Plan], Result]:
    """The row, or a skipped one that says why sidecar mode cannot be measured."""

    def row(plan: Plan) -> Result:
        reason = unavailable()
        if reason:
            title, target = SKIPPED[key]
            return Result(key, title, "-", "-", "", target, skipped=reason)
        return fn(plan)

    return row
