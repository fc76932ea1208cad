"""Many runs on one engine, under load (issue #23, item 3).

Eight pytest runs (``-n 2`` each, in folders of their own) share this machine's engine,
each starting and stopping a busybox service in every test with testcontainers or
docker-py, with and without the plugin's fixtures. They start one after another while
the earlier ones hold their services, so that every run's start-of-run sweep meets live
runs' containers. Two runs are killed with ``kill -9`` (controller and workers) while
their services run: one before the later runs start, so their sweeps meet its leftovers
beside live runs, and one after the last started. The six others pass; a ninth, plain run
follows. Then nothing of any run is left, the engine's events show no container ended
before its own run let go of it, and two bystanders survive: a container with no run's
labels, and one with a dead run's labels made by another tool (another owner).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from .load_suites import LOAD, TESTS_PER_RUN, Life, foreign_removals, lives, suite_files

pytestmark = pytest.mark.usefixtures("test_images")

LABEL = "org.pytest-dockerhost"
L_RUN = f"{LABEL}.run"
SESSION = "org.testcontainers.session-id"
BYSTANDER = "pytest-dockerhost-test.load-bystander"
RUN_TIMEOUT = 240.0

# (name, suite, killed): the order they start in. "late" is killed after the last started.
RUNS = (
    ("r1", "plain", ""),
    ("r2", "conftest-fixture", "early"),
    ("r3", "docker-host", ""),
    ("r4", "module-client", ""),
    ("r5", "plain", "late"),
    ("r6", "docker-client", ""),
    ("r7", "conftest-fixture", ""),
    ("r8", "plain", ""),
)


@dataclass
class LoadRun:
    """One pytest run in a folder of its own, in a process group of its own."""

    name: str
    folder: Path
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    output: str = ""
    identity: dict[str, str] = field(default_factory=dict)  # its marker volume's labels

    @property
    def records(self) -> Path:
        return Path(self.env["LOAD_RECORDS"])

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "dockerhost", "-n", "2", "-rA"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def recorded(self, event: str) -> list[dict[str, Any]]:
        if not self.records.exists():
            return []
        lines = self.records.read_text().splitlines()
        return [x for x in map(json.loads, lines) if x["event"] == event]

    def finish(self, timeout: float) -> str:
        assert self.proc is not None
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"run {self.name} hung:\n{self.output}") from None
        return self.output

    def kill(self) -> None:
        """kill -9 of the whole group (controller and workers), then reap them."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.output, _ = self.proc.communicate()


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def marker(engine: Any, run: LoadRun) -> dict[str, str]:
    """The run's record on the engine (its marker volume), found by its owner's pid."""
    assert run.proc is not None
    flt = {
        "label": [
            f"{LABEL}.role=run",
            f"{LABEL}.owner-pid={run.proc.pid}",
            f"{LABEL}.owner-host={socket.gethostname()}",
        ]
    }
    volumes = engine.api.volumes(filters=flt).get("Volumes") or []
    return dict(volumes[0]["Labels"]) if volumes else {}


def left_of(engine: Any, identity: dict[str, str], spared: str) -> list[str]:
    """Containers, volumes and networks carrying the run's id or its session, but for the
    container ``spared``."""
    api, found = engine.api, []
    for label in (f"{L_RUN}={identity[L_RUN]}", f"{SESSION}={identity[SESSION]}"):
        flt = {"label": label}
        containers = api.containers(all=True, filters=flt)
        found += [f"container {c['Id'][:12]}" for c in containers if c["Id"] != spared]
        found += [f"volume {v['Name']}" for v in api.volumes(filters=flt).get("Volumes") or []]
        found += [f"network {n['Name']}" for n in api.networks(filters=flt)]
    return sorted(set(found))


