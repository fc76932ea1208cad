"""Where we run, and where published ports are: inside-container detection, our own
container's id and mounts, the default gateway, and the host for published ports."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, final

from ..engine.transport import Failure, request
from ..engine.url import DockerURL, TLSConfig

_ANY_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)")


@final
@dataclass(frozen=True)
class Where:
    """Facts about the process's own surroundings."""

    in_container: bool
    container_id: str | None


def detect(root: str = "/") -> Where:
    """Are we in a container, and which one? Reads files only; no daemon needed."""
    marker = any(
        os.path.exists(os.path.join(root, name)) for name in (".dockerenv", "run/.containerenv")
    )
    cid = container_id_from(
        read_text(os.path.join(root, "proc/self/mountinfo")),
        read_text(os.path.join(root, "proc/self/cgroup")),
    )
    return Where(in_container=marker or cid is not None, container_id=cid)


def container_id_from(mountinfo: str, cgroup: str) -> str | None:
    """Our container id from mountinfo (works on cgroup v2) or, failing that, cgroup v1."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        # Field 4 is the mount root in its filesystem: /var/lib/docker/containers/<id>/hostname.
        match = re.search(r"/(?:containers|overlay-containers)/([0-9a-f]{64})/", fields[3])
        if match and fields[4] in (
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/run/.containerenv",
        ):
            return match.group(1)
    for line in cgroup.splitlines():
        path = line.split(":", 2)[-1]
        match = _ANY_ID.search(path)
        if match:
            return match.group(1)
    return None


def default_gateway(route_text: str | None = None) -> str | None:
    """The default route's gateway from /proc/net/route (no `ip` binary needed)."""
    text = read_text("/proc/net/route") if route_text is None else route_text
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        destination, gateway, flags = fields[1], fields[2], int(fields[3], 16)
        if destination == "00000000" and flags & 0x2:
            return socket.inet_ntoa(struct.pack("<L", int(gateway, 16)))
    return None


def default_interface(route_text: str | None = None) -> str | None:
    """The default route's interface, from /proc/net/route."""
    text = read_text("/proc/net/route") if route_text is None else route_text
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "00000000":
            return fields[0]
    return None


def inspect_container(
    url: DockerURL, tls: TLSConfig | None, container_id: str, timeout: float
) -> dict[str, Any] | None:
    """Our own container as the daemon sees it, or None (another daemon, or gone)."""
    try:
        reply = request(url, tls, f"/containers/{container_id}/json", timeout=timeout)
    except Failure:
        return None
    if reply.status != 200:
        return None
    data = reply.json()
    return data if isinstance(data, dict) else None


def own_gateway(info: dict[str, Any]) -> str | None:
    """The gateway of our container's first network: the daemon's host, seen from here."""
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    mode = str((info.get("HostConfig") or {}).get("NetworkMode") or "")
    ordered = sorted(networks.items(), key=lambda item: item[0] != mode)
    for _, net in ordered:
        gateway = (net or {}).get("Gateway")
        if gateway:
            return str(gateway)
    return None


def uses_host_network(info: dict[str, Any]) -> bool:
    return str((info.get("HostConfig") or {}).get("NetworkMode") or "") == "host"


