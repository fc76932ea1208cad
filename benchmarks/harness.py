"""Timing, alternation, results and cleanup shared by every benchmark row."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABEL = "org.pytest-dockerhost.benchmark"  # value: this run's id
LABEL_PID = "org.pytest-dockerhost.benchmark.pid"
CACHE_LABEL = "org.pytest-dockerhost.benchmark-cache"  # images kept between runs, by tag
RUN_ID = uuid.uuid4().hex[:12]
REPO = Path(__file__).resolve().parent.parent
PYCACHE = Path(tempfile.gettempdir()) / "pytest-dockerhost-bench-pycache"

# Variables that would steer the plugin, docker-py or testcontainers away from plain
# auto-discovery of the local socket; every measured process starts without them.
_STEERING = (
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "TESTCONTAINERS_HOST_OVERRIDE",
    "TC_HOST",
    "TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE",
    "TESTCONTAINERS_CONNECTION_MODE",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
)


def labels(**extra: str) -> dict[str, str]:
    """Labels for everything this run creates, so that cleanup finds exactly that."""
    return {LABEL: RUN_ID, LABEL_PID: str(os.getpid()), **extra}


def clean_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _STEERING and not k.startswith("PYTEST_DOCKER")
    }
    env["TESTCONTAINERS_RYUK_DISABLED"] = "true"  # no registry: Ryuk cannot be pulled
    # Users' installed packages have bytecode; an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would be compiled from source at every start. Cache all
    # bytecode of measured processes in one place outside the repo (filled by the warm-up).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(overrides)
    return env


# --- results -------------------------------------------------------------------------


@dataclass
class Result:
    """One row of the table: medians of A and B, and whether the target holds."""

    key: str
    title: str
    a_label: str
    b_label: str
    measures: str
    target: str
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    unit: str = "s"  # "s": lower is better; "MB/s": higher is better
    extra: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Result], tuple[bool, str]] | None = None
    skipped: str = ""
    error: str = ""
    seconds: float = 0.0

    @property
    def a_median(self) -> float:
        return statistics.median(self.a) if self.a else float("nan")

    @property
    def b_median(self) -> float:
        return statistics.median(self.b) if self.b else float("nan")

    @property
    def ratio(self) -> float:
        if not self.a or not self.b or self.b_median == 0:
            return float("nan")
        return self.a_median / self.b_median

    def verdict(self) -> tuple[str, str]:
        """("pass" | "MISS" | "skip" | "ERROR", why)."""
        if self.error:
            return "ERROR", self.error
        if self.skipped:
            return "skip", self.skipped
        if self.check is None:
            return "-", ""
        ok, why = self.check(self)
        return ("pass" if ok else "MISS"), why


def ratio_at_most(limit: float) -> Callable[[Result], tuple[bool, str]]:
    def check(result: Result) -> tuple[bool, str]:
        return result.ratio <= limit, f"ratio {result.ratio:.3f} vs <= {limit}"

    return check


def ratio_at_least(limit: float) -> Callable[[Result], tuple[bool, str]]:
    def check(result: Result) -> tuple[bool, str]:
        return result.ratio >= limit, f"ratio {result.ratio:.3f} vs >= {limit}"

    return check


def spread(values: Sequence[float]) -> str:
    """min-max of the samples, to show how stable a median is."""
    if not values:
        return "-"
    return f"{min(values):.3g}-{max(values):.3g}"


# --- alternation ---------------------------------------------------------------------

Sample = Callable[[], float | None]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _measure(fn: Sample) -> float:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start if value is None else value


def alternate(
    contenders: Sequence[Sample],
    results: Sequence[list[float]],
    *,
    reps: int,
    warmup: int = 1,
    progress: str = "",
) -> None:
    """Run the contenders interleaved, ABC CBA ABC ..., so that drift and order cancel.

    A contender returns the seconds it measured itself (to leave out its own setup
    and teardown), or None to be timed as a whole.
    """
    for _ in range(warmup):
        for fn in contenders:
            _measure(fn)
    for rep in range(reps):
        order = list(range(len(contenders)))
        if rep % 2:
            order.reverse()
        for index in order:
            results[index].append(_measure(contenders[index]))
        if progress:
            print(f"  {progress} {rep + 1}/{reps}", file=sys.stderr, flush=True)


# --- subprocesses --------------------------------------------------------------------


CHILD_PIDS: set[int] = set()  # processes we started: the plugin labels sidecars with them


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[bytes]:
    with subprocess.Popen(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        CHILD_PIDS.add(proc.pid)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            proc.terminate()  # Ctrl-C or timeout: let it clean up its own sidecar
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    done = subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)
    done.pid = proc.pid  # type: ignore[attr-defined]
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}:\n"
            + out.decode(errors="replace")[-3000:]
            + err.decode(errors="replace")[-3000:]
        )
    return done


@contextlib.contextmanager
def workspace(files: Mapping[str, str]) -> Iterator[Path]:
    """A throwaway rootdir with its own pytest.ini, so the repo's addopts do not apply."""
    with tempfile.TemporaryDirectory(prefix="pdh-bench-") as tmp:
        root = Path(tmp)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        yield root


# --- cleanup -------------------------------------------------------------------------

_cleanups: list[Callable[[], None]] = []
_installed: list[bool] = []


def on_cleanup(fn: Callable[[], None]) -> None:
    _cleanups.append(fn)


def cleanup() -> None:
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # cleanup must go on
            print(f"cleanup: {exc}", file=sys.stderr)


def install_cleanup() -> None:
    """Remove what this run created at exit, on Ctrl-C and on SIGTERM/SIGHUP."""
    if _installed:
        return
    _installed.append(True)
    atexit.register(cleanup)

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


@dataclass(frozen=True)
class Plan:
    smoke: bool

    def reps(self, full: int) -> int:
        return 1 if self.smoke else full

    @property
    def warmup(self) -> int:
        # Even in a smoke run: the first run of a command fills the bytecode cache.
        return 1

    @property
    def slow_warmup(self) -> int:
        """For rows whose runs take seconds: no warm-up in a smoke run."""
        return 0 if self.smoke else 1


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", *args]


def pytest_run(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> dict[str, Any]:
    """Run pytest in ``root``; return the timings the workload's conftest recorded."""
    with tempfile.NamedTemporaryFile(suffix=".json", prefix="pdh-bench-") as out:
        run_env = env or clean_env()
        run_env = {**run_env, "PDH_BENCH_OUT": out.name, "PDH_BENCH_LAUNCH": repr(time.time())}
        run(pytest_cmd(*args), env=run_env, cwd=root, timeout=timeout)
        text = Path(out.name).read_text()
        return json.loads(text) if text.strip() else {}
