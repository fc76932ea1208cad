"""What cannot work on macOS and Windows, and what to do instead."""

from __future__ import annotations

# Windows: the transport speaks unix sockets and TCP; Docker Desktop and Podman machine
# listen on named pipes there.
WSL_OR_TCP = (
    "run pytest inside WSL2, where the engine's unix socket works, or expose the engine on "
    "TCP (Docker Desktop: Settings > General > 'Expose daemon on tcp://localhost:2375 "
    "without TLS') and set DOCKER_HOST=tcp://localhost:2375"
)
NAMED_PIPE = (
    "{pipe} is a Windows named pipe ({engine}), which pytest-dockerhost cannot speak: "
    "it talks to engines over unix sockets and TCP"
)
NO_UNIX_SOCKETS = "{path} is a unix socket, which Python on Windows cannot connect to"


def named_pipe(pipe: str, engine: str) -> tuple[str, str]:
    """(what, fix) for an engine that listens on a named pipe."""
    return NAMED_PIPE.format(pipe=pipe, engine=engine), WSL_OR_TCP
