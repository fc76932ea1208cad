"""The state one sidecar start keeps, and what every step of it shares."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, final

from ..cleanup.janitor import Owner, api_text
from ..discovery.endpoint import DockerHost, EngineFacts, SidecarInfo
from ..discovery.mtu import DaemonMtu
from ..engine.api import engine_errors
from ..engine.url import TLSConfig, parse_url
from ..errors import SidecarError
from ..messages import sidecar as say_
from .payload import INNER_PORT, Registries
from .spec import Profile, Say, Spec

if TYPE_CHECKING:
    from ..engine.api import EngineClient
    from ..engine.probe import EngineInfo

LOG_LINES = 20


def _quiet(_: str) -> None:
    pass


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


class SidecarBase:
    """Starts one sidecar and remembers every resource it made, so stop() can remove them
    even when start() failed half-way (Ctrl-C, a refused image, a daemon that never came up)."""

    def __init__(
        self,
        outer: DockerHost,
        spec: Spec,
        owner: Owner,
        cert_dir: str,
        *,
        say: Say = _quiet,
    ) -> None:
        self.outer = outer
        self.spec = spec
        self.owner = owner
        self.cert_dir = cert_dir
        self.say = say
        self.container_id: str | None = None
        self.volume: str | None = None
        self.network: str | None = None
        self.started: Started | None = None
        self._client: EngineClient | None = None
        self._connected_self = False
        self.profile = Profile(spec.privileged)  # the attempt that started, once one did
        self.fallbacks: list[str] = []  # why each refused attempt was followed by another
        self.cancelled: threading.Event | None = None  # set: the run no longer needs it
        self.registries = Registries()  # the outer daemon's mirrors, passed on (start)
        self.mtu = DaemonMtu()  # our interface's, when below 1500 (start)
        self.image_cmd: list[str] = []  # the image's own arguments, kept before ours
        # Waits for the run's lease (taken on another thread) and returns the owner to
        # label with; nothing of ours may exist before it is held.
        self.leased: Callable[[], Owner] | None = None

    def _hold_lease(self) -> None:
        if self.leased is not None:
            self.owner = self.leased()
            self.leased = None

    def _stop_if_cancelled(self) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise SidecarError(say_.CANCELLED)

    @property
    def client(self) -> EngineClient:
        if self._client is None:
            from ..engine.api import EngineClient

            # The hot path's calls go over the stdlib transport; docker-py is imported only
            # for the rest (pulls, logs, preloads, removal).
            outer = self.outer
            self._client = EngineClient(
                outer.address, max(60.0, self.spec.timeout), lambda t: outer.client(timeout=t)
            )
        return self._client

    def _client_tls(self, whose: str) -> TLSConfig:
        """Verified TLS with the client files in our private cert folder."""
        return TLSConfig(
            verify=True,
            ca_cert=os.path.join(self.cert_dir, "ca.pem"),
            client_cert=os.path.join(self.cert_dir, "cert.pem"),
            client_key=os.path.join(self.cert_dir, "key.pem"),
            source=f"{whose} certificates in {self.cert_dir}",
        )

    def _name(self, config: str) -> str:
        if self.spec.reuse:
            # The run's id too: runs on other machines keep sidecars of the same config.
            return f"pytest-dockerhost-reuse-{config[:12]}-{self.owner.run_id[:8]}"
        return f"pytest-dockerhost-{self.owner.run_id}"

    def _host(
        self,
        url: str,
        *,
        tls: TLSConfig,
        info: EngineInfo,
        published: str,
        verified: bool,
        name: str,
        notes: list[str],
    ) -> DockerHost:
        warnings = list(self.outer.warnings)
        if not verified:
            warnings.append(say_.published_unverified(published, INNER_PORT))
        return DockerHost(
            docker_url=parse_url(url),
            requested="sidecar",
            source=f"sidecar {name} ({self.spec.image})",
            tls=tls,
            published_host=published,
            published_host_verified=verified,
            daemon_socket="/var/run/docker.sock",  # the inner daemon's own socket, for Ryuk
            in_container=self.outer.in_container,
            engine=EngineFacts(info.version, info.api_version),  # its kind, as before: Docker
            warnings=tuple(warnings),
            notes=tuple(notes),
            trace=self.outer.trace,
            container_id=self.outer.container_id,
            sidecar=SidecarInfo(
                run_id=self.owner.run_id,
                name=name,
                outer=self.outer,
                container_id=self.container_id,
                privileged=self.profile.privileged,
            ),
        )

    def _api_error(self, what: str, exc: Exception) -> str:
        return say_.api_failed(what, self.outer.url, api_text(exc))

    def close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def _exited_message(self, state: dict[str, Any]) -> str:
        error = f" ({state['Error']})" if state.get("Error") else ""
        return say_.exited(
            self.spec.image,
            self.spec.image_source,
            status=str(state.get("Status", "exited")),
            code=str(state.get("ExitCode", "?")),
            error=error,
            logs=self._logs(),
        )

    def _logs(self) -> str:
        if self.container_id is None:
            return ""
        try:
            raw = self.client.api.logs(self.container_id, tail=LOG_LINES)
        except engine_errors():
            return ""
        text = raw.decode("utf-8", "replace").rstrip() if isinstance(raw, bytes) else str(raw)
        if not text:
            return say_.NO_LOG_LINES
        lines = "\n".join("    " + line for line in text.splitlines()[-LOG_LINES:])
        return say_.log_lines(LOG_LINES, lines)
