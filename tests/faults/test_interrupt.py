"""Ctrl-C mid-test and while the sidecar's daemon is still starting: teardown completes,
nothing is left, and pytest prints its KeyboardInterrupt summary and no traceback."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    Run,
    labelled,
    make_image,
    no_traceback,
    owned_by,
    project,
    remove_run_now,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

HANGS = """
import time


def test_hangs(docker_host):
    print("in the test", flush=True)
    open("in-test", "w").close()
    time.sleep(120)
"""
# The same suite as our users write it: no plugin fixture; docker-py waits for the sidecar.
HANGS_WITHOUT_FIXTURES = """
import time

import docker


def test_hangs():
    client = docker.from_env()
    print("in the test", client.ping(), flush=True)
    open("in-test", "w").close()
    time.sleep(120)
"""


@pytest.fixture
def silent_image(engine: Any, sidecar_image: str) -> Any:
    """A sidecar image whose daemon never answers: the readiness wait lasts the timeout."""
    tag = sidecar_image.replace(":faults-", ":faults-silent-")
    make_image(engine, tag, ['ENTRYPOINT ["sh", "-c", "echo thinking; sleep 600"]', 'CMD [""]'])
    yield tag
    engine.api.remove_image(tag, force=True)


@pytest.mark.parametrize("suite", [HANGS, HANGS_WITHOUT_FIXTURES], ids=["fixture", "no-fixture"])
@pytest.mark.parametrize("when", ["during-sidecar-start", "mid-test"])
def test_ctrl_c_tears_everything_down(  # noqa: PLR0917
    tmp_path: Path, engine: Any, run_env: dict[str, str], silent_image: str, when: str, suite: str
) -> None:
    folder = project(tmp_path / "proj", {"test_hangs.py": suite})
    env = dict(run_env)
    if when == "during-sidecar-start":
        env["PYTEST_DOCKER_SIDECAR_IMAGE"] = silent_image
    run_id = ""
    with Run(folder, env, "--docker-timeout=120") as run:
        try:
            found = wait_for(lambda: owned_by(engine, run.pid, running=True), 60, "a sidecar")
            run_id = found[0]["Labels"]["org.pytest-dockerhost.run"]
            if when == "mid-test":
                wait_for((folder / "in-test").exists, 60, "the test")
            else:
                time.sleep(0.5)  # well inside the readiness wait (120 s)
                assert not (folder / "in-test").exists()
            assert labelled(engine, run_id) == {"container": 1, "volume": 1, "lease": 1}
            run.kill(signal.SIGINT)
            interrupted = time.monotonic()
            output = run.finish(timeout=60)
            elapsed = time.monotonic() - interrupted
        finally:
            if run_id:
                leftovers = labelled(engine, run_id)
                remove_run_now(engine, run_id)
    assert run.proc.returncode == 2, output
    assert "KeyboardInterrupt" in output, output
    no_traceback(output)
    assert not leftovers, f"left behind: {leftovers}"
    assert elapsed < 20, output
    # The run's private folder (client certificates, lock, state) is gone too.
    assert not list(Path("/tmp").glob(f"pytest-dockerhost-{run_id}-*"))
