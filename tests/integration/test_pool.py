"""An engine pool (``--docker-pool``) with real engines: this machine's own, and a nested
Docker 28 reached over TCP with TLS (its certificates from its own ``/certs/client``).

The suites request no plugin fixture: each test starts a busybox service with
testcontainers and fetches its page from the published port. Which engine ran which
container is read from each engine's own events (``type=container``, ``start``, between
the run's start and end), by the containers' names, which carry the worker (and the
xdist group): that must match the assignment the header shows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND28, SYSTEM_SOCKET
from ..e2e.engines import NestedEngine, nested_engine
from ..helpers import engine_events
from .daemons import free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images")]

HERE = f"unix://{SYSTEM_SOCKET}"
LABEL = "org.pytest-dockerhost.test-pool"  # on every container the suites start

SERVICE = f"""
import os
import time
import urllib.request

from testcontainers.core.container import DockerContainer


def fetch_from_a_service(name):
    labels = {{"{LABEL}": os.environ["POOL_TAG"]}}
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    service = DockerContainer("{BUSYBOX}", labels=labels).with_exposed_ports(80)
    with service.with_name(f"pdh-pool-{{os.environ['POOL_TAG']}}-{{worker}}-{{name}}"):
        url = f"http://{{service.get_container_host_ip()}}:{{service.get_exposed_port(80)}}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    assert b"pytest-dockerhost-test ok" in reply.read()
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
"""

SUITE = """
import pytest

from service import fetch_from_a_service


@pytest.mark.parametrize("n", range(8))
def test_service_answers(n):
    fetch_from_a_service(f"t{n}")
"""

# Three scopes (classes) of three tests, each test a service of its own.
SCOPED = "\n".join(
    f"class Test{scope.title()}:\n"
    f"    @pytest.mark.parametrize('n', range(3))\n"
    f"    def test_service(self, n):\n"
    f"        fetch_from_a_service(f'{scope}-{{n}}')\n"
    for scope in ("alpha", "beta", "gamma")
)


@pytest.fixture(scope="module")
def second_engine(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NestedEngine]:
    """Docker 28 in a container of this engine, with the busybox image loaded."""
    run_id = f"pool-{uuid.uuid4().hex[:8]}"
    with nested_engine(engine, run_id, tmp_path_factory.mktemp("pool"), DIND28) as nested:
        nested.load(engine, [BUSYBOX])
        yield nested


def _project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: str) -> str:
    tag = uuid.uuid4().hex[:10]
    monkeypatch.setenv("POOL_TAG", tag)
    pytester.makepyfile(service=SERVICE, test_suite=suite)
    return tag


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float, float]:
    began = time.time()
    result = pytester.runpytest_subprocess(
        "-p", "dockerhost", "-p", "no:cacheprovider", *args, timeout=240
    )
    return result, began, time.time()


def _assignment(lines: list[str]) -> dict[str, set[str]]:
    """The header's pool line: engine URL -> the workers pinned to it."""
    line = next(x for x in lines if x.startswith("docker: pool of "))
    engines = line.split("): ", 1)[1]
    found: dict[str, set[str]] = {}
    for part in engines.split("; "):
        match = re.fullmatch(r"(\S+) \([^)]*\) -> (.*)", part)
        assert match is not None, line
        workers = match.group(2)
        found[match.group(1)] = set() if workers == "no worker" else set(workers.split(", "))
    return found


def _ran(client: Any, tag: str, began: float, ended: float) -> list[str]:
    """The names of the suite's containers this engine started, from its own events."""
    prefix = f"pdh-pool-{tag}-"
    events = engine_events(client, began, ended, {"type": "container", "event": "start"})
    names = [str(e["Actor"]["Attributes"].get("name", "")) for e in events]
    return [name.removeprefix(prefix) for name in names if name.startswith(prefix)]


def _left(client: Any, tag: str) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}={tag}"})]


def _tls_env(monkeypatch: pytest.MonkeyPatch, nested: NestedEngine) -> None:
    assert nested.certs is not None
    monkeypatch.setenv("DOCKER_CERT_PATH", str(nested.certs))
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")


