"""pytest-xdist across hosts (issue 23, item 1): ``--tx ssh=...`` runs workers on other
machines, each with its own engine. A worker there resolves on its own host, with that
host's environment; the controller lists each host's endpoint and its workers in its
summary and its JSON report; a host without a working engine fails that host's Docker
tests with the diagnosis, naming the host.

The hosts are containers with sshd, dockerd (publishing on their own loopback only) and
python with pytest, pytest-xdist, testcontainers and docker (``REMOTE_PYTHON``); the plugin
is installed there from a wheel built from this checkout, the suite is put there with
``ssh ... tar`` as users do, and the controller runs here. The engines' own events say
which containers ran where. (Local ``-n 2`` workers sharing the controller's endpoint and
its one sidecar: tests/integration/test_worker_handover.py.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, ROOT
from ..e2e.helpers import LABEL, Run, build_wheel
from ..helpers import engine_events
from .hosts import REMOTE_PYTHON, RemoteHost, remote_host

pytestmark = pytest.mark.e2e

PYTHON = "/opt/venv/bin/python"  # the hosts' interpreter, with the suite's requirements
SUITE_DIR = "/srv/suite"  # where the suite is put on each host
WORKERS_PER_HOST = 2
TIMEOUT = 300
WORKER_LABEL = "org.pytest-dockerhost.test.worker"  # which xdist worker started it
SESSION = "org.testcontainers.session-id"

# 16 tests that ask for no plugin fixture: a service and a fetch of its published port.
SERVICES = f'''\
import os
import time
import urllib.request

import pytest
from testcontainers.core.container import DockerContainer


def labels():
    worker = os.environ["PYTEST_XDIST_WORKER"]
    return {{"{LABEL}": os.environ["XHOSTS_LABEL"], "{WORKER_LABEL}": worker}}


def fetch(url):
    deadline = time.monotonic() + 10
    while True:  # httpd may take a moment after the start to listen
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("n", range(16))
def test_service_answers(n):
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80).with_kwargs(labels=labels()) as c:
        url = f"http://{{c.get_container_host_ip()}}:{{c.get_exposed_port(80)}}/"
        assert fetch(url) == "pytest-dockerhost-test ok"


def test_leaves_a_service_running():
    # Not stopped: the reaper of this worker's run on this host's engine removes it.
    DockerContainer("{BUSYBOX}").with_kwargs(labels=labels()).start()
'''
CLIENT = f'''\
import os


def test_client_runs_a_container(docker_client):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    labels = {{"{LABEL}": os.environ["XHOSTS_LABEL"], "{WORKER_LABEL}": worker}}
    out = docker_client.containers.run("{BUSYBOX}", ["echo", "hello"], labels=labels, remove=True)
    assert out == b"hello\\n"


def test_client_pings(docker_client):
    assert docker_client.ping()
'''
TESTS = 16 + 1 + 2
STARTS = 16 + 1 + 1  # containers the suite starts
# conftest.py: the run's label, given on the controller's command line (-o): its ini
# reaches every worker in its args, as settings given there do.
CONFTEST = """\
import os


def pytest_configure(config):
    os.environ["XHOSTS_LABEL"] = config.getini("xhosts_label")


def pytest_addoption(parser):
    parser.addini("xhosts_label", "label value for what the suite creates")
"""
SUITE = {"conftest.py": CONFTEST, "test_services.py": SERVICES, "test_client.py": CLIENT}


@pytest.fixture(scope="module")
def remote_python(engine: Any, remote_images: None) -> None:
    """The hosts' image, built (cached by tag) when missing."""
    subprocess.run(["bash", str(ROOT / "tests/images/build.sh"), "remote-python"], check=True)


def _put_wheel(host: RemoteHost, wheel: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(wheel, arcname=wheel.name)
    assert host.container.put_archive("/var/tmp", buffer.getvalue())
    done = host.run(PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    f"/var/tmp/{wheel.name}")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def xhosts(
    engine: Any, remote_python: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RemoteHost]]:
    """Two hosts, each with its own engine and the plugin installed. Ryuk is off by the
    hosts' own environment (/etc/environment, read by sshd's PAM), as a build host's admin
    sets it: no registry gives its image."""
    wheel = build_wheel(tmp_path_factory.mktemp("wheel"))
    with contextlib.ExitStack() as stack:
        hosts = []
        for n in (1, 2):
            folder = tmp_path_factory.mktemp(f"xhost{n}")
            run_id = f"xhosts-{n}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            host = stack.enter_context(
                remote_host(engine, "docker", folder, run_id, image=REMOTE_PYTHON)
            )
            _put_wheel(host, wheel)
            done = host.run("sh", "-c", "echo TESTCONTAINERS_RYUK_DISABLED=true >>/etc/environment")
            assert done.returncode == 0, done.stderr
            hosts.append(host)
        yield hosts


