"""The suites of the concurrent-runs test, and the check of the engine's events against
what each run's tests recorded.

Each suite starts a busybox httpd in every test, reaches its published port, waits for the
outer test's word (a run to be killed never gets it) and stops it. Every container carries
the outer test's label (``LOAD``, valued ``<test id>-<run>``) beside whatever its library
adds, so that the engine's events say whose it was; every test records, in its run's file,
when its container ran and when it began to stop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..conftest import BUSYBOX

LOAD = "pytest-dockerhost-test.load"
TESTS_PER_RUN = 4

KIT = f'''
import json
import os
import time
import urllib.request

IMAGE = "{BUSYBOX}"
OK = "pytest-dockerhost-test ok"
RUN = os.environ["LOAD_RUN"]


def labels():
    return {{"{LOAD}": RUN}}


def record(event, container_id, test):
    line = json.dumps({{"event": event, "id": container_id, "test": test, "t": time.time()}})
    with open(os.environ["LOAD_RECORDS"], "a") as records:
        records.write(line + "\\n")


def fetch(host, port):
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://{{host}}:{{port}}/", timeout=2) as reply:
                return reply.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def serve(container_id, host, port, test):
    """Reach the service, wait for the word to go on, reach it again: a sweep of another
    run that removed it meanwhile fails the test here."""
    record("running", container_id, test)
    assert fetch(host, port) == OK
    deadline = time.monotonic() + 240
    while not os.path.exists(os.environ["LOAD_GO"]):
        assert time.monotonic() < deadline, "never told to go on"
        time.sleep(0.1)
    assert fetch(host, port) == OK
    record("stopping", container_id, test)
'''

CASES = f"""
import pytest

CASES = range({TESTS_PER_RUN})
"""

# testcontainers inline, no fixture of the plugin: the main customer.
PLAIN = """
import pytest
from testcontainers.core.container import DockerContainer

from loadkit import IMAGE, labels, serve
from cases import CASES


@pytest.mark.parametrize("n", CASES)
def test_service(n, request):
    with DockerContainer(IMAGE, labels=labels()).with_exposed_ports(80) as service:
        container = service.get_wrapped_container()
        host, port = service.get_container_host_ip(), service.get_exposed_port(80)
        serve(container.id, host, port, request.node.nodeid)
"""

# A service fixture in the suite's conftest, started and stopped around every test.
CONFTEST_FIXTURE = """
import pytest
from testcontainers.core.container import DockerContainer

from loadkit import IMAGE, labels


@pytest.fixture
def service():
    with DockerContainer(IMAGE, labels=labels()).with_exposed_ports(80) as service:
        yield service
"""

WITH_SERVICE_FIXTURE = """
import pytest

from loadkit import serve
from cases import CASES


@pytest.mark.parametrize("n", CASES)
def test_service(n, service, request):
    host, port = service.get_container_host_ip(), service.get_exposed_port(80)
    serve(service.get_wrapped_container().id, host, port, request.node.nodeid)
"""

# testcontainers beside the plugin's docker_host fixture.
WITH_DOCKER_HOST = """
import pytest
from testcontainers.core.container import DockerContainer

from loadkit import IMAGE, labels, serve
from cases import CASES


@pytest.mark.parametrize("n", CASES)
def test_service(n, docker_host, request):
    with DockerContainer(IMAGE, labels=labels()).with_exposed_ports(80) as service:
        host, port = service.get_container_host_ip(), service.get_exposed_port(80)
        assert host == docker_host.published_host
        serve(service.get_wrapped_container().id, host, port, request.node.nodeid)
"""

# docker-py from a module-level docker.from_env(), no fixture; published on 127.0.0.1.
MODULE_CLIENT = """
import docker
import pytest

from loadkit import IMAGE, labels, record, serve
from cases import CASES

client = docker.from_env()