def test_four_workers_spread_over_two_engines_each_runs_where_the_header_says(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    engine: Any,
    second_engine: NestedEngine,
) -> None:
    tag = _project(pytester, monkeypatch, SUITE)
    _tls_env(monkeypatch, second_engine)
    report = pytester.path / "report.json"
    pool = f"{HERE},{second_engine.tls_url}"
    result, began, ended = _run(
        pytester, "-n", "4", f"--docker-pool={pool}", f"--docker-report={report}"
    )
    result.assert_outcomes(passed=8)
    assigned = _assignment(result.outlines)
    assert set(assigned) == {HERE, second_engine.tls_url}, result.outlines
    # Equal engines (the nested one sees this machine's CPUs and memory): two workers each.
    assert assigned[HERE] == {"gw0", "gw2"}, assigned
    assert assigned[second_engine.tls_url] == {"gw1", "gw3"}, assigned
    here, there = _ran(engine, tag, began, ended), _ran(second_engine.client, tag, began, ended)
    assert len(here) + len(there) == 8, (here, there)
    assert here, there
    assert there, here
    assert {name.split("-")[0] for name in here} <= assigned[HERE], here
    assert {name.split("-")[0] for name in there} <= assigned[second_engine.tls_url], there
    # The JSON report says the same, and each engine's claim reaped what was left.
    data = json.loads(report.read_text())["pool"]
    assert data["assignment"] == {
        **dict.fromkeys(assigned[HERE], HERE),
        **dict.fromkeys(assigned[second_engine.tls_url], second_engine.tls_url),
    }
    assert [e["outcome"] for e in data["entries"]] == ["ok", "ok"]
    assert data["entries"][1]["cleanup"] is not None
    assert _left(engine, tag) == []
    assert _left(second_engine.client, tag) == []


def test_an_engine_that_is_down_is_left_out_and_its_workers_go_to_the_others(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    tag = _project(pytester, monkeypatch, SUITE)
    down = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: refused at once
    result, began, ended = _run(pytester, "-n", "2", f"--docker-pool={down},{HERE}")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        [
            f"docker: pool of 2 engines (from --docker-pool): {HERE} (*) -> gw0, gw1",
            f"docker: note: --docker-pool entry 1 ({down}) is left out: *refused the connection;"
            " fix: *; its workers go to the others",
        ]
    )
    here = _ran(engine, tag, began, ended)
    assert len(here) == 8, here
    assert {name.split("-")[0] for name in here} == {"gw0", "gw1"}, here
    assert _left(engine, tag) == []


