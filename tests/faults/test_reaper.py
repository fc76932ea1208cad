"""The run's own reaper, with Ryuk off as in every CI without a registry: what a run's
testcontainers code leaks is removed at its end, and what a kill -9'd run leaked is removed
by the next run, in DooD (the host's socket) and DinD (a TCP+TLS daemon) alike."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from ..integration.daemons import TLSDaemon, running_tls_daemon
from .conftest import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

SESSION = "org.testcontainers.session-id"
MARKER = "org.pytest-dockerhost.role=run"
# A suite that forgets to stop what it starts: a container, and a network.
LEAKS = f"""
import json
import os
import pathlib
import time

import docker
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network


def test_leaks(n=0):
    container = DockerContainer("{BUSYBOX}").with_command("sleep 300")
    container.start()  # never stopped
    network = Network()
    network.create()  # never removed
    labels = docker.from_env().containers.get(container.get_wrapped_container().id).labels
    record = {{"container": container.get_wrapped_container().id, "network": network.name,
              "session": labels["{SESSION}"], "pid": os.getpid()}}
    folder = pathlib.Path(os.environ["LEAK_DIR"])
    (folder / f"{{os.getpid()}}-{{time.monotonic_ns()}}.tmp").write_text(json.dumps(record))
    for tmp in folder.glob(f"{{os.getpid()}}-*.tmp"):
        tmp.rename(tmp.with_suffix(".json"))
    if os.environ.get("HANG"):
        time.sleep(300)
"""

# The same suite as four tests, for xdist runs.
FOUR_LEAKS = LEAKS.replace(
    "def test_leaks(n=0):",
    "import pytest\n\n\n@pytest.mark.parametrize('n', range(4))\ndef test_leaks(n):",
)


def _project(folder: Path, text: str = LEAKS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_leaks.py").write_text(text)
    return folder


def _env(base: dict[str, str], leaks: Path, **extra: str) -> dict[str, str]:
    leaks.mkdir(parents=True, exist_ok=True)
    return {**base, "LEAK_DIR": str(leaks), **extra}


def _run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _records(leaks: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(leaks.glob("*.json"))]


def _left(client: Any, session: str) -> dict[str, int]:
    flt = {"label": f"{SESSION}={session}"}
    return {
        "containers": len(client.api.containers(all=True, filters=flt)),
        "networks": len(client.api.networks(filters=flt)),
    }


def _cleanup_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dockerhost", "cleanup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def _remove_session(client: Any, session: str) -> None:
    from pytest_dockerhost.cleanup.reaper import reap

    reap(client, session)


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    for name in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)
    return env


def test_what_a_run_leaks_is_removed_at_its_end_and_named(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    leaks = tmp_path / "leaks"
    done = _run(_project(tmp_path / "proj"), _env(run_env, leaks), "-rA")
    assert done.returncode == 0, done.stdout + done.stderr
    ((record),) = _records(leaks)
    assert f"docker: removed 2 leftovers of this run ({SESSION}={record['session']})" in (
        done.stdout
    )
    assert _left(engine, record["session"]) == {"containers": 0, "networks": 0}
    marker = engine.api.volumes(filters={"label": f"{SESSION}={record['session']}"})
    assert not marker.get("Volumes"), marker  # the run's marker went too


def test_every_xdist_worker_labels_with_the_one_session_and_one_removal_takes_all(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    leaks = tmp_path / "leaks"
    text = FOUR_LEAKS
    done = _run(_project(tmp_path / "proj", text), _env(run_env, leaks), "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    records = _records(leaks)
    assert len(records) == 4
    assert len({r["pid"] for r in records}) == 2  # both workers leaked
    sessions = {r["session"] for r in records}
    assert len(sessions) == 1, sessions  # org.testcontainers.session-id is the run's
    (session,) = sessions
    assert "docker: removed 8 leftovers of this run" in done.stdout, done.stdout
    assert _left(engine, session) == {"containers": 0, "networks": 0}


def test_an_xdist_worker_killed_mid_run_loses_nothing_to_the_one_removal(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    """A worker dies hard after leaking: xdist replaces it, and the controller's one
    removal at the end still takes what the dead worker left, with the rest."""
    leaks = tmp_path / "leaks"
    hang = '    if os.environ.get("HANG"):'
    crash = "    if n == 1:\n        os.kill(os.getpid(), 9)  # a worker crash (OOM killer)\n"
    text = FOUR_LEAKS.replace(hang, crash + hang)
    done = _run(_project(tmp_path / "proj", text), _env(run_env, leaks), "-n", "2")
    assert done.returncode == 1, done.stdout + done.stderr  # the crashed test fails
    assert re.search(r"worker 'gw\d' crashed while running", done.stdout), done.stdout
    records = _records(leaks)
    assert len(records) == 4, records  # the crashed test leaked before it died
    (session,) = {r["session"] for r in records}
    assert done.stdout.count("leftovers of this run") == 1, done.stdout
    assert "docker: removed 8 leftovers of this run" in done.stdout, done.stdout
    assert _left(engine, session) == {"containers": 0, "networks": 0}


def test_without_the_reaper_the_leak_stays(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    leaks = tmp_path / "leaks"
    done = _run(_project(tmp_path / "proj"), _env(run_env, leaks), "--no-docker-reap")
    assert done.returncode == 0, done.stdout + done.stderr
    ((record),) = _records(leaks)
    try:
        assert _left(engine, record["session"]) == {"containers": 1, "networks": 1}
        assert "leftover" not in done.stdout
    finally:
        _remove_session(engine, record["session"])


@pytest.fixture
def dind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSDaemon]:
    with running_tls_daemon(tmp_path_factory.mktemp("reaper-dind")) as daemon:
        yield daemon


def _dind_client(daemon: TLSDaemon) -> Any:
    """A client for the TLS daemon, the plugin's way (it ignores REQUESTS_CA_BUNDLE)."""
    from pytest_dockerhost import Settings, resolve

    env = {
        "DOCKER_HOST": daemon.url,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(daemon.tls.folder),
    }
    host = resolve(Settings.from_sources(env=env)).host
    assert host is not None
    return host.client()


