"""Prove that an endpoint is a working Docker engine: ``GET /_ping``, then ``GET /version``.

A TCP connect proves nothing (dockerd binds before it is ready), so only a 200
from ``/_ping`` followed by a version answer counts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

from ..messages import details as D
from .transport import Failure, FailureKind, Response, request
from .url import MIN_API_VERSION, DockerURL, TLSConfig, version_at_least

HTTPS_HINT = b"Client sent an HTTP request to an HTTPS server"


@final
@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str
    os: str
    arch: str
    kind: str = "Docker"  # or "Podman", from /version's components
    min_api: str = ""  # the oldest API version the engine still accepts


@final
@dataclass(frozen=True)
class EngineDetails:
    """What ``/info`` adds, where the engine tells: the header's engine facts."""

    rootless: bool = False
    image_store: str = ""  # "containerd", or the graph driver (overlay2, vfs, ...)
    cgroup: str = ""  # "1" or "2"


def engine_kind(data: dict[str, object]) -> str:
    """Podman when /version names a Podman component, else Docker."""
    components = data.get("Components")
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and "podman" in str(component.get("Name", "")).lower():
            return "Podman"
    return "Docker"


def info_document(url: DockerURL, tls: TLSConfig | None, *, timeout: float) -> dict[str, Any]:
    """The engine's ``/info``, or {} when it does not answer it in time."""
    try:
        reply = request(url, tls, "/info", timeout=timeout)
        data = reply.json() if reply.status == 200 else {}
    except (Failure, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def engine_details(url: DockerURL, tls: TLSConfig | None, *, timeout: float) -> EngineDetails:
    """Rootless or not, the image store and the cgroup version; empty when /info fails."""
    return details_from(info_document(url, tls, timeout=timeout))


def details_from(data: Mapping[str, Any]) -> EngineDetails:
    """The same, from an ``/info`` document already read (empty: it did not answer)."""
    if not data:
        return EngineDetails()
    options = [str(o) for o in data.get("SecurityOptions") or []]
    status = {str(k): str(v) for k, v in (data.get("DriverStatus") or []) if k}
    snapshotter = "containerd" in status.get("driver-type", "")
    return EngineDetails(
        rootless=any("name=rootless" in o for o in options),
        image_store="containerd" if snapshotter else str(data.get("Driver") or ""),
        cgroup=str(data.get("CgroupVersion") or ""),
    )


def probe(
    url: DockerURL, tls: TLSConfig | None, *, timeout: float, answered: float = 0.0
) -> EngineInfo:
    """Return the engine's version, or raise a classified ``Failure``.

    ``timeout`` bounds each socket operation; once ``/_ping`` has answered as Docker does,
    ``/version`` may take up to ``answered`` (a live engine under load can be slow to
    compose it), so only a host that is silent from the start fails fast."""
    ping = request(url, tls, "/_ping", timeout=timeout)
    _check_ping(ping)
    reply = request(url, tls, "/version", timeout=max(timeout, answered))
    if reply.status != 200:
        raise Failure(FailureKind.NOT_DOCKER, D.VERSION_STATUS.format(status=reply.status))
    try:
        data = reply.json()
        info = EngineInfo(
            version=str(data["Version"]),
            api_version=str(data["ApiVersion"]),
            os=str(data.get("Os", "")),
            arch=str(data.get("Arch", "")),
            kind=engine_kind(data),
            min_api=str(data.get("MinAPIVersion", "")),
        )
    except (ValueError, KeyError, TypeError):
        raise Failure(FailureKind.NOT_DOCKER, D.VERSION_NOT_JSON) from None
    if not version_at_least(info.api_version, MIN_API_VERSION):
        raise Failure(
            FailureKind.API_TOO_OLD,
            D.API_TOO_OLD.format(
                version=info.version, api=info.api_version, minimum=MIN_API_VERSION
            ),
        )
    return info


def _check_ping(ping: Response) -> None:
    if HTTPS_HINT in ping.body:
        raise Failure(FailureKind.HTTP_TO_HTTPS, ping.body.decode("utf-8", "replace").strip())
    is_docker = "api-version" in ping.headers or ping.headers.get("server", "").startswith("Docker")
    if ping.status == 200 and is_docker:
        return
    if is_docker:
        # dockerd answers 5xx while it is still starting or shutting down.
        raise Failure(
            FailureKind.NOT_READY, D.PING_STATUS.format(status=ping.status), retryable=True
        )
    server = ping.headers.get("server", "")
    what = f" (Server: {server})" if server else ""
    raise Failure(
        FailureKind.NOT_DOCKER,
        D.PING_NOT_DOCKER.format(status=ping.status, server=what),
    )


def wait_for(
    url: DockerURL,
    tls: TLSConfig | None,
    *,
    deadline: float,
    timeout: float,
    max_delay: float = 0.5,
    also_retry: frozenset[FailureKind] = frozenset(),
    answered: float = 0.0,
) -> EngineInfo:
    """Probe until the engine answers or ``deadline`` (monotonic) passes.

    Only failures that a starting daemon produces are retried, and those of ``also_retry``
    (files a daemon in this pod writes as it starts); a TLS or configuration error is
    raised at once, since waiting cannot fix it. ``max_delay`` caps the backoff.
    """
    delay = min(0.05, max_delay)
    while True:
        try:
            per_try = min(timeout, max(0.2, deadline - time.monotonic()))
            return probe(url, tls, timeout=per_try, answered=answered)
        except Failure as failure:
            left = deadline - time.monotonic()
            if not (failure.retryable or failure.kind in also_retry) or left <= 0:
                raise
            time.sleep(min(delay, left))
            delay = min(delay * 2, max_delay)
