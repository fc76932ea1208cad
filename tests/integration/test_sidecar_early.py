"""The sidecar starts at session start, on a thread, while pytest collects (#13 item 2).

Told by the engine's own events and the run's own clock: the sidecar's container starts
before collection ends; a run that selects no Docker test removes what it began; xdist's
controller starts it before its workers exist; a failure reads as it always did, at the
first test that needs Docker.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .conftest import labelled_now
from .conftest import run_sidecar as _run

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images", "sidecar")]

L_ROLE = "org.pytest-dockerhost.role"

# Collection that takes a while (a module with heavy imports, say), then a suite that asks
# for no plugin fixture: its conftest imports testcontainers, and a test uses docker-py.
SLOW_COLLECTION = """
import time

time.sleep(2.0)


def test_plain():
    pass
"""
# A module that pings the engine with docker-py: a test module, or a helper module of the
# project's own that another test module imports.
HELPER = """
import docker


def ping():
    client = docker.from_env()
    try:
        return client.ping()
    finally:
        client.close()
"""
SUITE = (
    HELPER
    + """

def test_uses_docker():
    assert ping()
"""
)
MARKED = """
import pytest


@pytest.mark.docker
def test_marked():
    import docker

    docker.from_env().close()
"""
# When collection ended and when the first test started, by this run's clock.
CLOCK = """
import json
import os
import time

import testcontainers.core.container  # noqa: F401 (a conftest that imports it, as suites do)

STAMPS = {}


def pytest_collection_finish(session):
    STAMPS["collected"] = time.time()


def pytest_runtest_call(item):
    STAMPS.setdefault("first_call", time.time())


def pytest_testnodeready(node):
    STAMPS.setdefault("worker_ready", time.time())  # pytest-xdist's controller only


def pytest_unconfigure(config):
    STAMPS["pid"] = os.getpid()
    if not hasattr(config, "workerinput"):
        with open(os.environ["STAMPS_FILE"], "w") as out:
            json.dump(STAMPS, out)
"""


def _sidecar_events(engine: Any, since: float, until: float) -> list[dict[str, Any]]:
    events = engine.events(
        since=since,
        until=until + 1,
        filters={"type": "container", "label": f"{L_ROLE}=sidecar"},
        decode=True,
    )
    return [e for e in events if e.get("status") in ("create", "start", "destroy")]


def test_the_sidecar_starts_while_pytest_collects(
    pytester: pytest.Pytester, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = pytester.path / "stamps.json"
    monkeypatch.setenv("STAMPS_FILE", str(stamps))
    pytester.makeconftest(CLOCK)
    pytester.makepyfile(test_a_slow=SLOW_COLLECTION, test_b_suite=SUITE)
    since = time.time()
    result = _run(pytester)
    until = time.time()
    result.assert_outcomes(passed=2)
    seen = json.loads(stamps.read_text())
    events = _sidecar_events(engine, since, until)
    started = [e["timeNano"] / 1e9 for e in events if e["status"] == "start"]
    assert len(started) == 1, events
    # Begun at session start: up before the 2 s collection was over.
    assert started[0] < seen["collected"], (started, seen)


def test_a_run_that_selects_no_docker_test_removes_the_sidecar_it_began(
    pytester: pytest.Pytester, engine: Any
) -> None:
    before = labelled_now(engine)
    # The deselected test would need Docker; nothing imports docker-py while collecting.
    pytester.makepyfile(test_a_slow=SLOW_COLLECTION, test_b_marked=MARKED)
    since = time.time()
    result = _run(pytester, "-k", "plain")
    until = time.time()
    result.assert_outcomes(passed=1, deselected=1)
    events = _sidecar_events(engine, since, until)
    created = [e for e in events if e["status"] == "create"]
    destroyed = {e["id"] for e in events if e["status"] == "destroy"}
    assert created, "begun at session start, during the 2 s collection"
    assert {e["id"] for e in created} <= destroyed, events  # cancelled and removed
    assert "started in" not in result.stdout.str()
    assert labelled_now(engine).keys() <= before.keys()


def test_under_xdist_the_controller_starts_it_before_its_workers_run_a_test(
    pytester: pytest.Pytester, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = pytester.path / "stamps.json"
    monkeypatch.setenv("STAMPS_FILE", str(stamps))
    pytester.makeconftest(CLOCK)
    pytester.makepyfile(test_b_suite=SUITE)
    since = time.time()
    result = _run(pytester, "-n", "2")
    until = time.time()
    result.assert_outcomes(passed=1)
    seen = json.loads(stamps.read_text())
    events = _sidecar_events(engine, since, until)
    created = [e for e in events if e["status"] == "create"]
    assert len(created) == 1, events  # one for the run...
    # ...made by the controller, before its first worker was ready.
    assert created[0]["Actor"]["Attributes"]["org.pytest-dockerhost.owner-pid"] == str(
        seen["pid"]
    ), (events, seen)
    assert created[0]["timeNano"] / 1e9 < seen["worker_ready"], (events, seen)


# Slow to collect (so the sidecar is under way) and to run (so its removal can be seen to
# come before the tests end); no test may use Docker.
SLOW_AND_PLAIN = """
import os
import time

