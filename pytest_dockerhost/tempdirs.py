"""Private temp folders (client keys, CA bundles) that a killed run cannot leave behind.

Each folder holds ``.owner.lock``, locked (``filelock``: ``flock`` on POSIX, ``LockFileEx``
on Windows) by the process that made it for as long as that process lives. The OS drops
the lock when the process dies, however it dies, so a later run that can take the lock
knows for certain that the folder is a dead run's and removes it. Processes that share
the folder's filesystem share its locks, whatever their pid namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

PREFIX = "pytest-dockerhost-"
LOCK = ".owner.lock"
_held: dict[str, int] = {}  # folder -> the locked file descriptor, for the process's life


def lock_fd(fd: int, *, wait: bool) -> bool:
    """Lock an open file: True once held; with ``wait=False``, False when another holds it."""
    # Imported here: a run that needs no Docker takes no lock, so it never loads filelock.
    from filelock import lock_descriptor

    return lock_descriptor(fd, blocking=wait)


def private_dir(prefix: str = PREFIX, parent: str | None = None) -> str:
    """A fresh 0700 folder (in the temp dir, or ``parent``), locked for this process's life."""
    folder = tempfile.mkdtemp(prefix=prefix, dir=parent)
    lock = os.path.join(folder, LOCK)
    if sys.platform == "win32":
        # Windows renames no open file. A sweep that comes between the open and the lock
        # cannot remove the folder (Windows removes no open file) and lets go at once.
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        lock_fd(fd, wait=True)
    else:
        staged = lock + ".new"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        lock_fd(fd, wait=False)
        # Locked before it has its name: a sweep never sees it unlocked.
        os.rename(staged, lock)
    _held[folder] = fd
    return folder


def remove_private_dir(folder: str) -> None:
    """Remove a folder made by ``private_dir``, and let go of its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    fd = _held.pop(folder, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    _remove_closed_lock(folder)


# A planted symlink is never followed; Windows has no such flag (nor unprivileged symlinks).
if sys.platform == "win32":
    _OPEN_NO_LINK = os.O_RDONLY
else:
    _OPEN_NO_LINK = os.O_RDONLY | os.O_NOFOLLOW


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
            fd = os.open(os.path.join(folder, LOCK), _OPEN_NO_LINK)
        except OSError:
            continue  # no lock (not ours, or being made): unknown, so left alone
        try:
            locked = lock_fd(fd, wait=False)
        except OSError:
            locked = False
        if not locked:
            os.close(fd)
            continue  # its owner holds it: alive
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
        _remove_closed_lock(folder)
    return removed


def _remove_closed_lock(folder: str) -> None:
    if sys.platform == "win32":  # Windows removes no open file: the lock went once closed
        shutil.rmtree(folder, ignore_errors=True)
