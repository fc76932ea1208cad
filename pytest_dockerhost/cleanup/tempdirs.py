"""Private temp folders (client keys, CA bundles) that a killed run cannot leave behind.

Each folder holds ``.owner.lock``, locked with ``flock`` by the process that made it for
as long as that process lives. The kernel drops the lock when the process dies, however
it dies, so a later run that can take the lock knows for certain that the folder is a
dead run's and removes it. Processes that share the folder's filesystem share its locks,
whatever their pid namespaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile

PREFIX = "pytest-dockerhost-"
LOCK = ".owner.lock"
_held: dict[str, int] = {}  # folder -> the locked file descriptor, for the process's life


def private_dir(prefix: str = PREFIX, parent: str | None = None) -> str:
    """A fresh 0700 folder (in the temp dir, or ``parent``), locked for this process's life."""
    folder = tempfile.mkdtemp(prefix=prefix, dir=parent)
    staged = os.path.join(folder, LOCK + ".new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # Locked before it has its name: a sweep never sees it unlocked.
    os.rename(staged, os.path.join(folder, LOCK))
    _held[folder] = fd
    return folder


def remove_private_dir(folder: str) -> None:
    """Remove a folder made by ``private_dir``, and let go of its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _held.pop(folder, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def sweep_folders(base: str | None = None) -> list[str]:
    """Remove the folders of dead processes; never one whose owner lives (or is unknown)."""
    base = base or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(base) if n.startswith(PREFIX)]
    except OSError:
        return removed
    for name in names:
        folder = os.path.join(base, name)
        if folder in _held:
            continue
        try:
            fd = os.open(os.path.join(folder, LOCK), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # no lock (not ours, or being made): unknown, so left alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its owner holds it: alive
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed
