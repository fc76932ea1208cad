"""Faults of a run whose engine is on another machine (issue 21, item 5): kill -9 and Ctrl-C
of pytest (and how long the reaper makes them wait), the SSH connection cut or silently
dropped mid-run, SSH refusing at start, and no paramiko.

Each test runs a real pytest as the remote's user (``RemoteHost.as_user``) on a suite that
asks for no plugin fixture, with ``DOCKER_HOST=ssh://...``, and then looks at both
machines: this one's ssh processes, the remote's per-connection sshd processes, and the
remote engine's containers, volumes and events. Each inner run gets a TMPDIR of its own,
which holds its ``pytest-dockerhost-ssh-`` folder: that path in an ssh command line
names the run's ssh processes, and no one else's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..e2e.plain import LIBRARY_FRAME
from .hosts import RemoteHost

pytestmark = pytest.mark.faults

PAGE = "pytest-dockerhost-test ok"
SSH_FOLDER = "pytest-dockerhost-ssh-"
SESSION_LABEL = "org.testcontainers.session-id"
RUN_LABEL = "org.pytest-dockerhost.run"
MARKER_PREFIX = "pytest-dockerhost-run-"
GONE_WITHIN = 5.0  # seconds: "within a few seconds" of the run's end
CUT_RUN_WITHIN = 30.0  # seconds from the cut to the end of the whole run
START_FAILS_WITHIN = 20.0  # seconds for a whole run whose SSH connection is refused
INNER_TIMEOUT = 180.0
# Podman's force-remove first waits out the container's stop timeout (busybox's httpd, pid
# 1, ignores SIGTERM); Docker's kills at once. A Ctrl-C pays it for testcontainers' own
# removal and, until the reaper kills first, for the reaper's.
STOP_WAIT = {"docker": 0.0, "podman": 10.0}
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly")

# Three containers: one testcontainers holds (with), one it leaks (started, never
# stopped), and docker-py's own, which carries no label and so is no run's to remove.
HOLDS = """
import os
import pathlib
import time

import docker
from testcontainers.core.container import DockerContainer

IMAGE = "pytest-dockerhost-test/busybox:local"


def test_holds_containers():
    plain = docker.from_env().containers.run(IMAGE, detach=True)
    leaked = DockerContainer(IMAGE).with_exposed_ports(80)
    leaked.start()
    with DockerContainer(IMAGE).with_exposed_ports(80) as held:
        ids = [leaked.get_wrapped_container().id, held.get_wrapped_container().id, plain.id]
        pathlib.Path("held").write_text(" ".join([os.environ["DOCKER_HOST"], *ids]))
        time.sleep(600)
"""

LEAKS = """
import pathlib
import time

from testcontainers.core.container import DockerContainer

IMAGE = "pytest-dockerhost-test/busybox:local"


def test_leaks_running_containers():
    ids = []
    for _ in range(3):
        leaked = DockerContainer(IMAGE).with_exposed_ports(80)
        leaked.start()
        ids.append(leaked.get_wrapped_container().id)
    pathlib.Path("leaked").write_text(" ".join([repr(time.time()), *ids]))
"""

NEXT = """
import docker


def test_next():
    assert docker.from_env().ping()
"""

# The first test waits on the engine (a container that never exits) when the connection
# drops: only the drop ends that call. The later ones need Docker, the last does not.
CUT = """
import pathlib

import docker
from testcontainers.core.container import DockerContainer

IMAGE = "pytest-dockerhost-test/busybox:local"


def test_waits_on_the_engine():
    leaked = DockerContainer(IMAGE).with_exposed_ports(80)
    leaked.start()
    container = leaked.get_wrapped_container()
    pathlib.Path("ready").write_text(container.id)
    container.wait()


def test_testcontainers_after_the_cut():
    with DockerContainer(IMAGE).with_exposed_ports(80):
        pass


def test_docker_py_after_the_cut():
    docker.from_env().containers.list()


def test_without_docker():
    pass
"""

START = """
import docker
from testcontainers.core.container import DockerContainer

IMAGE = "pytest-dockerhost-test/busybox:local"


