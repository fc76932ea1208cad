"""An engine pool of sidecars (``sidecar``, ``sidecar*N`` in ``--docker-pool``): TLS dind
sidecars the run starts on this machine's engine, each a pool engine of its own.

The suites request no plugin fixture (test_pool.py's: a busybox service per test, started
with testcontainers). A sidecar is gone when the run ends, so its own events are read while
the run is held at its end: the inner conftest's controller-side ``pytest_sessionfinish``
(called before the plugin's) writes ``held`` and waits for ``go``. Meanwhile the test reads
each sidecar's ``/events`` with the run's client certificates, and knocks at its port
without them.
"""

from __future__ import annotations

import glob
import http.client
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, SYSTEM_SOCKET
from ..helpers import engine_events
from .test_pool import SERVICE, SUITE, _ran
from .test_sidecar import _make_image

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images", "sidecar")]

HERE = f"unix://{SYSTEM_SOCKET}"
LABEL_RUN = "org.pytest-dockerhost.run"
LABEL_ROLE = "org.pytest-dockerhost.role"

HOLD = """
import os
import time

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    folder = os.environ.get("POOL_HOLD")
    if hasattr(session.config, "workerinput") or not folder:
        return
    open(os.path.join(folder, "held"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "go")) and time.monotonic() < deadline:
        time.sleep(0.1)
"""

WAIT = """
import os
import time


def test_waits_to_be_killed():
    worker = os.environ["PYTEST_XDIST_WORKER"]
    open(os.path.join(os.environ["POOL_HOLD"], "running-" + worker), "w").close()
    time.sleep(120)
"""


class Run:
    """One inner pytest run in a process of its own, its output in a file."""

    def __init__(self, path: Path, args: list[str]) -> None:
        self.path = path
        self.out = path / "out.txt"
        self.began = time.time()
        with self.out.open("wb") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "dockerhost",
                    "-p",
                    "no:cacheprovider",
                    *args,
                ],
                cwd=path,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the test kills its own process group at the end
            )

    @property
    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (self.path / name).exists():
            assert self.process.poll() is None, self.text
            assert time.monotonic() < deadline, f"no {name}:\n{self.text}"
            time.sleep(0.1)

    def end(self, timeout: float = 120) -> str:
        (self.path / "go").touch()
        self.process.wait(timeout)
        return self.text

    def kill_all(self) -> None:
        """Everything the run started here (a worker a killed controller left)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@contextmanager
def inner_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str
) -> Iterator[Run]:
    monkeypatch.setenv("POOL_HOLD", str(pytester.path))
    run = Run(pytester.path, [*args, f"--docker-preload={BUSYBOX}"])
    try:
        yield run
    finally:
        (pytester.path / "go").touch()
        run.kill_all()


def _project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: str) -> str:
    tag = os.urandom(5).hex()
    monkeypatch.setenv("POOL_TAG", tag)
    pytester.makepyfile(service=SERVICE, test_suite=suite, conftest=HOLD)
    return tag


def _pool_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("docker: pool of "))


def _sidecars(text: str) -> dict[int, tuple[str, set[str]]]:
    """The header's pool line: sidecar number -> (its URL, the workers pinned to it)."""
    found: dict[int, tuple[str, set[str]]] = {}
    for part in _pool_line(text).split("): ", 1)[1].split("; "):
        match = re.fullmatch(r"sidecar #(\d) (\S+) on (\S+) \([^)]*\) -> (.*)", part)
        if match is not None:
            found[int(match.group(1))] = (match.group(2), set(match.group(4).split(", ")))
    return found


def _run_id(engine: Any, url: str) -> str:
    """The run's id, from the labels of the sidecar that publishes ``url``'s port here."""
    port = int(url.rsplit(":", 1)[1])
    for entry in engine.api.containers(filters={"label": f"{LABEL_ROLE}=sidecar"}):
        if any(p.get("PublicPort") == port for p in entry.get("Ports") or ()):
            return str(entry["Labels"][LABEL_RUN])
    raise AssertionError(f"no sidecar publishes {url}")


