"""pytest-xdist's workers take the owner's endpoint before they import their conftests: a
module-level ``docker.from_env()`` in a conftest reaches the run's sidecar in every worker,
never the daemon under it (``config.workerinput`` exists only after the conftests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import run_sidecar as _run

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images", "sidecar")]

# What each worker's conftest reached at import time, by the daemon's own ID. The
# controller's only imports docker-py: it has not waited for the sidecar (nor wired its
# environment, which the workers would inherit) when xdist starts them.
CONFTEST = """
import json
import os

import docker

REACHED = None
if "PYTEST_XDIST_WORKER" in os.environ:
    _client = docker.from_env()
    REACHED = _client.info()["ID"]
    _client.close()


def pytest_configure(config):
    name = getattr(config, "workerinput", {}).get("workerid")
    if name:
        with open(os.path.join(os.environ["REACHED_DIR"], name + ".json"), "w") as out:
            json.dump(REACHED, out)
"""
SUITE = """
import os

import docker


def test_uses_docker():
    # Taken out of the worker's environment: what its tests start does not inherit it.
    assert "PYTEST_DOCKERHOST_HANDOVER" not in os.environ
    client = docker.from_env()
    try:
        assert client.ping()
    finally:
        client.close()
"""


def test_a_worker_conftest_reaches_the_sidecar_not_the_daemon_under_it(
    pytester: pytest.Pytester, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached = pytester.path / "reached"
    reached.mkdir()
    monkeypatch.setenv("REACHED_DIR", str(reached))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = _run(pytester, "-n", "2")
    result.assert_outcomes(passed=1)
    seen = {path.stem: json.loads(path.read_text()) for path in reached.iterdir()}
    assert sorted(seen) == ["gw0", "gw1"], seen
    outer = engine.info()["ID"]
    assert len(set(seen.values())) == 1, seen  # one daemon for the whole run: the sidecar
    assert outer not in seen.values(), (outer, seen)
