"""Turn low-level failures into a sentence about what happened and the exact fix."""

from __future__ import annotations

import grp
import os
import pwd
import stat

from ..engine.transport import Failure, FailureKind
from ..engine.url import DockerURL, TLSConfig
from ..messages.names import flag, twins
from .network import detect

WAIT_HINT = (
    f"if the daemon is still starting (a CI service container), use {flag('mode', 'dind')}, "
    f"which waits for it up to {flag('timeout')} seconds"
)


def explain(
    failure: Failure,
    url: DockerURL | None,
    tls: TLSConfig | None,
    source: str,
    *,
    waited: float | None = None,
) -> tuple[str, str]:
    """(what happened, how to fix it) for ``failure`` on ``url`` found via ``source``.

    ``waited`` is how long dind mode waited for the daemon, when it did.
    """
    kind, detail = failure.kind, failure.detail
    wait_hint = WAIT_HINT
    if waited is not None:
        wait_hint = (
            f"it did not become ready within {waited:.1f} s; raise {flag('timeout')} "
            f"({twins('timeout')}) if the daemon needs longer to start"
        )
    where = str(url) if url is not None else "?"
    tls_src = tls.source if tls is not None else ""
    if kind is FailureKind.SOCKET_EACCES and url is not None:
        return socket_permission_help(url.path)
    if kind is FailureKind.SOCKET_MISSING:
        fix = (
            "start Docker, or set DOCKER_HOST to a daemon that runs"
            if not detect().in_container
            else "mount the host's socket into this container: docker run -v "
            "/var/run/docker.sock:/var/run/docker.sock ... (plus --group-add with the socket's "
            "gid), or set DOCKER_HOST=tcp://docker:2376 for a dind service"
        )
        return detail, fix
    if kind in (FailureKind.SOCKET_DANGLING, FailureKind.SOCKET_NOT_SOCKET):
        return detail, f"point {source} at the daemon's socket, usually /var/run/docker.sock"
    if kind is FailureKind.SOCKET_STALE:
        return detail, (
            "start the daemon (dockerd, or systemctl start docker); if the socket was "
            "bind-mounted from a host whose daemon restarted, restart this container"
        )
    if kind is FailureKind.REFUSED:
        return detail, (
            f"check that a Docker daemon listens on {where} (2376 with TLS, 2375 without); "
            + wait_hint
        )
    if kind is FailureKind.DNS:
        return detail, (
            "check the host name in " + source + "; in compose and GitLab the dind service is "
            "reached by its service name (usually `docker`) on the same network"
        )
    if kind is FailureKind.TLS_TIMEOUT:
        return f"{where}: {detail}", (
            f"TLS is on (from {tls_src}) but nothing at {where} answered it: if this is a "
            'plain port (2375, DOCKER_TLS_CERTDIR=""), turn TLS off by unsetting '
            f"DOCKER_TLS_VERIFY and DOCKER_CERT_PATH; otherwise check the host and port in {source}"
        )
    if kind is FailureKind.TLS_EOF:
        return f"{where}: {detail}", (
            "a TLS Docker daemon hangs up like this when it refuses the client certificate "
            f"(missing, expired, or signed by another CA): use the cert.pem and key.pem made by "
            f"the same daemon run (TLS from {tls_src}; docker:dind writes them to "
            f"/certs/client); also check the host and port in {source}"
        )
    if kind in (
        FailureKind.TIMEOUT,
        FailureKind.SILENT,
        FailureKind.UNREACHABLE,
        FailureKind.CONNECT_ERROR,
    ):
        return detail, (
            f"something at {where} accepts connections but does not answer as Docker does; "
            "check the host and port in " + source + " (Docker listens on 2376 with TLS, 2375 "
            "without)"
        )
    if kind is FailureKind.HTTP_TO_HTTPS:
        return (
            f"{where} speaks TLS, but the client sent plain HTTP "
            '("Client sent an HTTP request to an HTTPS server")',
            "turn TLS on: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder with ca.pem, "
            "cert.pem and key.pem (docker:dind writes them to /certs/client), or pass "
            f"{flag('tls_verify')} {flag('cert_path')} DIR",
        )
    if kind is FailureKind.HTTPS_TO_HTTP:
        return (
            f"{where} speaks plain HTTP, but the client started TLS (TLS from {tls_src})",
            "this daemon has TLS off (usually port 2375): either enable TLS on it "
            "(DOCKER_TLS_CERTDIR=/certs, port 2376), or connect to it without TLS by unsetting "
            "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. pytest-dockerhost never drops TLS by itself",
        )
    if kind is FailureKind.TLS_VERIFY:
        return _tls_verify_help(detail, url, tls_src)
    if kind is FailureKind.TLS_CLIENT_REJECTED:
        return (
            f"the daemon at {where} refused our client certificate ({detail})",
            f"use the cert.pem and key.pem made by the same daemon run (TLS from {tls_src}): "
            "they must be signed by the daemon's CA and not expired; with docker:dind, copy "
            "/certs/client again after every restart",
        )
    if kind in (FailureKind.TLS_RESET, FailureKind.TLS_ERROR):
        return (
            f"the TLS handshake with {where} failed ({detail})",
            f"check that {where} is a TLS Docker port (2376) and that the certificates from "
            f"{tls_src} belong to it",
        )
    if kind is FailureKind.CERT_MISSING:
        return detail, (
            f"TLS material comes from {tls_src}: point DOCKER_CERT_PATH (or {flag('cert_path')}) "
            "at a folder holding ca.pem, cert.pem and key.pem; with docker:dind that is the "
            "shared /certs/client volume"
        )
    if kind is FailureKind.CERT_UNREADABLE:
        return detail, (
            f"make the file readable by this user (it comes from {tls_src}); keep the key at "
            "0600 owned by the user who runs pytest"
        )
    if kind is FailureKind.CERT_MISMATCH:
        return detail, f"copy cert.pem and key.pem together from the same folder ({tls_src})"
    if kind is FailureKind.CERT_GARBAGE:
        return detail, f"replace the damaged file with the one the daemon made ({tls_src})"
    if kind is FailureKind.NOT_DOCKER:
        return f"{where} answered, but it is not a Docker engine: {detail}", (
            f"check the host and port in {source}; Docker listens on 2376 (TLS) or 2375"
        )
    if kind is FailureKind.NOT_HTTP:
        return f"{where} answered, but not with HTTP: {detail}", (
            f"check the host and port in {source}; Docker listens on 2376 (TLS) or 2375"
        )
    if kind in (FailureKind.NOT_READY, FailureKind.EMPTY_REPLY):
        return f"{where}: {detail}", (
            "the daemon may still be starting, or this is not a Docker port; " + wait_hint
        )
    if kind is FailureKind.API_TOO_OLD:
        return detail, (
            f"upgrade the Docker engine at {where}, or point {source} at a newer one "
            "(docker-py 7 needs API 1.24, engine 1.12 or later)"
        )
    if kind is FailureKind.SSH_MISSING:
        return detail, (
            f"install an ssh client (apt-get install openssh-client) or, in {source}, use "
            "tcp://HOST:2376 with TLS instead of ssh://"
        )
    if kind is FailureKind.SSH_NO_CLI:
        return detail, (
            f"install the docker CLI (it carries ssh:// connections), or, in {source}, use "
            "tcp://HOST:2376 with TLS instead of ssh://"
        )
    if kind is FailureKind.SSH_ERROR:
        return f"ssh to {where} failed: {detail}", (
            f"check the host in {source}, that `ssh {_ssh_target(url)} docker version` works "
            "without a prompt (key in ssh-agent, host in known_hosts), and that Docker runs on "
            "the remote host"
        )
    if kind is FailureKind.SCHEME:
        return detail, f"give {source} a unix://, tcp:// or ssh:// URL"
    if kind is FailureKind.SOCKET_ERROR:
        return detail, (
            f"check that the path in {source} is a Docker socket that this user may open, and "
            "that the folders above it are searchable"
        )
    return detail, f"check {source}"