@pytest.mark.parametrize("n", CASES)
def test_service(n, request):
    ports = {"80/tcp": ("127.0.0.1", None)}
    container = client.containers.run(IMAGE, detach=True, ports=ports, labels=labels())
    try:
        container.reload()
        port = container.ports["80/tcp"][0]["HostPort"]
        serve(container.id, "127.0.0.1", port, request.node.nodeid)
    finally:
        container.remove(force=True)
"""

# docker-py through the plugin's docker_client and docker_host fixtures.
WITH_DOCKER_CLIENT = """
import pytest

from loadkit import IMAGE, labels, serve
from cases import CASES


@pytest.mark.parametrize("n", CASES)
def test_service(n, docker_client, docker_host, request):
    ports = {"80/tcp": ("127.0.0.1", None)}
    container = docker_client.containers.run(IMAGE, detach=True, ports=ports, labels=labels())
    try:
        container.reload()
        port = container.ports["80/tcp"][0]["HostPort"]
        serve(container.id, docker_host.published_host, port, request.node.nodeid)
    finally:
        container.remove(force=True)
"""

SUITES: dict[str, dict[str, str]] = {
    "plain": {"test_plain.py": PLAIN},
    "conftest-fixture": {"conftest.py": CONFTEST_FIXTURE, "test_fixture.py": WITH_SERVICE_FIXTURE},
    "docker-host": {"test_docker_host.py": WITH_DOCKER_HOST},
    "module-client": {"test_module_client.py": MODULE_CLIENT},
    "docker-client": {"test_docker_client.py": WITH_DOCKER_CLIENT},
}


def suite_files(suite: str) -> dict[str, str]:
    return {
        "pytest.ini": "[pytest]\n",
        "loadkit.py": KIT,
        "cases.py": CASES,
        **SUITES[suite],
    }


# --- the engine's events against the runs' records --------------------------------------

# Any of these ends a container's life: the first one must not come before its owner let go.
ENDING = ("kill", "die", "stop", "destroy")


@dataclass(frozen=True)
class Life:
    """One container of one run, as the engine's events tell it."""

    run: str
    created: float
    ended: float | None  # the first of kill, die, stop or destroy
    destroyed: float | None


def lives(events: Iterable[Mapping[str, Any]], value_prefix: str) -> dict[str, Life]:
    """Every container whose ``LOAD`` label starts with ``value_prefix``, by id."""
    found: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: int(e.get("timeNano", 0))):
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        label = str(attributes.get(LOAD, ""))
        if not label.startswith(value_prefix):
            continue
        ident, action = str(event.get("id") or event["Actor"]["ID"]), str(event.get("Action"))
        when = int(event["timeNano"]) / 1e9
        life = found.setdefault(ident, {"run": label[len(value_prefix) :], "created": when})
        if action.split(":", maxsplit=1)[0] in ENDING:
            life.setdefault("ended", when)
        if action == "destroy":
            life.setdefault("destroyed", when)
    return {
        ident: Life(x["run"], x["created"], x.get("ended"), x.get("destroyed"))
        for ident, x in found.items()
    }


def foreign_removals(
    containers: Mapping[str, Life],
    stopping: Mapping[str, float],
    killed_at: Mapping[str, float],
) -> list[str]:
    """Containers whose life ended before their own run let go of them: before the test
    that made it began to stop it (``stopping``, by id), or, for a run killed with
    ``kill -9`` (``killed_at``, by run), before the kill. Only another run can have
    ended those."""
    wrong = []
    for ident, life in sorted(containers.items(), key=lambda item: item[1].created):
        allowed = stopping.get(ident, killed_at.get(life.run))
        if life.ended is None:
            continue  # still there: the leftover check names it
        if allowed is None or life.ended < allowed:
            let_go = "never" if allowed is None else f"at {allowed:.3f}"
            wrong.append(
                f"run {life.run}'s container {ident[:12]} ended at {life.ended:.3f}; "
                f"its run let go of it {let_go}"
            )
    return wrong