def test_testcontainers():
    with DockerContainer(IMAGE).with_exposed_ports(80):
        pass


def test_docker_py():
    docker.from_env().ping()


def test_without_docker():
    pass
"""

# docker-py reads DOCKER_HOST when the conftest is imported, before any test runs.
MODULE_CLIENT = """
import docker

CLIENT = docker.from_env()
"""

WITHOUT_PARAMIKO = """
import urllib.request

from conftest import CLIENT
from testcontainers.core.container import DockerContainer

IMAGE = "pytest-dockerhost-test/busybox:local"


def test_paramiko_is_missing():
    try:
        import paramiko  # noqa: F401
    except ImportError:
        return
    raise AssertionError("paramiko was importable")


def test_module_level_client():
    assert CLIENT.ping()
    print("E2E engine", CLIENT.info()["ID"])


def test_container():
    with DockerContainer(IMAGE).with_exposed_ports(80) as web:
        url = f"http://{web.get_container_host_ip()}:{web.get_exposed_port(80)}/"
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.read().decode().strip() == "pytest-dockerhost-test ok"
"""


# --- the inner runs ------------------------------------------------------------------------


class Inner:
    """One pytest run in ``project`` as the remote's user; its output once it ended."""

    def __init__(self, host: RemoteHost, project: Path, env: dict[str, str], *args: str) -> None:
        command = host.as_user(sys.executable, "-m", "pytest", *INNER_ARGS, *args)
        self.began = time.monotonic()
        self.proc = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a Ctrl-C reaches it alone
        )
        self.output = ""
        self.seconds = 0.0  # from its start to its end

    @property
    def code(self) -> int | None:
        return self.proc.returncode

    def finish(self, timeout: float = INNER_TIMEOUT) -> str:
        """Wait (bounded) for the end; a run that hangs is killed and the test fails."""
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"pytest hung (killed after {timeout} s):\n{self.output}"
            ) from None
        self.seconds = time.monotonic() - self.began
        return self.output

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.output, _ = self.proc.communicate()

    def __enter__(self) -> Inner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __str__(self) -> str:
        return f"inner pytest exit code {self.code}; output:\n{self.output}"

    __repr__ = __str__  # assertion messages show the whole inner output


def run_to_end(host: RemoteHost, project: Path, env: dict[str, str], *args: str) -> Inner:
    with Inner(host, project, env, *args) as run:
        run.finish()
    return run


