"""The catalogue's entries for the failures a probe classifies (``FailureKind``'s values,
written as strings: ``engine`` is above this package), and the entry types.

Each entry's what-happened and fix are rendered by ``failures.explain``, the function users
see them from, with example facts, so the troubleshooting page cannot drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import details as D
from . import platforms as P
from .failures import Attempt, MachineFacts, ProbeFailure, SocketFacts, arc_group_fix, explain

# The failures met after the probe: resolution as a whole, a run, the sidecar, settings.
RunFailure = Literal[
    "no-endpoint",
    "endpoint-lost",
    "bind-mount-unseen",
    "copy-in-failed",
    "copy-not-back",
    "copy-auto-removed",
    "sidecar-privileged-refused",
    "sidecar-capabilities-refused",
    "sidecar-unreachable",
    "client-too-old",
    "compose-api-pinned",
    "docker-is-podman",
    "podman-ryuk",
    "mtu",
    "url-invalid",
    "setting-invalid",
    "tls-verify-zero",
    "docker-host-blank",
    "pool-entry-invalid",
    "pool-engine-left-out",
    "pool-sidecar-count",
    "pool-sidecar-in-sidecar-mode",
    "pool-sidecar-left-out",
    "dind-not-ready",
    "published-unverified",
    "remote-ports-unreachable",
    "ssh-connection-closed",
    "port-not-forwarded",
    "no-engine-azure",
    "no-engine-bitbucket",
    "no-engine-circleci",
    "no-engine-arc-kubernetes",
    "no-engine-gitlab",
    "no-engine-github-job-container",
    "no-engine-github",
    "no-engine-jenkins",
    "kubedock-no-sidecar",
    "kubedock-ports",
    "authz-denied",
    "bind-refused-by-policy",
    "sidecar-refused-by-policy",
    "killed-for-memory",
]


@dataclass(frozen=True)
class Fix:
    """A fix, and when it applies ("" for always)."""

    text: str
    when: str = ""


@dataclass(frozen=True)
class CatalogueEntry:
    """One failure: the texts users search for (the first is its title), what it means, and
    what the plugin says about it. ``fixes`` is empty where ``says`` carries its own fix."""

    kinds: tuple[ProbeFailure | RunFailure, ...]
    searched: tuple[str, ...]
    means: str
    says: str
    fixes: tuple[Fix, ...] = ()

    @property
    def title(self) -> str:
        return self.searched[0]


SOCKET = Attempt("DOCKER_HOST", "unix:///var/run/docker.sock", path="/var/run/docker.sock")
TCP = Attempt(
    "DOCKER_HOST", "tcp://docker:2376", host="docker", tls_source="DOCKER_CERT_PATH=/certs/client"
)
PLAIN = Attempt("DOCKER_HOST", "tcp://docker:2375", host="docker")
SSH = Attempt("DOCKER_HOST", "ssh://ci@build-host", host="build-host", user="ci")
JENKINS = SocketFacts(
    mode="srw-rw----",
    owner_uid=0,
    gid=999,
    group=None,
    uid=1000,
    user="jenkins",
    groups=((1000, "jenkins"), (998, "docker")),
    docker_gid=998,
)
HOST = MachineFacts()
CONTAINER = MachineFacts(in_container=True)
CERT_PATH = "/certs/client"


def _transport(
    kinds: tuple[ProbeFailure, ...],
    searched: tuple[str, ...],
    means: str,
    detail: str,
    at: Attempt = TCP,
) -> CatalogueEntry:
    """An entry for kinds whose fix depends on nothing of the machine."""
    what, fix = explain(kinds[0], detail, at, HOST)
    return CatalogueEntry(kinds, searched, means, what, (Fix(fix),))


def _socket_entries() -> list[CatalogueEntry]:
    missing = D.SOCKET_MISSING.format(path=SOCKET.path)
    what, on_host = explain("socket-missing", missing, SOCKET, HOST)
    _, in_container = explain("socket-missing", missing, SOCKET, CONTAINER)
    denied = D.SOCKET_DENIED.format(path=SOCKET.path)
    says, fix = explain("socket-eacces", denied, SOCKET, MachineFacts(socket=JENKINS))
    return [
        CatalogueEntry(
            ("socket-eacces",),
            (
                "permission denied while trying to connect to the Docker daemon socket at "
                "unix:///var/run/docker.sock",
                "PermissionError(13, 'Permission denied')",
            ),
            "the socket exists, but this process's groups do not include the socket's gid: "
            "the classic Docker-out-of-Docker trap when the host's socket is mounted into a "
            "CI container",
            says,
            (
                Fix(fix),
                Fix(arc_group_fix("runner"), "on GitHub ARC, where the socket's group is 123"),
            ),
        ),
        CatalogueEntry(
            ("socket-missing",),
            (
                "Error while fetching server API version: ('Connection aborted.', "
                "FileNotFoundError(2, 'No such file or directory'))",
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                "Is the docker daemon running?",
            ),
            "there is no Docker socket at that path",
            what,
            (Fix(on_host, "on a machine of its own"), Fix(in_container, "inside a container")),
        ),
        _transport(
            ("socket-stale",),
            (
                "Error while fetching server API version: ('Connection aborted.', "
                "ConnectionRefusedError(111, 'Connection refused'))",
            ),
            "the socket file is there, but no daemon listens on it",
            D.SOCKET_STALE.format(path=SOCKET.path),
            SOCKET,
        ),
        _transport(
            ("socket-not-socket", "socket-dangling"),
            ("is a regular file, not a socket", "is a symlink to nothing"),
            "the socket's path names a file, a folder or a broken link, not a socket",
            D.SOCKET_IS_FILE.format(path=SOCKET.path),
            SOCKET,
        ),
        _transport(
            ("socket-error",),
            ("NotADirectoryError(20, 'Not a directory')",),
            "the socket's path cannot be opened for another reason the system gave",
            D.SOCKET_OS_ERROR.format(path=SOCKET.path, why="Not a directory"),
            SOCKET,
        ),
        _transport(
            ("no-unix-sockets",),
            ("module 'socket' has no attribute 'AF_UNIX'",),
            "a unix:// URL on Windows, whose Python cannot connect to unix sockets",
            P.NO_UNIX_SOCKETS.format(path=SOCKET.path),
            SOCKET,
        ),
    ]


def _tcp_entries() -> list[CatalogueEntry]:
    return [
        _transport(
            ("refused",),
            (
                "[Errno 111] Connection refused",
                "Cannot connect to the Docker daemon at tcp://docker:2376. "
                "Is the docker daemon running?",
            ),
            "nothing listens on that host and port, or the daemon has not started yet",
            D.REFUSED.format(host="docker", port=2376),
        ),
        _transport(
            ("dns",),
            (
                "Failed to resolve 'docker' ([Errno -2] Name or service not known)",
                "dial tcp: lookup docker: no such host",
            ),
            "the host name in the endpoint does not resolve from here",
            D.DNS.format(host="docker", why="Name or service not known"),
        ),
        _transport(
            ("timeout", "silent", "unreachable", "connect-error"),
            (
                "Read timed out. (read timeout=60)",
                "[Errno 113] No route to host",
                "Connection to docker timed out",
            ),
            "something at that address takes the connection but never answers as Docker does",
            D.SILENT.format(timeout=1.5),
            PLAIN,
        ),
        _transport(
            ("not-docker",),
            ("Error while fetching server API version: 404 Client Error",),
            "an HTTP server answered, but it is not a Docker engine",
            D.VERSION_STATUS.format(status=404),
            PLAIN,
        ),
        _transport(
            ("not-http",),
            ("BadStatusLine",),
            "something answered, but not with HTTP: this is not a Docker port",
            D.NOT_HTTP.format(why="BadStatusLine"),
            PLAIN,
        ),
        _transport(
            ("not-ready", "empty-reply"),
            (
                "('Connection aborted.', RemoteDisconnected('Remote end closed connection "
                "without response'))",
            ),
            "the daemon hung up without an answer: it is still starting, or this is not a "
            "Docker port",
            D.NO_ANSWER,
            PLAIN,
        ),
        _transport(
            ("api-too-old",),
            ("API versions below 1.24 are no longer supported by this library.",),
            "the engine is older than any API docker-py still speaks",
            D.API_TOO_OLD.format(version="1.11.2", api="1.23", minimum="1.24"),
            PLAIN,
        ),
        _transport(
            ("scheme",),
            ("Invalid bind address protocol",),
            "the endpoint's scheme is not one a Docker client connects with",
            D.NOT_PROBED.format(scheme="npipe"),
        ),
    ]


def _tls_entries() -> list[CatalogueEntry]:
    unknown_ca = "unable to get local issuer certificate"
    says, signed = explain("tls-verify", unknown_ca, TCP, HOST)
    ip = Attempt("DOCKER_HOST", "tcp://172.17.0.2:2376", host="172.17.0.2", tls_source="T")
    _, name = explain("tls-verify", "IP address mismatch", ip, HOST)
    _, expired = explain("tls-verify", "certificate has expired", TCP, HOST)
    _, usage = explain("tls-verify", "CA cert does not include key usage extension", TCP, HOST)
    return [
        _transport(
            ("http-to-https",),
            ("Client sent an HTTP request to an HTTPS server.",),
            "the daemon serves TLS (usually port 2376), and the client spoke plain HTTP",
            "Client sent an HTTP request to an HTTPS server.",
            PLAIN,
        ),
        _transport(
            ("https-to-http",),
            (
                "[SSL: WRONG_VERSION_NUMBER] wrong version number",
                "[SSL] record layer failure",
                "http: server gave HTTP response to HTTPS client",
            ),
            "the client started TLS, and the daemon speaks plain HTTP (usually port 2375)",
            "[SSL: WRONG_VERSION_NUMBER] wrong version number",
        ),
        CatalogueEntry(
            ("tls-verify",),
            (
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
                "x509: certificate signed by unknown authority",
                "Hostname mismatch, certificate is not valid for 'docker'",
            ),
            "the daemon's certificate did not pass verification with the CA given",
            says,
            (
                Fix(signed, "signed by another CA"),
                Fix(name, "the certificate does not name the host connected to"),
                Fix(expired, "expired or not yet valid"),
                Fix(usage, "Python 3.13 or later, with old certificates"),
            ),
        ),
        _transport(
            ("tls-client-rejected",),
            (
                "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
                "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate",
                "remote error: tls: bad certificate",
            ),
            "the daemon refused the client certificate",
            "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required",
        ),
        _transport(
            ("tls-eof",),
            ("EOF occurred in violation of protocol", "UNEXPECTED_EOF_WHILE_READING"),
            "the daemon hung up in the middle of the TLS handshake",
            D.TLS_HUNG_UP,
        ),
        _transport(
            ("tls-timeout",),
            ("The handshake operation timed out",),
            "TLS is on, but nothing at that address answered the handshake",
            D.TLS_SILENT,
        ),
        _transport(
            ("tls-reset", "tls-error"),
            ("ConnectionResetError(104, 'Connection reset by peer')",),
            "the TLS handshake failed for another reason",
            D.TLS_RESET,
        ),
        _transport(
            ("cert-missing",),
            (
                "Path to a certificate and key files must be provided through the "
                "client_cert param",
                "Invalid CA certificate provided for `ca_cert`.",
                "could not read CA certificate",
            ),
            "TLS is on, and a certificate or key file is not where the configuration says",
            D.FILE_MISSING.format(label="CA", path=f"{CERT_PATH}/ca.pem"),
        ),
        _transport(
            ("cert-unreadable",),
            ("PermissionError: [Errno 13] Permission denied: '/certs/client/key.pem'",),
            "a certificate or key file exists, but this user may not read it",
            D.FILE_UNREADABLE.format(label="key", path=f"{CERT_PATH}/key.pem"),
        ),
        _transport(
            ("cert-mismatch",),
            (
                "[SSL: KEY_VALUES_MISMATCH] key values mismatch",
                "tls: private key does not match public key",
            ),
            "the client key does not belong to the client certificate",
            D.KEY_MISMATCH.format(key=f"{CERT_PATH}/key.pem", cert=f"{CERT_PATH}/cert.pem"),
        ),
        _transport(
            ("cert-garbage",),
            ("[SSL] PEM lib", "failed to find any PEM data in certificate input"),
            "a certificate or key file is damaged or is not PEM",
            D.CA_GARBAGE.format(path=f"{CERT_PATH}/ca.pem", why="no certificate or crl found"),
        ),
    ]


def _ssh_entries() -> list[CatalogueEntry]:
    return [
        _transport(
            ("ssh-missing",),
            ("[Errno 2] No such file or directory: 'ssh'",),
            "the endpoint is ssh://, and no ssh client is installed",
            D.SSH_NO_CLIENT,
            SSH,
        ),
        _transport(
            ("ssh-host-key",),
            ("Host key verification failed.", "REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "ssh does not know the remote host's key, or it changed",
            "Host key verification failed.",
            SSH,
        ),
        _transport(
            ("ssh-auth",),
            ("Permission denied (publickey)",),
            "the remote host accepted none of the keys offered",
            "ci@build-host: Permission denied (publickey).",
            SSH,
        ),
        _transport(
            ("ssh-unreachable",),
            ("Could not resolve hostname", "Connection refused", "Connection timed out"),
            "ssh cannot reach the remote host at all",
            "ssh: connect to host build-host port 22: Connection refused",
            SSH,
        ),
        _transport(
            ("ssh-error",),
            ("channel 2: open failed: connect failed: No such file or directory",),
            "ssh connected, and the engine's socket is not there on the remote host",
            "channel 2: open failed: connect failed: No such file or directory",
            SSH,
        ),
    ]


def transport_entries() -> tuple[CatalogueEntry, ...]:
    """One entry per kind of probe failure (some entries cover kinds that share a fix)."""
    return (*_socket_entries(), *_tcp_entries(), *_tls_entries(), *_ssh_entries())
