"""The candidate chain: collect candidates from the sources, probe them, keep a trace.

Explicitly configured endpoints (``--docker-host``, ini ``docker_host``,
``DOCKER_HOST``, ``DOCKER_CONTEXT``) are used alone, as the docker CLI does:
if one fails, resolution fails with the trace rather than quietly talking to
another daemon. Discovered candidates are tried in order until one answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import final

from . import network
from .endpoint import DockerHost, TraceEntry
from .errors import NoEndpointError
from .messages.failures import explain
from .probe import EngineInfo, probe, wait_for
from .settings import Settings
from .sources import CHAIN, Candidate, SourceContext
from .transport import Failure

PROBE_TIMEOUT = 1.5  # per socket operation while discovering; keeps a silent host under 3 s
AUTO_BUDGET = 5.0  # the whole of auto discovery
NOT_PRESENT = "not present"


@final
@dataclass(frozen=True)
class Resolution:
    """The outcome of resolution: an endpoint, or the message saying why there is none."""

    settings: Settings
    mode: str
    host: DockerHost | None
    trace: tuple[TraceEntry, ...]
    error: str = ""
    hints: tuple[str, ...] = field(default_factory=tuple)

    def require(self) -> DockerHost:
        if self.host is None:
            raise NoEndpointError(self.error)
        return self.host


def resolve(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    ctx: SourceContext | None = None,
    mode: str | None = None,
) -> Resolution:
    """Find a Docker endpoint that answers ``/_ping`` and ``/version``."""
    ctx = ctx or SourceContext.current(settings, env)
    mode = mode or settings.mode.value
    if mode == "sidecar":
        mode = "auto"  # the sidecar's host daemon is found like any other
    started = time.monotonic()
    waits = mode == "dind"
    deadline = started + (settings.timeout.value if waits else AUTO_BUDGET)
    per_probe = min(PROBE_TIMEOUT, settings.timeout.value)

    candidates = [candidate for source in CHAIN for candidate in source(ctx)]
    usable = [c for c in candidates if not _mode_mismatch(mode, c)]
    pinned = [c for c in usable if c.pinned]
    trace: list[TraceEntry] = []
    # Walk the chain in order so that the trace reads as the order things were considered.
    for candidate in candidates:
        reason = _mode_mismatch(mode, candidate)
        if not reason and pinned and candidate is not pinned[0]:
            if not candidate.pinned:
                continue  # discovery is off while an endpoint is configured
            reason = f"{pinned[0].source} takes precedence"
        if not reason and _absent_socket(candidate, ctx):
            reason = NOT_PRESENT
        if reason:
            trace.append(TraceEntry(candidate.source, candidate.shown_url, "skipped", 0.0, reason))
            continue
        entry, info = _try(candidate, deadline=deadline, per_probe=per_probe, waits=waits)
        trace.append(entry)
        if info is not None:
            host = _build_host(settings, candidate, info, trace=trace, mode=mode)
            return Resolution(settings, mode, host, tuple(trace))

    hints = _hints(usable, pinned, per_probe) if pinned else ()
    message = _failure_message(settings, mode, trace, hints)
    return Resolution(settings, mode, None, tuple(trace), message, hints)


def _absent_socket(candidate: Candidate, ctx: SourceContext) -> bool:
    """A discovered socket that is not there: not worth a probe, nor a line of its own."""
    url = candidate.url
    return (
        url is not None
        and url.is_unix
        and not candidate.pinned
        and url.path not in ctx.system_sockets
        and not os.path.lexists(url.path)
    )


def _mode_mismatch(mode: str, candidate: Candidate) -> str:
    if candidate.url is None:
        return ""
    if mode == "dood" and not candidate.url.is_unix:
        return "dood mode uses only unix sockets"
    if mode == "dind" and candidate.url.is_unix:
        return "dind mode uses only TCP endpoints"
    return ""


def _try(
    candidate: Candidate, *, deadline: float, per_probe: float, waits: bool
) -> tuple[TraceEntry, EngineInfo | None]:
    start = time.monotonic()
    if candidate.url is None:
        return TraceEntry(
            candidate.source, candidate.raw, "failed", 0.0, candidate.error, candidate.fix
        ), None
    left = deadline - start
    if left <= 0:
        return TraceEntry(
            candidate.source,
            candidate.shown_url,
            "skipped",
            0.0,
            "the discovery time budget was spent on earlier candidates",
        ), None
    try:
        if waits:
            info = wait_for(candidate.url, candidate.tls, deadline=deadline, timeout=per_probe)
        else:
            info = probe(candidate.url, candidate.tls, timeout=min(per_probe, left))
    except Failure as failure:
        elapsed = time.monotonic() - start
        waited = elapsed if waits and failure.retryable else None
        detail, fix = explain(
            failure, candidate.url, candidate.tls, candidate.source, waited=waited
        )
        if waits and failure.retryable:
            detail = f"not ready after {elapsed:.1f} s: {detail}"
        return TraceEntry(
            candidate.source, candidate.shown_url, "failed", elapsed, detail, fix
        ), None
    elapsed = time.monotonic() - start
    return TraceEntry(
        candidate.source,
        candidate.shown_url,
        "ok",
        elapsed,
        f"engine {info.version}, API {info.api_version}",
    ), info


def _build_host(
    settings: Settings,
    candidate: Candidate,
    info: EngineInfo,
    *,
    trace: list[TraceEntry],
    mode: str,
) -> DockerHost:
    assert candidate.url is not None
    url = candidate.url
    where = network.detect()
    self_info = None
    if where.in_container and where.container_id and url.is_unix:
        self_info = network.inspect_container(url, candidate.tls, where.container_id, PROBE_TIMEOUT)
    published, verified, how = _published_host(settings, candidate, where, self_info)
    if url.is_unix:
        daemon_socket = network.daemon_side_path(self_info, url.path) or url.path
    else:
        daemon_socket = "/var/run/docker.sock"  # a dind daemon's own socket, for Ryuk
    kind = "dood" if url.is_unix else ("dind" if url.is_tcp else url.scheme)
    warnings = list(settings.warnings)
    # A broken config file or a configured endpoint that failed before this one was
    # passed over: say so, or the user never learns why their setting had no effect.
    warnings.extend(
        f"{entry.source} was passed over: {entry.detail}"
        + (f"; fix: {entry.fix}" if entry.fix else "")
        for entry in trace
        if entry.outcome == "failed" and not entry.detail.endswith("does not exist")
    )
    if candidate.tls is not None and not candidate.tls.verify:
        warnings.append(
            f"TLS to {url} does not verify the daemon's certificate; set DOCKER_TLS_VERIFY=1 "
            "to verify it"
        )
    notes = [*candidate.notes, how] if how else list(candidate.notes)
    return DockerHost(
        url=str(url),
        mode=kind,
        source=candidate.source,
        tls=candidate.tls,
        published_host=published,
        published_host_verified=verified,
        daemon_socket=daemon_socket,
        in_container=where.in_container,
        engine_version=info.version,
        api_version=info.api_version,
        warnings=tuple(warnings),
        trace=tuple(trace),
        container_id=where.container_id,
        mounts=network.mounts_of(self_info),
        notes=tuple(notes),
        extras={
            "requested_mode": mode,
            "os": info.os,
            "arch": info.arch,
        },
    )


def _published_host(
    settings: Settings,
    candidate: Candidate,
    where: network.Where,
    self_info: dict[str, object] | None,
) -> tuple[str, bool, str]:
    """(host, verified, how it was chosen) for ports that test containers publish."""
    url = candidate.url
    assert url is not None
    if settings.published_host.value:
        return (
            settings.published_host.value,
            True,
            (
                f"published ports on {settings.published_host.value} "
                f"(from {settings.published_host.source})"
            ),
        )
    if not url.is_unix:
        # The probe just reached this host, and dind publishes on all its addresses.
        return url.host, True, ""
    if not where.in_container:
        return "localhost", True, ""
    if network.shares_daemon_network(url, candidate.tls, PROBE_TIMEOUT):
        return "localhost", True, "the daemon runs in this network namespace"
    choices: list[tuple[str, str]] = []
    if self_info is not None:
        if network.uses_host_network(self_info):
            return "localhost", True, "this container uses the host's network"
        gateway = network.own_gateway(self_info)
        if gateway:
            choices.append((gateway, "the gateway of this container's network"))
    route = network.default_gateway()
    if route and all(route != host for host, _ in choices):
        choices.append((route, "the default gateway in /proc/net/route"))
    if not choices:
        return "localhost", False, "no gateway found; assuming localhost"
    ports = network.published_ports(url, candidate.tls, PROBE_TIMEOUT)
    for host, how in choices:
        if ports and network.can_connect(host, ports[:3]):
            return host, True, f"published ports on {host}: {how}, verified"
    host, how = choices[0]
    return host, False, f"published ports on {host}: {how}"


def _hints(usable: list[Candidate], pinned: list[Candidate], per_probe: float) -> tuple[str, ...]:
    """When a configured endpoint fails, say which discovered one would have worked."""
    for candidate in usable:
        if candidate.pinned or candidate.url is None or not candidate.url.is_unix:
            continue
        if not os.path.exists(candidate.url.path):
            continue
        try:
            info = probe(candidate.url, None, timeout=min(per_probe, 1.0))
        except Failure:
            continue
        return (
            f"{candidate.shown_url} answers (engine {info.version}); to use it, remove "
            f"{pinned[0].source.split('=')[0]}",
        )
    return ()


def _failure_message(
    settings: Settings, mode: str, trace: list[TraceEntry], hints: tuple[str, ...]
) -> str:
    lines = [f"no working Docker endpoint (mode {mode}, from {settings.mode.source})."]
    failures = [entry for entry in trace if entry.outcome == "failed"]
    for entry in failures:
        lines.append(f"  {entry.source}: {entry.url}")
        lines.append(f"    what happened: {entry.detail}")
        if entry.fix:
            lines.append(f"    fix: {entry.fix}")
    skipped = [e for e in trace if e.outcome == "skipped" and e.detail != NOT_PRESENT]
    absent = [e for e in trace if e.detail == NOT_PRESENT]
    if not failures:
        if mode == "dind":
            lines.append(
                "  dind mode needs a TCP endpoint: set DOCKER_HOST=tcp://docker:2376 (TLS, with "
                "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH) or tcp://docker:2375 (TLS off), or "
                "pass --docker-host"
            )
        else:
            lines.append(
                "  no Docker socket or configuration was found: start Docker, mount the host's "
                "socket (-v /var/run/docker.sock:/var/run/docker.sock), or set DOCKER_HOST"
            )
    for entry in skipped:
        lines.append(f"  skipped {entry.source}: {entry.detail}")
    if absent:
        lines.append(
            f"  also looked for {len(absent)} other sockets (rootless, Docker Desktop, "
            "Colima, Rancher Desktop, OrbStack, Podman): none present"
        )
    lines.extend(f"  warning: {warning}" for warning in settings.warnings)
    lines.extend(f"  note: {hint}" for hint in hints)
    lines.append("  run `python -m pytest_dockerhost` for the whole table")
    return "\n".join(lines)
