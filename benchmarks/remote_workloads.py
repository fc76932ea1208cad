"""The throwaway pytest projects of the remote rows. Each runs with the plugin on and
``DOCKER_HOST=ssh://remote-docker`` (the suite also with the engine local), as the user
whose ~/.ssh reaches the remote; no test asks for a plugin fixture.

- ``hold``: one test starts the throughput service with docker-py, says its port in
  ``$PDH_BENCH_HOLD/ready.json`` and keeps the run (and its tunnel) open until
  ``$PDH_BENCH_HOLD/done`` appears;
- ``forward_ready``: one test starts a container per port of ``$PDH_BENCH_PORTS`` in turn,
  each publishing that port, and writes each start event's ``timeNano`` to
  ``$PDH_BENCH_OUT``; the benchmark watches for the forwards meanwhile;
- ``suite``: 20 testcontainers tests, each starting busybox's httpd and fetching its page
  through ``get_container_host_ip()``/``get_exposed_port()``; a conftest writes where the
  time went to ``$PDH_BENCH_OUT``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.workloads import PYTEST_INI

SUITE_TESTS = 20

HOLD_TEST = """\
import json
import os
import time
import urllib.request

import docker

SETTINGS = {settings!r}
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))


def _answers(url, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with DIRECT.open(url, timeout=5) as reply:
                if b"ok" in reply.read():
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_hold_a_service_open():
    client = docker.from_env()
    container = client.containers.run(
        SETTINGS["image"],
        ["sh", "-c", SETTINGS["serve"]],
        detach=True,
        ports={{"80/tcp": None}},
        labels=SETTINGS["labels"],
    )
    try:
        container.reload()
        port = int(container.ports["80/tcp"][0]["HostPort"])
        _answers(f"http://127.0.0.1:{{port}}/")  # the file is complete once httpd answers
        folder = os.environ["PDH_BENCH_HOLD"]
        with open(os.path.join(folder, "ready.part"), "w") as fh:
            json.dump({{"port": port}}, fh)
        os.rename(os.path.join(folder, "ready.part"), os.path.join(folder, "ready.json"))
        deadline = time.monotonic() + 1800
        while not os.path.exists(os.path.join(folder, "done")):
            assert time.monotonic() < deadline, "the benchmark never said done"
            time.sleep(0.05)
    finally:
        container.remove(force=True)
"""

FORWARD_READY_TEST = """\
import json
import os
import time

import docker

SETTINGS = {settings!r}


def _listening(port):
    with open("/proc/net/tcp") as table:
        return any(
            fields[3] == "0A" and fields[1] == f"0100007F:{{port:04X}}"
            for fields in (line.split(None, 4) for line in list(table)[1:])
        )


def test_each_start_gets_its_forward():
    client = docker.from_env()
    samples = []
    for port in json.loads(os.environ["PDH_BENCH_PORTS"]):
        container = client.containers.create(
            SETTINGS["image"], ports={{"80/tcp": port}}, labels=SETTINGS["labels"]
        )
        called = time.time()
        container.start()  # with the plugin: returns once the port listens here (<= 2 s)
        returned = time.time()
        events = client.events(
            since=int(called) - 1,
            until=time.time() + 0.01,
            filters={{"type": "container", "event": "start", "container": container.id}},
            decode=True,
        )
        (started,) = [event["timeNano"] for event in events]
        container.remove(force=True)
        deadline = time.monotonic() + 10
        while _listening(port):  # its forward goes with the die event
            assert time.monotonic() < deadline, f"the forward of {{port}} stayed"
            time.sleep(0.01)
        samples.append(
            {{"port": port, "start_ns": started, "called": called, "returned": returned}}
        )
        time.sleep(0.2)
    with open(os.environ["PDH_BENCH_OUT"], "w") as fh:
        json.dump(samples, fh)
"""

SUITE_TEST = """\
import time
import urllib.request

import pytest
from testcontainers.core.container import DockerContainer

from conftest import TIMES

SETTINGS = {settings!r}
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))


def _get(url, timeout=5):
    with DIRECT.open(url, timeout=timeout) as reply:
        return reply.read()


@pytest.mark.parametrize("n", range({count}))
def test_service_answers(n):
    began = time.perf_counter()
    container = DockerContainer(SETTINGS["image"], labels=SETTINGS["labels"])
    container.with_exposed_ports(80)
    container.start()
    started = time.perf_counter()
    try:
        url = f"http://{{container.get_container_host_ip()}}:{{container.get_exposed_port(80)}}/"
        deadline = time.monotonic() + 10
        while True:  # the first answer: httpd may not listen yet
            try:
                assert b"ok" in _get(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        answered = time.perf_counter()
        assert b"ok" in _get(url)
        requested = time.perf_counter()
    finally:
        container.stop()
    TIMES["tests"].append(
        {{
            "start": started - began,
            "first_answer": answered - started,
            "request": requested - answered,
            "stop": time.perf_counter() - requested,
        }}
    )
"""

SUITE_CONFTEST = """\
import json
import os
import time

import pytest

TIMES = {"tests": []}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionstart(session):
    TIMES["sessionstart"] = time.time()
    yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_collection(session):
    # Imports the test module, so testcontainers: where the plugin resolves the engine
    # (and, for ssh://, opens the run's SSH connection).
    began = time.time()
    yield
    TIMES["collection"] = time.time() - began


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    began = time.time()
    yield
    TIMES.setdefault("first_setup", time.time() - began)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session):
    TIMES["tests_done"] = time.time()
    yield


def pytest_unconfigure(config):
    TIMES["unconfigure"] = time.time()
    with open(os.environ["PDH_BENCH_OUT"], "w") as fh:
        json.dump(TIMES, fh)
"""


def hold(image: str, serve: str, labels: dict[str, str]) -> dict[str, str]:
    settings: dict[str, Any] = {"image": image, "serve": serve, "labels": labels}
    return {"pytest.ini": PYTEST_INI, "test_hold.py": HOLD_TEST.format(settings=settings)}


def forward_ready(image: str, labels: dict[str, str]) -> dict[str, str]:
    settings: dict[str, Any] = {"image": image, "labels": labels}
    return {
        "pytest.ini": PYTEST_INI,
        "test_forward_ready.py": FORWARD_READY_TEST.format(settings=settings),
    }


def suite(image: str, labels: dict[str, str], count: int = SUITE_TESTS) -> dict[str, str]:
    settings: dict[str, Any] = {"image": image, "labels": labels}
    return {
        "pytest.ini": PYTEST_INI,
        "conftest.py": SUITE_CONFTEST,
        "test_suite.py": SUITE_TEST.format(settings=settings, count=count),
    }
