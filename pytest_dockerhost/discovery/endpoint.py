"""What a resolved endpoint is: DockerHost, its TLS material, its URL and the trace."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, final

from ..config.parsing import Mode
from ..engine.api import EngineAddress, EngineClientLike, open_client
from ..engine.transport import FailureKind
from ..engine.url import (
    DockerURL,
    Scheme,
    TLSConfig,
    version_key,
)
from ..errors import BindMountError
from ..messages import endpoint as say_
from ..messages import profile as say_profile
from ..messages import remote as say_remote
from ..remote.tunnel import RemoteInfo
from .profile import EngineProfile

if TYPE_CHECKING:
    import docker


Outcome = Literal["ok", "failed", "skipped", "not selected"]
# How the header names the way the engine is reached: the transport, or our own sidecar.
Reached = Literal["dood", "dind", "ssh", "sidecar"]
_REACHED_BY: dict[Scheme, Reached] = {"unix": "dood", "tcp": "dind", "ssh": "ssh"}


@final
@dataclass(frozen=True)
class TraceEntry:
    """One candidate tried during resolution, and what came of it."""

    source: str
    url: str
    outcome: Outcome
    elapsed: float
    detail: str = ""
    fix: str = ""
    kind: FailureKind | None = None  # why it failed, when it did

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@final
@dataclass(frozen=True)
class EngineFacts:
    """What the engine said about itself when it answered ``/version``."""

    version: str
    api_version: str
    kind: str = "Docker"  # or "Podman", "rootless Docker", ...
    min_api: str = ""  # the oldest API it accepts, when it says
    os: str = ""
    arch: str = ""


@final
@dataclass(frozen=True)
class SidecarInfo:
    """The plugin's own dind container behind an endpoint, and the daemon that hosts it."""

    run_id: str
    name: str
    outer: DockerHost  # the daemon hosting the sidecar
    container_id: str | None
    privileged: bool


