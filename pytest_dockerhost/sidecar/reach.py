"""Where the sidecar is reached from here, and where its published ports answer.

Three steps, each with explicit inputs: ``choose_topology`` before the container exists,
``locate`` once it runs (the API URL and the sidecar's address), ``prove`` once its daemon
answers (does that address answer from here)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from ..cleanup.janitor import api_text
from ..discovery import network
from ..discovery.endpoint import DockerHost
from ..engine.api import engine_errors
from ..errors import SidecarError
from ..messages import sidecar as say_
from .payload import INNER_PORT, Topology
from .readiness import ContainerWatch

if TYPE_CHECKING:
    from ..engine.api import EngineClient


@final
@dataclass(frozen=True)
class Located:
    """A running sidecar's API URL from here, and its address where published ports should
    answer (not proven yet)."""

    url: str
    reach_host: str


@final
@dataclass(frozen=True)
class Reached:
    """Where a ready sidecar answers: its API, and where its published ports answer
    (``verified``: a real connection from here got through)."""

    url: str
    published_host: str
    verified: bool
    ports_at: str = ""  # a remote engine's: the sidecar's address there, ports forwarded from


def choose_topology(client: EngineClient, outer: DockerHost) -> Topology:
    """host: publish 2376 on the daemon host's loopback; network: share a network with
    our own container (DooD)."""
    parsed = outer.docker_url
    if outer.remote is not None:
        return "host"  # its loopback's ports come through the run's SSH forwards
    if outer.in_container and parsed.is_unix and outer.container_id:
        try:
            me = client.api.inspect_container(outer.container_id)
        except engine_errors():
            me = None  # not a container of this daemon
        if me is not None:
            mode = str((me.get("HostConfig") or {}).get("NetworkMode") or "")
            return "host" if mode == "host" else "network"
    local = parsed.is_unix or parsed.host in ("127.0.0.1", "localhost", "::1")
    if local and not outer.in_container:
        return "host"
    # A daemon inside our own container (its bridge is one of our interfaces) is on our
    # loopback too.
    if local and network.shares_daemon_network(parsed, outer.tls, 2.0):
        return "host"
    raise SidecarError(say_.unreachable(outer.shown_url, outer.source))


def join_network(client: EngineClient, outer: DockerHost, net: str) -> bool:
    """Join our own container to the sidecar's network, so we reach it by name. True: we
    joined it now (and leave it at the end); False: no container of ours, or already in."""
    me = outer.container_id
    if not me:
        return False
    api = client.api
    info = api.inspect_container(me)
    if net in ((info.get("NetworkSettings") or {}).get("Networks") or {}):
        return False
    try:
        api.connect_container_to_network(me, net)
    except engine_errors() as exc:
        raise SidecarError(
            say_.api_failed(say_.connect_self(me, net), outer.shown_url, api_text(exc))
        ) from None
    return True


def locate(watch: ContainerWatch, name: str, topology: Topology, net: str | None) -> Located:
    """Where the running sidecar ``name`` is reached, from its inspect data."""
    info = watch.client.api.inspect_container(watch.container_id)
    settings = info.get("NetworkSettings") or {}
    networks = settings.get("Networks") or {}
    if topology == "host":
        bound = (settings.get("Ports") or {}).get(f"{INNER_PORT}/tcp") or []
        port = next((b.get("HostPort") for b in bound if b.get("HostIp") == "127.0.0.1"), None)
        if not port:
            state = info.get("State") or {}
            if not state.get("Running"):
                raise SidecarError(watch.exited(state))
            raise SidecarError(say_.no_published_port(name, INNER_PORT))
        ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
        return Located(f"tcp://127.0.0.1:{port}", str(ip or "127.0.0.1"))
    joined = networks.get(net or "") or {}
    return Located(f"tcp://{name}:{INNER_PORT}", str(joined.get("IPAddress") or name))


def prove(located: Located, *, remote: bool = False) -> Reached:
    """Containers inside the sidecar publish on the sidecar's addresses: prove that the
    one we chose answers from here, with a real connection to the sidecar's own port.
    On a remote engine they are forwarded to our loopback, as the sidecar's API is."""
    if remote:
        return Reached(located.url, "127.0.0.1", verified=True, ports_at=located.reach_host)
    host = located.reach_host
    for _ in range(10):
        try:
            with socket.create_connection((host, INNER_PORT), timeout=0.5):
                return Reached(located.url, host, verified=True)
        except OSError:
            time.sleep(0.05)
    return Reached(located.url, host, verified=False)
