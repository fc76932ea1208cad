"""What a resolved endpoint is: DockerHost, its TLS material, its URL and the trace."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, final

from .errors import BindMountError, DockerHostError

if TYPE_CHECKING:
    import docker

# What docker-py 7 can still talk to; older engines get a clear message.
MIN_API_VERSION = "1.24"
TLS_PORT = 2376
PLAIN_PORT = 2375

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


class URLError(DockerHostError):
    """A DOCKER_HOST-style URL is malformed. The message says what is wrong, ``fix`` the cure."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix or "use unix:///var/run/docker.sock or tcp://HOST:2376"


@final
@dataclass(frozen=True)
class DockerURL:
    """A parsed endpoint URL: ``unix:///path``, ``tcp://host:port`` or ``ssh://user@host``."""

    scheme: str
    host: str = ""  # tcp and ssh
    port: int | None = None
    path: str = ""  # unix
    user: str = ""  # ssh
    raw: str = ""

    @property
    def is_unix(self) -> bool:
        return self.scheme == "unix"

    @property
    def is_tcp(self) -> bool:
        return self.scheme == "tcp"

    def with_port(self, port: int) -> DockerURL:
        return dataclasses.replace(self, port=port)

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{host}{port}"


_SCHEME_FIXES = {
    "http": ("Docker URLs use tcp://, not http://", "write tcp://{rest}"),
    "https": (
        "Docker URLs use tcp:// with DOCKER_TLS_VERIFY=1, not https://",
        "write tcp://{rest} and set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH",
    ),
    "npipe": (
        "npipe:// is a Windows named pipe, which this system does not have",
        "use unix:///var/run/docker.sock or tcp://HOST:2376",
    ),
    "fd": (
        "fd:// is systemd socket activation for dockerd itself, not a client URL",
        "use unix:///var/run/docker.sock",
    ),
}


def parse_url(raw: str, *, tls: bool | None = None) -> DockerURL:
    """Parse a DOCKER_HOST value as the docker CLI does.

    A missing TCP port becomes 2376 when ``tls`` is on and 2375 otherwise.
    Raises URLError (with its ``fix``) for anything the CLI would also refuse.
    """
    text = raw.strip()
    if not text:
        raise URLError("the URL is empty")
    if len(text) > 2048:
        raise URLError(
            f"the URL is {len(text)} characters long, which is not a Docker URL",
            "check what fills this variable (often a CI variable holding a file or a "
            "certificate instead of a URL); use unix:///var/run/docker.sock or tcp://HOST:2376",
        )
    if not text.isprintable() or any(ch.isspace() for ch in text):
        raise URLError(
            "the URL contains spaces or control characters",
            "remove them (quotes and line breaks from a copied value are the usual cause)",
        )
    if "://" not in text:
        if text.startswith("/"):
            raise URLError("a socket path needs the unix:// scheme", f"write unix://{text}")
        if text.startswith("npipe:"):
            what, fix = _SCHEME_FIXES["npipe"]
            raise URLError(what, fix)
        raise URLError(
            "the URL has no scheme",
            "write tcp://HOST:PORT for a TCP daemon or unix:///PATH for a socket",
        )
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme in _SCHEME_FIXES:
        what, fix = _SCHEME_FIXES[scheme]
        raise URLError(what, fix.format(rest=rest))
    if scheme == "unix":
        if not rest:
            raise URLError("unix:// has no path", "write unix:///var/run/docker.sock")
        if not rest.startswith("/"):
            raise URLError(
                f"unix://{rest} is a relative path; socket paths must be absolute",
                f"write unix:///{rest} (three slashes)",
            )
        return DockerURL("unix", path=rest, raw=text)
    if scheme in ("tcp", "ssh"):
        user = ""
        hostport = rest.rstrip("/")
        if "/" in hostport:
            raise URLError(
                f"{scheme}:// URLs take no path", f"write {scheme}://{hostport.split('/')[0]}"
            )
        if "@" in hostport:
            if scheme == "tcp":
                raise URLError(
                    "tcp:// URLs take no user name", f"write tcp://{hostport.rsplit('@', 1)[1]}"
                )
            user, hostport = hostport.rsplit("@", 1)
        host, port = _split_hostport(hostport, scheme)
        if port is None and scheme == "tcp":
            port = TLS_PORT if tls else PLAIN_PORT
        return DockerURL(scheme, host=host, port=port, user=user, raw=text)
    if not scheme or not scheme.isascii() or not scheme.isalpha():
        raise URLError(f"{scheme!r} is not a URL scheme", "use unix:// or tcp://")
    raise URLError(
        f"the scheme {scheme}:// is not supported", "use unix://, tcp:// or ssh:// instead"
    )


def _split_hostport(hostport: str, scheme: str) -> tuple[str, int | None]:
    example = f"write {scheme}://HOST:2376 (TLS) or {scheme}://HOST:2375 (TLS off)"
    if scheme == "ssh":
        example = "write ssh://USER@HOST"
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise URLError("an IPv6 address must be closed with ']'", "write tcp://[::1]:2376")
        host, tail = hostport[1:end], hostport[end + 1 :]
        if tail and not tail.startswith(":"):
            raise URLError("unexpected text after the IPv6 address", "write tcp://[::1]:2376")
        port_text = tail[1:] if tail else None
    elif ":" in hostport:
        host, port_text = hostport.rsplit(":", 1)
    else:
        host, port_text = hostport, None
    if not host:
        raise URLError(f"{scheme}:// has no host name", example)
    if ":" not in host and not _HOSTNAME.match(host):
        raise URLError(
            f"{host!r} is not a valid host name", "use a DNS name or an IP address; " + example
        )
    if port_text is None:
        return host, None
    if not port_text.isdigit():
        raise URLError(
            f"the port {port_text!r} is not a number",
            f"write {scheme}://{host}:2376 (TLS) or :2375 (TLS off)",
        )
    port = int(port_text)
    if not 0 < port < 65536:
        raise URLError(
            f"the port {port} is out of range (1-65535)",
            f"write {scheme}://{host}:2376 (TLS) or :2375 (TLS off)",
        )
    return host, port


@final
@dataclass(frozen=True)
class TLSConfig:
    """Client TLS material for a TCP daemon, in the docker CLI's layout."""

    verify: bool
    ca_cert: str | None
    client_cert: str | None
    client_key: str | None
    source: str  # e.g. "DOCKER_CERT_PATH=/certs/client", "context ci", "/certs/client (found)"
    # The files come from a shared volume that a starting docker:dind is still filling, so a
    # missing file is worth waiting for in dind mode.
    pending: bool = False

    @property
    def cert_dir(self) -> str | None:
        """The folder holding ca.pem, cert.pem and key.pem, when they share one."""
        paths = [p for p in (self.ca_cert, self.client_cert, self.client_key) if p]
        if not paths:
            return None
        folders = {os.path.dirname(p) for p in paths}
        names = {os.path.basename(p) for p in paths} <= {"ca.pem", "cert.pem", "key.pem"}
        return folders.pop() if len(folders) == 1 and names else None

    def for_docker_py(self) -> Any:
        import docker.tls

        client_cert = (
            (self.client_cert, self.client_key) if self.client_cert and self.client_key else None
        )
        return docker.tls.TLSConfig(
            client_cert=client_cert,
            ca_cert=self.ca_cert if self.verify else None,
            verify=self.ca_cert if self.verify and self.ca_cert else self.verify,
        )


@final
@dataclass(frozen=True)
class TraceEntry:
    """One candidate tried during resolution, and what came of it."""

    source: str
    url: str
    outcome: str  # "ok", "failed", "skipped", "not selected"
    elapsed: float
    detail: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@final