def _tls_verify_help(detail: str, url: DockerURL | None, tls_src: str) -> tuple[str, str]:
    host = url.host if url is not None else "?"
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


def _ssh_target(url: DockerURL | None) -> str:
    if url is None:
        return "HOST"
    return f"{url.user}@{url.host}" if url.user else url.host


def _is_ip(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return "no name here"


def socket_permission_help(path: str) -> tuple[str, str]:
    """The EACCES diagnosis: the socket's owner and gid, our groups, and the exact fixes."""
    try:
        st = os.stat(path)
    except OSError:
        return (
            f"permission denied on {path}, and its owner cannot be read",
            "check the permissions of the socket and the folders above it",
        )
    gid = st.st_gid
    mode = stat.filemode(st.st_mode)
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    groups = sorted({os.getegid(), *os.getgroups()})
    shown = ", ".join(f"{g} ({_group_name(g)})" for g in groups)
    try:
        docker_gid: int | None = grp.getgrnam("docker").gr_gid
    except KeyError:
        docker_gid = None
    detail = (
        f"permission denied on {path}: the socket is {mode} owned by uid {st.st_uid}, gid {gid} "
        f"({_group_name(gid)}); this process runs as {user} (uid {uid}) with groups {shown}, "
        f"none of which is {gid}"
    )
    if docker_gid is not None and docker_gid != gid:
        detail += (
            f". The `docker` group here has gid {docker_gid}, which differs from the socket's "
            f"gid {gid}: the usual DooD mismatch"
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
    if gid == ARC_DOCKER_GID and _on_arc():
        fix += ". " + arc_group_fix(user)
    return detail, fix


ARC_DOCKER_GID = 123  # actions-runner-controller's dind: dockerd --group=123


def _on_arc() -> bool:
    return bool(os.environ.get("GITHUB_ACTIONS") or os.environ.get("KUBERNETES_SERVICE_HOST"))


def arc_group_fix(user: str) -> str:
    """ARC's own fix (actions/actions-runner-controller#3537): the job's pod or image gets
    group 123."""
    return (
        "On ARC (containerMode: dind makes the socket group 123), in the runner scale set's "
        "values: `template: {spec: {securityContext: {supplementalGroups: [123]}}}` "
        "(or `fsGroup: 123`); or give the job image that group: "
        f"`RUN groupadd -g 123 docker && usermod -aG docker {user}`"
    )
