"""An xdist worker dies (os._exit) while it holds the sidecar lock, during the start that
its collection triggers: the OS releases the lock, another worker starts the sidecar, the
owner stops it once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Run, labelled, project, remove_run_now

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

CONFTEST = """
import os
import pathlib
import time

import pytest_dockerhost.sidecar.sharing as sharing

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
DIED = pathlib.Path(os.environ["DIED_FILE"])

if WORKER == "gw0":
    def _start(self):
        # Called by SharedSidecar.get with the run's file lock held: die right there.
        assert os.path.exists(os.path.join(self.run.folder, sharing.LOCK))
        DIED.write_text(str(os.getpid()))
        os._exit(1)

    sharing.SharedSidecar._start = _start
elif WORKER:
    _get = sharing.SharedSidecar.get

    def get(self):
        # Let gw0 take the lock first, so that it dies holding it.
        for _ in range(1200):
            if DIED.exists():
                break
            time.sleep(0.05)
        return _get(self)

    sharing.SharedSidecar.get = get
"""

TESTS = """
import os

import pytest


@pytest.mark.parametrize("n", range(6))
def test_docker(docker_host, docker_client, n):
    with open(os.environ["RUN_ID_FILE"], "w") as handle:
        handle.write(docker_host.extras["run_id"])
    assert docker_client.ping()
"""


def test_a_worker_killed_holding_the_lock_does_not_block_the_others(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    folder = project(tmp_path / "proj", {"conftest.py": CONFTEST, "test_docker.py": TESTS})
    died = tmp_path / "died"
    run_id_file = tmp_path / "run-id"
    env = {**run_env, "DIED_FILE": str(died), "RUN_ID_FILE": str(run_id_file)}
    since = int(time.time()) - 1
    run_id = ""
    try:
        with Run(folder, env, "-n", "2") as run:
            output = run.finish(timeout=120)
        assert died.exists(), output
        run_id = run_id_file.read_text()
        # gw0 died before its first test (the sidecar starts once collection found Docker
        # tests): xdist replaces it, and every test runs against the one sidecar.
        assert "replacing crashed worker gw0" in output, output
        assert "6 passed" in output, output
        assert not labelled(engine, run_id), "the run left resources behind"
        events = engine.api.events(
            since=since,
            until=int(time.time()) + 1,
            filters={"type": "container", "label": f"org.pytest-dockerhost.run={run_id}"},
            decode=True,
        )
        actions = Counter(event["Action"] for event in events)
        # One sidecar started, and removed exactly once.
        assert actions["create"] == 1, actions
        assert actions["start"] == 1, actions
        assert actions["destroy"] == 1, actions
    finally:
        if run_id:
            remove_run_now(engine, run_id)