@dataclass(frozen=True)
class DockerHost:
    """A Docker endpoint that answered, and everything tests need to use it."""

    url: str
    mode: str  # dood, dind or sidecar
    source: str
    tls: TLSConfig | None
    published_host: str
    published_host_verified: bool
    daemon_socket: str | None
    in_container: bool
    engine_version: str
    api_version: str
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # how things were found, e.g. "TLS from /certs/client (found)"
    trace: tuple[TraceEntry, ...] = ()
    container_id: str | None = None  # our own container, when we run in one
    outer: DockerHost | None = None  # the daemon hosting a sidecar
    sidecar_id: str | None = None
    privileged: bool | None = None  # for a sidecar
    extras: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[tuple[str, str], ...] = ()  # our container's (path here, path on the host)

    @property
    def parsed(self) -> DockerURL:
        return parse_url(self.url)

    @property
    def client_api_version(self) -> str:
        """The API version to ask docker-py for: the engine's, capped at docker-py's default."""
        import docker.constants

        default: str = docker.constants.DEFAULT_DOCKER_API_VERSION
        return min(self.api_version, default, key=_version_key)

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
            use_ssh_client=self.url.startswith("ssh://"),
        )
        # Otherwise REQUESTS_CA_BUNDLE replaces our CA and proxies catch daemon traffic.
        client.api.trust_env = False
        return client

    def daemon_path(self, path: str | os.PathLike[str]) -> str:
        """The bind-mount source the daemon needs for ``path`` as seen from here.

        A bind-mount source is resolved on the daemon's host, not where pytest runs: under
        DooD a path inside the agent container maps through the agent's own mounts, and a
        path that is only in the agent cannot be mounted at all. Raises BindMountError with
        the fix (mount the folder into the agent, or copy files in with put_archive).
        """
        local = os.path.abspath(os.fspath(path))
        parsed = self.parsed
        same_machine = parsed.is_unix or (
            parsed.host in ("127.0.0.1", "localhost", "::1") and not self.in_container
        )
        if self.outer is not None or not same_machine:
            raise BindMountError(
                f"{local} is on this machine, but the daemon at {self.url} runs in another "
                "container or host and cannot see it. Copy files into the container instead: "
                "create it, then container.put_archive(path, tar_bytes), then start it."
            )
        if not self.in_container or not parsed.is_unix:
            return local
        mapped = _map_mount(self.mounts, local)
        if mapped is None:
            raise BindMountError(
                f"{local} exists only inside this container ({self.container_id or 'id unknown'}"
                f"), so the daemon, which resolves bind-mount sources on its host, cannot "
                "mount it. Mount a host folder into this container (docker run -v "
                "HOST_DIR:DIR) and work below DIR, or copy files in with put_archive."
            )
        return mapped

    def summary(self) -> str:
        """The one-line report header."""
        tls = ""
        if self.parsed.is_tcp:
            if self.tls is None:
                tls = ", TLS off"
            elif not self.tls.verify:
                tls = ", TLS without verification"
            else:
                tls = ", TLS verified"
        ports = self.published_host + ("" if self.published_host_verified else " (unverified)")
        line = (
            f"docker: {self.mode} {self.url} (engine {self.engine_version}, "
            f"API {self.api_version}{tls}) via {self.source}; published ports on {ports}"
        )
        if self.outer is not None:
            priv = "privileged" if self.privileged else "unprivileged"
            line += f"; sidecar ({priv}) on {self.outer.mode} {self.outer.url}"
        return line

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form, to hand the endpoint to pytest-xdist workers."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DockerHost:
        values = dict(data)
        values["tls"] = TLSConfig(**values["tls"]) if values.get("tls") else None
        values["outer"] = cls.from_dict(values["outer"]) if values.get("outer") else None
        values["trace"] = tuple(TraceEntry(**entry) for entry in values.get("trace", ()))
        values["warnings"] = tuple(values.get("warnings", ()))
        values["notes"] = tuple(values.get("notes", ()))
        values["extras"] = dict(values.get("extras") or {})
        values["mounts"] = tuple((str(a), str(b)) for a, b in values.get("mounts") or ())
        return cls(**values)


def _map_mount(mounts: tuple[tuple[str, str], ...], local: str) -> str | None:
    from .network import map_path

    return map_path(mounts, local)


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def version_at_least(version: str, minimum: str) -> bool:
    return _version_key(version) >= _version_key(minimum)
