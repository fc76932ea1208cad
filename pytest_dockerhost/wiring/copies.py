"""Binds of local folders the engine cannot see become copies, with no change to user code.

docker-py's ``ContainerCollection.create`` is where every container of the run's code is
made: ``client.containers.run`` and ``create``, and testcontainers' ``start`` (its
``with_volume_mapping`` hands docker-py the local path). While a host is wired, each bind
of a local file or folder is asked of ``DockerHost.daemon_path``: a folder the daemon
sees is bound at the daemon's path for it (under DooD, through our container's mounts);
one it cannot see is dropped from the bind list and copied into the created container
before anyone starts it. A read-write one is copied back into the local folder once, when
the container is first stopped, waited for or removed through docker-py (testcontainers
removes with ``force`` and never stops). Sources that are no local file or folder (a
socket, the daemon's own paths, named volumes) are left to the daemon.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BindMountError, DockerHostWarning
from ..messages import profile as say_profile
from ..messages.endpoint import auto_removed, copy_in_failed, not_copied_back
from .archive import pack, unpack

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost

MODULE = "docker.models.containers"
# Frames of these packages are not the user's line a warning should point at.
_OURS_AND_LIBRARIES = ("docker", "testcontainers", "pytest_dockerhost", "requests", "urllib3")


# The kernel's folders and the engines' sockets: a bind of them means the daemon's own.
_NEVER_COPIED = ("/proc", "/sys", "/dev", "/run", "/var/run")


@dataclass(frozen=True)
class Copy:
    """A bind the engine cannot see: ``local`` here goes to ``target`` in the container."""

    local: str
    target: str
    writable: bool


@dataclass(frozen=True)
class Source:
    """What a bind of a local path becomes: the daemon's path for it (``path``), or a copy;
    ``unseen`` says why the daemon cannot see it, when it cannot."""

    path: str
    copy: bool = False
    unseen: str = ""


def copyable(path: object) -> bool:
    """An absolute path to a file or folder here: what a copy can stand in for."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    text = os.fspath(path)
    return (
        isinstance(text, str)
        and os.path.isabs(text)
        and (os.path.isdir(text) or os.path.isfile(text))
    )


def source(host: DockerHost, local: str) -> Source:
    """``local`` as a bind of it reaches ``host``'s daemon: at the daemon's path for it, or
    as a copy of a file or folder the daemon cannot see. The kernel's folders and the
    sockets' are the daemon's own (``/var/run/docker.sock`` for Ryuk): passed as they are."""
    normal = os.path.normpath(local)
    if any(_under(normal, top) for top in _NEVER_COPIED):
        return Source(local) if host.profile.policy.copies else _seen(host, local)
    policy = host.profile.policy
    if policy.copies or (policy.bind_root and not _under(normal, policy.bind_root)):
        why = say_profile.not_bound(host.profile.name, policy.bind_root)
        return Source(local, copy=copyable(normal), unseen=why)
    try:
        return Source(host.daemon_path(local))
    except BindMountError as exc:
        return Source(local, copy=copyable(normal), unseen=str(exc))


def _seen(host: DockerHost, local: str) -> Source:
    try:
        return Source(host.daemon_path(local))
    except BindMountError:
        return Source(local)


def _under(path: str, root: str) -> bool:
    root = os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def plan(
    kwargs: dict[str, Any], source_for: Callable[[str], str | None]
) -> tuple[dict[str, Any], list[Copy]]:
    """``create``'s keywords with the binds to copy taken out, and those copies.
    ``source_for(local)``: the daemon's path for a local file or folder, None where it
    cannot see it. Keywords with nothing to change come back as they were."""
    changed = dict(kwargs)
    copies: list[Copy] = []
    if kwargs.get("volumes"):
        from docker.utils import convert_volume_binds

        binds = list(convert_volume_binds(kwargs["volumes"]))
        kept = [_bind(bind, source_for, copies) for bind in binds]
        if kept != binds:
            changed["volumes"] = [bind for bind in kept if bind is not None]
    if kwargs.get("mounts"):
        mounts = list(kwargs["mounts"])
        kept = [_mount(mount, source_for, copies) for mount in mounts]
        if kept != mounts:
            changed["mounts"] = [mount for mount in kept if mount is not None]
    return (changed, copies) if changed != kwargs else (kwargs, [])


def _bind(bind: Any, source_for: Callable[[str], str | None], copies: list[Copy]) -> Any:
    """A ``SOURCE:TARGET[:MODE]`` bind as it goes to the daemon, or None for a copy."""
    parts = bind.split(":") if isinstance(bind, str) else []
    if len(parts) not in (2, 3) or not copyable(parts[0]):
        return bind  # a named volume, an anonymous one, a path of the daemon's own
    daemon = source_for(parts[0])
    if daemon is not None:
        return ":".join([daemon, *parts[1:]])
    modes = parts[2].split(",") if len(parts) == 3 else []
    copies.append(Copy(parts[0], parts[1], "ro" not in modes))
    return None


