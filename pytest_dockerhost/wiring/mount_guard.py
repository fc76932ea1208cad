"""testcontainers' volume mappings, checked against what the daemon can see.

``DockerContainer.with_volume_mapping(host, container)`` hands ``host`` to the daemon,
which resolves it on its own side. Under DooD the plugin knows the daemon's path for it
(through our container's mounts) and passes that instead. A local file or folder the
daemon cannot see at all (a pod's dind, a dind service, the sidecar, an engine on another
machine) is passed as it is: ``copies`` copies it into the container. Anything else the
daemon cannot see gets a warning, at the user's line, before the container starts with
an empty folder in its place.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import DockerHostWarning
from ..messages.endpoint import mapping_unseen
from .copies import source

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost

_MODULE = "testcontainers.core.container"


class MountGuard:
    """Wraps ``with_volume_mapping`` while a host is wired, and puts it back after."""

    def __init__(self) -> None:
        self._host: DockerHost | None = None
        self._original: Any = None
        self._watch: Any = None

    def install(self, host: DockerHost) -> None:
        self._host = host
        if self._watch is None:
            from .usage import on_import

            self._watch = on_import(_MODULE, self._wrap)

    def _wrap(self) -> None:
        cls = getattr(sys.modules.get(_MODULE), "DockerContainer", None)
        original = getattr(cls, "with_volume_mapping", None)
        if cls is None or original is None or self._original is not None:
            return
        guard = self

        @functools.wraps(original)
        def with_volume_mapping(container: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
            return original(container, guard.source_for(host), *args, **kwargs)

        self._original = original
        cls.with_volume_mapping = with_volume_mapping

    def source_for(self, path: Any) -> Any:
        """The daemon's path for ``path``; ``path`` itself when the daemon cannot see it (a
        local file or folder is copied in; anything else is warned about) or for a named
        volume, which is not a path."""
        host = self._host
        if host is None or not isinstance(path, (str, os.PathLike)):
            return path
        text = os.fspath(path)
        if not os.path.isabs(text):
            return path  # a named volume, the daemon's own (or a mistake docker-py names)
        found = source(host, text)
        if found.unseen and not found.copy:
            # stacklevel: the user's call, past this method and the wrapper.
            warnings.warn(DockerHostWarning(mapping_unseen(text, found.unseen)), stacklevel=3)
        return path if found.copy or found.unseen else found.path

    def uninstall(self) -> None:
        if self._watch is not None:
            self._watch.uninstall()
            self._watch = None
        cls = getattr(sys.modules.get(_MODULE), "DockerContainer", None)
        if cls is not None and self._original is not None:
            cls.with_volume_mapping = self._original
        self._original = None
        self._host = None
