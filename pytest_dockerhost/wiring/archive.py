"""Tar archives that carry a local file or folder into a container and back.

Into the container: one archive, extracted at ``/``, whose paths are the target's (the
engine makes missing parent folders, and only the target's own entry is written over).
It is spooled to a temporary file, never built in memory, and sent with its length:
requests sets a Content-Length for a real file, and some engines' authorization plugins
refuse a chunked body. Back: the archive ``get_archive`` gives for the target, unpacked
into the local file or folder with every path kept inside it (a container's archive is
not trusted to stay there).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from ..messages.endpoint import outside_folder


@contextlib.contextmanager
def pack(local: str, target: str) -> Iterator[IO[bytes]]:
    """A tar of ``local`` (a file or a folder, its symlink followed as a bind mount would)
    named as ``target`` from ``/``, rewound."""
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w") as tar:
            tar.add(os.path.realpath(local), arcname=in_archive(target))
        spool.seek(0)
        yield spool


def in_archive(target: str) -> str:
    """``/in/container/`` as an archive extracted at ``/`` names it: ``in/container``."""
    return posixpath.normpath("/" + target).lstrip("/")


def unpack(chunks: Iterable[bytes], target: str, local: str) -> None:
    """What ``get_archive(container, target)`` streamed, into ``local``: the folder's
    entries below it, or the file itself. Files are written over; nothing is removed."""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        with tarfile.open(fileobj=spool) as tar:
            _extract(tar, posixpath.basename(in_archive(target)), local)


def _extract(tar: tarfile.TarFile, top: str, local: str) -> None:
    folder = os.path.isdir(local)
    root = os.path.realpath(local if folder else os.path.dirname(local))
    for member in tar:
        name = member.name.removeprefix("./")
        if not folder:
            if name == top and (member.isfile() or member.islnk()):
                _write(tar, member, local)
            continue
        if not name.startswith(top + "/"):
            continue  # the folder's own entry: the local folder stays as it is
        relative = name[len(top) + 1 :]
        path = os.path.join(local, *relative.split("/"))
        if posixpath.isabs(relative) or ".." in relative.split("/"):
            raise OSError(outside_folder(member.name))
        if not _inside(root, os.path.dirname(path)):
            raise OSError(outside_folder(member.name))
        if member.isdir():
            if not os.path.isdir(path):
                _clear(path)
                os.makedirs(path)
        elif member.isfile() or member.islnk():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write(tar, member, path)
        elif member.issym():
            pointed = os.path.join(os.path.dirname(path), member.linkname)
            if os.path.isabs(member.linkname) or not _inside(root, pointed):
                raise OSError(outside_folder(member.name))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _clear(path)
            os.symlink(member.linkname, path)
        # Devices, fifos: what a bind mount could show, but nothing a test reads back.


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    source = tar.extractfile(member)
    if source is None:
        return
    _clear(path)  # a link is replaced, not followed; a read-only file is written anew
    with source, open(path, "wb") as out:
        shutil.copyfileobj(source, out)
    os.chmod(path, member.mode & 0o777)
    os.utime(path, (member.mtime, member.mtime))


def _clear(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)
