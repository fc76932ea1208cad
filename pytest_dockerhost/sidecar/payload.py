"""Pure parts of a start: the Engine API body that creates the sidecar, and the tar of
its server certificates. No I/O here, so both are unit-tested as they are."""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any, Literal, final

from ..labels import L_CONFIG, L_REUSE, L_REUSE_KEY
from . import certs
from .spec import Profile

CERTDIR = "/certs"  # DOCKER_TLS_CERTDIR, as in docker:dind
INNER_PORT = 2376
INNER_PORT_RANGE = "45000 60999"  # the sidecar's published ports, on a remote engine
# host: 2376 published on the outer daemon's loopback; network: a network shared with our
# own container (DooD), reached by the sidecar's name.
Topology = Literal["host", "network"]


# What every engine trusts as insecure without being told: not worth passing on.
DEFAULT_INSECURE = frozenset({"127.0.0.0/8", "::1/128"})


@final
@dataclass(frozen=True)
class Registries:
    """The outer daemon's registry mirrors and insecure registries (``/info``), which the
    sidecar's daemon gets too, so that its pulls go where the host's go."""

    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Registries:
        config = info.get("RegistryConfig") or {}
        mirrors = tuple(str(m).rstrip("/") for m in config.get("Mirrors") or ())
        # A name or host:port lands in IndexConfigs, a CIDR in InsecureRegistryCIDRs.
        insecure = [
            str(name)
            for name, index in (config.get("IndexConfigs") or {}).items()
            if isinstance(index, dict) and index.get("Secure") is False
        ]
        insecure += [
            str(cidr)
            for cidr in config.get("InsecureRegistryCIDRs") or ()
            if cidr not in DEFAULT_INSECURE
        ]
        return cls(mirrors, tuple(insecure))

    def flags(self) -> list[str]:
        """dockerd flags: the docker:dind entrypoint appends arguments that start with "-"."""
        return [f"--registry-mirror={m}" for m in self.mirrors] + [
            f"--insecure-registry={r}" for r in self.insecure
        ]


def network_name(sidecar_name: str) -> str:
    return f"pytest-dockerhost-net-{sidecar_name.rsplit('-', 1)[-1]}"


def config_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels a sidecar's volume and network share with it (config and reuse)."""
    return {k: v for k, v in labels.items() if k in (L_CONFIG, L_REUSE, L_REUSE_KEY)}


def container_config(
    *,
    image: str,
    name: str,
    labels: dict[str, str],
    topology: Topology,
    profile: Profile,
    volume: str,
    network: str | None,
    runtime: str | None,
    daemon_flags: list[str] | None = None,
    ports_apart: bool = False,
) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for the sidecar.

    ``ports_apart``: the sidecar's engine allocates published ports above the outer
    engine's first ones. On a remote engine both kinds are forwarded to one 127.0.0.1 here
    under their own numbers, and both engines would begin with 32768 (the sidecar's API
    port then takes the first test container's)."""
    mounts: list[dict[str, Any]] = [
        {"Target": "/var/lib/docker", "Source": volume, "Type": "volume", "ReadOnly": False}
    ]
    host_config: dict[str, Any] = {"Mounts": mounts, "Privileged": profile.privileged}
    if runtime:
        host_config["Runtime"] = runtime
    if not profile.privileged:
        host_config.update(
            CapAdd=list(profile.caps),
            SecurityOpt=["seccomp=unconfined", "apparmor=unconfined"],
            DeviceCgroupRules=["a *:* rwm"],
            # The CLI's --security-opt systempaths=unconfined: nothing masked or read-only
            # in /proc and /sys, which the nested daemon needs.
            MaskedPaths=[],
            ReadonlyPaths=[],
        )
        # Nested containers need cgroups the inner daemon can write. An unprivileged
        # container's own cgroup mount is read-only, on cgroup v2 too (the engine mounts
        # cgroup2 "ro" unless privileged), and the API has no way to make it writable. So
        # on v1 and v2 alike: the host's hierarchy, writable, in the host's cgroup
        # namespace. That namespace also keeps the dind entrypoint's v2 step (move every
        # process of the cgroup root into /init) off: it runs only when /proc/self/cgroup
        # is "0::/", which a private namespace over the host's hierarchy would make true
        # for the host's root. Reasoned from moby's hack/dind and the engine's defaults;
        # these machines are cgroup v1, so v2 is not run here.
        host_config["CgroupnsMode"] = "host"
        mounts.append(
            {
                "Target": "/sys/fs/cgroup",
                "Source": "/sys/fs/cgroup",
                "Type": "bind",
                "ReadOnly": False,
            }
        )
    config: dict[str, Any] = {
        "Image": image,
        "Hostname": name,
        "Labels": labels,
        "Env": [f"DOCKER_TLS_CERTDIR={CERTDIR}", f"DOCKER_TLS_SAN={tls_san(name)}"],
        "ExposedPorts": {f"{INNER_PORT}/tcp": {}},
        "HostConfig": host_config,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
    }
    if daemon_flags:
        config["Cmd"] = list(daemon_flags)
    if ports_apart:
        # The engine reads its range for published ports from its own network namespace.
        host_config["Sysctls"] = {"net.ipv4.ip_local_port_range": INNER_PORT_RANGE}
    if topology == "host":
        host_config["PortBindings"] = {
            f"{INNER_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]
        }
    else:
        assert network is not None
        host_config["NetworkMode"] = network
        config["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": [name]}}}
    return config


def tls_sans(name: str) -> list[str]:
    """The names the sidecar's server certificate covers."""
    return ["localhost", "127.0.0.1", "::1", "docker", name]


def tls_san(name: str) -> str:
    """DOCKER_TLS_SAN for an image that makes its own certificates anyway."""
    return ",".join(["DNS:localhost", "IP:127.0.0.1", "DNS:docker", f"DNS:{name}"])


def server_tar(material: certs.Material) -> bytes:
    """certs/ca/cert.pem and certs/server/{ca,cert,key}.pem, without ca/key.pem: the
    docker:dind entrypoint then uses them as they are and generates nothing."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data, mode in (
            ("certs/ca/cert.pem", material.ca_cert, 0o644),
            ("certs/server/ca.pem", material.ca_cert, 0o644),
            ("certs/server/cert.pem", material.server_cert, 0o644),
            ("certs/server/key.pem", material.server_key, 0o600),
        ):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