@pytest.mark.parametrize("where", ["dood", "dind"])
def test_kill9_runs_are_swept_by_the_next_run_and_a_live_one_is_not(
    where: str, tmp_path: Path, engine: Any, run_env: dict[str, str], request: Any
) -> None:
    kills = 10
    env = dict(run_env)
    client = engine
    if where == "dind":
        daemon: TLSDaemon = request.getfixturevalue("dind")
        env.update(
            DOCKER_HOST=daemon.url, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(daemon.tls.folder)
        )
        client = _dind_client(daemon)
        client.images.load(b"".join(engine.images.get(BUSYBOX).save(named=True)))
    project = _project(tmp_path / "proj")
    killed: list[dict[str, Any]] = []
    live_leaks = tmp_path / "live"
    live = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider"],
        cwd=project,
        env=_env(env, live_leaks, HANG="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sessions: list[str] = []
    try:
        (live_record,) = wait_for(lambda: _records(live_leaks), 60, "the live run's leak")
        for index in range(kills):
            leaks = tmp_path / f"killed-{index}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider"],
                cwd=project,
                env=_env(env, leaks, HANG="1"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                (record,) = wait_for(lambda leaks=leaks: _records(leaks), 60, "a leak")
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            killed.append(record)
            sessions.append(record["session"])
        assert len(set(sessions)) == kills
        # Each run sweeps, at its start, what the killed runs before it left: only the last
        # killed run's leak is still there.
        for session in sessions[:-1]:
            assert _left(client, session) == {"containers": 0, "networks": 0}, session
        assert _left(client, sessions[-1]) == {"containers": 1, "networks": 1}
        final = _run(project, _env(env, tmp_path / "final"))
        assert final.returncode == 0, final.stdout + final.stderr
        # Its container and network (its marker and lease go too, uncounted: bookkeeping).
        assert "docker: note: removed 2 leftovers of runs that were killed" in final.stdout, (
            final.stdout
        )
        for session in sessions:
            assert _left(client, session) == {"containers": 0, "networks": 0}, session
            markers = client.api.volumes(filters={"label": f"{SESSION}={session}"})
            assert not markers.get("Volumes"), markers
        # The live run lost nothing.
        assert _left(client, live_record["session"]) == {"containers": 1, "networks": 1}
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait(timeout=10)
        everything = [*sessions, *(r["session"] for r in _records(live_leaks))]
        for session in everything:
            _remove_session(client, session)
        for volume in client.api.volumes(filters={"label": MARKER}).get("Volumes") or []:
            if volume["Labels"].get(SESSION) in everything:
                client.api.remove_volume(volume["Name"], force=True)


def test_the_cleanup_command_sweeps_a_killed_runs_leak(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    leaks = tmp_path / "leaks"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider"],
        cwd=_project(tmp_path / "proj"),
        env=_env(run_env, leaks, HANG="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (record,) = wait_for(lambda: _records(leaks), 60, "a leak")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    try:
        assert _left(engine, record["session"]) == {"containers": 1, "networks": 1}
        done = _cleanup_command(run_env)
        assert f"removed container {record['container'][:12]}" in done.stdout, done.stdout
        assert f"removed network {record['network'][:12]}" in done.stdout, done.stdout
        assert _left(engine, record["session"]) == {"containers": 0, "networks": 0}
    finally:
        _remove_session(engine, record["session"])


COUNT = 20
# Enough leaked containers that their removal takes seconds: time for signals to land in it.
MANY = f"""
import os
import pathlib
import time

from testcontainers.core.container import DockerContainer


def test_many():
    for _ in range({COUNT}):
        DockerContainer("{BUSYBOX}").with_command("sleep 300").start()
    pathlib.Path(os.environ["LEAK_DIR"], "ready").write_text("1")
    time.sleep(300)
"""


class _Output:
    """A process's output, read on a thread, so that a test can wait for a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.text += line


@pytest.mark.parametrize("extra", [1, 2], ids=["second-signal-answered", "third-stops-it"])
def test_signals_during_the_end_of_run_cleanup_are_answered_not_obeyed_silently(
    extra: int, tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    leaks = tmp_path / "leaks"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider"],
        cwd=_project(tmp_path / "proj", MANY),
        env=_env(run_env, leaks),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = _Output(proc)
    session = ""
    try:
        wait_for((leaks / "ready").exists, 120, "the leaks")
        marker_filter = {"label": [MARKER, f"org.pytest-dockerhost.owner-pid={proc.pid}"]}
        (marker,) = engine.api.volumes(filters=marker_filter)["Volumes"]
        session = marker["Labels"][SESSION]
        assert _left(engine, session)["containers"] == COUNT
        proc.send_signal(signal.SIGINT)  # the first Ctrl-C: the run ends and cleans up
        wait_for(lambda: _left(engine, session)["containers"] < COUNT, 30, "the cleanup")
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: "still removing" in output.text, 10, "the answer to a second signal")
        if extra == 2:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        time.sleep(0.2)  # the reader's last lines
        text = output.text
        assert (
            "pytest-dockerhost: still removing what this run created; signal again to stop "
            "now (`python -m pytest_dockerhost cleanup` removes the rest later)"
        ) in text, text
        if extra == 1:
            assert f"docker: removed {COUNT} leftovers of this run" in text, text
            assert _left(engine, session) == {"containers": 0, "networks": 0}
        else:
            assert (
                "docker: warning: could not remove the rest of this run's containers, networks "
                "and volumes (cleanup stopped by SIGINT)"
            ) in text, text
            assert "docker: warning: remove them with `python -m pytest_dockerhost cleanup`" in (
                text
            )
            assert 0 < _left(engine, session)["containers"] < COUNT, text
            done = _cleanup_command(run_env)
            assert _left(engine, session) == {"containers": 0, "networks": 0}, done.stdout
        assert "Traceback" not in text, text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if session:
            _remove_session(engine, session)
