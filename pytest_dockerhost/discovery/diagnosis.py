"""Why a candidate failed: read what the fix depends on from this machine, and let
``messages.failures`` say what happened and the exact fix.

Only the facts a failure's kind needs are read, and only when it happens: ``grp`` and
``pwd`` are imported where they are used (Windows has neither).
"""

from __future__ import annotations

import os
import stat
import sys

from ..engine.transport import Failure, FailureKind
from ..engine.url import DockerURL, TLSConfig
from ..messages import failures as say_
from .network import detect


def explain(
    failure: Failure,
    url: DockerURL | None,
    tls: TLSConfig | None,
    source: str,
    *,
    waited: float | None = None,
    facts: say_.MachineFacts | None = None,
) -> tuple[str, str]:
    """(what happened, how to fix it) for ``failure`` on ``url`` found via ``source``.

    ``waited`` is how long dind mode waited for the daemon, when it did; ``facts`` replaces
    what would be read of this machine (tests pin the fix for given facts with it)."""
    at = attempt(url, tls, source)
    if facts is None:
        facts = machine_facts(failure.kind, url)
    # mypy checks that every FailureKind value is a ProbeFailure.
    return say_.explain(failure.kind.value, failure.detail, at, facts, waited=waited)


def attempt(url: DockerURL | None, tls: TLSConfig | None, source: str) -> say_.Attempt:
    """The endpoint as the plain values messages/ takes."""
    tls_source = tls.source if tls is not None else ""
    if url is None:
        return say_.Attempt(source, tls_source=tls_source)
    return say_.Attempt(
        source,
        str(url),
        host=url.host,
        user=url.user,
        path=url.path,
        tls_source=tls_source,
    )


def machine_facts(kind: FailureKind, url: DockerURL | None) -> say_.MachineFacts:
    """What the fix for ``kind`` depends on, read from this machine; nothing for the kinds
    whose fix depends on nothing here."""
    if kind is FailureKind.SOCKET_MISSING:
        return say_.MachineFacts(in_container=detect().in_container)
    if kind is FailureKind.SOCKET_EACCES and url is not None:
        return say_.MachineFacts(on_arc=on_arc(), socket=socket_facts(url.path))
    return say_.MachineFacts()


def on_arc() -> bool:
    """GitHub Actions or a Kubernetes pod: where ARC's dind (socket group 123) may serve."""
    return bool(os.environ.get("GITHUB_ACTIONS") or os.environ.get("KUBERNETES_SERVICE_HOST"))


def socket_facts(path: str) -> say_.SocketFacts | None:
    """The socket's owner and mode, and who this process is; None when the socket's owner
    cannot be read."""
    if sys.platform == "win32":
        return None  # no uids, gids or groups there
    import grp
    import pwd

    try:
        st = os.stat(path)
    except OSError:
        return None

    def group_name(gid: int) -> str | None:
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return None

    uid = os.getuid()
    try:
        user: str | None = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    try:
        docker_gid: int | None = grp.getgrnam("docker").gr_gid
    except KeyError:
        docker_gid = None
    groups = sorted({os.getegid(), *os.getgroups()})
    return say_.SocketFacts(
        mode=stat.filemode(st.st_mode),
        owner_uid=st.st_uid,
        gid=st.st_gid,
        group=group_name(st.st_gid),
        uid=uid,
        user=user,
        groups=tuple((gid, group_name(gid)) for gid in groups),
        docker_gid=docker_gid,
    )
