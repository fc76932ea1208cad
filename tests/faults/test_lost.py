"""The sidecar, or the daemon that hosts it, disappears mid-session: the running test and the
remaining Docker tests fail fast with one clear explanation, and pytest ends."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..conftest import DIND
from ..integration.daemons import TLSDaemon, make_tls_material
from .conftest import Run, labelled, no_traceback, project, remove_run_now, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

TESTS = """
import pathlib
import time


def test_first(docker_host, docker_client):
    assert docker_client.ping()
    sidecar = docker_host.sidecar
    pathlib.Path("ids").write_text(sidecar.run_id + " " + sidecar.container_id)
    for _ in range(1200):
        if pathlib.Path("gone").exists():
            break
        time.sleep(0.05)
    docker_client.ping()


def test_second(docker_client):
    docker_client.ping()


def test_third(docker_host):
    pass


def test_without_docker():
    pass
"""


def _lose_mid_session(
    folder: Path, env: dict[str, str], lose: Callable[[str], None]
) -> tuple[str, str, str, float]:
    """Run TESTS; once test_first holds a working sidecar, ``lose(sidecar_id)``. Returns
    (output, run id, sidecar id, seconds from the loss to the end of pytest)."""
    project(folder, {"test_lost.py": TESTS})
    with Run(folder, env, "-v") as run:
        ids = wait_for(
            lambda: (folder / "ids").exists() and (folder / "ids").read_text(), 90, "a sidecar"
        )
        run_id, sidecar_id = ids.split()
        try:
            lose(sidecar_id)
            (folder / "gone").write_text("1")
            lost_at = time.monotonic()
            output = run.finish(timeout=60)
            return output, run_id, sidecar_id, time.monotonic() - lost_at
        except BaseException:
            print(run.output)
            raise


def _outcomes(output: str) -> None:
    assert run_ret_line(output) == {"failed": 1, "passed": 1, "errors": 2}, output
    # Named once in full under the running test, then repeated by each later Docker test.
    assert output.count("stopped answering during the session") >= 3, output
    # The failing test's message is the diagnosis; the client's traceback is one line.
    failures = output.split("= FAILURES =", maxsplit=1)[1]
    assert "  original error: " in failures, output
    assert "site-packages" not in failures, output
    no_traceback(output.split("= FAILURES =", maxsplit=1)[0])


def run_ret_line(output: str) -> dict[str, int]:
    last = output.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (failed|passed|errors?)", last)}
    if "error" in counts:
        counts["errors"] = counts.pop("error")
    return counts


def test_the_sidecar_killed_mid_session_is_named_with_its_state_and_logs(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    run_id = ""
    try:
        output, run_id, sidecar_id, elapsed = _lose_mid_session(
            tmp_path / "proj", run_env, lambda ident: engine.api.kill(ident, signal="SIGKILL")
        )
        _outcomes(output)
        assert f"the sidecar container {sidecar_id[:12]} is exited (exit status 137)" in output
        logs = output.split("its last log lines:\n", 1)[1].splitlines()
        assert logs[0].startswith("    "), output
        assert logs[0].strip() != "(no output)", output
        assert elapsed < 20, output
        assert not labelled(engine, run_id), "the run left resources behind"
    finally:
        if run_id:
            remove_run_now(engine, run_id)


@pytest.fixture
def private_outer(tmp_path: Path, engine: Any) -> Any:
    """A private dockerd (loopback TCP+TLS, its own bridge) with the dind image loaded."""
    root = tmp_path / "outer"
    daemon = TLSDaemon(root, make_tls_material(root / "certs"))
    daemon.start()
    try:
        daemon.wait_ready()
        env = {
            **os.environ,
            "DOCKER_HOST": daemon.url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(daemon.tls.folder),
        }
        save = subprocess.Popen(
            ["docker", "save", DIND],
            stdout=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")},
        )
        load = subprocess.run(
            ["docker", "load"],
            check=False,
            stdin=save.stdout,
            env=env,
            capture_output=True,
            timeout=120,
        )
        save.wait(timeout=30)
        assert load.returncode == 0, load.stderr
        yield daemon, env
    finally:
        daemon.stop()


def test_the_outer_daemon_stopped_mid_session_fails_fast_and_pytest_ends(
    tmp_path: Path, private_outer: Any, run_env: dict[str, str]
) -> None:
    daemon, outer_env = private_outer
    env = {**run_env, **{k: v for k, v in outer_env.items() if k.startswith("DOCKER_")}}
    env["PYTEST_DOCKER_SIDECAR_IMAGE"] = DIND
    output, _, _, elapsed = _lose_mid_session(tmp_path / "proj", env, lambda _: daemon.stop())
    _outcomes(output)
    assert f"the daemon hosting the sidecar ({daemon.url}) cannot be reached" in output or (
        f"the daemon hosting the sidecar ({daemon.url}) did not answer" in output
    ), output
    assert elapsed < 20, output
