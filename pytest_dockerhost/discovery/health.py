"""Is the endpoint still there? Asked when a Docker test fails with a connection error,
so that a daemon that died mid-session is named once, clearly, instead of a wall of
urllib3 tracebacks in every remaining test."""

from __future__ import annotations

from typing import Any

from ..engine.api import engine_errors
from ..engine.probe import probe
from ..engine.transport import Failure
from ..errors import exception_chain
from ..labels import TC_SESSION
from ..messages import endpoint as say_
from .diagnosis import explain
from .endpoint import DockerHost

_CONNECTION_ERRORS = (
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "RemoteDisconnected",
    "ProtocolError",
    "MaxRetryError",
    "NewConnectionError",
    "ReadTimeout",
    "ReadTimeoutError",
    "SSLError",
)


# What docker-py and testcontainers raise when no daemon answers where they were pointed.
_UNREACHABLE_TEXT = (
    "Error while fetching server API version",
    "Client sent an HTTP request to an HTTPS server",
    # docker-py given an ssh:// URL the plugin could not reach: a path, or no paramiko.
    "no path allowed for this protocol: ssh://",
    "Install paramiko package to enable ssh:// support",
)


# paramiko's, when docker-py makes its own SSH connection (ssh:// that the plugin could not
# reach, so DOCKER_HOST is left as it was).
_SSH_ERRORS = (
    "SSHException",
    "AuthenticationException",
    "BadHostKeyException",
    "NoValidConnectionsError",
)


def unreachable(exc: BaseException | None) -> bool:
    """True when ``exc`` (or its chain) says the client could not reach a usable daemon."""
    return looks_like_lost_connection(exc) or any(
        type(link).__name__ in _SSH_ERRORS or any(text in str(link) for text in _UNREACHABLE_TEXT)
        for link in exception_chain(exc)
    )


def unreachable_text(text: str) -> bool:
    """The same judgement on a report's text (a collection error, where no exception is left)."""
    return any(part in text for part in (*_UNREACHABLE_TEXT, "Connection aborted"))


def looks_like_lost_connection(exc: BaseException | None) -> bool:
    """True when ``exc`` or anything in its chain is a connection-level failure."""
    return any(
        type(link).__name__ in _CONNECTION_ERRORS
        or "Connection aborted" in str(link)
        or "Connection refused" in str(link)
        for link in exception_chain(exc)
    )


def endpoint_gone(host: DockerHost, timeout: float = 1.5) -> str:
    """'' while ``host`` answers; otherwise what happened to it and the fix."""
    try:
        probe(host.docker_url, host.tls, timeout=timeout)
    except Failure as failure:
        detail, fix = explain(failure, host.docker_url, host.tls, host.source)
        return say_.gone(host.url, host.mode, host.source, detail, fix)
    return ""


def sidecar_post_mortem(host: DockerHost, lines: int = 20) -> str:
    """What the outer daemon says about a sidecar that stopped answering, with its logs."""
    sidecar = host.sidecar
    if sidecar is None or not sidecar.container_id:
        return ""
    import docker.errors

    try:
        client = sidecar.outer.client(timeout=5)
    except engine_errors() as exc:  # docker-py, and requests' errors it lets through
        return say_.outer_unreachable(sidecar.outer.shown_url, exc)
    try:
        try:
            container = client.containers.get(sidecar.container_id)
        except docker.errors.NotFound:
            return say_.sidecar_removed(sidecar.container_id)
        state = container.attrs.get("State") or {}
        logs = container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except engine_errors() as exc:  # requests' ConnectionError when that daemon is gone too
        return say_.outer_silent(sidecar.outer.shown_url, exc)
    finally:
        client.close()
    shown = "\n".join("    " + line for line in logs.splitlines()[-lines:])
    return say_.sidecar_state(
        sidecar.container_id,
        str(state.get("Status", "?")),
        str(state.get("ExitCode", "?")),
        bool(state.get("OOMKilled")),
        shown,
    )


# A process killed by SIGKILL, as docker-py's ContainerError and shells report it.
KILLED_STATUS = "137"


def killed_for_memory(
    host: DockerHost, since: float, until: float, *, settle: bool, session: str
) -> str:
    """One line per container the engine killed for memory (its ``oom`` event) between
    ``since`` and ``until`` (a failed test's time): its limit, the engine's memory and the
    CI's setting for it; "" when none was, or the engine cannot tell. ``settle``: the
    failure names a kill, whose ``oom`` event the engine may publish after the exit that
    ended the test: wait a second for it. A container of another testcontainers session
    than the run's (``session``) is another run's, on a shared engine: not named."""
    from ..messages import authz as say_authz
    from ..messages import units

    try:
        client = host.client(timeout=3)
    except engine_errors():
        return ""
    try:
        events = client.api.events(
            since=f"{since - 1:.6f}",
            until=f"{until + (1.0 if settle else 0.0):.6f}",
            filters={"type": ["container"], "event": ["oom"]},
            decode=True,
        )
        killed: dict[str, dict[str, str]] = {}
        for event in events:
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            if attributes.get(TC_SESSION, session) == session:  # not another run's
                killed[str(event.get("id", ""))] = attributes
        if not killed:
            return ""
        lines = []
        profile = host.profile
        on_bitbucket = profile.name == "bitbucket pipelines" or profile.ci == "bitbucket"
        for ident, attributes in killed.items():
            name = str(attributes.get("name") or ident[:12])
            lines.append(
                say_authz.killed_for_memory(
                    name,
                    _own_limit(client, ident),
                    units.memory(profile.memory),
                    on_bitbucket,
                )
            )
        return "\n".join(lines)
    except engine_errors():  # an engine that stopped answering has its own diagnosis
        return ""
    finally:
        client.close()


def _own_limit(client: Any, ident: str) -> str | None:
    """The container's memory limit as people read it, "" when it had none, None when it
    is gone (removed with the test)."""
    from ..messages.units import memory

    try:
        attrs = client.api.inspect_container(ident)
    except engine_errors():
        return None
    limit = (attrs.get("HostConfig") or {}).get("Memory")
    return memory(limit) if isinstance(limit, int) else ""
