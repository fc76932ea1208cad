"""MTU: pod networks (Calico, VXLAN, GCP) are often 1450 or 1460, while a nested daemon's
bridge, and every network created in it, defaults to 1500. Big packets then stall
silently (TLS handshakes, pulls). Here: our interface's MTU, the daemon's bridge's, and
the dockerd flags that make a daemon of ours match."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from ..engine.url import DockerURL, TLSConfig
from ..messages import mtu as say_mtu
from .ci import ci_name
from .network import Where, bridge_network, default_interface, read_text

if TYPE_CHECKING:
    from .pod import Pod

ETHERNET_MTU = 1500
NETWORK_MTU_OPTION = "com.docker.network.driver.mtu"
DEFAULT_NETWORK_OPT_SINCE = (24, 0)  # dockerd --default-network-opt


@final
@dataclass(frozen=True)
class OwnMtu:
    """Our default route's interface and its MTU, when that is below Ethernet's."""

    interface: str
    mtu: int


def own_mtu(sys_net: str = "/sys/class/net", route_text: str | None = None) -> OwnMtu | None:
    """None when the MTU is 1500 (or more, or unknown): nothing to match."""
    interface = default_interface(route_text)
    if interface is None:
        return None
    text = read_text(f"{sys_net}/{interface}/mtu").strip()
    if not text.isdigit() or not 0 < int(text) < ETHERNET_MTU:
        return None
    return OwnMtu(interface, int(text))


def bridge_mtu(url: DockerURL, tls: TLSConfig | None, timeout: float) -> int | None:
    """The MTU of the daemon's default bridge (1500 when it sets none); None when the engine
    has no such bridge or does not answer."""
    info = bridge_network(url, tls, timeout)
    if info is None:
        return None
    value = str((info.get("Options") or {}).get(NETWORK_MTU_OPTION, "")).strip()
    return int(value) if value.isdigit() else ETHERNET_MTU


def engine_version_of_image(env: list[str] | None) -> tuple[int, int] | None:
    """The engine version a dind image declares (``DOCKER_VERSION``, as docker:dind sets)."""
    for item in env or ():
        name, _, value = item.partition("=")
        if name == "DOCKER_VERSION":
            parts = value.strip().lstrip("v").split(".")
            if len(parts) >= 2 and parts[0].isdigit() and parts[1][:2].isdigit():
                return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()))
    return None


@final
@dataclass(frozen=True)
class DaemonMtu:
    """What a daemon of ours (the sidecar's) is started with: None when there is nothing
    to match; ``per_network`` when its engine (24+) takes the default for new networks."""

    mtu: int | None = None
    per_network: bool = False
    interface: str = ""  # ours, whose MTU it is

    @classmethod
    def matching(cls, own: OwnMtu | None, engine: tuple[int, int] | None) -> DaemonMtu:
        if own is None:
            return cls()
        per_network = engine is not None and engine >= DEFAULT_NETWORK_OPT_SINCE
        return cls(own.mtu, per_network, own.interface)

    def flags(self) -> list[str]:
        """dockerd flags: the bridge's MTU and, where the engine takes it, every network's."""
        if self.mtu is None:
            return []
        flags = [f"--mtu={self.mtu}"]
        if self.per_network:
            flags.append(f"--default-network-opt=bridge={NETWORK_MTU_OPTION}={self.mtu}")
        return flags

    def network_options(self) -> dict[str, str]:
        """Driver options for a network we create on the outer daemon."""
        return {} if self.mtu is None else {NETWORK_MTU_OPTION: str(self.mtu)}


def mtu_warnings(
    url: DockerURL,
    tls: TLSConfig | None,
    where: Where,
    pod: Pod | None,
    timeout: float,
) -> list[str]:
    """A CI's daemon whose uplink is our interface (in our pod's network namespace, or on
    loopback from inside a container) with a bridge MTU larger than that interface's. Not
    a daemon on this host: it forwards for its containers and answers path MTU probes."""
    from .pod import is_loopback

    own = own_mtu()
    if own is None:
        return []
    if pod is not None:
        local = pod.shares_network
    else:
        local = where.in_container and not url.is_unix and is_loopback(url.host)
    bridge = bridge_mtu(url, tls, timeout) if local else None
    if bridge is None or bridge <= own.mtu:
        return []
    ci = ci_name(os.environ)
    return [say_mtu.bridge_too_large(bridge, own.mtu, own.interface, str(url), ci)]
