"""Two pytest runs on one engine at once, each with its own sidecar: neither sweeps or
disturbs the other's resources, and both pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Run, labelled, project, remove_run_now

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

TESTS = """
import os
import pathlib
import time

LABEL = "org.pytest-dockerhost.run"


def wait(path):
    for _ in range(1200):
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"the other run never wrote {path}")


def test_side_by_side(docker_host, docker_client):
    me, other = os.environ["ME"], os.environ["OTHER"]
    shared = pathlib.Path(os.environ["SHARED"])
    (shared / f"{me}-id").write_text(docker_host.sidecar.run_id)
    other_id = wait(shared / f"{other}-id")
    assert other_id != docker_host.sidecar.run_id
    outer = docker_host.outer.client()
    try:
        theirs = outer.containers.list(filters={"label": f"{LABEL}={other_id}"})
        assert [c.status for c in theirs] == ["running"]
    finally:
        outer.close()
    # Real work inside our own sidecar while the other run does the same in its own.
    volume = docker_client.volumes.create(f"work-{me}")
    assert volume.name in [v.name for v in docker_client.volumes.list()]
    assert not [v for v in docker_client.volumes.list() if v.name == f"work-{other}"]
    volume.remove()
    (shared / f"{me}-done").write_text("1")
    wait(shared / f"{other}-done")
    assert docker_client.ping()
"""


def test_two_concurrent_runs_keep_to_their_own_sidecars(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    runs: dict[str, Run] = {}
    try:
        for me, other in (("a", "b"), ("b", "a")):
            folder = project(tmp_path / me, {"test_side.py": TESTS})
            env = {**run_env, "ME": me, "OTHER": other, "SHARED": str(shared)}
            runs[me] = Run(folder, env)
        outputs = {me: run.finish(timeout=120) for me, run in runs.items()}
        for me, run in runs.items():
            assert run.proc.returncode == 0, outputs[me]
            assert "1 passed" in outputs[me], outputs[me]
        for me in runs:
            assert not labelled(engine, (shared / f"{me}-id").read_text())
    finally:
        for me, run in runs.items():
            run.__exit__()
            if (shared / f"{me}-id").exists():
                remove_run_now(engine, (shared / f"{me}-id").read_text())
