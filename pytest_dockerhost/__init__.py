"""pytest-dockerhost: find a Docker endpoint that works, prove it, and wire tests to it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any


def _load_without_assertion_rewriting() -> None:
    """pytest loads every module of a plugin's distribution through its assert-rewriting
    loader (the source read and hashed, the cached code read object by object): more than
    the plugin's own work on a run that never touches Docker (benchmarks/README.md). These
    modules have no asserts to rewrite, so the rest of the package loads as usual. Private
    to pytest: without those attributes nothing changes."""
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)
        if type(finder).__name__ == "AssertionRewritingHook" and isinstance(marked, set):
            marked.discard(__name__)
            cache = getattr(finder, "_marked_for_rewrite_cache", None)
            if isinstance(cache, dict):
                cache.clear()


_load_without_assertion_rewriting()

from .errors import DockerHostError, NoEndpointError, SettingError, SidecarError  # noqa: E402

if TYPE_CHECKING:
    from .config.settings import Settings
    from .discovery.endpoint import DockerHost, TraceEntry
    from .discovery.resolution import Resolution, resolve
    from .engine.url import TLSConfig

__version__ = "0.1.0"

# Loaded on first use: pytest imports this package for every run, Docker or not, and
# resolution pulls in http.client and ssl.
_LAZY = {
    "DockerHost": "discovery.endpoint",
    "TLSConfig": "engine.url",
    "TraceEntry": "discovery.endpoint",
    "Resolution": "discovery.resolution",
    "resolve": "discovery.resolution",
    "Settings": "config.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "DockerHost",
    "DockerHostError",
    "NoEndpointError",
    "Resolution",
    "SettingError",
    "Settings",
    "SidecarError",
    "TLSConfig",
    "TraceEntry",
    "__version__",
    "resolve",
]
