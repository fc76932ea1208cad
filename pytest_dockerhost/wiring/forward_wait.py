"""On an engine elsewhere, a container's published ports reach 127.0.0.1 here through the
run's SSH forwards, which follow the engine's events. docker-py's ``start`` returns as soon
as the engine has started the container: a test that connects at once (testcontainers
without a wait strategy does) would race the forward. So, while such an engine is wired,
``start`` returns once each published port listens here, or after ``WAIT`` at most.

It looks for the listener in the kernel's table, neither binding (that would steal the
port from the forward being set up) nor connecting (that would reach the service), and
works in every process of the run: xdist workers use the owner's forwards.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any

from ..remote.forwards import listening, published

WAIT = 2.0  # seconds; a forward takes milliseconds, a slow link a little more
_MODULE = "docker.api.container"


def wait_for_forwards(ports: list[int], wait: float = WAIT) -> None:
    deadline = time.monotonic() + wait
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        pending = [port for port in pending if not listening(port)]
        if pending:
            time.sleep(0.003)


class ForwardWait:
    """Wraps docker-py's ``APIClient.start`` while an engine elsewhere is wired."""

    def __init__(self) -> None:
        self._original: Any = None
        self._watch: Any = None

    def install(self) -> None:
        if _MODULE in sys.modules:
            self._wrap()
            return
        if self._watch is None:
            from .usage import ImportWatch

            self._watch = ImportWatch(self._wrap, names=(_MODULE,))
            self._watch.install()

    def _wrap(self) -> None:
        cls = getattr(sys.modules.get(_MODULE), "ContainerApiMixin", None)
        original = getattr(cls, "start", None)
        if cls is None or original is None or self._original is not None:
            return

        @functools.wraps(original)
        def start(api: Any, container: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(api, container, *args, **kwargs)
            try:
                inspect = api.inspect_container(container)
            except Exception:
                return result
            wait_for_forwards([port for port, _ in published(inspect)])
            return result

        self._original = original
        cls.start = start

    def uninstall(self) -> None:
        if self._watch is not None:
            self._watch.uninstall()
            self._watch = None
        cls = getattr(sys.modules.get(_MODULE), "ContainerApiMixin", None)
        if cls is not None and self._original is not None:
            cls.start = self._original
        self._original = None