time.sleep(2.0)


def test_plain_and_slow():
    time.sleep(3.0)
    with open(os.environ["ENDED_FILE"], "a") as out:
        out.write(f"{time.time()}\\n")
"""


def test_under_xdist_workers_that_collect_no_docker_test_have_the_sidecar_removed_at_once(
    pytester: pytest.Pytester, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = pytester.path / "ended"
    monkeypatch.setenv("ENDED_FILE", str(ended))
    before = labelled_now(engine)
    pytester.makepyfile(test_a=SLOW_AND_PLAIN, test_b=SLOW_AND_PLAIN)
    since = time.time()
    result = _run(pytester, "-n", "2")
    until = time.time()
    result.assert_outcomes(passed=2)
    events = _sidecar_events(engine, since, until)
    created = [e for e in events if e["status"] == "create"]
    destroyed = [e["timeNano"] / 1e9 for e in events if e["status"] == "destroy"]
    assert created, "begun by the controller at session start"
    assert len(destroyed) == len(created), events
    # Removed once both workers said their tests need no Docker: while the tests ran.
    assert max(destroyed) < min(float(t) for t in ended.read_text().split()), events
    assert "started in" not in result.stdout.str()
    assert labelled_now(engine).keys() <= before.keys()


# A suite whose tests reach docker-py only through a helper module of the project's own.
THROUGH_HELPER = """
from helper import ping


def test_pings():
    assert ping()
"""


def test_under_xdist_tests_that_reach_docker_through_a_helper_module_keep_the_sidecar(
    pytester: pytest.Pytester, engine: Any
) -> None:
    pytester.makepyfile(helper=HELPER, test_c=THROUGH_HELPER, test_d=THROUGH_HELPER)
    since = time.time()
    result = _run(pytester, "-n", "2")
    until = time.time()
    result.assert_outcomes(passed=2)
    events = _sidecar_events(engine, since, until)
    created = [e for e in events if e["status"] == "create"]
    destroyed = [e for e in events if e["status"] == "destroy"]
    assert len(created) == 1, events
    # Removed at the run's end, after the tests: not cancelled when the workers collected.
    assert destroyed, events
    assert "started in" in result.stdout.str(), result.stdout.str()


def test_a_failed_early_start_is_reported_at_the_first_docker_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DOCKER_SIDECAR_IMAGE", "pytest-dockerhost-test/no-such-image:local")
    pytester.makepyfile(test_a_slow=SLOW_COLLECTION, test_b_suite=SUITE)
    result = _run(pytester, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["SKIPPED*pytest-dockerhost*sidecar*no-such-image*"])
    assert "Traceback" not in out
    assert "Exception in thread" not in out + result.stderr.str()
