"""Where candidate endpoints come from: one small module per source.

Each source is a function ``(SourceContext) -> list[Candidate]``, tried in the
order of ``CHAIN``. A source that finds its input broken returns a candidate
carrying the error, so the trace can say what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Candidate, SourceContext
from .context import docker_context
from .env import docker_host_env
from .explicit import explicit_options
from .podman import container_host_env, podman_connection
from .properties import testcontainers_properties
from .sockets import well_known_sockets

Source = Callable[[SourceContext], list[Candidate]]

CHAIN: tuple[Source, ...] = (
    explicit_options,
    docker_host_env,
    container_host_env,
    docker_context,
    testcontainers_properties,
    well_known_sockets,
    podman_connection,  # last: often another machine, over SSH
)

__all__ = ["CHAIN", "Candidate", "Source", "SourceContext"]