def _mount(mount: Any, source_for: Callable[[str], str | None], copies: list[Copy]) -> Any:
    """A ``docker.types.Mount`` as it goes to the daemon, or None for a copy."""
    if not isinstance(mount, dict) or mount.get("Type") != "bind":
        return mount
    source = mount.get("Source")
    if not copyable(source):
        return mount
    daemon = source_for(str(source))
    if daemon is None:
        copies.append(Copy(str(source), str(mount["Target"]), not mount.get("ReadOnly")))
        return None
    if daemon == source:
        return mount
    mapped = copy.copy(mount)  # a docker.types.Mount stays one
    mapped["Source"] = daemon
    return mapped


def copy_in(api: Any, container_id: str, copies: Iterable[Copy]) -> None:
    """Each copy into the created container, which is removed when one fails."""
    import docker.errors
    import requests.exceptions

    failed = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
    for one in copies:
        try:
            with pack(one.local, one.target) as archive:
                api.put_archive(container_id, "/", archive)
        except failed as exc:
            with contextlib.suppress(*failed):  # the error that matters is the copy's
                api.remove_container(container_id, force=True, v=True)
            raise BindMountError(copy_in_failed(one.local, one.target, _why(exc))) from None


def copy_back(api: Any, container_id: str, one: Copy) -> str:
    """``one``'s target back into its local folder: "" when done, else why not."""
    import tarfile

    import docker.errors
    import requests.exceptions

    try:
        stream, _ = api.get_archive(container_id, one.target)
        unpack(stream, one.target, one.local)
    except (
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        OSError,
        tarfile.TarError,
    ) as exc:
        return _why(exc)
    return ""


def _why(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip() or type(exc).__name__


def user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside docker-py, testcontainers and the
    plugin, counted from the function that calls this: the user's own line."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name.partition(".")[0] not in _OURS_AND_LIBRARIES:
            break
        frame, level = frame.f_back, level + 1
    return level


class Copies:
    """docker-py's container methods, wrapped while a host is wired, and put back after."""

    def __init__(self) -> None:
        self._host: DockerHost | None = None
        self._watch: Any = None
        self._saved: list[tuple[type, str, Any]] = []  # (class, name, its own function)
        self._back: dict[str, list[Copy]] = {}  # container id -> what to copy back, once
        self._lock = threading.Lock()

    def install(self, host: DockerHost) -> None:
        self._host = host
        if self._watch is None:
            from .usage import on_import

            self._watch = on_import(MODULE, self._wrap)

    def uninstall(self) -> None:
        if self._watch is not None:
            self._watch.uninstall()
            self._watch = None
        while self._saved:
            cls, name, original = self._saved.pop()
            setattr(cls, name, original)
        with self._lock:
            self._back.clear()
        self._host = None

    def source_for(self, local: str) -> str | None:
        """The daemon's path for ``local``, or None where a copy must stand in for it."""
        host = self._host
        if host is None:
            return local
        found = source(host, local)
        return None if found.copy else found.path

    def _wrap(self) -> None:
        module = sys.modules.get(MODULE)
        collection = getattr(module, "ContainerCollection", None)
        container = getattr(module, "Container", None)
        if collection is None or container is None or self._saved:
            return
        self._patch(collection, "create", self._creating)
        self._patch(container, "stop", self._after)
        # A wait that timed out leaves the container running: nothing to copy back yet.
        self._patch(container, "wait", functools.partial(self._after, failed=False))
        self._patch(container, "remove", self._before)

    def _patch(self, cls: type, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(cls, name)
        self._saved.append((cls, name, original))
        setattr(cls, name, functools.wraps(original)(make(original)))

    def _creating(self, original: Any) -> Callable[..., Any]:
        def create(collection: Any, *args: Any, **kwargs: Any) -> Any:
            if self._host is None:
                return original(collection, *args, **kwargs)
            kwargs, copies = plan(kwargs, self.source_for)
            container = original(collection, *args, **kwargs)
            if copies:
                copy_in(collection.client.api, container.id, copies)
                self._expect(container.id, copies, auto_remove=bool(kwargs.get("auto_remove")))
            return container

        return create

    def _after(self, original: Any, *, failed: bool = True) -> Callable[..., Any]:
        """``original``, then the copies back; also when it failed, with ``failed``."""

        def after(container: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = original(container, *args, **kwargs)
            except Exception:
                if failed:
                    self.back(container)  # a stop that failed: stopped or gone all the same
                raise
            self.back(container)
            return result

        return after

    def _before(self, original: Any) -> Callable[..., Any]:
        def before(container: Any, *args: Any, **kwargs: Any) -> Any:
            self.back(container)
            return original(container, *args, **kwargs)

        return before

    def _expect(self, container_id: str, copies: list[Copy], *, auto_remove: bool) -> None:
        writable = [one for one in copies if one.writable]
        if auto_remove:
            for one in writable:
                warning = DockerHostWarning(auto_removed(one.local, one.target))
                warnings.warn(warning, stacklevel=user_stacklevel())
            return
        if writable:
            with self._lock:
                self._back[container_id] = writable

    def back(self, container: Any) -> None:
        """The container's read-write copies into their local folders, the first time."""
        with self._lock:
            pending = self._back.pop(getattr(container, "id", ""), [])
        for one in pending:
            why = copy_back(container.client.api, container.id, one)
            if why:
                warning = DockerHostWarning(not_copied_back(one.local, one.target, why))
                warnings.warn(warning, stacklevel=user_stacklevel())
