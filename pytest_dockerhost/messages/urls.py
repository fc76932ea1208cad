"""What is wrong with a DOCKER_HOST-style URL, and how to write it instead."""

from __future__ import annotations

from enum import Enum

from .platforms import WSL_OR_TCP

EXAMPLE = "use unix:///var/run/docker.sock or tcp://HOST:2376"


class URLProblem(Enum):
    """Each way a URL can be wrong: (what happened, the fix), with ``{placeholders}``."""

    EMPTY = ("the URL is empty", EXAMPLE)
    TOO_LONG = (
        "the URL is {length} characters long, which is not a Docker URL",
        "check what fills this variable (often a CI variable holding a file or a certificate "
        "instead of a URL); " + EXAMPLE,
    )
    UNPRINTABLE = (
        "the URL contains spaces or control characters",
        "remove them (quotes and line breaks from a copied value are the usual cause)",
    )
    BARE_PATH = ("a socket path needs the unix:// scheme", "write unix://{text}")
    NO_SCHEME = (
        "the URL has no scheme",
        "write tcp://HOST:PORT for a TCP daemon or unix:///PATH for a socket",
    )
    HTTP = ("Docker URLs use tcp://, not http://", "write tcp://{rest}")
    HTTPS = (
        "Docker URLs use tcp:// with DOCKER_TLS_VERIFY=1, not https://",
        "write tcp://{rest} and set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH",
    )
    NPIPE = ("npipe:// is a Windows named pipe, which this system does not have", EXAMPLE)
    NPIPE_WINDOWS = (
        "npipe:// is a Windows named pipe, which pytest-dockerhost cannot speak: it talks to "
        "engines over unix sockets and TCP",
        WSL_OR_TCP,
    )
    FD = (
        "fd:// is systemd socket activation for dockerd itself, not a client URL",
        "use unix:///var/run/docker.sock",
    )
    UNIX_NO_PATH = ("unix:// has no path", "write unix:///var/run/docker.sock")
    UNIX_RELATIVE = (
        "unix://{rest} is a relative path; socket paths must be absolute",
        "write unix:///{rest} (three slashes)",
    )
    HAS_PATH = ("{scheme}:// URLs take no path", "write {scheme}://{bare}")
    TCP_USER = ("tcp:// URLs take no user name", "write tcp://{bare}")
    NOT_A_SCHEME = ("{scheme!r} is not a URL scheme", "use unix:// or tcp://")
    UNSUPPORTED = (
        "the scheme {scheme}:// is not supported",
        "use unix://, tcp:// or ssh:// instead",
    )
    IPV6_OPEN = ("an IPv6 address must be closed with ']'", "write tcp://[::1]:2376")
    IPV6_TAIL = ("unexpected text after the IPv6 address", "write tcp://[::1]:2376")
    NO_HOST = ("{scheme}:// has no host name", "{example}")
    BAD_HOST = ("{host!r} is not a valid host name", "use a DNS name or an IP address; {example}")
    PORT_NOT_NUMBER = (
        "the port {port!r} is not a number",
        "write {scheme}://{host}:2376 (TLS) or :2375 (TLS off)",
    )
    PORT_RANGE = (
        "the port {port} is out of range (1-65535)",
        "write {scheme}://{host}:2376 (TLS) or :2375 (TLS off)",
    )

    def say(self, **values: object) -> tuple[str, str]:
        what, fix = self.value
        return what.format(**values), fix.format(**values)


# The scheme a user wrote, and the problem it is.
SCHEMES = {
    "http": URLProblem.HTTP,
    "https": URLProblem.HTTPS,
    "npipe": URLProblem.NPIPE,
    "fd": URLProblem.FD,
}


def host_example(scheme: str) -> str:
    if scheme == "ssh":
        return "write ssh://USER@HOST"
    return f"write {scheme}://HOST:2376 (TLS) or {scheme}://HOST:2375 (TLS off)"