def _client_certs(run_id: str, number: int) -> str:
    found = glob.glob(
        os.path.join(tempfile.gettempdir(), f"pytest-dockerhost-{run_id}-sidecar{number}-*")
    )
    assert len(found) == 1, found
    return os.path.join(found[0], "client")


def _sidecar_client(url: str, certs: str) -> Any:
    import docker

    tls = docker.tls.TLSConfig(
        client_cert=(f"{certs}/cert.pem", f"{certs}/key.pem"),
        ca_cert=f"{certs}/ca.pem",
        verify=True,
    )
    client = docker.DockerClient(
        base_url=url.replace("tcp://", "https://"), tls=tls, timeout=30, version="1.41"
    )
    client.api.trust_env = False  # REQUESTS_CA_BUNDLE would replace the sidecar's CA
    return client


def _knock_without_client_cert(url: str, certs: str) -> None:
    """A plain request, then TLS without a client certificate: neither gets /_ping."""
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    plain = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        plain.request("GET", "/_ping")
        reply = plain.getresponse()
        assert reply.status == 400, reply.status
        assert b"HTTPS" in reply.read()
    finally:
        plain.close()
    context = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    context.check_hostname = False
    no_cert = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
    try:
        no_cert.request("GET", "/_ping")
        no_cert.getresponse().read()
    except OSError:  # the handshake refused, or the connection dropped after it
        pass
    else:
        raise AssertionError(f"{url} answered a client without a certificate")
    finally:
        no_cert.close()


def _left_on(engine: Any, run_id: str) -> list[str]:
    """What carries the run's label on this engine: containers, volumes, networks."""
    label = f"{LABEL_RUN}={run_id}"
    api = engine.api
    left = [f"container {c['Names']}" for c in api.containers(all=True, filters={"label": label})]
    left += [
        f"volume {v['Name']}" for v in api.volumes(filters={"label": label}).get("Volumes") or []
    ]
    left += [f"network {n['Name']}" for n in api.networks(filters={"label": label})]
    return left


def _sidecar_events(events: list[Any], action: str) -> list[tuple[str, int]]:
    """(name, time in ns) of the pool sidecars' containers in the engine's ``events`` with
    this ``action`` (a pool sidecar is named pytest-dockerhost-RUN-NUMBER)."""
    found = [
        (str(e["Actor"]["Attributes"].get("name", "")), int(e["timeNano"]))
        for e in events
        if e["Action"] == action
    ]
    return [(n, t) for n, t in found if re.fullmatch(r"pytest-dockerhost-[0-9a-f]+-\d", n)]


def test_two_sidecars_each_run_the_containers_of_the_workers_pinned_to_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    tag = _project(pytester, monkeypatch, SUITE)
    with inner_run(pytester, monkeypatch, "-n", "4", "--docker-pool=sidecar*2") as run:
        run.wait_for("held")
        text = run.text
        sidecars = _sidecars(text)
        assert sorted(sidecars) == [1, 2], _pool_line(text)
        run_id = _run_id(engine, sidecars[1][0])
        names = {n: f"pytest-dockerhost-{run_id}-{n}" for n in sidecars}
        # Two sidecars of their own, labelled with the run, each on loopback only.
        for name in names.values():
            ports = engine.api.inspect_container(name)["HostConfig"]["PortBindings"]
            assert {b["HostIp"] for binds in ports.values() for b in binds} == {"127.0.0.1"}
        ran: dict[int, list[str]] = {}
        for number, (url, _) in sidecars.items():
            certs = _client_certs(run_id, number)
            assert os.stat(os.path.dirname(certs)).st_mode & 0o777 == 0o700
            assert os.stat(f"{certs}/key.pem").st_mode & 0o777 == 0o600
            _knock_without_client_cert(url, certs)
            client = _sidecar_client(url, certs)
            try:
                ran[number] = _ran(client, tag, run.began, time.time())
            finally:
                client.close()
        text = run.end()
    assert "8 passed" in text, text
    assert len(ran[1]) + len(ran[2]) == 8, ran
    for number, (_, workers) in sidecars.items():
        assert len(workers) == 2, sidecars
        assert {name.split("-")[0] for name in ran[number]} == workers, (ran, sidecars)
    # Nothing of the run's is left on this machine's engine, and its folders are gone.
    assert _left_on(engine, run_id) == []
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"pytest-dockerhost-{run_id}-*")) == []
    # Each sidecar's start and removal, on this machine's engine, by their names.
    events = engine_events(engine, run.began, time.time() + 1, {"type": "container"})
    seen = {(e["Actor"]["Attributes"].get("name"), e["Action"]) for e in events}
    for name in names.values():
        assert {(name, "start"), (name, "destroy")} <= seen, name


