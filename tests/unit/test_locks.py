"""The run's and the temp folders' locks (filelock): held for as long as their holder wants,
waited for where the run waits, never taken through a planted link."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pytest_dockerhost.sidecar.sharing import _locked
from pytest_dockerhost.tempdirs import (
    LOCK,
    lock_fd,
    private_dir,
    remove_private_dir,
    sweep_folders,
)


def _try(path: Path) -> bool:
    """Whether another open file (a sweep's, another run's) can take the lock now."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return lock_fd(fd, wait=False)
    finally:
        os.close(fd)


def test_a_private_folder_is_locked_under_its_final_name_until_removed(tmp_path: Path) -> None:
    folder = Path(private_dir(parent=str(tmp_path)))
    assert sorted(os.listdir(folder)) == [LOCK]
    assert not _try(folder / LOCK)
    assert sweep_folders(str(tmp_path)) == []
    remove_private_dir(str(folder))
    assert not folder.exists()


def test_the_run_lock_waits_for_its_holder(tmp_path: Path) -> None:
    path = str(tmp_path / "sidecar.lock")
    entered = threading.Event()

    def second() -> None:
        with _locked(path):
            entered.set()

    with _locked(path):
        waiter = threading.Thread(target=second, daemon=True)
        waiter.start()
        assert not entered.wait(0.3)  # held here: the other waits
    assert entered.wait(10)
    waiter.join(10)


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="no symlink flag on this system")
def test_a_sweep_never_follows_a_planted_lock_link(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep", encoding="utf-8")
    planted = tmp_path / "pytest-dockerhost-planted"
    planted.mkdir()
    (planted / LOCK).symlink_to(target)
    assert sweep_folders(str(tmp_path)) == []
    assert planted.exists()
    assert target.read_text(encoding="utf-8") == "keep"


def test_a_lock_is_taken_without_waiting_when_free(tmp_path: Path) -> None:
    path = tmp_path / "free.lock"
    path.touch()
    start = time.monotonic()
    assert _try(path)
    assert time.monotonic() - start < 1.0
