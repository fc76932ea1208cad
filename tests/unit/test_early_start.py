"""EarlyStart: the thread that starts the sidecar while pytest collects. Real threads; the
work is a function that does what the real one does with its arguments."""

from __future__ import annotations

import threading
import time

from pytest_dockerhost.early import EarlyStart, Say


def test_progress_is_said_by_the_waiting_thread_in_order() -> None:
    said: list[tuple[str, str]] = []
    release = threading.Event()

    def work(say: Say, cancelled: threading.Event) -> None:
        say("pulling the sidecar image")
        release.wait(5)
        say("preloaded busybox")

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

    def work(say: Say, cancelled: threading.Event) -> None:
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
    def work(say: Say, cancelled: threading.Event) -> None:
        raise RuntimeError("a bug")

    early = EarlyStart(work)
    early.begin()
    early.wait(lambda line: None)
    assert isinstance(early.crashed, RuntimeError)


def test_in_thread_tells_the_start_itself_from_everyone_else() -> None:
    answers: list[bool] = []
    holder: list[EarlyStart] = []

    def work(say: Say, cancelled: threading.Event) -> None:
        answers.append(holder[0].in_thread())

    early = EarlyStart(work)
    holder.append(early)
    early.begin()
    early.wait(lambda line: None)
    assert answers == [True]
    assert early.in_thread() is False
