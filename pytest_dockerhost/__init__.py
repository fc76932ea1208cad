"""pytest-dockerhost: find a Docker endpoint that works, prove it, and wire tests to it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DockerHostError, NoEndpointError, SettingError, SidecarError

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
