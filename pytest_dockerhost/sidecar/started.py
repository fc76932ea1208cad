"""What a started sidecar is: the record that ``stop()`` and the run's other processes
work from, and the endpoint it hands out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, final

from ..discovery.endpoint import DockerHost, EngineFacts, SidecarInfo
from ..engine.skew import api_skew
from ..engine.url import parse_url
from ..messages import sidecar as say_
from .payload import INNER_PORT

if TYPE_CHECKING:
    from ..engine.probe import EngineInfo
    from ..engine.url import TLSConfig
    from .reach import Reached
    from .spec import Spec


@final
@dataclass(frozen=True)
class Started:
    """A running, verified sidecar, and what stop() must remove."""

    host: DockerHost
    container_id: str
    name: str
    volume: str | None  # our anonymous-like data volume, removed with the sidecar
    network: str | None  # the network we created to reach it from our container
    reused: bool
    elapsed: float  # seconds from create (or reattach) to a verified daemon
    cert_dir: str
    preloaded: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host.to_dict(),
            "container_id": self.container_id,
            "name": self.name,
            "volume": self.volume,
            "network": self.network,
            "reused": self.reused,
            "elapsed": self.elapsed,
            "cert_dir": self.cert_dir,
            "preloaded": list(self.preloaded),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Started:
        return cls(
            host=DockerHost.from_dict(data["host"]),
            container_id=str(data["container_id"]),
            name=str(data["name"]),
            volume=data.get("volume"),
            network=data.get("network"),
            reused=bool(data.get("reused")),
            elapsed=float(data.get("elapsed") or 0.0),
            cert_dir=str(data["cert_dir"]),
            preloaded=tuple(data.get("preloaded") or ()),
            notes=tuple(data.get("notes") or ()),
        )


def sidecar_host(
    outer: DockerHost,
    spec: Spec,
    *,
    run_id: str,
    container_id: str,
    name: str,
    privileged: bool,
    reached: Reached,
    tls: TLSConfig,
    info: EngineInfo,
    notes: list[str],
) -> DockerHost:
    """The endpoint a started (or reattached) sidecar hands out: reached from here, its
    published ports on ``reached.published_host``."""
    # The tests' tools talk to the sidecar: its minimum API decides which it refuses.
    outer_skew = set(api_skew(outer.engine.min_api))
    warnings = [warning for warning in outer.warnings if warning not in outer_skew]
    warnings.extend(api_skew(info.min_api))
    if not reached.verified:
        warnings.append(say_.published_unverified(reached.published_host, INNER_PORT))
    return DockerHost(
        docker_url=parse_url(reached.url),
        requested="sidecar",
        source=f"sidecar {name} ({spec.image})",
        tls=tls,
        published_host=reached.published_host,
        published_host_verified=reached.verified,
        daemon_socket="/var/run/docker.sock",  # the inner daemon's own socket, for Ryuk
        in_container=outer.in_container,
        engine=EngineFacts(info.version, info.api_version),  # its kind, as before: Docker
        warnings=tuple(warnings),
        notes=tuple(notes),
        trace=outer.trace,
        container_id=outer.container_id,
        # Its containers publish on its own address on the remote: forwarded from there.
        remote=replace(outer.remote, url="", remote_socket="", ports_at=reached.ports_at)
        if outer.remote is not None
        else None,
        sidecar=SidecarInfo(
            run_id=run_id,
            name=name,
            outer=outer,
            container_id=container_id,
            privileged=privileged,
        ),
    )