def put_suite(host: RemoteHost, folder: Path) -> None:
    """The suite onto the host as users put it: tar through ssh."""
    packed = subprocess.run(["tar", "-C", str(folder), "-cf", "-", "."], capture_output=True,
                            check=True).stdout  # fmt: skip
    remote = f"rm -rf {SUITE_DIR} && mkdir -p {SUITE_DIR} && tar -C {SUITE_DIR} -xf -"
    done = subprocess.run(host.ssh_command(host.address, remote), input=packed,
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()


def tx(host: RemoteHost) -> str:
    spec = f"ssh=root@{host.address}//ssh_config={host.ssh_config}"
    return f"{WORKERS_PER_HOST}*{spec}//python={PYTHON}//chdir={SUITE_DIR}"


def run_controller(
    hosts: list[RemoteHost],
    folder: Path,
    label: str,
    *args: str,
    here: dict[str, str] | None = None,
) -> tuple[Run, dict[str, Any], float, float]:
    """pytest here, workers on ``hosts``: (run, its JSON report, began, ended). ``here``:
    variables of this machine's environment (the controller's)."""
    for host in hosts:
        put_suite(host, folder)
    report = folder.parent / f"report-{label}.json"
    spread = [part for host in hosts for part in ("--tx", tx(host))]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-d", *spread, "-rA",
               "-o", f"xhosts_label={label}", f"--docker-report={report}", *args]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DOCKER_"))}
    env.update(here or {})
    began = time.time()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)  # fmt: skip
    ended = time.time()
    run = Run(done.returncode, done.stdout + done.stderr)
    data = json.loads(report.read_text()) if report.exists() else {}
    return run, data, began, ended