def test_all_engines_down_is_the_usual_no_endpoint_failure(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Marked: a suite that reaches Docker on its own would pass on this machine's engine.
    _project(
        pytester,
        monkeypatch,
        SUITE.replace("@pytest.mark.param", "@pytest.mark.docker\n@pytest.mark.param"),
    )
    first, second = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    result, _, _ = _run(pytester, "-n", "2", "--docker-required", f"--docker-pool={first},{second}")
    result.assert_outcomes(errors=8)  # at setup, by the marker
    result.stdout.fnmatch_lines(
        [
            "docker: no working endpoint (mode auto); tests that need Docker will fail",
            "*no working Docker endpoint (mode auto, from --docker-pool).*",
            f"*--docker-pool entry 1: {first}*",
            f"*--docker-pool entry 2: {second}*",
        ]
    )


def test_a_scope_stays_on_one_engine_under_loadscope(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    engine: Any,
    second_engine: NestedEngine,
) -> None:
    head = "import pytest\n\nfrom service import fetch_from_a_service\n\n\n"
    tag = _project(pytester, monkeypatch, head + SCOPED)
    _tls_env(monkeypatch, second_engine)
    pool = f"{HERE},{second_engine.tls_url}"
    result, began, ended = _run(pytester, "-n", "4", "--dist", "loadscope", f"--docker-pool={pool}")
    result.assert_outcomes(passed=9)
    where: dict[str, set[str]] = {}
    for url, client in ((HERE, engine), (second_engine.tls_url, second_engine.client)):
        for name in _ran(client, tag, began, ended):
            where.setdefault(name.split("-")[1], set()).add(url)
    assert sorted(where) == ["alpha", "beta", "gamma"], where
    assert all(len(urls) == 1 for urls in where.values()), where


# Three xdist groups, their tests interleaved in one module (loadscope would not group
# them). pytest-xdist 3.8's loadgroup groups nothing under pytest 9.2 (it renames items
# through ``item._nodeid``, which pytest 9.2 no longer reads; pytest-xdist issue 1386), with
# or without us: this runs under pytest 9.1, which .ci/run installs beside the suite's.
GROUPED = "\n".join(
    f"@pytest.mark.xdist_group(name='{group}')\n"
    f"def test_{group}_{n}():\n"
    f"    fetch_from_a_service('{group}-{n}')\n"
    for n in range(3)
    for group in ("alpha", "beta", "gamma")
)
GROUPING_PYTHON = "PDH_GROUPING_PYTHON"  # a venv whose pytest-xdist groups (pytest 9.1)


def test_a_group_stays_on_one_engine_under_loadgroup(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    engine: Any,
    second_engine: NestedEngine,
) -> None:
    python = os.environ.get(GROUPING_PYTHON, "")
    if not python:
        why = f"{GROUPING_PYTHON} names no Python whose pytest-xdist groups (.ci/run sets it)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    head = "import pytest\n\nfrom service import fetch_from_a_service\n\n\n"
    tag = _project(pytester, monkeypatch, head + GROUPED)
    _tls_env(monkeypatch, second_engine)
    pool = f"{HERE},{second_engine.tls_url}"
    command = [python, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider", "-v",
               "-n", "4", "--dist", "loadgroup", f"--docker-pool={pool}"]  # fmt: skip
    began = time.time()
    done = subprocess.run(command, cwd=pytester.path, capture_output=True, text=True,
                          timeout=240, check=False)  # fmt: skip
    ended = time.time()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "9 passed" in output, output
    # xdist grouped them (its ids carry the group): otherwise nothing here would be shown.
    assert len(re.findall(r"PASSED test_suite\.py::test_\w+@(alpha|beta|gamma)", output)) == 9
    assignment = _assignment(output.splitlines())
    where: dict[str, set[str]] = {}
    for url, client in ((HERE, engine), (second_engine.tls_url, second_engine.client)):
        for name in _ran(client, tag, began, ended):
            worker, group = name.split("-")[:2]
            assert worker in assignment[url], (name, url, assignment)  # where the header says
            where.setdefault(group, set()).add(url)
    assert sorted(where) == ["alpha", "beta", "gamma"], where
    assert all(len(urls) == 1 for urls in where.values()), where


def test_a_context_entry_brings_its_own_tls(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    engine: Any,
    second_engine: NestedEngine,
) -> None:
    """The second engine as a docker context with its certificates, made by the docker CLI:
    no TLS variable is set, so only the context's own files can reach it."""
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(4)"))
    config = pytester.path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    for name in ("DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    certs = second_engine.certs
    assert certs is not None
    endpoint = (f"host={second_engine.tls_url},ca={certs / 'ca.pem'},"
                f"cert={certs / 'cert.pem'},key={certs / 'key.pem'}")  # fmt: skip
    made = subprocess.run(["docker", "context", "create", "build-2", "--docker", endpoint],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    result, began, ended = _run(pytester, "-n", "2", f"--docker-pool={HERE},build-2")
    result.assert_outcomes(passed=4)
    assignment = _assignment(result.outlines)
    assert sorted(assignment) == sorted([HERE, second_engine.tls_url]), assignment
    for url, client in ((HERE, engine), (second_engine.tls_url, second_engine.client)):
        ran = {name.split("-")[0] for name in _ran(client, tag, began, ended)}
        assert ran, (url, assignment)  # each engine ran some of the suite...
        assert ran <= assignment[url], (url, ran, assignment)  # ...by its own workers


def test_without_workers_the_first_engine_that_answers_is_used_and_said(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(2)"))
    down = f"tcp://127.0.0.1:{free_port()}"
    result, began, ended = _run(pytester, "-p", "no:xdist", f"--docker-pool={HERE},{down}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"docker: pool of 2 engines (from --docker-pool): no xdist workers, so this run "
            f"uses the first that answers, {HERE}; not tried: {down}",
        ]
    )
    assert len(_ran(engine, tag, began, ended)) == 2


@pytest.mark.usefixtures("sidecar")
def test_sidecar_mode_starts_its_one_sidecar_on_the_first_engine_that_answers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    # testcontainers reached through service.py only: the workers still count the tests.
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(4)"))
    down = f"tcp://127.0.0.1:{free_port()}"
    result, began, ended = _run(
        pytester,
        *("-n", "2", "--docker-mode=sidecar", f"--docker-preload={BUSYBOX}"),
        f"--docker-pool={down},{HERE}",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            f"docker: pool of 2 engines (from --docker-pool): sidecar mode starts its one "
            f"sidecar on the first that answers, {HERE}; every worker uses the sidecar",
            f"docker: note: --docker-pool entry 1 ({down}) is left out: *",
        ]
    )
    assert _ran(engine, tag, began, ended) == [], "the services ran in the sidecar"


CRASH = """
import os

from service import fetch_from_a_service


def test_a_worker_dies_once(tmp_path_factory):
    mark = tmp_path_factory.getbasetemp().parent / "died"
    if not mark.exists():
        mark.write_text("once")
        os._exit(1)


def test_then_services_answer():
    for n in range(3):
        fetch_from_a_service(f"after-{n}")
"""


def test_a_worker_xdist_restarts_is_pinned_too(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    engine: Any,
    second_engine: NestedEngine,
) -> None:
    tag = _project(pytester, monkeypatch, CRASH)
    _tls_env(monkeypatch, second_engine)
    report = pytester.path / "report.json"
    pool = f"{HERE},{second_engine.tls_url}"
    result, began, ended = _run(
        pytester, "-n", "2", f"--docker-pool={pool}", f"--docker-report={report}"
    )
    result.assert_outcomes(passed=1, failed=1)  # the crash is reported as a failure
    assignment = json.loads(report.read_text())["pool"]["assignment"]
    assert set(assignment) == {"gw0", "gw1", "gw2"}, assignment  # gw2 replaced the dead one
    ran = {
        url: {name.split("-")[0] for name in _ran(client, tag, began, ended)}
        for url, client in ((HERE, engine), (second_engine.tls_url, second_engine.client))
    }
    for url, workers in ran.items():
        assert all(assignment[worker] == url for worker in workers), (ran, assignment)
    assert any(ran.values()), ran
