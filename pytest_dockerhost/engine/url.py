"""A Docker endpoint's address and TLS material: the leaf every other module builds on."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Literal, final

from ..errors import DockerHostError
from ..messages.urls import EXAMPLE, SCHEMES, URLProblem, host_example

# What docker-py 7 can still talk to; older engines get a clear message.
MIN_API_VERSION = "1.24"
TLS_PORT = 2376
PLAIN_PORT = 2375

# How the engine is reached: a local unix socket, TCP (TLS or not), or the ssh CLI.
Scheme = Literal["unix", "tcp", "ssh"]
_SCHEMES: dict[str, Scheme] = {"unix": "unix", "tcp": "tcp", "ssh": "ssh"}

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


class URLError(DockerHostError):
    """A DOCKER_HOST-style URL is malformed. The message says what is wrong, ``fix`` the cure."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix or EXAMPLE


@final
@dataclass(frozen=True)
class DockerURL:
    """A parsed endpoint URL: ``unix:///path``, ``tcp://host:port`` or ``ssh://user@host``."""

    scheme: Scheme
    host: str = ""  # tcp and ssh
    port: int | None = None
    path: str = ""  # unix; ssh: the engine's socket on the remote host, when given
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
        path = self.path if self.scheme == "ssh" else ""
        return f"{self.scheme}://{user}{host}{port}{path}"


def _fail(problem: URLProblem, **values: object) -> URLError:
    what, fix = problem.say(**values)
    return URLError(what, fix)


def parse_url(raw: str, *, tls: bool | None = None) -> DockerURL:
    """Parse a DOCKER_HOST value as the docker CLI does.

    A missing TCP port becomes 2376 when ``tls`` is on and 2375 otherwise.
    Raises URLError (with its ``fix``) for anything the CLI would also refuse.
    """
    text = raw.strip()
    if not text:
        raise _fail(URLProblem.EMPTY)
    if len(text) > 2048:
        raise _fail(URLProblem.TOO_LONG, length=len(text))
    if not text.isprintable() or any(ch.isspace() for ch in text):
        raise _fail(URLProblem.UNPRINTABLE)
    if "://" not in text:
        if text.startswith("/"):
            raise _fail(URLProblem.BARE_PATH, text=text)
        if text.startswith("npipe:"):
            raise _fail(_npipe_problem())
        raise _fail(URLProblem.NO_SCHEME)
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme == "npipe":
        raise _fail(_npipe_problem())
    if scheme in SCHEMES:
        raise _fail(SCHEMES[scheme], rest=rest)
    known = _SCHEMES.get(scheme)
    if known == "unix":
        if not rest:
            raise _fail(URLProblem.UNIX_NO_PATH)
        if not rest.startswith("/"):
            raise _fail(URLProblem.UNIX_RELATIVE, rest=rest)
        return DockerURL("unix", path=rest, raw=text)
    if known is not None:
        user = path = ""
        hostport = rest.rstrip("/")
        if known == "ssh" and "/" in hostport:
            # Podman's form: ssh://user@host/run/user/1000/podman/podman.sock
            hostport, slash, tail = hostport.partition("/")
            path = slash + tail
        if "/" in hostport:
            raise _fail(URLProblem.HAS_PATH, scheme=scheme, bare=hostport.split("/")[0])
        if "@" in hostport:
            if scheme == "tcp":
                raise _fail(URLProblem.TCP_USER, bare=hostport.rsplit("@", 1)[1])
            user, hostport = hostport.rsplit("@", 1)
        host, port = _split_hostport(hostport, scheme)
        if port is None and known == "tcp":
            port = TLS_PORT if tls else PLAIN_PORT
        return DockerURL(known, host=host, port=port, path=path, user=user, raw=text)
    if not scheme or not scheme.isascii() or not scheme.isalpha():
        raise _fail(URLProblem.NOT_A_SCHEME, scheme=scheme)
    raise _fail(URLProblem.UNSUPPORTED, scheme=scheme)


def _npipe_problem() -> URLProblem:
    # On Windows the pipe exists, but the transport speaks unix sockets and TCP only.
    return URLProblem.NPIPE_WINDOWS if sys.platform == "win32" else URLProblem.NPIPE


def _split_hostport(hostport: str, scheme: str) -> tuple[str, int | None]:
    example = host_example(scheme)
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _fail(URLProblem.IPV6_OPEN)
        host, tail = hostport[1:end], hostport[end + 1 :]
        if tail and not tail.startswith(":"):
            raise _fail(URLProblem.IPV6_TAIL)
        port_text = tail[1:] if tail else None
    elif ":" in hostport:
        host, port_text = hostport.rsplit(":", 1)
    else:
        host, port_text = hostport, None
    if not host:
        raise _fail(URLProblem.NO_HOST, scheme=scheme, example=example)
    if ":" not in host and not _HOSTNAME.match(host):
        raise _fail(URLProblem.BAD_HOST, host=host, example=example)
    if port_text is None:
        return host, None
    if not port_text.isdigit():
        raise _fail(URLProblem.PORT_NOT_NUMBER, port=port_text, scheme=scheme, host=host)
    port = int(port_text)
    if not 0 < port < 65536:
        raise _fail(URLProblem.PORT_RANGE, port=port, scheme=scheme, host=host)
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
    # Python's VERIFY_X509_STRICT (on by default since 3.13); off only on the user's word.
    x509_strict: bool = True

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
