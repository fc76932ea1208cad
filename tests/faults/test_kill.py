"""kill -9 of pytest mid-session, over and over: the next normal run sweeps every leftover of
those runs, and nothing of a run that is still alive."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Run, labelled, owned_by, project, remove_run_now, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

WAITS = """
import os
import pathlib
import time


def test_waits(docker_host):
    pathlib.Path(os.environ["RUN_ID_FILE"]).write_text(docker_host.sidecar.run_id)
    for _ in range(1200):
        if pathlib.Path("release").exists():
            return
        time.sleep(0.05)
"""

# The killed runs do not sweep at their own start: with a sweep, each would remove what the
# previous one left, and only one leftover would be left for the final run to find. This is
# what runs killed concurrently (a CI abort of several jobs) leave behind. A `-p` plugin, not
# a conftest: the sidecar's early start (and its sweep) begins before conftests are imported.
NO_SWEEP = """
import pytest_dockerhost.cleanup.claim as claim
import pytest_dockerhost.tempdirs as tempdirs

claim.sweep_dead = lambda client, judge, **kw: []
tempdirs.sweep_folders = lambda base=None: []
"""

KILLS = 10


def _folders(run_id: str) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"pytest-dockerhost-{run_id}-*"))


def test_ten_kill9_runs_then_one_normal_run_sweeps_exactly_their_leftovers(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    live_dir = project(tmp_path / "live", {"test_live.py": WAITS})
    killed_dir = project(tmp_path / "killed", {"test_waits.py": WAITS, "nosweep.py": NO_SWEEP})
    final_dir = project(
        tmp_path / "final",
        {"test_next.py": "def test_next(docker_client):\n    assert docker_client.ping()\n"},
    )
    live_id_file = tmp_path / "live-run-id"
    killed_ids: list[str] = []
    with Run(live_dir, {**run_env, "RUN_ID_FILE": str(live_id_file)}) as live:
        try:
            wait_for(live_id_file.exists, 60, "the live run's sidecar")
            live_id = wait_for(live_id_file.read_text, 5, "the live run's id")
            live_before = labelled(engine, live_id)
            assert live_before == {"container": 1, "volume": 1, "lease": 1}

            started = time.monotonic()
            for _ in range(KILLS):
                killed_env = {**run_env, "RUN_ID_FILE": str(tmp_path / "unused")}
                with Run(killed_dir, killed_env, "-p", "nosweep") as run:
                    # Killed as soon as its sidecar exists, found by the owner pid label.
                    found = wait_for(
                        lambda: owned_by(engine, run.pid), 60, "a killed run's sidecar"
                    )
                    run.kill(signal.SIGKILL)
                    run.proc.wait(timeout=10)
                    killed_ids.append(found[0]["Labels"]["org.pytest-dockerhost.run"])
            per_cycle = (time.monotonic() - started) / KILLS
            # What kill -9 leaves behind: each run's sidecar container, its data volume and
            # its lease.
            for run_id in killed_ids:
                assert labelled(engine, run_id) == {"container": 1, "volume": 1, "lease": 1}
                # ...and its run folder with the client key, under the temp dir.
                assert _folders(run_id), run_id
            assert len(set(killed_ids)) == KILLS

            final = Run(final_dir, run_env)
            output = final.finish(timeout=120)
            assert final.proc.returncode == 0, output
            assert "1 passed" in output, output
            for run_id in killed_ids:
                assert not labelled(engine, run_id), f"run {run_id} was not swept"
                assert not _folders(run_id), f"run {run_id}'s key folder was not swept"
            # The live run was not touched, and still works.
            assert labelled(engine, live_id) == live_before
            (live_dir / "release").write_text("1")
            live_output = live.finish(timeout=60)
            assert live.proc.returncode == 0, live_output
            assert "1 passed" in live_output, live_output
            assert not labelled(engine, live_id)
        finally:
            for run_id in killed_ids:
                remove_run_now(engine, run_id)
    print(f"{KILLS} kill -9 cycles: {per_cycle:.2f} s each")
    assert per_cycle < 5