def write_project(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # the project's own rootdir
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    return folder


def inner_env(host: RemoteHost, tmp: Path, url: str = "", **extra: str) -> dict[str, str]:
    """This session's neutral environment (tests/conftest.py), as the remote's user, with
    DOCKER_HOST ``url`` (the remote's ssh:// URL by default) and TMPDIR ``tmp``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_ADDOPTS", "PYTEST_XDIST", "PYTHONPATH"))
    }
    env.update(host.env())
    env.update(
        DOCKER_HOST=url or host.ssh_url,
        TESTCONTAINERS_RYUK_DISABLED="true",  # no registry here
        TMPDIR=str(tmp),
    )
    env.update(extra)
    return env


@pytest.fixture
def scratch() -> Iterator[Path]:
    """The inner runs' TMPDIR: short, since it holds unix sockets (108 bytes at most). Any
    ssh process of theirs still there at the end is killed, by pid."""
    folder = Path(tempfile.mkdtemp(prefix="pdh-rf-", dir="/tmp"))
    try:
        yield folder
    finally:
        for line in ssh_processes(folder):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tidy(remote_docker: RemoteHost) -> Iterator[RemoteHost]:
    """The Docker remote; what the test's runs leave on its engine, and SSH sessions a
    partition left, are removed afterwards (after the test's own assertions)."""
    with tidied(remote_docker) as host:
        yield host


@pytest.fixture(params=["remote_docker", "remote_podman"])
def tidy_any(request: pytest.FixtureRequest) -> Iterator[RemoteHost]:
    """``tidy``, for the Docker and the Podman remote each."""
    with tidied(request.getfixturevalue(request.param)) as host:
        yield host


@contextlib.contextmanager
def tidied(host: RemoteHost) -> Iterator[RemoteHost]:
    containers = set(lines(host.inner("ps", "-aq", "--no-trunc")))
    volumes = set(lines(host.inner("volume", "ls", "-q")))
    try:
        yield host
    finally:
        new = set(lines(host.inner("ps", "-aq", "--no-trunc"))) - containers
        if new:
            host.inner(*remove(host), *sorted(new))
        new = set(lines(host.inner("volume", "ls", "-q"))) - volumes
        if new:
            host.inner("volume", "rm", "-f", *sorted(new))
        for line in sshd_sessions(host):
            host.run("kill", "-KILL", line.split()[0])


# --- what is left, on either side ----------------------------------------------------------


def remove(host: RemoteHost) -> tuple[str, ...]:
    """``rm -f`` at once: Podman's would first wait 10 s for httpd to stop on SIGTERM."""
    return ("rm", "-f", "-v", "-t", "0") if host.kind == "podman" else ("rm", "-f", "-v")


def lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, f"{done.args}: {done.stderr}"
    return done.stdout.split()


def ssh_processes(tmp: Path) -> list[str]:
    """Processes here whose command line names a run's SSH folder under ``tmp``."""
    done = subprocess.run(
        ["pgrep", "-a", "-f", f"{tmp}/{SSH_FOLDER}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.splitlines()


def sshd_sessions(host: RemoteHost) -> list[str]:
    """The remote's sshd processes but its listener: one set per connection."""
    done = host.run("pgrep", "-a", "sshd")
    return [line for line in done.stdout.splitlines() if "[listener]" not in line]


def gone_within(seconds: float, left: Callable[[], list[str]]) -> list[str]:
    """What ``left`` still lists after ``seconds`` at most (empty as soon as it is)."""
    deadline = time.monotonic() + seconds
    found = left()
    while found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = left()
    return found


def wait_for_text(path: Path, seconds: float, run: Inner) -> str:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text()):
        if run.proc.poll() is not None:
            run.stop()
            raise AssertionError(f"the run ended before writing {path.name}: {run}")
        if time.monotonic() > deadline:
            run.stop()
            raise AssertionError(f"no {path.name} within {seconds} s: {run}")
        time.sleep(0.05)
    return path.read_text()


def of_session(host: RemoteHost, session: str) -> set[str]:
    """Ids of the remote's containers, running or not, in testcontainers' ``session``."""
    return set(
        lines(host.inner("ps", "-aq", "--no-trunc", "--filter", f"label={SESSION_LABEL}={session}"))
    )


def exists(host: RemoteHost, container: str) -> bool:
    return bool(lines(host.inner("ps", "-aq", "--no-trunc", "--filter", f"id={container}")))


def labels_of(host: RemoteHost, container: str) -> dict[str, str]:
    done = host.inner("inspect", "-f", "{{json .Config.Labels}}", container)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout) or {})


def run_volumes(host: RemoteHost, session: str) -> tuple[str, list[str]]:
    """The run of ``session``: its id (from its record volume) and every volume with it."""
    (marker,) = lines(
        host.inner("volume", "ls", "-q", "--filter", f"label={SESSION_LABEL}={session}")
    )
    assert marker.startswith(MARKER_PREFIX), marker
    run_id = marker.removeprefix(MARKER_PREFIX)
    return run_id, volumes_of_run(host, run_id)


def volumes_of_run(host: RemoteHost, run_id: str) -> list[str]:
    return lines(host.inner("volume", "ls", "-q", "--filter", f"label={RUN_LABEL}={run_id}"))


def destroyed_at(host: RemoteHost, since: float, containers: set[str]) -> dict[str, float]:
    """When the remote engine removed each of ``containers`` (its own events, epoch s)."""
    event, ident = ("remove", "ID") if host.kind == "podman" else ("destroy", "id")
    found = host.events(since, time.time(), "type=container", f"event={event}")
    return {e[ident]: e["timeNano"] / 1e9 for e in found if e.get(ident) in containers}


def target(host: RemoteHost) -> str:
    """The SSH target as the plugin names it: the alias, or Podman's user@address."""
    return f"root@{host.address}" if host.kind == "podman" else host.alias


class Watch:
    """Polls one process every millisecond: the last time it was seen alive (not a zombie)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last_alive = 0.0
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _alive(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii", errors="replace") as stat:
                state = stat.read().rsplit(")", 1)[-1].split()[0]
        except OSError:
            return False
        return state not in ("Z", "X")

    def _poll(self) -> None:
        while self._alive():
            self.last_alive = time.time()
            time.sleep(0.001)
        self.ended.set()


def master_pid(processes: list[str]) -> int:
    (master,) = [line for line in processes if " -M " in line]
    return int(master.split()[0])


def tunnel_of(docker_host: str, tmp: Path) -> Path:
    """The run's SSH folder, from the DOCKER_HOST the plugin gave its tests."""
    folder = Path(docker_host.removeprefix("unix://")).parent
    assert folder.parent == tmp, docker_host
    assert folder.name.startswith(SSH_FOLDER), docker_host
    return folder


def no_traceback(output: str) -> None:
    for needle in ("Traceback (most recent call last)", "INTERNALERROR", "Exception ignored"):
        assert needle not in output, output


def failures(output: str) -> dict[str, str]:
    """Each failing test's report section, by test name."""
    section = output.split("= FAILURES =", 1)[1].split("= short test summary info =", 1)[0]
    parts = re.split(r"^_{3,} (\S+) _{3,}$", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def outcome(output: str) -> dict[str, int]:
    last = output.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (failed|passed|errors?)", last)}


# --- 1. kill -9 ----------------------------------------------------------------------------


def test_kill_9_ends_ssh_on_both_sides_and_the_next_run_sweeps_the_remote(
    tidy_any: RemoteHost, tmp_path: Path, scratch: Path
) -> None:
    host = tidy_any
    env = inner_env(host, scratch)
    killed = write_project(tmp_path / "killed", {"test_holds.py": HOLDS})
    with Inner(host, killed, env) as run:
        url, leaked, held, plain = wait_for_text(killed / "held", 90, run).split()
        tunnel = tunnel_of(url, scratch)
        ssh = ssh_processes(scratch)
        assert ssh, "no ssh process names the run's folder"
        assert sshd_sessions(host), "no SSH session on the remote"
        session = labels_of(host, held)[SESSION_LABEL]
        assert of_session(host, session) == {leaked, held}
        run_id, volumes = run_volumes(host, session)
        assert len(volumes) >= 2, volumes  # its record and its lease
        os.kill(run.proc.pid, signal.SIGKILL)
        assert run.proc.wait(timeout=10) == -signal.SIGKILL
    # Linux tells ssh when its parent dies; its sshd session ends with the connection.
    assert not gone_within(GONE_WITHIN, lambda: ssh_processes(scratch)), ssh
    assert not gone_within(GONE_WITHIN, lambda: sshd_sessions(host))
    # What no process of the run could remove: its folder here, its containers there.
    assert tunnel.is_dir()
    assert of_session(host, session) == {leaked, held}
    assert sorted(volumes_of_run(host, run_id)) == sorted(volumes)

    following = write_project(tmp_path / "next", {"test_next.py": NEXT})
    after = run_to_end(host, following, env)
    assert after.code == 0, after
    assert "docker: note: removed 2 leftovers of runs that were killed" in after.output, after
    assert of_session(host, session) == set(), after
    assert volumes_of_run(host, run_id) == [], after
    assert not tunnel.exists(), after
    assert not list(scratch.glob(SSH_FOLDER + "*")), after  # the next run's own went too
    # docs/cleanup.md: docker-py's own containers carry no label; no reaper touches them.
    assert exists(host, plain)
    assert not gone_within(GONE_WITHIN, lambda: ssh_processes(scratch))
    assert not gone_within(GONE_WITHIN, lambda: sshd_sessions(host))


# --- 2. Ctrl-C -----------------------------------------------------------------------------


def test_ctrl_c_cleans_up_through_the_tunnel_then_ssh_ends(
    tidy_any: RemoteHost, tmp_path: Path, scratch: Path
) -> None:
    host = tidy_any
    began = time.time()
    folder = write_project(tmp_path / "interrupted", {"test_holds.py": HOLDS})
    with Inner(host, folder, inner_env(host, scratch)) as run:
        url, leaked, held, plain = wait_for_text(folder / "held", 90, run).split()
        tunnel = tunnel_of(url, scratch)
        session = labels_of(host, held)[SESSION_LABEL]
        run_id, _ = run_volumes(host, session)
        ssh = Watch(master_pid(ssh_processes(scratch)))
        # A terminal's Ctrl-C: SIGINT to the foreground process group, pytest's.
        os.killpg(run.proc.pid, signal.SIGINT)
        interrupted = time.monotonic()
        run.finish(timeout=60)
        elapsed = time.monotonic() - interrupted
    assert run.code == 2, run  # pytest's exit status for an interrupt
    assert "KeyboardInterrupt" in run.output, run
    no_traceback(run.output)
    assert elapsed < 20 + 2 * STOP_WAIT[host.kind], run
    # testcontainers removed the one it held as the interrupt unwound; the run's reaper
    # the one it leaked. Both through the tunnel: nothing else reaches that engine.
    assert f"docker: removed 1 leftover of this run ({SESSION_LABEL}={session})" in run.output
    assert of_session(host, session) == set()
    assert volumes_of_run(host, run_id) == []
    destroyed = destroyed_at(host, began, {leaked, held})
    assert set(destroyed) == {leaked, held}, destroyed
    # ...and ssh lived until that was done, then ended.
    assert ssh.ended.wait(GONE_WITHIN), "ssh outlived the run"
    assert max(destroyed.values()) <= ssh.last_alive, (destroyed, ssh.last_alive)
    assert not gone_within(GONE_WITHIN, lambda: ssh_processes(scratch))
    assert not gone_within(GONE_WITHIN, lambda: sshd_sessions(host))
    assert not tunnel.exists()
    assert exists(host, plain)  # docker-py's own: not the reaper's (docs/cleanup.md)


@pytest.mark.parametrize(
    "name",
    [
        "remote_docker",
        # Podman answers a forced removal only after the container's stop timeout: the
        # reaper kills first.
        "remote_podman",
    ],
)
def test_the_reaper_removes_running_containers_at_once(
    name: str, request: pytest.FixtureRequest, tmp_path: Path, scratch: Path
) -> None:
    """What a Ctrl-C (or any end) waits for: the reaper's removals on the remote."""
    with tidied(request.getfixturevalue(name)) as host:
        began = time.time()
        folder = write_project(tmp_path / "leaks", {"test_leaks.py": LEAKS})
        run = run_to_end(host, folder, inner_env(host, scratch))
        assert run.code == 0, run
        assert "docker: removed 3 leftovers of this run" in run.output, run
        done, *leaked = (folder / "leaked").read_text().split()
        removed = destroyed_at(host, began, set(leaked))
        assert set(removed) == set(leaked), removed
        assert max(removed.values()) - float(done) < 5.0, (done, removed)


# --- 3. the connection cut mid-run ---------------------------------------------------------

CLOSED = re.compile(
    r"the SSH connection to (?P<target>\S+) that carries it closed at "
    r"(?P<at>\d\d:\d\d:\d\d): ssh said '(?P<said>[^']+)'\.\n"
    r"  fix: check that (?P=target) is up"
)


@contextlib.contextmanager
def packets_dropped(host: RemoteHost) -> Iterator[None]:
    """A partition: the remote drops what reaches its port 22, and says nothing."""
    rule = ("INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP")
    done = host.run("iptables", "-I", *rule)
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        host.run("iptables", "-D", *rule)


@contextlib.contextmanager
def sshd_killed(host: RemoteHost) -> Iterator[None]:
    """Every sshd process killed: each connection closes, port 22 refuses."""
    try:
        host.cut_ssh()
        yield
    finally:
        host.restore_ssh()


CUTS: dict[str, Callable[[RemoteHost], contextlib.AbstractContextManager[None]]] = {
    "sshd-killed": sshd_killed,
    "packets-dropped": packets_dropped,
}


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_a_connection_cut_mid_run_fails_each_docker_test_within_seconds(
    tidy_any: RemoteHost, tmp_path: Path, scratch: Path, cut: str
) -> None:
    host = tidy_any
    env = inner_env(host, scratch, CI="true")
    folder = write_project(tmp_path / "cut", {"test_cut.py": CUT})
    with Inner(host, folder, env, "-v") as run:
        leaked = wait_for_text(folder / "ready", 90, run)
        time.sleep(0.5)  # the first test is now waiting on the engine
        assert ssh_processes(scratch)
        cutting_at = time.time()  # the cut closes connections before it returns
        with CUTS[cut](host):
            cut_at = time.time()
            run.finish(timeout=CUT_RUN_WITHIN + 30)
            ended_at = time.time()
            assert not ssh_processes(scratch)
    assert ended_at - cut_at < CUT_RUN_WITHIN, run
    assert outcome(run.output) == {"failed": 3, "passed": 1}, run
    reports = failures(run.output)
    assert sorted(reports) == [
        "test_docker_py_after_the_cut",
        "test_testcontainers_after_the_cut",
        "test_waits_on_the_engine",
    ], run
    for name, report in reports.items():
        found = CLOSED.search(report)
        assert found is not None, f"{name}:\n{report}"
        assert found["target"] == target(host)
        closed = time.mktime(
            time.strptime(time.strftime("%Y-%m-%d ") + found["at"], "%Y-%m-%d %H:%M:%S")
        )
        # the report's time is to the whole second: the second the cut began counts
        assert int(cutting_at) <= closed <= ended_at + 1, (found["at"], cutting_at, ended_at)
        assert "  original error: " in report, report
        assert not LIBRARY_FRAME.search(report), report
    no_traceback(run.output.split("= FAILURES =", 1)[0])
    assert run.code == 1, run

    # The run could not reach the engine at its end: the next one removes what it left.
    assert exists(host, leaked)
    after = run_to_end(host, write_project(tmp_path / "next", {"test_next.py": NEXT}), env)
    assert after.code == 0, after
    assert not exists(host, leaked), after
    assert not gone_within(GONE_WITHIN, lambda: ssh_processes(scratch))
    assert not list(scratch.glob(SSH_FOLDER + "*")), after


# --- 4. SSH refusing at start --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Refusal:
    said: str  # what ssh says
    fix: tuple[str, ...]  # what the fix names


REFUSALS = {
    "unknown-host-key": Refusal(
        "Host key verification failed.", ("~/.ssh/known_hosts", "ssh-keyscan")
    ),
    "refused-key": Refusal(
        "Permission denied (publickey", ("ssh-add", "IdentityFile", "authorized_keys")
    ),
    "unreachable": Refusal(
        "port 2222: Connection refused", ("check the host and port in DOCKER_HOST",)
    ),
}


def user_key() -> str:
    """A fresh private key, OpenSSH format: one the remote does not know."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


def refused(host: RemoteHost, kind: str, home: Path) -> tuple[RemoteHost, str, str]:
    """(the user, DOCKER_HOST, the SSH target the message names) for a connection that
    ``kind`` refuses: a HOME like the remote's own, with a part of it wrong."""
    if kind == "unreachable":
        return host, f"ssh://root@{host.address}:2222", f"root@{host.address}"
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    for name in ("config", "id_ed25519", "known_hosts"):
        text = (host.ssh_dir / name).read_text().replace(str(host.ssh_dir), str(ssh_dir))
        if name == "known_hosts" and kind == "unknown-host-key":
            text = ""
        if name == "id_ed25519" and kind == "refused-key":
            text = user_key()
        path = ssh_dir / name
        path.touch(mode=0o600)
        path.write_text(text)
    return dataclasses.replace(host, home=home), host.ssh_url, host.alias


def start_refused(
    host: RemoteHost, kind: str, tmp_path: Path, scratch: Path
) -> tuple[Inner, str, str]:
    """START run where SSH refuses as ``kind`` says: (the run, DOCKER_HOST, the target)."""
    user, url, target = refused(host, kind, tmp_path / "home")
    folder = write_project(tmp_path / "refused", {"test_start.py": START})
    return run_to_end(user, folder, inner_env(user, scratch, url, CI="true")), url, target


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_ssh_refusing_at_start_is_one_paragraph_with_the_fix(
    tidy: RemoteHost, tmp_path: Path, scratch: Path, kind: str
) -> None:
    host = tidy
    run, url, target = start_refused(host, kind, tmp_path, scratch)
    assert run.seconds < START_FAILS_WITHIN, run
    assert run.code == 1, run
    assert outcome(run.output) == {"failed": 2, "passed": 1}, run
    want = REFUSALS[kind]
    # The header: one paragraph, right under the line that says there is no endpoint.
    header = [line for line in run.output.splitlines() if line.startswith("docker: ")]
    first = header.index(
        "docker: no working endpoint (mode auto); tests that need Docker will fail"
    )
    source, what, fix = header[first + 1 : first + 4]
    assert source == f"docker: DOCKER_HOST: {url}", run
    assert what.startswith("docker: what happened: ssh "), run
    assert f" {target}" in what, run
    assert want.said in what, run
    assert fix.startswith("docker: fix: "), run
    for part in want.fix:
        assert part in fix, run
    # The same paragraph in the failing testcontainers test's report.
    report = failures(run.output)["test_testcontainers"]
    assert what.removeprefix("docker: ") in report, report
    assert fix.removeprefix("docker: ") in report, report
    assert "(failing instead of skipping: CI detected via CI)" in report, report
    # Nothing of the attempt is left, on either side.
    assert not list(scratch.glob(SSH_FOLDER + "*"))
    assert not gone_within(GONE_WITHIN, lambda: ssh_processes(scratch))
    assert not gone_within(GONE_WITHIN, lambda: sshd_sessions(host))


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_ssh_refusing_at_start_reaches_a_plain_docker_py_test(
    tidy: RemoteHost, tmp_path: Path, scratch: Path, kind: str
) -> None:
    run, _, _ = start_refused(tidy, kind, tmp_path, scratch)
    report = failures(run.output)["test_docker_py"]
    assert "pytest-dockerhost: no working Docker endpoint" in report, report
    assert REFUSALS[kind].said in report, report
    assert "    fix: " in report, report
    assert not LIBRARY_FRAME.search(report), report


# --- 5. no paramiko ------------------------------------------------------------------------


def test_without_paramiko_an_ssh_engine_works_through_the_tunnel(
    tidy: RemoteHost, tmp_path: Path, scratch: Path
) -> None:
    host = tidy
    # A package that raises ImportError: how docker-py sees paramiko missing.
    hidden = tmp_path / "hidden"
    (hidden / "paramiko").mkdir(parents=True)
    (hidden / "paramiko" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'paramiko'\")\n"
    )
    env = inner_env(host, scratch, PYTHONPATH=str(hidden), CI="true")
    files = {"conftest.py": MODULE_CLIENT, "test_without_paramiko.py": WITHOUT_PARAMIKO}
    folder = write_project(tmp_path / "project", files)
    # Without the plugin, docker-py cannot use that URL at all: the condition is real.
    bare = run_to_end(host, folder, env, "-p", "no:dockerhost")
    assert bare.code != 0, bare
    assert "Install paramiko package to enable ssh:// support" in bare.output, bare

    run = run_to_end(host, folder, env, "-rA")
    if port_taken(run.output):
        run = run_to_end(host, folder, env, "-rA")  # once more: see port_taken
    assert run.code == 0, run
    assert outcome(run.output) == {"passed": 3}, run
    engine = host.inner("info", "-f", "{{.ID}}").stdout.strip()
    assert f"E2E engine {engine}" in run.output, run  # the remote's engine, not this one's
    assert not list(scratch.glob(SSH_FOLDER + "*")), run
    assert not gone_within(GONE_WITHIN, lambda: ssh_processes(scratch))
    assert not gone_within(GONE_WITHIN, lambda: sshd_sessions(host))


def port_taken(output: str) -> bool:
    """The remote engine chose a host port that a process of this machine holds: this
    machine's engine (shared with other sessions) draws from the same range. The plugin
    says so in the failing test (docs/remote.md); it is not what this test is about."""
    return "could not be forwarded" in output and "already in use on this machine" in output
