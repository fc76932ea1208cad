"""The run's SSH tunnels, seen from the endpoint's lifecycle: follow the chosen engine's
containers, tell a dropped connection, close them all at the very end."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cleanup.reaper import RunIdentity
    from ..discovery.endpoint import DockerHost

_MODULE = "pytest_dockerhost.remote.tunnel"


def follow(host: DockerHost, identity: RunIdentity, *, close_unused: bool = True) -> None:
    """An engine elsewhere: forward the ports its containers publish (the owner's one
    tunnel serves every local worker), and close the tunnels resolution left unused (not
    for a pool's other engines: each has a tunnel of its own)."""
    if _MODULE not in sys.modules:
        return  # no ssh:// endpoint or SSH target was tried: nothing to follow
    from ..remote.tunnel import close_all, opened

    tunnel = opened(host.remote)
    if host.outer is None and close_unused:
        close_all(keep=tunnel)
    if tunnel is not None and host.remote is not None:
        tunnel.follow(
            host.docker_url,
            host.tls,
            run_id=identity.run_id,
            session=identity.session,
            ports_at=host.remote.ports_at,
        )


def lost(host: DockerHost, outer: DockerHost | None) -> str:
    """The endpoint went away because the SSH connection that carries it closed: what
    closed, when, what ssh said, the fix; "" while the connection lives."""
    if _MODULE not in sys.modules:
        return ""
    from ..messages.endpoint import lost_through_ssh
    from ..remote.tunnel import opened

    for carrier in (host, outer):
        tunnel = opened(carrier.remote) if carrier is not None else None
        closed = tunnel.post_mortem() if tunnel is not None else ""
        if closed:
            return lost_through_ssh(host.shown_url, host.mode, host.source, closed)
    return ""


def forward_problems(since: float) -> str:
    """The published ports that could not be forwarded here since ``since``, one a line."""
    if _MODULE not in sys.modules:
        return ""
    from ..messages.remote import port_not_forwarded
    from ..remote.tunnel import open_tunnels

    return "\n".join(
        port_not_forwarded(problem.name, problem.port, problem.why)
        for tunnel in open_tunnels()
        for problem in tunnel.problems_since(since)
    )


def close() -> None:
    """After the cleanup, which reached the engine through them."""
    if _MODULE in sys.modules:
        from ..remote.tunnel import close_all

        close_all()
