"""An engine pool that mixes this machine's engine with one that only SSH reaches
(``ssh://``): the remote's tunnel lives in the controller, and the worker pinned to the
remote reaches its services through it. Each engine's own events show which worker's
containers ran there, as the header says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..helpers import engine_events
from ..integration.test_pool import HERE, SERVICE, SUITE, _assignment
from .hosts import RemoteHost
from .test_plugin import run_pytest, ssh_left, write

pytestmark = pytest.mark.e2e


def _names(events: list[dict[str, Any]], tag: str) -> list[str]:
    prefix = f"pdh-pool-{tag}-"
    names = [str(((e.get("Actor") or {}).get("Attributes") or {}).get("name", "")) for e in events]
    return [name.removeprefix(prefix) for name in names if name.startswith(prefix)]


def _remote_names(host: RemoteHost, began: float, ended: float, tag: str) -> list[str]:
    return _names(host.events(began, ended, "type=container", "event=start"), tag)


def test_a_pool_of_this_engine_and_an_ssh_engine(
    remote_docker: RemoteHost, engine: Any, tmp_path: Path, private_tmp: str
) -> None:
    host = remote_docker
    tag = tmp_path.name[-20:].replace("_", "-")
    folder = write(tmp_path / "suite", {"service.py": SERVICE, "test_suite.py": SUITE})
    pool = f"{HERE},{host.ssh_url}"
    run, began, ended = run_pytest(
        host,
        folder,
        {"PYTEST_DOCKER_POOL": pool, "TMPDIR": private_tmp, "POOL_TAG": tag},
        *("-p", "dockerhost", "-n", "2"),
        label=tmp_path.name,
    )
    assert run.exit_code == 0, str(run)
    assert "8 passed" in run.output, str(run)
    assigned = _assignment(run.output.splitlines())
    assert assigned == {HERE: {"gw0"}, host.ssh_url: {"gw1"}}, str(run)
    here = _names(engine_events(engine, began, ended, {"type": "container", "event": "start"}), tag)
    there = _remote_names(host, began, ended, tag)
    assert here, there
    assert there, here
    assert {name.split("-")[0] for name in here} == {"gw0"}, here
    assert {name.split("-")[0] for name in there} == {"gw1"}, there
    assert len(here) + len(there) == 8, (here, there)
    assert ssh_left(private_tmp) == [], "the run's ssh ends with it"
