"""The run's SSH tunnels to engines on other machines: opened by resolution when it tries
an ``ssh://`` endpoint (or by the published-port step for an SSH target), kept for the
endpoint chosen, closed at the end of the run, also after a crash."""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from typing import final

from ..engine.transport import Failure, FailureKind
from ..engine.url import DockerURL, TLSConfig
from ..messages import remote as say_
from ..tempdirs import PREFIX, private_dir, remove_private_dir
from .forwards import ForwardProblem, PortForwarder
from .ssh import SSHError, SSHMaster, SSHTarget

LOCAL_SOCKET = "docker.sock"  # the engine's API here, in the tunnel's 0700 folder


@final
@dataclass(frozen=True)
class RemoteInfo:
    """An engine on another machine, and the SSH connection that reaches it."""

    target: str  # as the user named it: "remote-docker", "ci@build-host:2222"
    remote_socket: str  # the engine's socket there; "" when only ports go through SSH
    url: str = ""  # the ssh:// URL as given; "" for a TCP engine whose ports go through SSH
    ports_at: str = ""  # where published ports answer on the remote; "" for its loopback


class Tunnel:
    """One SSH connection: the engine's socket (for ``ssh://``) and the published ports."""

    def __init__(self, target: SSHTarget, remote_socket: str) -> None:
        self.target = target
        self.remote_socket = remote_socket
        self.folder = private_dir(PREFIX + "ssh-")
        self.master = SSHMaster(target, self.folder)
        self.local_socket = os.path.join(self.folder, LOCAL_SOCKET) if remote_socket else ""
        self.forwarders: dict[str, PortForwarder] = {}  # by the engine's URL here

    def open(self, timeout: float) -> None:
        forward = (self.local_socket, self.remote_socket) if self.remote_socket else None
        try:
            self.master.start(forward, timeout)
        except SSHError as exc:
            self.close()
            raise Failure(exc.kind, str(exc)) from None

    @property
    def local_url(self) -> DockerURL:
        return DockerURL("unix", path=self.local_socket)

    def info(self, url: str = "") -> RemoteInfo:
        return RemoteInfo(str(self.target), self.remote_socket, url)

    def follow(
        self,
        url: DockerURL,
        tls: TLSConfig | None,
        *,
        run_id: str,
        session: str,
        ports_at: str = "",
    ) -> None:
        """Forward the published ports of the engine's containers that start from now on
        (an engine in a sidecar: its own, published on its address ``ports_at``)."""
        if str(url) in self.forwarders:
            return
        forwarder = PortForwarder(
            url,
            tls,
            self.master.forward,
            self.master.cancel,
            run_id=run_id,
            session=session,
            ports_at=ports_at,
        )
        self.forwarders[str(url)] = forwarder
        forwarder.start()

    def problems_since(self, since: float) -> list[ForwardProblem]:
        return [p for f in self.forwarders.values() for p in f.problems_since(since)]

    def post_mortem(self) -> str:
        """Why the engine went away, when it is because the connection did."""
        if self.master.alive or self.master.closing:
            return ""
        closed = say_.clock(self.master.closed_at)
        return say_.connection_closed(str(self.target), closed, self.master.said)

    def close(self) -> None:
        for forwarder in self.forwarders.values():
            forwarder.stop()
        self.master.close()
        remove_private_dir(self.folder)


_LOCK = threading.Lock()
_OPEN: dict[tuple[SSHTarget, str], Tunnel] = {}


def tunnel_to(target: SSHTarget, remote_socket: str, timeout: float) -> Tunnel:
    """The run's tunnel to ``target`` (and that socket there): opened once, then reused.
    Raises a classified ``Failure`` with what ssh said."""
    key = (target, remote_socket)
    with _LOCK:
        tunnel = _OPEN.get(key)
        if tunnel is not None and tunnel.master.alive:
            return tunnel
        if not _OPEN:
            atexit.register(close_all)
        tunnel = Tunnel(target, remote_socket)
        tunnel.open(timeout)
        _OPEN[key] = tunnel
        return tunnel


def tunnel_for_url(url: DockerURL, timeout: float, identity: str = "") -> Tunnel:
    """The tunnel for an ``ssh://`` endpoint: its socket path, or Docker's default."""
    target = SSHTarget(url.host, url.user, url.port, identity)
    return tunnel_to(target, url.path or say_.DEFAULT_SOCKET, timeout)


def socket_failure(url: DockerURL, failure: Failure) -> Failure:
    """A probe through an ``ssh://`` endpoint's tunnel that got no answer because ssh could
    not open the engine's socket on the remote: said as that, not as a silent engine."""
    with _LOCK:
        tunnels = [t for (target, _), t in _OPEN.items() if target.host == url.host]
    said = " ".join(t.master.said for t in tunnels if t.remote_socket)
    if url.scheme != "ssh" or "open failed" not in said:
        return failure
    socket = url.path or say_.DEFAULT_SOCKET
    return Failure(FailureKind.SSH_ERROR, say_.socket_not_there(socket, said))


def tunnel_for_target(text: str, timeout: float) -> Tunnel:
    """The tunnel that carries only published ports (the engine's API is reached directly)."""
    try:
        target = SSHTarget.parse(text)
    except ValueError:
        raise Failure(FailureKind.SSH_ERROR, text) from None
    return tunnel_to(target, "", timeout)


def opened(info: RemoteInfo | None) -> Tunnel | None:
    """This process's tunnel for an endpoint's remote engine (None in an xdist worker)."""
    if info is None:
        return None
    with _LOCK:
        same = [t for t in _OPEN.values() if str(t.target) == info.target]
    exact = [t for t in same if t.remote_socket == info.remote_socket]
    return next(iter(exact or same), None)


def open_tunnels() -> list[Tunnel]:
    with _LOCK:
        return list(_OPEN.values())


def close_all(keep: Tunnel | None = None) -> None:
    """Close every tunnel but ``keep`` (the endpoint's): those resolution tried and left."""
    with _LOCK:
        closing = [t for t in _OPEN.values() if t is not keep]
        for key in [k for k, t in _OPEN.items() if t is not keep]:
            del _OPEN[key]
    for tunnel in closing:
        tunnel.close()
