"""Laptops: the plugin loads, runs Docker-free suites and diagnoses where POSIX-only modules
do not exist (Windows), and finds the laptop engines where they put their sockets.

The Windows runs are real runs of the plugin with ``fcntl``, ``grp``, ``pwd``, ``termios``
and ``resource`` made unimportable by a ``sitecustomize`` that Python loads before pytest
starts. A top-level ``import fcntl`` in any module the plugin loads makes them fail.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_dockerhost.discovery.sources.sockets import socket_paths, well_known_sockets
from pytest_dockerhost.engine.transport import Failure, FailureKind, open_socket
from pytest_dockerhost.engine.url import DockerURL, URLError, parse_url

from ..helpers.servers import closed_port
from .conftest import MakeCtx

POSIX_ONLY = ("fcntl", "grp", "pwd", "termios", "resource")

# Loaded by Python at start-up (it is first on PYTHONPATH), before pytest and the plugin.
BLOCKER = f"""
import atexit, os, sys

POSIX_ONLY = {POSIX_ONLY!r}
assert not any(name.startswith("pytest_dockerhost") for name in sys.modules)


class RefusePosixOnly:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in POSIX_ONLY:
            raise ModuleNotFoundError(f"No module named {{name!r}} (as on Windows)", name=name)
        return None


for name in POSIX_ONLY:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, RefusePosixOnly())


@atexit.register  # registered first, so it runs last: after the plugin's own exit work
def report():
    with open(os.environ["LAPTOP_REPORT"], "w", encoding="utf-8") as out:
        out.write(" ".join(sorted(n for n in sys.modules if n.split(".")[0] == "filelock")))
"""

DOCKER_FREE = f"""
import importlib
import sys

import pytest


@pytest.mark.parametrize("name", {list(POSIX_ONLY)!r})
def test_posix_only_modules_are_refused(name):
    with pytest.raises(ImportError):
        importlib.import_module(name)


def test_the_plugin_is_loaded():
    assert "pytest_dockerhost.plugin" in sys.modules


def test_arithmetic():
    assert 1 + 1 == 2
"""


@pytest.fixture
def windowsish(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The blocker on PYTHONPATH, an engine that refuses, and a temp dir of the run's own."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.fspath(blocker))
    monkeypatch.setenv("TMPDIR", os.fspath(temp))
    monkeypatch.setenv("LAPTOP_REPORT", os.fspath(tmp_path / "report"))
    # Never the real engine: a configured endpoint is tried alone.
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_docker_free_suite_passes_without_posix_only_modules_and_takes_no_lock(
    pytester: pytest.Pytester, windowsish: Path
) -> None:
    pytester.makepyfile(test_plain=DOCKER_FREE)
    result = pytester.runpytest_subprocess("-p", "dockerhost", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(POSIX_ONLY) + 2)
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert "ImportError" not in text
    # Loaded no lock library, and made no locked folder in the run's temp dir.
    assert (windowsish / "report").read_text(encoding="utf-8") == ""
    assert os.listdir(windowsish / "temp") == []


def test_the_diagnostic_command_runs_without_posix_only_modules(
    pytester: pytest.Pytester, windowsish: Path
) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "pytest_dockerhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=pytester.path,
    )
    text = child.stdout + child.stderr
    assert child.returncode == 1, text
    assert "refused the connection" in text
    assert "fix:" in text
    assert "Traceback" not in text
    assert "ImportError" not in text


# ---- the laptop engines' sockets ----------------------------------------------------------


def test_podman_machine_sockets_are_found_default_machine_first(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    temp = ctx.home / "T"
    (temp / "podman").mkdir(parents=True)
    for name in ("podman-machine-default-api.sock", "other-api.sock", "gvproxy.sock"):
        (temp / "podman" / name).touch()
    machines = ctx.home / ".local/share/containers/podman/machine"
    (machines / "qemu").mkdir(parents=True)
    (machines / "qemu" / "podman.sock").touch()
    ctx = dataclasses.replace(ctx, env={"TMPDIR": f"{temp}/"})
    found = [path for path, label in socket_paths(ctx) if label == "Podman machine"]
    assert found == [
        f"{temp}/podman/podman-machine-default-api.sock",
        f"{temp}/podman/other-api.sock",
        f"{machines}/qemu/podman.sock",
    ]
    sources = [c.source for c in well_known_sockets(ctx)]
    assert "~/.local/share/containers/podman/machine/qemu/podman.sock (Podman machine)" in sources


def test_colima_under_xdg_config_is_found(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    (ctx.home / ".config/colima/default").mkdir(parents=True)
    (ctx.home / ".config/colima/default/docker.sock").touch()
    assert (str(ctx.home / ".config/colima/default/docker.sock"), "Colima") in socket_paths(ctx)


def test_on_windows_the_named_pipes_say_why_not_and_the_fix(make_ctx: MakeCtx) -> None:
    ctx = dataclasses.replace(make_ctx(), platform="win32")
    found = well_known_sockets(ctx)
    assert [(c.source, c.url, c.pinned) for c in found] == [
        ("npipe:////./pipe/docker_engine (Docker Desktop)", None, False),
        ("npipe:////./pipe/podman-machine-default (Podman machine)", None, False),
    ]
    assert found[0].error == (
        "npipe:////./pipe/docker_engine is a Windows named pipe (Docker Desktop), which "
        "pytest-dockerhost cannot speak: it talks to engines over unix sockets and TCP"
    )
    assert found[0].fix.startswith("run pytest inside WSL2")
    assert "DOCKER_HOST=tcp://localhost:2375" in found[0].fix


def test_a_configured_named_pipe_on_windows_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(URLError) as elsewhere:
        parse_url("npipe:////./pipe/docker_engine")
    assert "which this system does not have" in str(elsewhere.value)
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(URLError) as on_windows:
        parse_url("npipe:////./pipe/docker_engine")
    assert str(on_windows.value) == (
        "npipe:// is a Windows named pipe, which pytest-dockerhost cannot speak: it talks to "
        "engines over unix sockets and TCP"
    )
    assert on_windows.value.fix.startswith("run pytest inside WSL2")


def test_a_unix_socket_on_windows_is_one_sentence_not_an_attribute_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(Failure) as failed:
        open_socket(DockerURL("unix", path="/var/run/docker.sock"), None, 1.0)
    assert failed.value.kind is FailureKind.NO_UNIX_SOCKETS
    assert str(failed.value.detail) == (
        "/var/run/docker.sock is a unix socket, which Python on Windows cannot connect to"
    )
