"""An xdist worker dies (os._exit) while it waits for the sidecar, which the controller
starts at session start on a thread: xdist replaces the worker, every test runs against
that one sidecar, the owner stops it once. (Before the early start, the first worker that
needed Docker started it under the run's file lock: this test killed that worker while
it held the lock. Workers now only attach; the lock is the controller's.)"""

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
    def get(self):
        # The first test's wait for the controller's sidecar: die right there.
        DIED.write_text(str(os.getpid()))
        os._exit(1)

    sharing.SharedSidecar.get = get
"""

TESTS = """
import os

import pytest


@pytest.mark.parametrize("n", range(6))
def test_docker(docker_host, docker_client, n):
    with open(os.environ["RUN_ID_FILE"], "w") as handle:
        handle.write(docker_host.sidecar.run_id)
    assert docker_client.ping()
"""


def test_a_worker_that_dies_waiting_for_the_sidecar_is_replaced_and_nothing_leaks(
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
        # gw0 died in its first test's setup, waiting for the sidecar: xdist replaces it,
        # and every test runs against the one sidecar the controller started.
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