@final
@dataclass(frozen=True)
class DockerHost:
    """A Docker endpoint that answered, and everything tests need to use it."""

    docker_url: DockerURL
    requested: Mode  # the mode the run asked for; the transport is the URL's scheme
    source: str
    tls: TLSConfig | None
    published_host: str
    published_host_verified: bool
    daemon_socket: str | None
    in_container: bool
    engine: EngineFacts
    published_how: str = ""  # how published_host was chosen, when not the obvious way
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # how things were found, e.g. "TLS from /certs/client (found)"
    trace: tuple[TraceEntry, ...] = ()
    container_id: str | None = None  # our own container, when we run in one
    sidecar: SidecarInfo | None = None  # set when this is our own sidecar's daemon
    mounts: tuple[tuple[str, str], ...] = ()  # our container's (path here, path on the host)
    remote: RemoteInfo | None = None  # an engine on another machine, reached through SSH
    profile: EngineProfile = field(default_factory=EngineProfile)  # the kind, its policy

    @property
    def url(self) -> str:
        """The URL as users see it and DOCKER_HOST takes it."""
        return str(self.docker_url)

    @property
    def shown_url(self) -> str:
        """The URL as users gave it: an ``ssh://`` engine's, not its socket here."""
        return self.remote.url if self.remote is not None and self.remote.url else self.url

    @property
    def transport(self) -> Scheme:
        return self.docker_url.scheme

    @property
    def mode(self) -> Reached:
        """How the header names the way it is reached: dood, dind, ssh or sidecar."""
        if self.sidecar is not None:
            return "sidecar"
        return "ssh" if self.remote is not None and self.remote.url else _REACHED_BY[self.transport]

    @property
    def outer(self) -> DockerHost | None:
        """The daemon hosting our sidecar, when this is one."""
        return self.sidecar.outer if self.sidecar is not None else None

    @property
    def ryuk_allowed(self) -> bool:
        """Testcontainers' Ryuk may run: not in our sidecar (its removal reaps all), and
        where the engine's profile allows it."""
        return self.outer is None and self.profile.policy.ryuk

    @property
    def engine_version(self) -> str:
        return self.engine.version

    @property
    def api_version(self) -> str:
        return self.engine.api_version

    @property
    def address(self) -> EngineAddress:
        return EngineAddress(self.docker_url, self.tls, self.api_version)

    def engine_client(self, timeout: float) -> EngineClientLike:
        """A client that answers the Engine API calls cleanup and the sidecar make without
        importing docker-py (which it falls back to, made here, for anything else)."""
        return open_client(self.address, timeout, lambda t: self.client(timeout=t))

    @property
    def client_api_version(self) -> str:
        """The API version to ask docker-py for: the engine's, capped at docker-py's default."""
        import docker.constants

        default: str = docker.constants.DEFAULT_DOCKER_API_VERSION
        return min(self.api_version, default, key=version_key)

    def environment(self) -> dict[str, str | None]:
        """Variables that point docker-py and the docker CLI here; None means 'unset it'."""
        env: dict[str, str | None] = {
            "DOCKER_HOST": self.url,
            "DOCKER_CONTEXT": None,  # DOCKER_HOST wins anyway, but a stale context confuses people
            "DOCKER_TLS_VERIFY": None,
            "DOCKER_CERT_PATH": None,
            "DOCKER_TLS": None,
        }
        if self.tls is not None:
            env["DOCKER_CERT_PATH"] = self.tls.cert_dir
            if self.tls.verify:
                env["DOCKER_TLS_VERIFY"] = "1"
            else:
                env["DOCKER_TLS"] = "1"
        return env

    def cli_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A full environment for a ``docker`` CLI subprocess that talks to this endpoint."""
        merged = dict(os.environ if base is None else base)
        for key, value in self.environment().items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    def client(self, *, timeout: float = 60.0) -> docker.DockerClient:
        """A new docker-py client for this endpoint. The caller closes it."""
        import docker

        tls = self.tls.for_docker_py() if self.tls is not None else False
        client = docker.DockerClient(
            base_url=self.url,
            tls=tls,
            version=self.client_api_version,
            timeout=int(timeout),
            use_ssh_client=self.transport == "ssh",
        )
        # Otherwise REQUESTS_CA_BUNDLE replaces our CA and proxies catch daemon traffic.
        client.api.trust_env = False
        return client

    def daemon_path(self, path: str | os.PathLike[str]) -> str:
        """The bind-mount source the daemon needs for ``path`` as seen from here.

        A bind-mount source is resolved on the daemon's host, not where pytest runs: under
        DooD a path inside the agent container maps through the agent's own mounts, and a
        path that is only in the agent cannot be mounted at all. Where no container of ours
        tells (a pod, a dind service), the daemon is asked with a marker: a folder the pod
        shares at the same path is the same path there. Raises BindMountError with the fix
        (share or mount the folder, or copy files in with put_archive).
        """
        local = os.path.abspath(os.fspath(path))
        if self.outer is not None:
            # A sidecar's daemon sees only what is copied into the sidecar.
            raise BindMountError(say_.daemon_elsewhere(local, self.shown_url))
        policy = self.profile.policy
        if policy.copies or (policy.bind_root and not _within(local, policy.bind_root)):
            # The profile rules it out: asking the engine would only meet its refusal.
            why = say_profile.not_bound(self.profile.name, policy.bind_root)
            raise BindMountError(say_.ruled_out(local, why))
        parsed = self.docker_url
        loopback = parsed.host in ("127.0.0.1", "localhost", "::1")
        if self.remote is None and not self.in_container and (parsed.is_unix or loopback):
            return local
        if self.remote is None and self.in_container and parsed.is_unix:
            mapped = _map_mount(self.mounts, local)
            if mapped is not None:
                return mapped
        from .visibility import sees

        folder = local if os.path.isdir(local) else os.path.dirname(local)
        # Behind an authorization plugin, ask as its policies allow: a -v bind.
        binds = bool(self.profile.authorization)
        if sees(self.url, lambda: self.client(timeout=15), folder, binds=binds):
            return local
        if parsed.is_unix and self.remote is None:
            raise BindMountError(say_.only_in_this_container(local, self.container_id or ""))
        raise BindMountError(say_.daemon_elsewhere(local, self.shown_url))

    def engine_line(self) -> str:
        """The engine's facts, as far as the API tells them (``-v`` and the diagnostic):
        from the ``/info`` resolution read for the profile; asked now where it had none."""
        from ..engine.probe import engine_details

        details = self.profile.details
        if details is None and self.transport != "ssh":
            details = engine_details(self.docker_url, self.tls, timeout=2.0)
        kind = self.engine.kind
        if details is not None and details.rootless and not kind.startswith("rootless"):
            kind = f"rootless {kind}"
        return say_.engine_facts(
            kind,
            self.engine_version,
            self.api_version,
            min_api=self.engine.min_api,
            image_store=details.image_store if details else "",
            cgroup=details.cgroup if details else "",
        )

    def summary(self) -> str:
        """The one-line report header."""
        tls = ""
        if self.docker_url.is_tcp:
            if self.tls is None:
                tls = say_.TLS_OFF
            elif not self.tls.verify:
                tls = say_.TLS_UNVERIFIED
            else:
                tls = say_.TLS_VERIFIED
        ports = self.published_host + ("" if self.published_host_verified else say_.UNVERIFIED)
        if self.remote is not None and self.published_host_verified:
            ports = say_remote.ports_through(self.remote.target)
        line = say_.summary(
            self.mode,
            self.shown_url,
            engine=self.engine_label,
            api=self.api_version,
            tls=tls,
            source=self.source,
            ports=ports,
        )
        if self.sidecar is not None:
            outer = self.sidecar.outer
            line += say_.on_sidecar(self.sidecar.privileged, outer.mode, outer.shown_url)
        return line

    def header(self) -> list[str]:
        """The summary line, and the profile's line when the engine's profile needs one."""
        profile = self.profile_line()
        return [self.summary(), profile] if profile else [self.summary()]

    def profile_line(self) -> str:
        """The header's line for an engine that is not plain Docker or Podman, else ""."""
        profile = self.profile
        if profile.plain:
            return ""
        policy = profile.policy
        said = []
        if not policy.ryuk:
            said.append(say_profile.ryuk_off(by_engine=not policy.reaper))
        if policy.copies:
            said.append(say_profile.COPIES)
        elif policy.bind_root:
            said.append(say_profile.binds_under(policy.bind_root))
        if policy.bodies == "content-length":
            said.append(say_profile.BODIES)
        if policy.sidecar:
            said.append(say_profile.NO_SIDECAR)
        label = say_profile.label(profile.name, profile.authorization)
        return say_profile.profile_line(label, said)

    @property
    def engine_label(self) -> str:
        """The engine's version, with its kind where that is not Docker: "Podman 5.8.6"."""
        kind = self.engine.kind
        return self.engine_version if kind == "Docker" else f"{kind} {self.engine_version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form, to hand the endpoint to pytest-xdist workers."""
        return dataclasses.asdict(self, dict_factory=_plain)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DockerHost:
        values = dict(data)
        values["docker_url"] = DockerURL(**values["docker_url"])
        values["tls"] = TLSConfig(**values["tls"]) if values.get("tls") else None
        values["engine"] = EngineFacts(**values["engine"])
        sidecar = values.get("sidecar")
        if sidecar:
            outer = cls.from_dict(sidecar["outer"])
            values["sidecar"] = SidecarInfo(**{**sidecar, "outer": outer})
        values["trace"] = tuple(_trace_entry(entry) for entry in values.get("trace", ()))
        values["warnings"] = tuple(values.get("warnings", ()))
        values["notes"] = tuple(values.get("notes", ()))
        values["mounts"] = tuple((str(a), str(b)) for a, b in values.get("mounts") or ())
        values["remote"] = RemoteInfo(**values["remote"]) if values.get("remote") else None
        values["profile"] = EngineProfile.from_dict(values.get("profile") or {})
        return cls(**values)


def _plain(items: list[tuple[str, Any]]) -> dict[str, Any]:
    # execnet hands workers plain types only: an enum goes as its value.
    return {key: value.value if isinstance(value, Enum) else value for key, value in items}


def _trace_entry(data: Mapping[str, Any]) -> TraceEntry:
    kind = data.get("kind")
    return TraceEntry(**{**data, "kind": FailureKind(kind) if kind else None})


def _within(path: str, root: str) -> bool:
    root = os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _map_mount(mounts: tuple[tuple[str, str], ...], local: str) -> str | None:
    from .network import map_path

    return map_path(mounts, local)
