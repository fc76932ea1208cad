"""Where the sidecar is reached from here, and where its published ports answer."""

from __future__ import annotations

import socket
import time

from ..discovery import network
from ..engine.api import engine_errors
from ..errors import SidecarError
from ..messages import sidecar as say_
from .base import SidecarBase
from .payload import INNER_PORT, Topology


class Reach(SidecarBase):
    def _topology(self) -> Topology:
        """host: publish 2376 on the daemon host's loopback; network: share a network with
        our own container (DooD)."""
        parsed = self.outer.docker_url
        if self.outer.in_container and parsed.is_unix and self.outer.container_id:
            try:
                me = self.client.api.inspect_container(self.outer.container_id)
            except engine_errors():
                me = None  # not a container of this daemon
            if me is not None:
                mode = str((me.get("HostConfig") or {}).get("NetworkMode") or "")
                return "host" if mode == "host" else "network"
        local = parsed.is_unix or parsed.host in ("127.0.0.1", "localhost", "::1")
        if local and not self.outer.in_container:
            return "host"
        # A daemon inside our own container (its bridge is one of our interfaces) is on our
        # loopback too.
        if local and network.shares_daemon_network(parsed, self.outer.tls, 2.0):
            return "host"
        raise SidecarError(say_.unreachable(self.outer.url, self.outer.source))

    def _connect_self(self) -> None:
        """Join our own container to the sidecar's network, so we reach it by name."""
        me = self.outer.container_id
        if not me or not self.network or self._connected_self:
            return
        api = self.client.api
        info = api.inspect_container(me)
        if self.network in ((info.get("NetworkSettings") or {}).get("Networks") or {}):
            return
        try:
            api.connect_container_to_network(me, self.network)
        except engine_errors() as exc:
            raise SidecarError(self._api_error(say_.connect_self(me, self.network), exc)) from None
        self._connected_self = True

    def _address(self, name: str, topology: Topology) -> tuple[str, str]:
        """(API URL, address of the sidecar where its published ports answer)."""
        assert self.container_id is not None
        info = self.client.api.inspect_container(self.container_id)
        settings = info.get("NetworkSettings") or {}
        networks = settings.get("Networks") or {}
        if topology == "host":
            bound = (settings.get("Ports") or {}).get(f"{INNER_PORT}/tcp") or []
            port = next((b.get("HostPort") for b in bound if b.get("HostIp") == "127.0.0.1"), None)
            if not port:
                state = info.get("State") or {}
                if not state.get("Running"):
                    raise SidecarError(self._exited_message(state))
                raise SidecarError(say_.no_published_port(name, INNER_PORT))
            ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
            return f"tcp://127.0.0.1:{port}", str(ip or "127.0.0.1")
        net = networks.get(self.network or "") or {}
        return f"tcp://{name}:{INNER_PORT}", str(net.get("IPAddress") or name)

    def _published_host(self, reach_host: str) -> tuple[str, bool]:
        """Containers inside the sidecar publish on the sidecar's addresses: prove that the
        one we chose answers from here, with a real connection to the sidecar's own port."""
        for _ in range(10):
            try:
                with socket.create_connection((reach_host, INNER_PORT), timeout=0.5):
                    return reach_host, True
            except OSError:
                time.sleep(0.05)
        return reach_host, False