def test_a_mixed_pool_runs_one_worker_here_and_one_in_its_sidecar(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(4)"))
    with inner_run(pytester, monkeypatch, "-n", "2", f"--docker-pool={HERE},sidecar") as run:
        run.wait_for("held")
        text = run.text
        line = _pool_line(text)
        assert f"{HERE} (" in line, line
        sidecars = _sidecars(text)
        assert list(sidecars) == [1], line
        url, there_workers = sidecars[1]
        run_id = _run_id(engine, url)
        client = _sidecar_client(url, _client_certs(run_id, 1))
        try:
            there = _ran(client, tag, run.began, time.time())
        finally:
            client.close()
        text = run.end()
    assert "4 passed" in text, text
    here = _ran(engine, tag, run.began, time.time())
    assert len(here) + len(there) == 4, (here, there)
    here_workers = {name.split("-")[0] for name in here}
    assert len(here_workers) == 1, here
    assert {name.split("-")[0] for name in there} == there_workers, (there, line)
    assert len(there_workers) == 1, line
    assert here_workers != there_workers, line
    assert _left_on(engine, run_id) == []


def test_the_sidecars_of_a_run_killed_with_kill_9_are_swept_by_the_next_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    _project(pytester, monkeypatch, WAIT)
    with inner_run(pytester, monkeypatch, "-n", "1", "--docker-pool=sidecar*2") as run:
        run.wait_for("running-gw0")
        run_id = _run_id(engine, _sidecars(run.text)[1][0])
        names = [f"pytest-dockerhost-{run_id}-{n}" for n in (1, 2)]
        assert all(engine.api.inspect_container(n)["State"]["Running"] for n in names)
        run.process.send_signal(signal.SIGKILL)  # the controller alone
        run.process.wait(10)
    assert _left_on(engine, run_id), "the killed run left its sidecars (the test's premise)"
    # Any next run that resolves this engine sweeps them, and their folders.
    (pytester.path / "test_suite.py").unlink()
    pytester.makepyfile(test_next="def test_next(docker_client):\n    docker_client.ping()\n")
    result = pytester.runpytest_subprocess("-p", "dockerhost", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    deadline = time.monotonic() + 30  # the sweep runs beside the run; the run's end waits
    while _left_on(engine, run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _left_on(engine, run_id) == []
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"pytest-dockerhost-{run_id}-*")) == []


def test_sidecars_that_do_not_start_are_left_out_and_their_workers_go_to_the_others(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    # Sidecars whose daemon never answers (a fast engine starts a real one within half a
    # second, so a short timeout alone does not make the start fail).
    silent = "pytest-dockerhost-test/dind-silent-pool:local"
    entry = '["sh", "-c", "echo dockerd is thinking about it; sleep 600"]'
    _make_image(engine, silent, [f"ENTRYPOINT {entry}", 'CMD [""]'])
    monkeypatch.setenv("PYTEST_DOCKER_SIDECAR_IMAGE", silent)
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(4)"))
    timeout = 5
    began = time.time()
    try:
        result = pytester.runpytest_subprocess(
            *("-p", "dockerhost", "-p", "no:cacheprovider", "-n", "2"),
            f"--docker-timeout={timeout}",
            f"--docker-pool=sidecar*2,{HERE}",
            f"--docker-preload={BUSYBOX}",
            timeout=240,
        )
    finally:
        engine.api.remove_image(silent, force=True)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            f"docker: pool of 3 engines (from --docker-pool): {HERE} (*) -> gw0, gw1",
            "docker: note: --docker-pool entry 1 (sidecar #1) is left out: the sidecar's daemon"
            " * was not ready within *",
            "docker: note: --docker-pool entry 1 (sidecar #2) is left out: the sidecar's daemon"
            " * was not ready within *",
            "*; its workers go to the others",  # after the daemon's log lines
        ]
    )
    assert {name.split("-")[0] for name in _ran(engine, tag, began, time.time())} == {"gw0", "gw1"}
    events = engine_events(engine, began, time.time() + 1, {"type": "container"})

    started = _sidecar_events(events, "start")
    assert len(started) == 2, events
    # Side by side: one after the other, the second would start once the first's wait
    # for its daemon had run out.
    first, second = sorted(t for _, t in started)
    assert (second - first) / 1e9 < timeout, started
    # What their start made is gone at once: the engine destroyed it during the run.
    made = {n for n, _ in _sidecar_events(events, "create")}
    assert made == {n for n, _ in started}, events
    assert made <= {n for n, _ in _sidecar_events(events, "destroy")}, events


