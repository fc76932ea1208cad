"""The host for ports that test containers publish: set by hand, the engine's own host, or
(in a container beside a unix socket) the one of the candidates that answers on a port a
container already publishes."""

from __future__ import annotations

from ..config.settings import Settings
from ..messages import resolution as say_
from . import network
from .sources import Candidate


def published_host(
    settings: Settings,
    candidate: Candidate,
    where: network.Where,
    self_info: dict[str, object] | None,
    timeout: float,
) -> tuple[str, bool, str]:
    """(host, verified, how it was chosen) for ports that test containers publish."""
    url = candidate.url
    assert url is not None
    if settings.published_host.value:
        return (
            settings.published_host.value,
            True,
            say_.PORTS_SET.format(
                host=settings.published_host.value, source=settings.published_host.source
            ),
        )
    if not url.is_unix:
        return url.host, True, ""  # reach() verified it; set by hand, it is taken as set
    if not where.in_container:
        return "localhost", True, ""
    choices: list[tuple[str, str]] = []
    if network.shares_daemon_network(url, candidate.tls, timeout):
        # Only a published port that answers proves it: see shares_daemon_network.
        choices.append(("localhost", say_.PORTS_SAME_NAMESPACE))
    if self_info is not None:
        if network.uses_host_network(self_info):
            return "localhost", True, say_.PORTS_HOST_NETWORK
        gateway = network.own_gateway(self_info)
        if gateway:
            choices.append((gateway, say_.PORTS_OWN_GATEWAY))
    route = network.default_gateway()
    if route and all(route != host for host, _ in choices):
        choices.append((route, say_.PORTS_ROUTE))
    if not choices:
        return "localhost", False, say_.PORTS_NO_GATEWAY
    ports = network.published_ports(url, candidate.tls, timeout)
    for host, how in choices:
        if ports and network.can_connect(host, ports[:3]):
            return host, True, say_.PORTS_VERIFIED.format(host=host, how=how)
    host, how = choices[0]
    return host, False, say_.ports_unverified(host, how)
