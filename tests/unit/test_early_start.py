"""EarlyStart: the thread that starts the sidecar while pytest collects. Real threads; the
work is a function that does what the real one does with its arguments."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pytest_dockerhost.cleanup.ownership import Owner
from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.discovery.resolution import Resolution
from pytest_dockerhost.run.early import EarlyStart
from pytest_dockerhost.run.lifecycle import EndpointLifecycle, Phase
from pytest_dockerhost.sidecar.certs import write_client
from pytest_dockerhost.sidecar.sharing import Run, SharedSidecar
from pytest_dockerhost.sidecar.spec import Spec

from ..helpers import dood_host


def test_progress_is_said_by_the_waiting_thread_in_order() -> None:
    said: list[tuple[str, str]] = []
    release = threading.Event()

    def work(cancelled: threading.Event) -> None:
        early.tell("pulling the sidecar image")
        release.wait(5)
        early.tell("preloaded busybox")

    early = EarlyStart(work)
    early.begin()
    assert early.running
    release.set()
    early.wait(lambda line: said.append((threading.current_thread().name, line)))
    main = threading.current_thread().name
    assert said == [(main, "pulling the sidecar image"), (main, "preloaded busybox")]
    assert not early.running
    assert early.crashed is None


def test_cancel_stops_a_start_that_checks_for_it_and_waits_for_its_end() -> None:
    seen: list[str] = []

    def work(cancelled: threading.Event) -> None:
        while not cancelled.wait(0.01):
            pass
        time.sleep(0.05)  # removing what it made
        seen.append("stopped")

    early = EarlyStart(work)
    early.begin()
    early.cancel()
    assert not early.running  # it has ended by the time cancel returns
    assert seen == ["stopped"]


def test_a_crash_in_the_thread_is_kept_for_the_waiter_not_raised_in_the_thread() -> None:
    def work(cancelled: threading.Event) -> None:
        raise RuntimeError("a bug")

    early = EarlyStart(work)
    early.begin()
    early.wait(lambda line: None)
    assert isinstance(early.crashed, RuntimeError)


def test_in_thread_tells_the_start_itself_from_everyone_else() -> None:
    answers: list[bool] = []
    holder: list[EarlyStart] = []

    def work(cancelled: threading.Event) -> None:
        answers.append(holder[0].in_thread())

    early = EarlyStart(work)
    holder.append(early)
    early.begin()
    early.wait(lambda line: None)
    assert answers == [True]
    assert early.in_thread() is False


def test_a_ctrl_c_while_a_test_waits_for_the_start_leaves_it_for_the_end_to_wait_for() -> None:
    """The start writes into the run folder (client certificates) until it ends; the end of
    the run removes that folder only after it, even when the wait for it was interrupted."""
    settings = Settings.from_sources({"mode": "sidecar"}, {}, {})
    writing = threading.Event()

    def ctrl_c(line: str) -> None:
        writing.set()
        raise KeyboardInterrupt

    session = EndpointLifecycle(settings, say=ctrl_c)
    run = Run.new(Owner.current("0123456789ab", None))
    outer = dood_host()  # never reached: the start here is the test's own
    session.resolution = Resolution(settings, "sidecar", outer, ())  # resolved: the outer
    session.sidecar = SharedSidecar(run, outer, Spec.from_settings(settings), owner=True)
    session.phase = Phase.STARTING

    def work(cancelled: threading.Event) -> None:
        early.tell("starting the sidecar")
        writing.wait(5)
        time.sleep(0.2)  # still starting when the run's end begins
        write_client(os.path.join(run.folder, "client"), b"ca", b"cert", b"key")

    early = EarlyStart(work)
    session._early = early
    early.begin()
    with pytest.raises(KeyboardInterrupt):
        session.require()
    session.close()
    early.wait(lambda line: None)  # however the end went, the start has ended now
    assert not os.path.exists(run.folder), os.listdir(run.folder)


def test_a_real_ctrl_c_in_the_wait_does_not_make_a_running_start_look_ended() -> None:
    """Python 3.11 and 3.12 mark a thread stopped when a signal interrupts a join on it
    (its lock is released on the thread's behalf): the end of the run must not believe it."""
    release = threading.Event()

    def work(cancelled: threading.Event) -> None:
        release.wait(5)

    early = EarlyStart(work)
    early.begin()
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        early.wait(lambda line: None)
    assert early.running
    release.set()
    early.wait(lambda line: None)
    assert not early.running
