"""CircleCI's machine executor (issue 22, item 4): CIRCLECI is set and the engine is the
machine's own socket. That is a plain local engine: no SSH detour for its ports, even where
the job's ~/.ssh/config has the ``remote-docker`` alias that ``setup_remote_docker`` writes
(the remote-engine case, tested in tests/remote). Its profile is plain "docker"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration]

SUITE = """
import os

import docker


def test_from_env_reaches_the_machines_engine():
    assert os.environ["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert docker.from_env().ping()
"""


def test_circleci_machine_executor_is_a_plain_local_engine(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    home = pytester.path / "home"
    (home / ".ssh").mkdir(parents=True)
    # Port 9 on loopback: were the alias followed, the detour would show (and fail) here.
    (home / ".ssh" / "config").write_text("Host remote-docker\n  HostName 127.0.0.1\n  Port 9\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CIRCLECI", "true")
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(SUITE)
    report = pytester.path / "docker.json"

    result = pytester.runpytest_subprocess("-p", "dockerhost", f"--docker-report={report}")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["docker: dood unix:///var/run/docker.sock (engine *"])
    for line in result.stdout.lines:
        assert not line.startswith("docker: profile"), line  # the plain profile has no line
        assert "ssh" not in line.lower(), line
        assert "remote-docker" not in line, line
    data: dict[str, Any] = json.loads(Path(report).read_text())
    endpoint = data["endpoint"]
    assert (endpoint["url"], endpoint["mode"]) == ("unix:///var/run/docker.sock", "dood")
    # This machine's own engine: its ports where resolution finds them, not through SSH.
    assert "ssh" not in endpoint["published_ports"]["how"].lower()
    assert not [note for note in endpoint["notes"] if "ssh" in note.lower()]
    profile = endpoint["engine"]["profile"]
    assert (profile["name"], profile["ci"]) == ("docker", "circleci")
    assert profile["policy"]["ryuk"]
    assert profile["policy"]["reaper"]
