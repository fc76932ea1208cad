"""An engine on another machine: its API through the run's SSH tunnel (``ssh://``), and its
published ports forwarded to 127.0.0.1 here, through that tunnel or one to an SSH target."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import final

from ..config.settings import Settings
from ..engine.transport import Failure
from ..engine.url import DockerURL, TLSConfig
from ..messages import names
from ..messages import remote as say_
from ..remote.tunnel import RemoteInfo, socket_failure, tunnel_for_target, tunnel_for_url
from . import network

__all__ = ["Reach", "api_url", "reach", "socket_failure"]

CIRCLECI_ALIAS = "remote-docker"  # what setup_remote_docker configures for the job
LOCAL = "127.0.0.1"
SSH_TIMEOUT = 10.0  # for the connection: an SSH handshake over a slow link takes seconds


def api_url(url: DockerURL, timeout: float, identity: str = "") -> DockerURL:
    """Where to send the engine's API: an ``ssh://`` endpoint's socket through the run's
    tunnel (opened now, raising a classified ``Failure``), anything else as it is."""
    if url.scheme != "ssh":
        return url
    return tunnel_for_url(url, max(timeout, SSH_TIMEOUT), identity).local_url


@final
@dataclass(frozen=True)
class Reach:
    """How this machine reaches an engine: the URL for its API, its published ports."""

    url: DockerURL
    remote: RemoteInfo | None = None
    published: tuple[str, bool, str] | None = None  # (host, verified, how); None: work it out
    daemon_socket: str | None = None  # the socket as the engine's host sees it, for Ryuk
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)


def reach(
    settings: Settings,
    url: DockerURL,
    tls: TLSConfig | None,
    env: Mapping[str, str],
    identity: str = "",
) -> Reach:
    """The way to an engine that answered at ``url``."""
    if url.scheme == "ssh":
        tunnel = tunnel_for_url(url, SSH_TIMEOUT, identity)  # the probe's own: already open
        info = tunnel.info(str(url))
        local = tunnel.local_url
        return Reach(
            local,
            info,
            (LOCAL, True, ""),  # the header's ports say "through SSH"
            tunnel.remote_socket,
            (say_.tunnel_note(info.target, tunnel.remote_socket, str(local)),),
        )
    if url.is_unix or settings.published_host.value:
        return Reach(url)
    target = ports_target(settings, env)
    if target is None:
        return Reach(url, published=_direct(settings, url, tls))
    try:
        tunnel = tunnel_for_target(target, SSH_TIMEOUT)
    except Failure as failure:
        from .diagnosis import explain

        ssh_url = DockerURL("ssh", host=target.rpartition("@")[2].partition(":")[0])
        what, fix = explain(failure, ssh_url, None, _source(settings, target))
        published = (url.host, False, f"{what}; fix: {fix}")
        return Reach(url, published=published, warnings=(f"{what}\n  fix: {fix}",))
    info = tunnel.info()
    return Reach(url, info, (LOCAL, True, ""), notes=(say_.tunnel_note(info.target, "", ""),))


def _direct(settings: Settings, url: DockerURL, tls: TLSConfig | None) -> tuple[str, bool, str]:
    """A TCP engine's own address: verified by a published port that answers there, when
    one exists. One that does not answer, or ports bound only to the loopback of a machine
    that is not this one, mean the engine is elsewhere, behind a wall."""
    bindings = network.published_bindings(url, tls, 1.5)
    everywhere = [port for port, address in bindings if address in network.EVERY_ADDRESS]
    its_loopback = [port for port, address in bindings if address in ("127.0.0.1", "::1")]
    walled = (everywhere and not network.can_connect(url.host, everywhere[:3])) or (
        its_loopback and not everywhere and url.host not in ("127.0.0.1", "localhost", "::1")
    )
    if walled:
        return url.host, False, say_.no_path(names.option("ssh"))
    return url.host, True, ""


def _source(settings: Settings, target: str) -> str:
    if settings.ssh.value == target:
        return settings.ssh.source
    return f"CIRCLECI with ~/.ssh/config's {CIRCLECI_ALIAS}"


def ports_target(settings: Settings, env: Mapping[str, str]) -> str | None:
    """The SSH target for published ports: the setting, else CircleCI's alias when the job
    has one (setup_remote_docker writes it)."""
    if settings.ssh.value:
        return settings.ssh.value
    if env.get("CIRCLECI", "").strip() and _has_alias(CIRCLECI_ALIAS, env):
        return CIRCLECI_ALIAS
    return None


def _has_alias(alias: str, env: Mapping[str, str]) -> bool:
    home = env.get("HOME") or os.path.expanduser("~")
    try:
        with open(os.path.join(home, ".ssh", "config"), encoding="utf-8") as config:
            text = config.read()
    except OSError:
        return False
    pattern = re.compile(rf"^\s*Host\s+(?:.*\s)?{re.escape(alias)}(?:\s|$)", re.M | re.I)
    return bool(pattern.search(text))