def mounts_of(info: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """(path in our container, path on the daemon's host) for each of our mounts."""
    pairs: list[tuple[str, str]] = []
    for mount in (info or {}).get("Mounts") or []:
        dest = str(mount.get("Destination") or "")
        source = str(mount.get("Source") or "")
        if dest and source:
            pairs.append((dest, source))
    return tuple(pairs)


def map_path(mounts: tuple[tuple[str, str], ...], local_path: str) -> str | None:
    """The daemon-side path behind ``local_path``, through the deepest mount that holds it."""
    best: tuple[str, str] | None = None
    for dest, source in mounts:
        inside = local_path == dest or local_path.startswith(dest.rstrip("/") + "/")
        if inside and (best is None or len(dest) > len(best[0])):
            best = (dest, source)
    if best is None:
        return None
    dest, source = best
    return source + local_path[len(dest.rstrip("/")) :] if local_path != dest else source


def daemon_side_path(info: dict[str, Any] | None, local_path: str) -> str | None:
    """The host path behind ``local_path`` in our container's mounts, or None if not mounted."""
    return map_path(mounts_of(info), local_path)


EVERY_ADDRESS = ("0.0.0.0", "::", "")


def published_bindings(
    url: DockerURL, tls: TLSConfig | None, timeout: float
) -> list[tuple[int, str]]:
    """(host port, address it is bound to) of each TCP port running containers publish."""
    try:
        reply = request(url, tls, "/containers/json", timeout=timeout)
        data = reply.json() if reply.status == 200 else []
    except (Failure, ValueError):
        return []
    found: list[tuple[int, str]] = []
    for container in data if isinstance(data, list) else []:
        for port in container.get("Ports") or []:
            if port.get("PublicPort") and port.get("Type") == "tcp":
                found.append((int(port["PublicPort"]), str(port.get("IP") or "")))
    return found


def published_ports(url: DockerURL, tls: TLSConfig | None, timeout: float) -> list[int]:
    """Host ports that running containers publish on all addresses, to test reachability."""
    found = published_bindings(url, tls, timeout)
    return [port for port, address in found if address in EVERY_ADDRESS]


def bridge_network(url: DockerURL, tls: TLSConfig | None, timeout: float) -> dict[str, Any] | None:
    """The daemon's default bridge, as ``GET /networks/bridge`` answers (None when the
    engine has none, as Podman, or does not answer)."""
    try:
        reply = request(url, tls, "/networks/bridge", timeout=timeout)
        data = reply.json() if reply.status == 200 else None
    except (Failure, ValueError):
        return None
    return data if isinstance(data, dict) else None


def bridge_gateway(url: DockerURL, tls: TLSConfig | None, timeout: float) -> str | None:
    """The address of the daemon's default bridge, as its IPAM config says (None when the
    engine reports none: some give only the subnet, Podman has no such bridge)."""
    info = bridge_network(url, tls, timeout)
    return gateway_of(info) if info is not None else None


def gateway_of(network_info: dict[str, Any]) -> str | None:
    """A network's gateway from its IPAM config, as ``GET /networks/ID`` returns it."""
    for config in (network_info.get("IPAM") or {}).get("Config") or []:
        gateway = str((config or {}).get("Gateway") or "").split("/")[0]
        if gateway:
            return gateway
        try:
            # Some engines report the subnet alone; the daemon gives its bridge the first
            # address of it.
            subnet = ipaddress.ip_network(str((config or {}).get("Subnet") or ""), strict=False)
        except ValueError:
            continue
        if subnet.version == 4 and subnet.num_addresses > 2:
            return str(subnet.network_address + 1)
    return None


def local_addresses(fib_trie: str | None = None) -> set[str]:
    """This network namespace's own IPv4 addresses, from /proc/net/fib_trie."""
    text = read_text("/proc/net/fib_trie") if fib_trie is None else fib_trie
    found: set[str] = set()
    previous = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("/32 host LOCAL") and previous:
            found.add(previous)
        elif stripped.startswith("|--"):
            previous = stripped[3:].strip()
    return found


def shares_daemon_network(url: DockerURL, tls: TLSConfig | None, timeout: float) -> bool:
    """Does the daemon's bridge address belong to this network namespace? A hint that the
    daemon runs here, never a proof: a daemon in a container picks 172.17.0.1 too when its
    own namespace has it free, whatever this one has."""
    gateway = bridge_gateway(url, tls, timeout)
    return gateway is not None and gateway in local_addresses()


def can_connect(host: str, ports: Iterable[int], timeout: float = 0.5) -> bool:
    for port in ports:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def read_text(path: str) -> str:
    """A file's text, or "" when it cannot be read (an entry this kernel lacks)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""
