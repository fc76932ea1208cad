"""What happened and the exact fix, for each kind of failure a probe classifies.

Pure text: the machine's state comes in as arguments (``MachineFacts``, ``SocketFacts``),
gathered by ``discovery.diagnosis``, so a unit test pins the exact fix for given facts.
Kinds arrive as ``FailureKind``'s string values: ``engine`` is above this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .names import flag, twins
from .platforms import WSL_OR_TCP

# ``FailureKind``'s values (engine/transport.py), which this package cannot import: mypy
# checks that each is one of these where diagnosis passes it, and a unit test that none is
# left over here.
ProbeFailure = Literal[
    "api-too-old",
    "cert-garbage",
    "cert-mismatch",
    "cert-missing",
    "cert-unreadable",
    "connect-error",
    "dns",
    "empty-reply",
    "http-to-https",
    "https-to-http",
    "not-docker",
    "not-http",
    "not-ready",
    "no-unix-sockets",
    "refused",
    "scheme",
    "silent",
    "socket-dangling",
    "socket-eacces",
    "socket-error",
    "socket-missing",
    "socket-not-socket",
    "socket-stale",
    "ssh-auth",
    "ssh-error",
    "ssh-host-key",
    "ssh-missing",
    "ssh-unreachable",
    "timeout",
    "tls-client-rejected",
    "tls-eof",
    "tls-error",
    "tls-reset",
    "tls-timeout",
    "tls-verify",
    "unreachable",
]

DEFAULT_ENGINE_SOCKET = "/var/run/docker.sock"  # on the remote, for ssh://
ARC_DOCKER_GID = 123  # actions-runner-controller's dind: dockerd --group=123
NO_GROUP_NAME = "no name here"


@dataclass(frozen=True)
class Attempt:
    """Where a failure happened, as plain values: the endpoint found via ``source``.

    ``url`` is ``None`` when no URL was parsed; ``host``, ``user`` and ``path`` are its
    pieces (empty when the scheme has none), ``tls_source`` says where TLS came from."""

    source: str
    url: str | None = None
    host: str = ""
    user: str = ""
    path: str = ""
    tls_source: str = ""


@dataclass(frozen=True)
class SocketFacts:
    """A unix socket that refused us (EACCES), and who we are: what the fix is made of.

    Group and user names are ``None`` where this machine has no name for the id."""

    mode: str  # as ``ls -l`` shows it: srw-rw----
    owner_uid: int
    gid: int
    group: str | None
    uid: int
    user: str | None
    groups: tuple[tuple[int, str | None], ...]  # our effective and supplementary groups
    docker_gid: int | None  # the gid of this machine's ``docker`` group, if it has one


@dataclass(frozen=True)
class MachineFacts:
    """What the fixes depend on besides the failure itself."""

    in_container: bool = False
    on_arc: bool = False  # GitHub Actions or a Kubernetes pod: ARC's dind may be the daemon
    socket: SocketFacts | None = None  # None: the socket's owner could not be read


def wait_hint(waited: float | None) -> str:
    """What to do about a daemon that may still be starting; ``waited``: how long dind mode
    already waited, when it did."""
    if waited is None:
        return (
            f"if the daemon is still starting (a CI service container), use "
            f"{flag('mode', 'dind')}, which waits for it up to {flag('timeout')} seconds"
        )
    return (
        f"it did not become ready within {waited:.1f} s; raise {flag('timeout')} "
        f"({twins('timeout')}) if the daemon needs longer to start"
    )


def socket_missing_fix(in_container: bool) -> str:
    if not in_container:
        return "start Docker, or set DOCKER_HOST to a daemon that runs"
    return (
        "mount the host's socket into this container: docker run -v "
        "/var/run/docker.sock:/var/run/docker.sock ... (plus --group-add with the socket's "
        "gid), or set DOCKER_HOST=tcp://docker:2376 for a dind service"
    )


_CHECK_PORT = "Docker listens on 2376 (TLS) or 2375"


def explain(
    kind: ProbeFailure,
    detail: str,
    at: Attempt,
    machine: MachineFacts,
    *,
    waited: float | None = None,
) -> tuple[str, str]:
    """(what happened, how to fix it) for a failure of ``kind``."""
    where = at.url if at.url is not None else "?"
    source, tls_src = at.source, at.tls_source
    if kind == "socket-eacces" and at.url is not None:
        return socket_permission(at.path, machine.socket, on_arc=machine.on_arc)
    if kind == "socket-missing":
        return detail, socket_missing_fix(machine.in_container)
    if kind in ("socket-dangling", "socket-not-socket"):
        return detail, f"point {source} at the daemon's socket, usually /var/run/docker.sock"
    if kind == "socket-stale":
        return detail, (
            "start the daemon (dockerd, or systemctl start docker); if the socket was "
            "bind-mounted from a host whose daemon restarted, restart this container"
        )
    if kind == "refused":
        return detail, (
            f"check that a Docker daemon listens on {where} (2376 with TLS, 2375 without); "
            + wait_hint(waited)
        )
    if kind == "dns":
        return detail, (
            "check the host name in " + source + "; in compose and GitLab the dind service is "
            "reached by its service name (usually `docker`) on the same network"
        )
    if kind == "tls-timeout":
        return f"{where}: {detail}", (
            f"TLS is on (from {tls_src}) but nothing at {where} answered it: if this is a "
            'plain port (2375, DOCKER_TLS_CERTDIR=""), turn TLS off by unsetting '
            f"DOCKER_TLS_VERIFY and DOCKER_CERT_PATH; otherwise check the host and port in {source}"
        )
    if kind == "tls-eof":
        return f"{where}: {detail}", (
            "a TLS Docker daemon hangs up like this when it refuses the client certificate "
            f"(missing, expired, or signed by another CA): use the cert.pem and key.pem made by "
            f"the same daemon run (TLS from {tls_src}; docker:dind writes them to "
            f"/certs/client); also check the host and port in {source}"
        )
    if kind in ("timeout", "silent", "unreachable", "connect-error"):
        return detail, (
            f"something at {where} accepts connections but does not answer as Docker does; "
            "check the host and port in " + source + " (Docker listens on 2376 with TLS, 2375 "
            "without)"
        )
    if kind == "http-to-https":
        return (
            f"{where} speaks TLS, but the client sent plain HTTP "
            '("Client sent an HTTP request to an HTTPS server")',
            "turn TLS on: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder with ca.pem, "
            "cert.pem and key.pem (docker:dind writes them to /certs/client), or pass "
            f"{flag('tls_verify')} {flag('cert_path')} DIR",
        )
    if kind == "https-to-http":
        return (
            f"{where} speaks plain HTTP, but the client started TLS (TLS from {tls_src})",
            "this daemon has TLS off (usually port 2375): either enable TLS on it "
            "(DOCKER_TLS_CERTDIR=/certs, port 2376), or connect to it without TLS by unsetting "
            "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. pytest-dockerhost never drops TLS by itself",
        )
    if kind == "tls-verify":
        return tls_verify_help(detail, at.host if at.url is not None else "?", tls_src)
    if kind == "tls-client-rejected":
        return (
            f"the daemon at {where} refused our client certificate ({detail})",
            f"use the cert.pem and key.pem made by the same daemon run (TLS from {tls_src}): "
            "they must be signed by the daemon's CA and not expired; with docker:dind, copy "
            "/certs/client again after every restart",
        )
    if kind in ("tls-reset", "tls-error"):
        return (
            f"the TLS handshake with {where} failed ({detail})",
            f"check that {where} is a TLS Docker port (2376) and that the certificates from "
            f"{tls_src} belong to it",
        )
    if kind == "cert-missing":
        return detail, (
            f"TLS material comes from {tls_src}: point DOCKER_CERT_PATH (or {flag('cert_path')}) "
            "at a folder holding ca.pem, cert.pem and key.pem; with docker:dind that is the "
            "shared /certs/client volume"
        )
    if kind == "cert-unreadable":
        return detail, (
            f"make the file readable by this user (it comes from {tls_src}); keep the key at "
            "0600 owned by the user who runs pytest"
        )
    if kind == "cert-mismatch":
        return detail, f"copy cert.pem and key.pem together from the same folder ({tls_src})"
    if kind == "cert-garbage":
        return detail, f"replace the damaged file with the one the daemon made ({tls_src})"
    if kind == "not-docker":
        return f"{where} answered, but it is not a Docker engine: {detail}", (
            f"check the host and port in {source}; {_CHECK_PORT}"
        )
    if kind == "not-http":
        return f"{where} answered, but not with HTTP: {detail}", (
            f"check the host and port in {source}; {_CHECK_PORT}"
        )
    if kind in ("not-ready", "empty-reply"):
        return f"{where}: {detail}", (
            "the daemon may still be starting, or this is not a Docker port; " + wait_hint(waited)
        )
    if kind == "api-too-old":
        return detail, (
            f"upgrade the Docker engine at {where}, or point {source} at a newer one "
            "(docker-py 7 needs API 1.24, engine 1.12 or later)"
        )
    if kind == "ssh-missing":
        return detail, (
            f"install the OpenSSH client (apt-get install openssh-client) or, in {source}, use "
            "tcp://HOST:2376 with TLS instead of ssh://"
        )
    if kind == "ssh-host-key":
        target = _ssh_target(at)
        return f"ssh to {target}: this machine does not know the host's key ({detail})", (
            f"check the host's key fingerprint, then add it to ~/.ssh/known_hosts "
            f"(ssh-keyscan {at.host or 'HOST'} >> ~/.ssh/known_hosts, or connect once with "
            f"`ssh {target}`); on CI, put the key in the job's known_hosts from a secret"
        )
    if kind == "ssh-auth":
        target = _ssh_target(at)
        return f"ssh to {target} was refused: no key it accepts ({detail})", (
            "load the key into the agent (ssh-add KEY, with SSH_AUTH_SOCK set for pytest) or "
            f"name it in ~/.ssh/config (Host {at.host or 'HOST'} / IdentityFile KEY); its "
            "public key must be in the remote user's ~/.ssh/authorized_keys"
        )
    if kind == "ssh-unreachable":
        return f"ssh cannot reach {_ssh_target(at)}: {detail}", (
            f"check the host and port in {source} and in ~/.ssh/config, and that sshd runs "
            "there and lets this machine in"
        )
    if kind == "ssh-error":
        socket = at.path or DEFAULT_ENGINE_SOCKET
        return f"ssh to {where} failed: {detail}", (
            f"check that `ssh {_ssh_target(at)} true` works here without a prompt, and that "
            f"the engine's socket {socket} exists on the remote host (give another path in "
            f"{source}: ssh://user@host/run/user/1000/podman/podman.sock)"
        )
    if kind == "scheme":
        return detail, f"give {source} a unix://, tcp:// or ssh:// URL"
    if kind == "no-unix-sockets":
        return detail, WSL_OR_TCP
    if kind == "socket-error":
        return detail, (
            f"check that the path in {source} is a Docker socket that this user may open, and "
            "that the folders above it are searchable"
        )
    return detail, f"check {source}"


def tls_verify_help(detail: str, host: str, tls_src: str) -> tuple[str, str]:
    """A daemon certificate that failed verification: the fix depends on why."""
    text = detail.lower()
    what = f"the daemon's certificate failed verification: {detail}"
    if "hostname mismatch" in text or "ip address mismatch" in text:
        return what, (
            f"connect by a name the certificate covers (docker:dind covers `docker`, "
            f"`localhost`, 127.0.0.1 and its own IPs), or add {host} to it with "
            f'DOCKER_TLS_SAN="{"IP" if _is_ip(host) else "DNS"}:{host}" on the dind container'
        )
    if "expired" in text or "not yet valid" in text:
        return what, (
            "the daemon's certificate is outside its validity period; check the clocks, and "
            "restart the dind container so that it signs a new one"
        )
    if "key usage" in text:
        # Python 3.13 turned on VERIFY_X509_STRICT; old docker:dind CAs lack keyUsage.
        return what, (
            "the certificates were made without the key-usage extensions that Python 3.13+ "
            "requires (docker:dind images before 2025 made them so): update the dind image, or "
            "regenerate its certificates with keyUsage on the CA and the server certificate; "
            f"until then {flag('tls_x509_strict', 'false')} relaxes that one check"
        )
    return what, (
        f"the CA in {tls_src} did not sign the daemon's certificate: use the ca.pem from the "
        "same run of the daemon (docker:dind: /certs/client/ca.pem)"
    )


def _ssh_target(at: Attempt) -> str:
    if at.url is None:
        return "HOST"
    return f"{at.user}@{at.host}" if at.user else at.host


def _is_ip(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _gid(group: tuple[int, str | None]) -> int:
    return group[0]


def _named(gid: int, name: str | None) -> str:
    return f"{gid} ({name or NO_GROUP_NAME})"


def socket_permission(
    path: str, socket: SocketFacts | None, *, on_arc: bool = False
) -> tuple[str, str]:
    """The EACCES diagnosis: the socket's owner and gid, our groups, and the exact fixes.

    Never "chmod 666": the fix gives this process the socket's group."""
    if socket is None:
        return (
            f"permission denied on {path}, and its owner cannot be read",
            "check the permissions of the socket and the folders above it",
        )
    gid = socket.gid
    user = socket.user if socket.user is not None else str(socket.uid)
    shown = ", ".join(_named(g, name) for g, name in sorted(socket.groups, key=_gid))
    detail = (
        f"permission denied on {path}: the socket is {socket.mode} owned by uid "
        f"{socket.owner_uid}, gid {_named(gid, socket.group)}; this process runs as {user} "
        f"(uid {socket.uid}) with groups {shown}, none of which is {gid}"
    )
    if socket.docker_gid is not None and socket.docker_gid != gid:
        detail += (
            f". The `docker` group here has gid {socket.docker_gid}, which differs from the "
            f"socket's gid {gid}: the usual DooD mismatch"
        )
    fix = (
        f"give this process the socket's group, gid {gid}: "
        f"`docker run --group-add {gid} ...`; "
        f'in compose, `group_add: ["{gid}"]`; '
        f"in a Jenkinsfile, `agent {{ docker {{ image '...'; args '--group-add {gid}' }} }}`; "
        f"or at image build time, `ARG DOCKER_GID={gid}` and "
        f"`RUN groupmod -g ${{DOCKER_GID}} docker && usermod -aG docker {user}`. "
        f"Check with `stat -c %g {path}` against `getent group docker | cut -d: -f3`"
    )
    if gid == ARC_DOCKER_GID and on_arc:
        fix += ". " + arc_group_fix(user)
    return detail, fix


def arc_group_fix(user: str) -> str:
    """ARC's own fix (actions/actions-runner-controller#3537): the job's pod or image gets
    group 123."""
    return (
        "On ARC (containerMode: dind makes the socket group 123), in the runner scale set's "
        "values: `template: {spec: {securityContext: {supplementalGroups: [123]}}}` "
        "(or `fsGroup: 123`); or give the job image that group: "
        f"`RUN groupadd -g 123 docker && usermod -aG docker {user}`"
    )
