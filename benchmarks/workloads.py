"""Files for the throwaway pytest projects that the pytest-run rows execute."""

from __future__ import annotations

PYTEST_INI = """\
[pytest]
addopts = -p no:cacheprovider
markers =
    docker: needs Docker (registered here too, for runs without the plugin)
"""

# Records, in the controller only, how long session start, the end of collection (where
# the plugin resolves) and the first test's setup took, and writes it as JSON to
# $PDH_BENCH_OUT.
TIMING_CONFTEST = """\
import json
import os
import time

import pytest

_TIMES = {}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionstart(session):
    start = time.perf_counter()
    _TIMES["t_sessionstart"] = start
    yield
    _TIMES["sessionstart"] = time.perf_counter() - start


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_collection_finish(session):
    # The plugin resolves here when a selected test needs Docker.
    start = time.perf_counter()
    yield
    _TIMES["collection_finish"] = time.perf_counter() - start


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    # The whole setup of the first test: the plugin's own setup hook (where a sidecar
    # starts) and the docker_host fixture.
    start = time.perf_counter()
    yield
    end = time.perf_counter()
    _TIMES.setdefault("setup", end - start)
    # Every Docker test's own setup: a row whose first test needs no Docker picks its one.
    if "docker" in item.name:
        _TIMES.setdefault("docker_setup", end - start)
        # From session start to the first Docker test's setup done: everything in between
        # (collection included) counts, so overlapping it is not hidden.
        _TIMES.setdefault("span_to_docker", end - _TIMES["t_sessionstart"])
        # From the launch of the pytest process (set by the benchmark just before it).
        launched = float(os.environ.get("PDH_BENCH_LAUNCH") or 0)
        if launched:
            _TIMES.setdefault("launch_to_docker", time.time() - launched)


def pytest_unconfigure(config):
    out = os.environ.get("PDH_BENCH_OUT")
    if out and not hasattr(config, "workerinput"):
        with open(out, "w") as fh:
            json.dump(_TIMES, fh)
"""


# Collection that takes a while (heavy imports, many modules), then a test that needs Docker.
SLOW_COLLECTION = """\
import time

time.sleep({seconds})


def test_plain():
    pass
"""


def slow_collection_tests(seconds: float = 1.5) -> dict[str, str]:
    return {
        **docker_tests(),
        "test_0_slow.py": SLOW_COLLECTION.format(seconds=seconds),
    }


def trivial_tests(count: int = 200, per_file: int = 20) -> dict[str, str]:
    files: dict[str, str] = {"pytest.ini": PYTEST_INI}
    for index in range(count // per_file):
        body = "\n\n".join(
            f"def test_{index}_{n}():\n    assert {n} + 1 == {n + 1}" for n in range(per_file)
        )
        files[f"test_trivial_{index:02d}.py"] = body + "\n"
    return files


TESTCONTAINERS_TEST = """\
import os
import time
import urllib.request

import pytest
from testcontainers.core.container import DockerContainer

IMAGE = "{image}"
LABELS = {labels!r}


@pytest.mark.parametrize("n", range({count}))
def test_http_service(n):
    container = DockerContainer(IMAGE, labels=LABELS).with_exposed_ports(80)
    with container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(80)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://{{host}}:{{port}}/", timeout=1) as reply:
                    assert b"ok" in reply.read()
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
"""


def tc_workload(image: str, labels: dict[str, str], count: int = 3) -> dict[str, str]:
    return {
        "pytest.ini": PYTEST_INI,
        "conftest.py": TIMING_CONFTEST,
        "test_tc.py": TESTCONTAINERS_TEST.format(image=image, labels=labels, count=count),
    }


DOCKER_TESTS = """\
import pytest


def test_docker_host(docker_host):
    assert docker_host.engine_version


@pytest.mark.parametrize("n", range({count}))
def test_uses_client(docker_client, n):
    assert docker_client.ping()
"""


def docker_tests(count: int = 1) -> dict[str, str]:
    return {
        "pytest.ini": PYTEST_INI,
        "conftest.py": TIMING_CONFTEST,
        "test_docker.py": DOCKER_TESTS.format(count=count),
    }


XDIST_TESTS = """\
import pytest


@pytest.mark.parametrize("n", range({count}))
def test_container(docker_client, n):
    out = docker_client.containers.run("{image}", ["true"], remove=True, labels={labels!r})
    assert out == b""
"""


def xdist_tests(image: str, labels: dict[str, str], count: int) -> dict[str, str]:
    return {
        "pytest.ini": PYTEST_INI,
        "conftest.py": TIMING_CONFTEST,
        "test_xdist.py": XDIST_TESTS.format(image=image, labels=labels, count=count),
    }
