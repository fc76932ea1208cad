"""Helpers for fault injection: real pytest processes against the real engine.

Every assertion counts only resources labelled with the run ids of the runs a test
started itself: other sessions use the same engine at the same time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import DIND, tagged

LABEL = "org.pytest-dockerhost"
LABEL_RUN = f"{LABEL}.run"
INI = "[pytest]\ndocker_sidecar_privileged = false\n"
BASE_ARGS = (
    "-p",
    "dockerhost",
    "--docker-mode=sidecar",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
)
SIDECAR_IMAGE = f"pytest-dockerhost-test/dind:faults-{os.getpid()}"


def labelled(engine: Any, run_id: str) -> Counter[str]:
    """How many containers, networks and volumes carry this run's label, by kind; "lease"
    is 1 while the run's lease volumes are there (renewals briefly make it two)."""
    api = engine.api
    flt = {"label": f"{LABEL_RUN}={run_id}"}
    found: Counter[str] = Counter()
    found["container"] = len(api.containers(all=True, filters=flt))
    found["network"] = len(api.networks(filters=flt))
    volumes = api.volumes(filters=flt).get("Volumes") or []
    leases = [v for v in volumes if (v.get("Labels") or {}).get(f"{LABEL}.role") == "lease"]
    found["volume"] = len(volumes) - len(leases)
    found["lease"] = min(len(leases), 1)
    return +found  # drop zero counts


def owned_by(engine: Any, pid: int, *, running: bool = False) -> list[dict[str, Any]]:
    """Sidecar containers whose owner is process ``pid`` of this machine."""
    filters: dict[str, Any] = {
        "label": [f"{LABEL}.owner-pid={pid}", f"{LABEL}.owner-host={socket.gethostname()}"]
    }
    if running:
        filters["status"] = "running"
    return list(engine.api.containers(all=True, filters=filters))


def wait_for(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def remove_run_now(engine: Any, run_id: str) -> None:
    """Last-resort cleanup by a test, so one failure does not leak into the next."""
    from pytest_dockerhost.cleanup.janitor import remove_run

    with contextlib.suppress(Exception):
        remove_run(engine, run_id)


class Run:
    """A pytest subprocess in its own folder, with the faults' sidecar settings."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        self.folder = folder
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", *BASE_ARGS, *args],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self, timeout: float) -> str:
        """Wait (bounded) for the end; a run that hangs is killed and the test fails."""
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.output, _ = self.proc.communicate()
            raise AssertionError(
                f"pytest hung (killed after {timeout} s):\n{self.output}"
            ) from None
        return self.output

    def kill(self, signum: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signum)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()


@pytest.fixture(scope="session")
def sidecar_image(engine: Any, test_images: None) -> Iterator[str]:
    """Our own tag of the dind image, so nothing of other sessions is keyed on ours."""
    with tagged(engine, DIND, SIDECAR_IMAGE) as image:
        yield image


@pytest.fixture
def run_env(tmp_path: Path, sidecar_image: str) -> dict[str, str]:
    """The environment for inner runs (the neutral one of tests/conftest.py, plus ours)."""
    env = dict(os.environ)
    env["PYTEST_DOCKER_SIDECAR_IMAGE"] = sidecar_image
    env["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_TESTRUNUID", None)
    return env


def project(folder: Path, files: dict[str, str], ini: str = INI) -> Path:
    """A folder with tox-free pytest.ini and the given files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text(ini)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def make_image(engine: Any, tag: str, changes: list[str]) -> None:
    """A variant of the dind image (a new ENTRYPOINT or CMD), without a build or a registry."""
    container = engine.api.create_container(DIND, labels={"pytest-dockerhost-test": "variant"})
    try:
        repository, version = tag.rsplit(":", 1)
        engine.api.commit(container["Id"], repository=repository, tag=version, changes=changes)
    finally:
        engine.api.remove_container(container["Id"], force=True, v=True)


def no_traceback(output: str) -> None:
    for needle in ("Traceback (most recent call last)", "INTERNALERROR", "Exception ignored"):
        assert needle not in output, output
