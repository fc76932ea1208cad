"""--docker-report=FILE and ``python -m pytest_dockerhost --json``, against the real engine:
the JSON says what the header says, and what the engine itself shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import BASE_ARGS, LABEL_RUN

pytestmark = [pytest.mark.integration]

SUITE = """
def test_docker_host(docker_host):
    assert docker_host.engine_version


def test_plain():
    pass
"""


def _report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert data["schema"] == 1
    assert data["tool"]["name"] == "pytest-dockerhost"
    return dict(data)


def _setting(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(entry for entry in data["settings"] if entry["name"] == name)


@pytest.fixture
def dood(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(SUITE)


@pytest.mark.usefixtures("dood")
def test_a_dood_run_reports_its_settings_candidates_endpoint_and_engine(
    pytester: pytest.Pytester, engine: Any
) -> None:
    path = pytester.path / "out" / "docker.json"
    result = pytester.runpytest_subprocess("-p", "dockerhost", f"--docker-report={path}")
    result.assert_outcomes(passed=2)
    data = _report(path)
    assert _setting(data, "report") == {
        "name": "report",
        "value": str(path),
        "source": "--docker-report",
    }
    assert _setting(data, "mode")["source"] == "default"
    tried = [c for c in data["candidates"] if c["outcome"] == "ok"]
    assert tried[0]["url"] == "unix:///var/run/docker.sock", data["candidates"]
    assert tried[0]["seconds"] > 0
    endpoint = data["endpoint"]
    assert endpoint["url"] == "unix:///var/run/docker.sock"
    assert endpoint["mode"] == "dood"
    version = engine.version()
    assert endpoint["engine"]["version"] == version["Version"]
    assert endpoint["engine"]["api"] == version["ApiVersion"]
    # The profile comes from what the engine says of itself in /info.
    info = engine.info()
    profile = endpoint["engine"]["profile"]
    assert (profile["name"], profile["engine_name"]) == ("docker", info["Name"])
    assert (profile["ncpu"], profile["memory"]) == (info["NCPU"], info["MemTotal"])
    assert (profile["policy"]["ryuk"], profile["policy"]["reaper"]) == (True, True)
    assert "docker: profile" not in result.stdout.str()  # a plain engine needs no line
    assert endpoint["published_ports"]["host"]
    assert isinstance(endpoint["published_ports"]["verified"], bool)
    assert endpoint["published_ports"]["how"]
    # The header's endpoint line names the same endpoint.
    assert f"docker: dood {endpoint['url']}" in result.stdout.str()
    assert data["sidecar"] is None
    assert set(data["cleanup"]) == {"swept", "removed", "failed", "notes"}


@pytest.mark.usefixtures("dood")
def test_the_env_variable_and_the_ini_key_name_their_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_ini = pytester.path / "from-ini.json"
    from_env = pytester.path / "from-env.json"
    pytester.makeini(f"[pytest]\ndocker_report = {from_ini}\n")
    pytester.runpytest_subprocess("-p", "dockerhost").assert_outcomes(passed=2)
    assert _setting(_report(from_ini), "report")["source"] == "ini docker_report"
    monkeypatch.setenv("PYTEST_DOCKER_REPORT", str(from_env))
    from_ini.unlink()
    pytester.runpytest_subprocess("-p", "dockerhost").assert_outcomes(passed=2)
    assert _setting(_report(from_env), "report")["source"] == "PYTEST_DOCKER_REPORT"
    assert not from_ini.exists()  # env beats ini


def test_no_endpoint_is_reported_with_the_error_and_each_failed_candidate(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    pytester.makepyfile(SUITE)
    path = pytester.path / "docker.json"
    result = pytester.runpytest_subprocess("-p", "dockerhost", f"--docker-report={path}")
    result.assert_outcomes(passed=1, skipped=1)
    data = _report(path)
    assert data["endpoint"] is None
    assert "127.0.0.1:9" in data["error"]
    failed = [c for c in data["candidates"] if c["outcome"] == "failed"]
    assert failed[0]["url"] == "tcp://127.0.0.1:9"
    assert failed[0]["failure"] == "refused"
    assert failed[0]["fix"]


def test_an_unwritable_report_path_is_said_even_with_q_and_changes_no_outcome(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    folder = pytester.path / "not-a-folder"
    folder.write_text("a file")
    result = pytester.runpytest_subprocess("-q", "-p", "dockerhost", f"--docker-report={folder}/r")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"docker: warning: the report could not be written to {folder}/r (from "
            "--docker-report): *; give a path in a writable folder"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.usefixtures("sidecar")
def test_a_sidecar_run_reports_the_sidecar_the_engine_started_and_removed(
    pytester: pytest.Pytester, engine: Any
) -> None:
    pytester.makepyfile(SUITE)
    path = pytester.path / "docker.json"
    since = time.time()
    result = pytester.runpytest_subprocess(*BASE_ARGS, f"--docker-report={path}")
    until = time.time()
    result.assert_outcomes(passed=2)
    data = _report(path)
    sidecar = data["sidecar"]
    assert sidecar["outcome"] == "started", sidecar
    assert sidecar["start_seconds"] > 0
    assert sidecar["timings"]["early_start_seconds"] >= sidecar["start_seconds"]
    assert data["endpoint"]["mode"] == "sidecar"
    assert data["endpoint"]["outer"]["url"] == "unix:///var/run/docker.sock"
    events = engine.events(
        since=since,
        until=until + 1,
        filters={"type": "container", "label": LABEL_RUN},
        decode=True,
    )
    seen = {(e["status"], e["id"]) for e in events}
    assert ("start", sidecar["container_id"]) in seen, seen
    assert ("destroy", sidecar["container_id"]) in seen, seen


@pytest.mark.usefixtures("sidecar")
def test_a_sidecar_no_selected_test_needed_is_reported_cancelled(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(SUITE)
    path = pytester.path / "docker.json"
    result = pytester.runpytest_subprocess(*BASE_ARGS, "-k", "plain", f"--docker-report={path}")
    result.assert_outcomes(passed=1, deselected=1)
    assert _report(path)["sidecar"]["outcome"] == "cancelled"


def test_the_diagnostic_prints_the_same_document_as_json(engine: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PYTEST_DOCKER"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dockerhost", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["schema"] == 1
    assert data["endpoint"]["url"] == "unix:///var/run/docker.sock"
    assert data["endpoint"]["engine"]["version"] == engine.version()["Version"]
    assert [c["outcome"] for c in data["candidates"]].count("ok") == 1