class EventLog:
    """The engine's container events carrying the LOAD label, as they happen: the engine
    replays only its last 256 events, fewer than these runs make beside other tests."""

    def __init__(self) -> None:
        import docker

        self.events: list[dict[str, Any]] = []
        self._client = docker.APIClient(base_url="unix:///var/run/docker.sock")
        flt = {"type": "container", "label": LOAD}
        self._stream = self._client.events(filters=flt, decode=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the stream closed under us: the end
            for event in self._stream:
                self.events.append(event)

    def close(self) -> None:
        self._stream.close()
        self._thread.join(10)
        self._client.close()


def settled(log: EventLog, prefix: str) -> dict[str, Life]:
    """The containers' lives once every one has its destroy event (the last ones may still
    be on their way), or as they are after 10 s."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: all(x.destroyed for x in lives(log.events, prefix).values()), 10, "")
    return lives(log.events, prefix)


def forget(engine: Any, identity: dict[str, str]) -> None:
    """Remove what a run left (nothing, when the test got through)."""
    from pytest_dockerhost.cleanup.janitor import remove_run
    from pytest_dockerhost.cleanup.reaper import MARKER_PREFIX, retire

    with contextlib.suppress(Exception):
        marker = MARKER_PREFIX + identity[L_RUN]
        retire(engine, identity[SESSION], marker, identity)
        remove_run(engine, identity[L_RUN])


def bystander(engine: Any, labels: dict[str, str]) -> str:
    api = engine.api
    made = api.create_container(BUSYBOX, labels=labels)
    api.start(made["Id"])
    return str(made["Id"])


@pytest.fixture
def tagged_load(engine: Any) -> Iterator[str]:
    """This test's value of the LOAD label; whatever carries it is removed afterwards."""
    test_id = uuid.uuid4().hex[:8]
    yield test_id
    for flt in ({"label": f"{BYSTANDER}={test_id}"}, {"label": LOAD}):
        for entry in engine.api.containers(all=True, filters=flt):
            if str((entry.get("Labels") or {}).get(LOAD, test_id)).startswith(test_id):
                with contextlib.suppress(Exception):
                    engine.api.remove_container(entry["Id"], force=True, v=True)


def test_eight_runs_two_killed_then_one_sweep_nothing_of_a_live_run_removed(
    tmp_path: Path, engine: Any, tagged_load: str
) -> None:
    from pytest_dockerhost.cleanup.ownership import Owner

    began = time.time()
    test_id, go = tagged_load, tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS",)}
    env.update(TESTCONTAINERS_RYUK_DISABLED="true", LOAD_GO=str(go))
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_TESTRUNUID", None)

    def load_run(name: str, suite: str) -> LoadRun:
        folder = tmp_path / name
        folder.mkdir()
        for file, text in suite_files(suite).items():
            (folder / file).write_text(text)
        records = str(tmp_path / f"{name}.jsonl")
        return LoadRun(
            name, folder, {**env, "LOAD_RUN": f"{test_id}-{name}", "LOAD_RECORDS": records}
        )

    runs = {name: load_run(name, suite) for name, suite, _ in RUNS}
    killed_at: dict[str, float] = {}
    log = EventLog()
    outsider = bystander(engine, {BYSTANDER: test_id})
    impostor = ""
    started = time.monotonic()
    try:
        for name, _, killed in RUNS:
            run = runs[name]
            run.start()
            # Held: every later run's start-of-run sweep meets these live containers.
            wait_for(lambda run=run: len(run.recorded("running")) >= 2, 90, f"{name}'s services")
            run.identity = wait_for(lambda run=run: marker(engine, run), 30, f"{name}'s marker")
            if killed == "early":
                killed_at[name] = time.time()
                run.kill()
                # What it leaves for the next runs' sweeps: its 2 services, record, lease.
                left = left_of(engine, run.identity, "")
                assert [x.split()[0] for x in left].count("container") == 2, left
                assert f"volume pytest-dockerhost-run-{run.identity[L_RUN]}" in left, left
                lease = f"volume pytest-dockerhost-lease-{run.identity[L_RUN]}-"
                assert any(x.startswith(lease) for x in left), left
                # Another tool's container under the dead run's labels, with an owner of
                # its own (this live process): no sweep may take it.
                tool = Owner.current(run.identity[L_RUN], None).labels("tool")
                labels = {**tool, SESSION: run.identity[SESSION], BYSTANDER: test_id}
                impostor = bystander(engine, labels)
        late = next(name for name, _, killed in RUNS if killed == "late")
        killed_at[late] = time.time()
        runs[late].kill()
        go.write_text("go")
        for name, _, killed in RUNS:
            if not killed:
                runs[name].finish(RUN_TIMEOUT)
        concurrent = time.monotonic() - started
        final = runs["r9"] = load_run("r9", "plain")
        final.start()
        final.identity = wait_for(lambda: marker(engine, final), 60, "r9's marker")
        final.finish(RUN_TIMEOUT)

        # The engine's events first: no container ended before its own run let go of it.
        containers = settled(log, f"{test_id}-")
        stopping = {r["id"]: r["t"] for run in runs.values() for r in run.recorded("stopping")}
        wrong = foreign_removals(containers, stopping, killed_at)
        assert not wrong, "\n".join(wrong)
        # Every run that was not killed passed, each test having reached its service twice.
        for name, run in runs.items():
            if name not in killed_at:
                assert run.proc is not None
                assert run.proc.returncode == 0, f"run {name}:\n{run.output}"
                assert f"{TESTS_PER_RUN} passed" in run.output, f"run {name}:\n{run.output}"
        # Nothing of any of the nine runs is left, and each made what it should have.
        for name, run in runs.items():
            left = left_of(engine, run.identity, impostor)
            assert not left, (name, left)
        assert all(life.destroyed for life in containers.values()), containers
        made = {name: sum(life.run == name for life in containers.values()) for name in runs}
        assert made == {name: 2 if name in killed_at else TESTS_PER_RUN for name in runs}
        # The bystanders are still there, running.
        for what, ident in (("no run's labels", outsider), ("another owner's", impostor)):
            assert engine.api.inspect_container(ident)["State"]["Running"], what
    finally:
        log.close()
        for run in runs.values():
            if run.proc is not None and run.proc.poll() is None:
                run.kill()
            if run.identity:  # a failure before the sweeps: what the killed runs left
                forget(engine, run.identity)
        for ident in (outsider, impostor):
            if ident:
                with contextlib.suppress(Exception):
                    engine.api.remove_container(ident, force=True, v=True)
    print(
        f"9 runs ({len(RUNS)} at once, 2 killed), {sum(made.values())} containers, "
        f"concurrent phase {concurrent:.1f} s, whole test {time.time() - began:.1f} s"
    )