def test_the_sidecars_image_is_pulled_once_with_its_progress_said(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    # A registry on a closed loopback port: the pull fails without any outside traffic.
    image = "127.0.0.1:9/pytest-dockerhost-test/missing:1"
    monkeypatch.setenv("PYTEST_DOCKER_SIDECAR_IMAGE", image)
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(2)"))
    began = time.time()
    result = pytester.runpytest_subprocess(
        *("-p", "dockerhost", "-p", "no:cacheprovider", "-n", "2"),
        f"--docker-pool=sidecar*2,{HERE}",
        timeout=240,
    )
    result.assert_outcomes(passed=2)
    said = result.stdout.lines
    pulling = f"docker: pulling sidecar image {image} (not on {HERE} yet)"
    assert said.count(pulling) == 1, result.stdout.str()
    failed = (
        f"the sidecar image {image} (from PYTEST_DOCKER_SIDECAR_IMAGE) is not on {HERE} and"
        " pulling it failed: "
    )
    for number in (1, 2):  # both of entry 1, sidecar*2
        left_out = f"docker: note: --docker-pool entry 1 (sidecar #{number}) is left out: "
        (note,) = [line for line in said if line.startswith(left_out + failed)]
        assert note.endswith("contract works; its workers go to the others"), note
    result.stdout.fnmatch_lines(
        [f"docker: pool of 3 engines (from --docker-pool): {HERE} (*) -> gw0, gw1"]
    )
    assert sorted(name.split("-")[0] for name in _ran(engine, tag, began, time.time())) == [
        "gw0",
        "gw1",
    ]
    assert "Traceback" not in result.stdout.str()


def test_without_workers_only_the_first_sidecar_starts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any
) -> None:
    tag = _project(pytester, monkeypatch, SUITE.replace("range(8)", "range(2)"))
    began = time.time()
    result = pytester.runpytest_subprocess(
        *("-p", "dockerhost", "-p", "no:cacheprovider", "-p", "no:xdist"),
        *("--docker-pool=sidecar*2", f"--docker-preload={BUSYBOX}"),
        timeout=240,
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "docker: pool of 2 engines (from --docker-pool): no xdist workers, so this run uses"
            " the first that answers, sidecar #1 tcp://127.0.0.1:* on *; not tried: sidecar #2",
        ]
    )
    assert _ran(engine, tag, began, time.time()) == [], "the services ran in the sidecar"
    events = engine_events(engine, began, time.time() + 1, {"type": "container", "event": "create"})
    assert len(_sidecar_events(events, "create")) == 1, events
