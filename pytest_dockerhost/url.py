"""A Docker endpoint's address and TLS material: the leaf every other module builds on."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any, final

from .errors import DockerHostError

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


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def version_at_least(version: str, minimum: str) -> bool:
    return version_key(version) >= version_key(minimum)
