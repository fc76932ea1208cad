"""pytest-xdist workers on other hosts (run/hosts.py), told apart by execnet's gateway spec.

The run through pytester uses real execnet gateways: a local ``popen`` worker and two
``socket=`` workers, each served by execnet's own socket server started here with an
environment of its own (as another machine's would be): a fake Docker API stands in for
each engine (tests/helpers/servers.py). The ssh case, with real hosts and engines, is
tests/remote/test_xdist_hosts.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import execnet
import pytest

from pytest_dockerhost.cleanup.reaper import RunIdentity
from pytest_dockerhost.run.gateways import gateway_place
from pytest_dockerhost.run.hosts import RemoteWorkers, no_local_worker, worker_identity
from pytest_dockerhost.run.placement import local_workers

from ..helpers.servers import LoopbackServer, closed_port, docker_api, serving

SOCKET_SERVER = Path(execnet.__file__).parent / "script" / "socketserver.py"

ENGINE_TEST = """
import json
import os


def test_engine(docker_host):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    with open(os.path.join(os.environ["SEEN_DIR"], worker + ".json"), "w") as out:
        json.dump([docker_host.url, docker_host.engine_version], out)
"""


@pytest.mark.parametrize(
    ("spec", "place"),
    [
        ("popen", None),
        ("popen//python=/usr/bin/python3//chdir=/tmp/x", None),  # still this machine
        ("ssh=ci@build1//python=/opt/venv/bin/python//chdir=/srv", "ssh=ci@build1"),
        ("socket=127.0.0.1:8888//id=gw4", "socket=127.0.0.1:8888"),
        ("popen//via=build1//python=python3", "popen//via=build1"),  # on build1's host
    ],
)
def test_the_gateway_spec_says_where_a_worker_runs(spec: str, place: str | None) -> None:
    assert gateway_place(execnet.XSpec(spec)) == place


@pytest.mark.parametrize(
    ("options", "elsewhere"),
    [
        ({"tx": ["2*ssh=a", "socket=b:1"], "dist": "load"}, True),
        ({"tx": ["ssh=a", "popen"], "dist": "load"}, False),
        ({"tx": ["id=b1//ssh=a", "2*popen//via=b1"], "dist": "load"}, True),
        ({"tx": ["ssh=a"], "dist": "no", "distload": False}, False),  # not distributed
        ({"tx": ["popen", "popen"], "dist": "load", "numprocesses": 2}, False),  # -n 2
        ({"tx": [], "dist": "no"}, False),
    ],
)
def test_a_controller_resolves_nothing_only_when_every_worker_is_elsewhere(
    options: dict[str, object], elsewhere: bool
) -> None:
    assert no_local_worker(type("Options", (), options)()) is elsewhere


def test_the_pools_local_workers_are_the_popen_ones_not_those_via_another_host() -> None:
    tx = ["2*popen", "id=b1//ssh=ci@build1", "popen//via=b1", "popen//chdir=/tmp/x"]
    config = type("Config", (), {"getvalue": staticmethod(lambda name: tx)})()
    # execnet numbers the specs without an id: gw0, gw1, (b1), gw2 on build1, gw3.
    assert local_workers(config) == ["gw0", "gw1", "gw3"]


def test_a_worker_elsewhere_gets_its_own_identity_derived_from_the_runs() -> None:
    run = RunIdentity.new()
    gw0, again, gw1 = (worker_identity(run, w) for w in ("gw0", "gw0", "gw1"))
    assert gw0 == again
    assert len({run.run_id, gw0.run_id, gw1.run_id}) == 3
    assert len({run.session, gw0.session, gw1.session}) == 3
    assert worker_identity(RunIdentity.new(), "gw0") != gw0


def test_workers_are_grouped_by_host_and_endpoint_in_worker_order() -> None:
    no_engine = "no working Docker endpoint (mode auto, from default).\n  more"
    found = "docker: dood unix:///var/run/docker.sock (engine 20.10.24, API 1.41) via ..."
    endpoint = {"url": "unix:///var/run/docker.sock"}
    workers = RemoteWorkers()
    for worker, place, summary, error in [
        ("gw10", "ssh=b", "", no_engine),
        ("gw2", "ssh=a", "", ""),
        ("gw1", "ssh=b", "", no_engine),
        ("gw3", "", "", ""),  # a local worker's output carries no place: not listed
        ("gw5", "ssh=c", found, ""),
        ("gw4", "ssh=c", found, ""),
    ]:
        output = {"elsewhere": place, "summary": summary, "error": error, "session": worker}
        workers.add(worker, {**output, "endpoint": endpoint if summary else None})
    uses = workers.uses()
    assert [use.sessions for use in uses] == [("gw1", "gw10"), ("gw2",), ("gw4", "gw5")]
    assert [use.line() for use in uses] == [
        "docker: gw1,gw10 on ssh=b: no working Docker endpoint (mode auto, from default).",
        "docker: gw2 on ssh=a: no test needed Docker there",
        "docker: gw4,gw5 on ssh=c: dood unix:///var/run/docker.sock (engine 20.10.24, API "
        "1.41) via ...",
    ]
    assert uses[2].report() == {
        "gateway": "ssh=c",
        "workers": ["gw4", "gw5"],
        "endpoint": endpoint,
        "error": "",
        "sessions": ["gw4", "gw5"],
    }


@pytest.fixture
def socket_host() -> Iterator[object]:
    """Start execnet socket servers on loopback, each with a DOCKER_HOST of its own."""
    started: list[subprocess.Popen[bytes]] = []

    def start(docker_host: str) -> str:
        port = closed_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PYTEST_"))}
        env["DOCKER_HOST"] = docker_host
        command = [sys.executable, str(SOCKET_SERVER), f"127.0.0.1:{port}"]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        started.append(server)
        deadline = time.monotonic() + 10
        while subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True, check=False).stdout.strip() == "":  # fmt: skip
            assert server.poll() is None, "execnet's socket server exited"
            assert time.monotonic() < deadline, "execnet's socket server does not listen"
            time.sleep(0.05)
        return f"socket=127.0.0.1:{port}"

    yield start
    for server in started:
        server.kill()
        server.wait()


def test_socket_workers_resolve_on_their_host_and_popen_ones_adopt(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, socket_host: object
) -> None:
    seen = pytester.path / "seen"
    seen.mkdir()
    monkeypatch.setenv("SEEN_DIR", str(seen))
    pytester.makepyfile(test_engine=ENGINE_TEST)
    with (
        serving(docker_api(version="28.5.2", api_version="1.51")) as here,
        serving(docker_api(version="20.10.24")) as there,
    ):
        monkeypatch.setenv("DOCKER_HOST", here.url)  # the controller's and its popen worker's
        assert callable(socket_host)
        with_engine = socket_host(there.url)
        without = socket_host(f"tcp://127.0.0.1:{closed_port()}")
        chdir = f"//chdir={pytester.path}"
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--dist", "each", "--tx", "popen",
            "--tx", with_engine + chdir, "--tx", without + chdir, "--docker-required", "-rA",
        )  # fmt: skip
        _check(result, here=here, there=there, seen=seen, with_engine=with_engine, without=without)


def _check(
    result: pytest.RunResult,
    *,
    here: LoopbackServer,
    there: LoopbackServer,
    seen: Path,
    with_engine: str,
    without: str,
) -> None:
    # gw0, local: the controller's endpoint. gw1: its own host's. gw2: none, named.
    recorded = {path.stem: json.loads(path.read_text()) for path in seen.iterdir()}
    assert recorded == {"gw0": [here.url, "28.5.2"], "gw1": [there.url, "20.10.24"]}
    result.stdout.fnmatch_lines_random(
        [
            f"docker: dind {here.url} (engine 28.5.2, API 1.51, TLS off) via DOCKER_HOST*",
            f"docker: gw1 on {with_engine}: dind {there.url} (engine 20.10.24, API 1.41*",
            f"docker: gw2 on {without}: no working Docker endpoint (mode auto*",
            f"*on the pytest-xdist host {without} (worker gw2; it finds its own Docker*",
        ]
    )
    result.assert_outcomes(passed=2, errors=1)  # its fixture failed, as without an engine here
    # Each host's line comes before the first test (xdist's "3 workers [1 item]"), once.
    lines = result.stdout.lines
    first_test = next(i for i, line in enumerate(lines) if line.startswith("3 workers ["))
    for place in (with_engine, without):
        said = [
            i for i, line in enumerate(lines) if line.startswith("docker: gw") and place in line
        ]
        assert len(said) == 1, lines
        assert said[0] < first_test, lines
