"""Kept sidecars (--docker-sidecar-reuse) without leaks: a run with another configuration
never removes a live run's kept sidecar, and kept sidecars past their age that no live run
uses are swept, with their client certificates."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import BASE_ARGS, LABEL_RUN, cleanup_command

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images", "sidecar")]

KEPT = """
import os
import pathlib
import time


def test_kept(docker_host, docker_client):
    folder = pathlib.Path(os.environ["ID_DIR"])
    (folder / f"{os.environ['WHO']}.tmp").write_text(docker_host.sidecar.name)
    (folder / f"{os.environ['WHO']}.tmp").rename(folder / os.environ["WHO"])
    while os.environ.get("HOLD") and not (folder / "release").exists():
        time.sleep(0.05)
    assert docker_client.ping()  # the kept sidecar still answers this run
"""
# Another configuration: the same image without SYS_MODULE makes another config hash.
OTHER_CONFIG = "--docker-sidecar-cap-drop=SYS_MODULE"


def _start(
    python: str, path: Path, who: str, *args: str, hold: bool = False
) -> subprocess.Popen[str]:
    env = {**os.environ, "ID_DIR": str(path / "ids"), "WHO": who, "HOLD": "1" if hold else ""}
    return subprocess.Popen(
        [python, "-m", "pytest", *BASE_ARGS, "-p", "no:randomly", *args],
        cwd=path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path.name} never appeared")


def _kept(engine: Any, name: str) -> dict[str, Any] | None:
    found = engine.api.containers(all=True, filters={"name": f"^/{name}$"})
    return found[0] if found else None


def test_other_configs_never_remove_a_live_kept_sidecar_and_expired_ones_are_swept(
    pytester: pytest.Pytester, engine: Any, python_bin: str
) -> None:
    pytester.makepyfile(test_kept=KEPT)
    (pytester.path / "ids").mkdir()
    ids = pytester.path / "ids"
    keep = ("--docker-sidecar-reuse", "--docker-sidecar-keep-for=3s")
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "pytest-dockerhost" / "sidecars"
    names: list[str] = []
    holder = _start(python_bin, pytester.path, "a", *keep, hold=True)
    try:
        name_a = _wait_for(ids / "a")
        names.append(name_a)
        # A run with another configuration, while the first one lives: it keeps its own
        # sidecar and leaves the live run's alone.
        other = _start(python_bin, pytester.path, "b", *keep, OTHER_CONFIG)
        out, _ = other.communicate(timeout=180)
        assert other.returncode == 0, out
        name_b = (ids / "b").read_text()
        names.append(name_b)
        assert name_b != name_a
        assert (_kept(engine, name_a) or {}).get("State") == "running"
        assert (cache / name_a / "key.pem").exists()
        assert (cache / name_b / "key.pem").exists()

        time.sleep(4)  # both are past their age now; only the holder's is in use
        swept = cleanup_command(python_bin)
        assert f"removed container {name_b} (kept sidecar)" in swept, swept
        assert name_a not in swept, swept
        assert _kept(engine, name_b) is None
        assert not (cache / name_b).exists()  # its client certificates went with it
        assert (_kept(engine, name_a) or {}).get("State") == "running"

        (ids / "release").write_text("1")
        out, _ = holder.communicate(timeout=60)
        assert holder.returncode == 0, out  # it reached its kept sidecar to the end
        assert "1 passed" in out, out
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    # Nobody uses it now and it is past its age: the next run's start sweeps it.
    (ids / "a").unlink()
    fresh = _start(python_bin, pytester.path, "a", *keep)
    out, _ = fresh.communicate(timeout=180)
    assert fresh.returncode == 0, out
    assert _kept(engine, name_a) is None
    assert not (cache / name_a).exists()
    name_c = (ids / "a").read_text()
    names.append(name_c)
    assert name_c != name_a  # a new kept sidecar, of the same configuration
    kept_c = _kept(engine, name_c)
    assert kept_c is not None
    # The test removes its own last kept sidecar; the fixture fails on anything else kept.
    from pytest_dockerhost.cleanup.janitor import remove_run

    assert remove_run(engine, kept_c["Labels"][LABEL_RUN])
    for name in names:
        assert _kept(engine, name) is None, name
