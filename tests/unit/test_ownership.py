"""Who owns what: the same-place proof with real processes, the lease verdicts on a
lease book, the daemon's time stamps, and temp folders whose owner really died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_dockerhost.cleanup.lease import parse_created
from pytest_dockerhost.cleanup.ownership import (
    Judge,
    LeaseBook,
    Owner,
    current_place,
    process_start,
)
from pytest_dockerhost.config.parsing import parse_duration
from pytest_dockerhost.labels import L_OWNER_PLACE, L_USES
from pytest_dockerhost.tempdirs import LOCK, sweep_folders


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def _owner(run: str, lease: float = 60.0) -> Owner:
    return Owner.current(run, None, lease)


def test_place_is_this_kernels_boot_and_our_pid_namespace() -> None:
    place = current_place()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert place == f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    assert _owner("r").labels("run")[L_OWNER_PLACE] == place


def test_same_place_a_live_owner_is_alive_and_a_dead_one_is_dead_at_once() -> None:
    here = _owner("run-1")
    judge = Judge(here, LeaseBook(now=time.time()))  # no lease on record at all
    labels = _owner("run-2").labels("sidecar")
    assert judge.alive(labels)
    assert not judge.alive({**labels, "org.pytest-dockerhost.owner-pid": str(_dead_pid())})
    # A recycled pid: alive, but not the process that made the resource.
    assert not judge.alive({**labels, "org.pytest-dockerhost.owner-start": "1"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/stat")
def test_an_owner_killed_under_a_parent_that_never_reaps_it_is_dead() -> None:
    """A run killed with -9 in a CI container whose pid 1 does not reap (a Jenkins agent kept
    alive by ``cat``): its process stays a zombie, and kill(pid, 0) still finds it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        labels = {
            **_owner("run-2").labels("run"),
            "org.pytest-dockerhost.owner-pid": str(child.pid),
            "org.pytest-dockerhost.owner-start": process_start(child.pid),
        }
        judge = Judge(_owner("run-1"), LeaseBook(now=time.time()))
        assert judge.alive(labels)
        child.kill()
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # still there, as a zombie: what the judge used to trust
        assert not judge.alive(labels)
    finally:
        child.kill()
        child.wait()


def test_same_hostname_elsewhere_is_judged_by_the_lease_never_by_the_pid() -> None:
    """Two containers with --network host share a hostname, not a pid namespace."""
    here = _owner("run-1")
    theirs = {
        **_owner("run-2").labels("sidecar"),
        L_OWNER_PLACE: "other-boot/pid:[4026532000]",
        "org.pytest-dockerhost.owner-pid": str(_dead_pid()),  # no such pid here: says nothing
    }
    now = 1_000_000.0
    fresh = LeaseBook(now, renewed={"run-2": now - 10}, terms={"run-2": 60.0})
    lapsed = LeaseBook(now, renewed={"run-2": now - 61}, terms={"run-2": 60.0})
    assert Judge(here, fresh).alive(theirs)
    assert not Judge(here, lapsed).alive(theirs)
    # Its lease is gone (it ended, or a sweep took it): what it left is a dead run's.
    assert not Judge(here, LeaseBook(now)).alive(theirs)
    # An owner that never held a lease, elsewhere: unknown, so alive.
    unleased = {k: v for k, v in theirs.items() if k != "org.pytest-dockerhost.lease"}
    assert Judge(here, LeaseBook(now)).alive(unleased)


def test_a_kept_sidecar_is_in_use_only_while_a_live_run_says_so() -> None:
    here = _owner("run-1")
    now = 1_000_000.0
    user = {**_owner("run-2").labels("lease"), L_OWNER_PLACE: "elsewhere", L_USES: "kept-a"}
    book = LeaseBook(
        now,
        renewed={"run-2": now - 5},
        terms={"run-2": 60.0},
        uses={"kept-a": {"run-2"}},
        owners={"run-2": user},
    )
    assert Judge(here, book).in_use("kept-a")
    assert not Judge(here, book).in_use("kept-b")
    stale = LeaseBook(now, {"run-2": now - 600}, {"run-2": 60.0}, book.uses, book.owners)
    assert not Judge(here, stale).in_use("kept-a")


@pytest.mark.parametrize(
    ("stamp", "epoch"),
    [
        ("2026-12-01T22:10:05Z", 1796163005.0),  # Docker
        ("2026-12-01T22:10:05.123456789Z", 1796163005.0),  # Podman
        ("2026-12-01T23:10:05+01:00", 1796163005.0),  # a daemon in another zone
        ("2026-12-01 22:10:05 +0000 UTC", 1796163005.0),
    ],
)
def test_daemon_time_stamps_in_every_shape_engines_write(stamp: str, epoch: float) -> None:
    assert parse_created(stamp) == epoch


def test_an_unreadable_time_stamp_is_none() -> None:
    assert parse_created("") is None
    assert parse_created("yesterday") is None


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("24h", 86400.0)]
)
def test_durations(raw: str, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["", "0", "-5m", "soon", "5w", "inf"])
def test_bad_durations_say_what_a_duration_is(raw: str) -> None:
    with pytest.raises(ValueError, match=r"positive duration: seconds, or a number with s, m, h"):
        parse_duration(raw)


HOLDER = """
import sys, time
from pytest_dockerhost.tempdirs import private_dir
print(private_dir(), flush=True)
time.sleep(300)
"""


def test_a_killed_processs_folder_is_swept_and_a_live_ones_is_not(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", HOLDER], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        folders = [Path(p.stdout.readline().strip()) for p in procs if p.stdout]
        assert all((folder / LOCK).exists() for folder in folders)
        assert oct(folders[0].stat().st_mode & 0o777) == "0o700"
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        stray = tmp_path / "pytest-dockerhost-without-lock"
        stray.mkdir()  # not made by private_dir: unknown, so left alone
        assert sweep_folders(str(tmp_path)) == [str(folders[0])]
        assert not folders[0].exists()
        assert folders[1].exists()
        assert stray.exists()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
