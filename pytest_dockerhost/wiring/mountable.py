"""A folder for one test that containers can map (the ``docker_tmp_path`` fixture).

Tried in order: pytest's own ``tmp_path`` (on the daemon's machine, or mounted into our
container), then a folder under the rootdir (a pod shares the checkout with dind: ARC's
``_work``, GitLab's ``/builds``). The first the daemon sees, by ``daemon_path``'s proof,
is the one; a folder under the rootdir is locked for this process's life, removed after
the test, and swept by a later run if this one is killed. Where the daemon sees neither
(a sidecar, a dind service, an engine on another machine), ``tmp_path`` it is: a bind of
it through docker-py or testcontainers is a copy (``copies``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BindMountError
from ..tempdirs import PREFIX, private_dir, remove_private_dir, sweep_folders

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost

UNDER_ROOTDIR = ".pytest-dockerhost"


def mountable_folder(host: DockerHost, tmp_path: Path, rootdir: Path) -> tuple[Path, bool]:
    """(the folder, whether it is ours to remove). Readable by any user in a container."""
    tmp_path.chmod(0o755)
    if host.outer is not None or _seen(host, tmp_path):
        return tmp_path, False  # a sidecar sees no folder of ours: no other one to try
    base = rootdir / UNDER_ROOTDIR
    try:
        base.mkdir(exist_ok=True)
        sweep_folders(str(base))  # what killed runs left here
        folder = Path(private_dir(PREFIX, parent=str(base)))
    except OSError:
        return tmp_path, False
    if not _seen(host, folder):
        remove_mountable(folder)
        return tmp_path, False
    folder.chmod(0o755)
    return folder, True


def _seen(host: DockerHost, folder: Path) -> bool:
    try:
        host.daemon_path(folder)
    except BindMountError:
        return False
    return True


def remove_mountable(folder: Path) -> None:
    """The folder, and its base when nothing else is left in it."""
    remove_private_dir(str(folder))  # what a container wrote as another user may stay
    with contextlib.suppress(OSError):
        os.rmdir(folder.parent)