def suite(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in SUITE.items():
        (folder / name).write_text(text)
    return folder


def started_by_worker(host: RemoteHost, label: str, began: float, ended: float) -> list[str]:
    """The worker label of every container of ours the host's engine started (its events)."""
    return [labels[WORKER_LABEL] for labels in started_labels(host, label, began, ended)]


def started_labels(
    host: RemoteHost, label: str, began: float, ended: float
) -> list[dict[str, str]]:
    """The labels of every container of ours the host's engine started (its events)."""
    events = host.events(began, ended, "type=container", "event=start", f"label={LABEL}={label}")
    return [event["Actor"]["Attributes"] for event in events]


def leftovers(host: RemoteHost, label: str) -> list[str]:
    done = host.inner("ps", "-aq", "--filter", f"label={LABEL}={label}")
    assert done.returncode == 0, done.stderr
    markers = host.inner("volume", "ls", "-q", "--filter", "name=pytest-dockerhost-run-")
    return done.stdout.split() + markers.stdout.split()


def host_lines(run: Run, *, before_tests: bool = False) -> dict[str, tuple[list[str], str]]:
    """The host lines: gateway -> (its workers, what it says about the endpoint). Those said
    before the first test (xdist's "N workers [M items]") with ``before_tests``."""
    found = {}
    lines = run.lines()
    if before_tests:
        lines = lines[: next(i for i, line in enumerate(lines) if " workers [" in line)]
    for line in lines:
        match = re.match(r"docker: ((?:gw\d+,?)+) on (ssh=\S+): (.*)$", line)
        if match:
            found[match[2]] = (match[1].split(","), match[3])
    return found


def test_workers_on_two_hosts_use_each_hosts_engine(
    xhosts: list[RemoteHost], engine: Any, tmp_path: Path
) -> None:
    label = f"xhosts-{uuid.uuid4().hex[:8]}"
    # This machine's engine under a socket path that exists only here: handed to the
    # workers (as before issue 23), it would fail every test there.
    only_here = tmp_path / "engine.sock"
    only_here.symlink_to("/var/run/docker.sock")
    here = {"DOCKER_HOST": f"unix://{only_here}"}
    run, report, began, ended = run_controller(xhosts, suite(tmp_path / "suite"), label, here=here)
    print(run)  # the controller's output, for a reader of -s
    assert run.exit_code == 0, str(run)
    assert f"{TESTS} passed" in run.output, str(run)

    lines = host_lines(run)
    assert sorted(lines) == sorted(f"ssh=root@{host.address}" for host in xhosts), str(run)
    assert host_lines(run, before_tests=True) == lines, str(run)  # and said once
    assert len([line for line in run.lines() if re.match(r"docker: gw\d", line)]) == 2, str(run)
    reported = {use["gateway"]: use for use in report["hosts"]}
    assert sorted(reported) == sorted(lines), report["hosts"]
    all_workers: list[str] = []
    for host in xhosts:
        place = f"ssh=root@{host.address}"
        workers, said = lines[place]
        assert len(workers) == WORKERS_PER_HOST, str(run)
        all_workers += workers
        # Its own socket, its engine's version; published ports on its own loopback.
        assert said.startswith("dood unix:///var/run/docker.sock (engine 20.10"), said
        use = reported[place]
        assert use["workers"] == workers, use
        assert use["endpoint"]["url"] == "unix:///var/run/docker.sock", use
        assert use["endpoint"]["engine"]["version"].startswith("20.10"), use
        # Each worker there is its own run on that engine: testcontainers labelled what
        # it started with that worker's session, not the controller's.
        assert len(set(use["sessions"])) == WORKERS_PER_HOST, use
        started_here = started_labels(host, label, began, ended)
        sessions = {labels[SESSION] for labels in started_here if SESSION in labels}
        assert sessions, started_here  # testcontainers' (docker_client's carry none)
        assert sessions <= set(use["sessions"]), (sessions, use["sessions"])
        # The host's engine's own events: its workers' containers ran there, and only theirs.
        started = started_by_worker(host, label, began, ended)
        assert set(started) == set(workers), (place, started, workers)
        # Each engine had its own reaper: the container left running is gone, and the
        # workers' run markers too.
        assert leftovers(host, label) == [], place
    assert sorted(all_workers) == [f"gw{n}" for n in range(2 * WORKERS_PER_HOST)]
    total = sum(len(started_by_worker(host, label, began, ended)) for host in xhosts)
    assert total == STARTS, total
    # Nothing of the suite ran on this machine's engine, and the controller resolved none.
    filters = {"type": "container", "event": "start", "label": f"{LABEL}={label}"}
    assert engine_events(engine, began, ended, filters) == []
    assert report["endpoint"] is None, report
    assert report["resolved"] is False, report


def test_a_host_without_engine_fails_its_tests_naming_the_host(
    xhosts: list[RemoteHost], tmp_path: Path
) -> None:
    good, bad = xhosts
    bad_place = f"ssh=root@{bad.address}"
    # The engine gone from where clients look for it (its dockerd is its container's main
    # process: stopping it would stop sshd too).
    moved = bad.run("mv", "/var/run/docker.sock", "/var/run/docker.sock.away")
    assert moved.returncode == 0, moved.stderr
    try:
        label = f"xhosts-{uuid.uuid4().hex[:8]}"
        folder = suite(tmp_path / "suite")
        run, report, began, ended = run_controller(xhosts, folder, label, "--docker-required")
    finally:
        back = bad.run("mv", "/var/run/docker.sock.away", "/var/run/docker.sock")
        assert back.returncode == 0, back.stderr
    assert run.exit_code == 1, str(run)
    lines = host_lines(run, before_tests=True)
    bad_workers, bad_said = lines[bad_place]
    good_workers, good_said = lines[f"ssh=root@{good.address}"]
    assert bad_said.startswith("no working Docker endpoint"), str(run)
    assert good_said.startswith("dood unix:///var/run/docker.sock"), str(run)
    failed = re.findall(r"^FAILED (\S+)", run.output, re.M)
    passed = re.findall(r"^PASSED (\S+)", run.output, re.M)
    assert failed, str(run)
    assert passed, str(run)
    assert len(failed) + len(passed) == TESTS, str(run)
    # Every failure is the diagnosis, naming the host, not a connection error's traceback.
    assert run.output.count(f"on the pytest-xdist host {bad_place}") >= len(failed), str(run)
    assert "/var/run/docker.sock" in run.output, str(run)
    # What passed ran on the good host's engine, by its workers.
    started = started_by_worker(good, label, began, ended)
    assert set(started) <= set(good_workers), (started, good_workers)
    assert not set(bad_workers) & set(good_workers)
    reported = {use["gateway"]: use for use in report["hosts"]}
    assert reported[bad_place]["endpoint"] is None, report
    assert reported[bad_place]["error"], report
