"""pytest-dockerhost: find a Docker endpoint that works, prove it, and wire tests to it."""

from __future__ import annotations

from .endpoint import DockerHost, TLSConfig, TraceEntry
from .errors import DockerHostError, NoEndpointError, SettingError, SidecarError
from .resolve import Resolution, resolve
from .settings import Settings

__version__ = "0.1.0"

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
