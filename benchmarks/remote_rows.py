"""Engines on another machine (issue #21, item 7): what the run's SSH tunnel costs a suite.

The remote is ``remote_host``'s: reached only through SSH, as CircleCI's remote engine or a
firewalled build host. Every pytest run here is the plugin's (``-p dockerhost``) as the
user whose ~/.ssh reaches the remote, with ``DOCKER_HOST=ssh://remote-docker``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import engine, harness, remote_host, remote_workloads
from benchmarks.harness import Plan, Result, alternate, ratio_at_least

if TYPE_CHECKING:
    from tests.remote.hosts import RemoteHost

FORWARD_TARGET = 0.05  # seconds, median
SMOKE_TESTS = 5  # the suite's tests in a smoke run: it only has to run


def _skipped(results: list[Result]) -> bool:
    reason = remote_host.unavailable()
    for result in results:
        result.skipped = reason
    return bool(reason)


@functools.cache
def _project(name: str, tests: int = 0) -> Path:
    """A throwaway project, kept for the whole benchmark run (removed at exit)."""
    labels = harness.labels()
    files = {
        "hold": lambda: remote_workloads.hold(engine.BUSYBOX_IMAGE, remote_host.SERVE, labels),
        "forward_ready": lambda: remote_workloads.forward_ready(engine.BUSYBOX_IMAGE, labels),
        "suite": lambda: remote_workloads.suite(engine.BUSYBOX_IMAGE, labels, tests),
    }[name]()
    stack = contextlib.ExitStack()
    harness.on_cleanup(stack.close)
    return stack.enter_context(harness.workspace(files))


def _failed(run: subprocess.Popen[bytes], what: str) -> RuntimeError:
    if run.poll() is None:  # stuck: its output ends only with it
        run.terminate()
        run.wait(30)
    out = run.stdout.read().decode(errors="replace") if run.stdout else ""
    return RuntimeError(f"{what} exited {run.returncode}:\n{out[-3000:]}")


# --- throughput -----------------------------------------------------------------------


def throughput_row(plan: Plan) -> Result:
    mib = remote_host.SERVICE_MIB
    result = Result(
        key="remote-throughput",
        title="a published service's throughput through the run's SSH tunnel",
        a_label="the port the plugin forwarded (pytest -p dockerhost, "
        "DOCKER_HOST=ssh://remote-docker)",
        b_label="ssh -N -L 127.0.0.1:Q:127.0.0.1:P remote-docker, by hand, kept open",
        measures=(
            f"MB/s (10^6 bytes) of one HTTP GET of {mib} MiB of random data from busybox httpd "
            "on the remote engine, published on the remote's loopback port P; the client here "
            "reads it through 127.0.0.1:P (the run's ControlMaster, which also carries the "
            "Engine API) or through a hand-made `ssh -L` on a free port Q (P is the plugin's "
            "while the run lasts); connection set-up included"
        ),
        target="ratio >= 0.9",
        unit="MB/s",
        check=ratio_at_least(0.9),
    )
    if _skipped([result]):
        return result
    remote = remote_host.host()
    try:
        _throughput(plan, remote, result)
    finally:
        remote_host.sweep_inner(remote)
    return result


def _throughput(plan: Plan, remote: RemoteHost, result: Result) -> None:
    root = _project("hold")
    with tempfile.TemporaryDirectory(prefix="pdh-bench-hold-") as hold:
        env = remote_host.env(remote, DOCKER_HOST=remote.ssh_url, PDH_BENCH_HOLD=hold)
        command = remote_host.pytest_command(remote, "-x")
        with remote_host.launched(command, env=env, cwd=root) as run:
            ready = Path(hold) / "ready.json"
            deadline = time.monotonic() + 120
            while not ready.exists():
                if run.poll() is not None or time.monotonic() > deadline:
                    raise _failed(run, "the holding pytest run")
                time.sleep(0.05)
            port = int(json.loads(ready.read_text())["port"])
            local = remote_host.free_port()
            with remote.forward(f"127.0.0.1:{local}", f"127.0.0.1:{port}"):
                alternate(
                    [
                        functools.partial(remote_host.download, port),
                        functools.partial(remote_host.download, local),
                    ],
                    [result.a, result.b],
                    reps=plan.reps(21),
                    warmup=plan.warmup,
                    progress="remote-throughput",
                )
            (Path(hold) / "done").touch()
            if run.wait(timeout=60) != 0:
                raise _failed(run, "the holding pytest run")


# --- time from a container's start to its forward ----------------------------------------


class _Watch:
    """When each port first listens on 127.0.0.1 here (time.time()), polled every 1 ms."""

    def __init__(self, ports: list[int]) -> None:
        self.pending = set(ports)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while self.pending and not self._stop.is_set():
            found = self.pending & remote_host.listening_ports()
            now = time.time()
            for port in found:
                self.seen[port] = now
            self.pending -= found
            time.sleep(0.001)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def forward_ready_row(plan: Plan) -> Result:
    result = Result(
        key="remote-forward-ready",
        title="a container's start to its forward listening here",
        a_label="the plugin's forward (follows the engine's start events)",
        b_label="-",
        measures=(
            "seconds from the remote engine's `start` event (its timeNano) to the published "
            "port listening on 127.0.0.1 here, seen from another process in the kernel's "
            "socket table every 1 ms (sock_diag, as `ss` reads it: no bind or connection of "
            "ours to race the forward); one pytest run starts one busybox container at a "
            "time with docker-py, each on a port of its own, removed (and its forward gone) "
            "before the next; the first is an untimed warm-up"
        ),
        target=f"median <= {FORWARD_TARGET * 1000:.0f} ms, none missing",
    )
    if _skipped([result]):
        return result
    remote = remote_host.host()
    try:
        _forward_ready(plan, remote, result)
    finally:
        remote_host.sweep_inner(remote)
    return result


def _forward_ready(plan: Plan, remote: RemoteHost, result: Result) -> None:
    ports = remote_host.free_ports(plan.reps(21) + 1)
    root = _project("forward_ready")
    with tempfile.NamedTemporaryFile(suffix=".json", prefix="pdh-bench-") as out:
        env = remote_host.env(
            remote,
            DOCKER_HOST=remote.ssh_url,
            PDH_BENCH_PORTS=json.dumps(ports),
            PDH_BENCH_OUT=out.name,
        )
        with _Watch(ports) as watch:
            harness.run(remote_host.pytest_command(remote, "-x"), env=env, cwd=root)
        samples = json.loads(Path(out.name).read_text())[1:]
    missing = []
    returned = []
    for sample in samples:
        started = sample["start_ns"] / 1e9
        returned.append(sample["returned"] - started)
        if sample["port"] in watch.seen:
            result.a.append(watch.seen[sample["port"]] - started)
        else:
            missing.append(sample["port"])
    result.extra["docker-py's start returned after the event (median)"] = _ms(returned)
    if missing:
        result.extra["ports never forwarded"] = ", ".join(map(str, missing))

    def check(res: Result) -> tuple[bool, str]:
        ok = res.a_median <= FORWARD_TARGET and not missing
        return ok, f"median {res.a_median * 1000:.1f} ms, {len(missing)} missing"

    result.check = check


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms" if values else "-"


# --- a testcontainers suite on the remote engine vs the local one ---------------------------

STEPS = ("startup", "collection", "first setup", "start", "first answer", "request", "stop")


def suite_row(plan: Plan) -> Result:
    count = SMOKE_TESTS if plan.smoke else remote_workloads.SUITE_TESTS
    result = Result(
        key="remote-suite",
        title=f"{count}-test testcontainers suite, remote engine vs local",
        a_label="pytest -p dockerhost, DOCKER_HOST=ssh://remote-docker",
        b_label="pytest -p dockerhost, this machine's engine (auto: the local socket)",
        measures=(
            f"wall time of a pytest run of {count} tests that each start busybox httpd with "
            "testcontainers' DockerContainer (no wait strategy, no plugin fixture), GET its "
            "page through get_container_host_ip()/get_exposed_port() until it answers, GET it "
            "once more and stop it; Ryuk off; both as the remote's user"
        ),
        target="- (reported)",
    )
    if _skipped([result]):
        return result
    remote = remote_host.host()
    steps: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    root = _project("suite", count)

    def sample(way: str) -> float:
        extra = {"DOCKER_HOST": remote.ssh_url} if way == "A" else {}
        with tempfile.NamedTemporaryFile(suffix=".json", prefix="pdh-bench-") as out:
            env = remote_host.env(remote, PDH_BENCH_OUT=out.name, **extra)
            launch = time.time()
            harness.run(remote_host.pytest_command(remote), env=env, cwd=root)
            ended = time.time()
            _ran_where_expected(remote, way == "A", launch, ended, count)
            steps[way].append(_suite_steps(json.loads(Path(out.name).read_text()), launch, ended))
        return ended - launch

    try:
        contenders = [functools.partial(sample, "A"), functools.partial(sample, "B")]
        for _ in range(plan.slow_warmup):
            for fn in contenders:
                fn()
        steps["A"].clear()
        steps["B"].clear()
        alternate(
            contenders, [result.a, result.b], reps=plan.reps(5), warmup=0, progress="remote-suite"
        )
    finally:
        remote_host.sweep_inner(remote)
    for way in ("A", "B"):
        result.extra[f"{way} steps"] = _summary(steps[way])
    return result


def _ran_where_expected(
    remote: RemoteHost, on_remote: bool, since: float, until: float, count: int
) -> None:
    """Each test's container started on the engine the way names, none on the other."""
    label = f"{harness.LABEL}={harness.RUN_ID}"
    done = remote.inner(
        *("events", "--since", f"{since:.6f}", "--until", f"{until:.6f}"),
        *("--filter", "event=start", "--filter", f"label={label}", "--format", "{{.ID}}"),
    )
    there = len(done.stdout.split())
    here = len(
        list(
            engine.client().events(
                since=since, until=until, filters={"event": "start", "label": label}, decode=True
            )
        )
    )
    want = (count, 0) if on_remote else (0, count)
    if (there, here) != want:
        raise RuntimeError(
            f"containers started on the remote / here: {there} / {here}, want {want[0]} / {want[1]}"
        )


def _suite_steps(times: dict[str, Any], launch: float, ended: float) -> dict[str, float]:
    """One run's time, by where it went (per-test steps: medians over its tests)."""
    tests = times["tests"]
    found = {
        "startup": times["sessionstart"] - launch,
        "collection": times["collection"],
        "first setup": times["first_setup"],
        "teardown": ended - times["tests_done"],
    }
    for step in ("start", "first answer", "request", "stop"):
        found[step] = statistics.median(t[step.replace(" ", "_")] for t in tests)
    found["per test"] = statistics.median(sum(t.values()) for t in tests)
    return found


def _summary(runs: list[dict[str, float]]) -> str:
    def median(step: str) -> str:
        value = statistics.median(run[step] for run in runs)
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"

    if not runs:
        return "-"
    head = f"startup {median('startup')} + collection (resolution) {median('collection')}"
    per_test = " + ".join(f"{step} {median(step)}" for step in STEPS[3:])
    return (
        f"{head}; first test's setup {median('first setup')}; per test {median('per test')} "
        f"= {per_test} (medians); teardown {median('teardown')}"
    )
