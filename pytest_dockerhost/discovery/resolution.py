"""The candidate chain: collect candidates from the sources, probe them, keep a trace.

Explicitly configured endpoints (``--docker-host``, ini ``docker_host``,
``DOCKER_HOST``, ``DOCKER_CONTEXT``) are used alone, as the docker CLI does:
if one fails, resolution fails with the trace rather than quietly talking to
another daemon. Discovered candidates are tried in order until one answers.

``dind`` mode, and a configured endpoint in a Kubernetes pod, wait (bounded) for the daemon
to answer ``/_ping``: in a pod, dind starts beside the job, and its socket file or its
certificates can be there before it listens, or appear only later.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import final

from ..config.parsing import Mode, SearchMode, search_mode
from ..config.settings import Settings
from ..engine.probe import EngineInfo, info_document, probe, wait_for
from ..engine.skew import api_skew
from ..engine.transport import Failure, FailureKind
from ..errors import NoEndpointError
from ..messages import resolution as say_
from . import network
from .ci import ci_kind, no_engine_fix
from .diagnosis import explain
from .endpoint import DockerHost, EngineFacts, TraceEntry
from .mtu import mtu_warnings
from .profile import decide, named, settle
from .published import published_host
from .remote import api_url, reach, socket_failure
from .sources import CHAIN, Candidate, SourceContext

PROBE_TIMEOUT = 1.5  # per socket operation while discovering; keeps a silent host under 3 s
AUTO_BUDGET = 5.0  # the whole of auto discovery
WAIT_NOTED = 0.5  # a wait for a starting daemon longer than this is said in the header
NOT_PRESENT = "not present"


@final
@dataclass(frozen=True)
class Resolution:
    """The outcome of resolution: an endpoint, or the error saying why there is none."""

    settings: Settings
    mode: SearchMode
    host: DockerHost | None
    trace: tuple[TraceEntry, ...]
    error: NoEndpointError | None = None  # set exactly when host is None
    hints: tuple[str, ...] = field(default_factory=tuple)
    ci_fix: str = ""  # the CI's own fix, when it gave this job no engine at all

    def __post_init__(self) -> None:
        if (self.host is None) == (self.error is None):
            raise ValueError("a Resolution has an endpoint or the error saying why not")

    def require(self) -> DockerHost:
        if self.host is None:
            assert self.error is not None
            raise self.error.with_traceback(None)  # a fresh traceback each time it is raised
        return self.host


def resolve(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    ctx: SourceContext | None = None,
    mode: Mode | None = None,
) -> Resolution:
    """Find a Docker endpoint that answers ``/_ping`` and ``/version``."""
    ctx = ctx or SourceContext.current(settings, env)
    requested = mode or settings.mode.value
    searched = search_mode(requested)
    from .pod import in_kubernetes

    started = time.monotonic()
    candidates = [_lenient(c, settings) for source in CHAIN for c in source(ctx)]
    usable = [c for c in candidates if not _mode_mismatch(searched, c)]
    pinned = [c for c in usable if c.pinned]
    waits = searched == "dind" or (searched == "auto" and bool(pinned) and in_kubernetes(ctx.env))
    deadline = started + (settings.timeout.value if waits else AUTO_BUDGET)
    per_probe = min(PROBE_TIMEOUT, settings.timeout.value)
    trace: list[TraceEntry] = []
    # Walk the chain in order so that the trace reads as the order things were considered.
    for candidate in candidates:
        reason = _mode_mismatch(searched, candidate)
        if not reason and pinned and candidate is not pinned[0]:
            if not candidate.pinned:
                continue  # discovery is off while an endpoint is configured
            reason = say_.TAKES_PRECEDENCE.format(source=pinned[0].source)
        if not reason and _absent_socket(candidate, ctx):
            reason = NOT_PRESENT
        if reason:
            trace.append(TraceEntry(candidate.source, candidate.shown_url, "skipped", 0.0, reason))
            continue
        entry, info = _try(
            candidate,
            deadline=deadline,
            per_probe=per_probe,
            waits=waits,
            answered=settings.timeout.value,
        )
        trace.append(entry)
        if info is not None:
            waited = entry.elapsed if waits and entry.elapsed >= WAIT_NOTED else 0.0
            host = _build_host(
                settings, candidate, info, trace=trace, requested=requested, waited=waited
            )
            return Resolution(settings, searched, host, tuple(trace))

    hints = _hints(usable, pinned, per_probe) if pinned else ()
    ci_fix = no_engine_fix(ctx.env, trace)
    error = NoEndpointError(_failure_message(settings, searched, trace, hints, ci_fix))
    return Resolution(settings, searched, None, tuple(trace), error, hints, ci_fix)


def _lenient(candidate: Candidate, settings: Settings) -> Candidate:
    """The candidate with Python's strict X.509 flag off, when the user opted out of it."""
    if settings.tls_x509_strict.value or candidate.tls is None or not candidate.tls.verify:
        return candidate
    return dataclasses.replace(candidate, tls=dataclasses.replace(candidate.tls, x509_strict=False))


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


def _mode_mismatch(mode: SearchMode, candidate: Candidate) -> str:
    if candidate.url is None:
        return ""
    if mode == "dood" and not candidate.url.is_unix:
        return say_.DOOD_UNIX_ONLY
    # A configured socket is a dind's too: ARC's dind container shares its socket.
    if mode == "dind" and candidate.url.is_unix and not candidate.pinned:
        return say_.DIND_TCP_ONLY
    return ""


def _late_files(candidate: Candidate) -> frozenset[FailureKind]:
    """Files a daemon starting beside us has yet to write, worth waiting for: its socket,
    and its client certificates, each in a folder that is already there (the pod's shared
    ``emptyDir``). A folder that is not there is a wrong path, said at once."""
    kinds = set()
    url, tls = candidate.url, candidate.tls
    if url is not None and url.is_unix and os.path.isdir(os.path.dirname(url.path)):
        kinds.add(FailureKind.SOCKET_MISSING)
    if tls is not None and tls.client_cert and os.path.isdir(os.path.dirname(tls.client_cert)):
        kinds.add(FailureKind.CERT_MISSING)
    return frozenset(kinds)


def _try(
    candidate: Candidate, *, deadline: float, per_probe: float, waits: bool, answered: float
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
            say_.BUDGET_SPENT,
        ), None
    late = _late_files(candidate) if waits else frozenset()
    try:
        url = api_url(candidate.url, per_probe, candidate.ssh_identity)  # ssh://: tunnelled
        if waits:
            info = wait_for(
                url,
                candidate.tls,
                deadline=deadline,
                timeout=per_probe,
                also_retry=late,
                answered=answered,
            )
        else:
            info = probe(url, candidate.tls, timeout=min(per_probe, left), answered=answered)
    except Failure as raised:
        failure = socket_failure(candidate.url, raised)
        elapsed = time.monotonic() - start
        retried = waits and (failure.retryable or failure.kind in late)
        waited = elapsed if retried else None
        detail, fix = explain(
            failure, candidate.url, candidate.tls, candidate.source, waited=waited
        )
        if retried:
            detail = say_.NOT_READY_AFTER.format(seconds=elapsed, detail=detail)
        return TraceEntry(
            candidate.source,
            candidate.shown_url,
            "failed",
            elapsed,
            detail,
            fix,
            failure.kind,
        ), None
    elapsed = time.monotonic() - start
    return TraceEntry(
        candidate.source,
        candidate.shown_url,
        "ok",
        elapsed,
        say_.ENGINE.format(version=info.version, api=info.api_version),
    ), info


def _build_host(
    settings: Settings,
    candidate: Candidate,
    info: EngineInfo,
    *,
    trace: list[TraceEntry],
    requested: Mode,
    waited: float = 0.0,
) -> DockerHost:
    assert candidate.url is not None
    way = reach(settings, candidate.url, candidate.tls, os.environ, candidate.ssh_identity)
    url = way.url
    where = network.detect()
    self_info = None
    if where.in_container and where.container_id and url.is_unix:
        self_info = network.inspect_container(url, candidate.tls, where.container_id, PROBE_TIMEOUT)
    published, verified, how = way.published or published_host(
        settings, candidate, where, self_info, PROBE_TIMEOUT
    )
    if way.daemon_socket:
        daemon_socket = way.daemon_socket
    elif url.is_unix:
        daemon_socket = network.daemon_side_path(self_info, url.path) or url.path
    else:
        daemon_socket = "/var/run/docker.sock"  # a dind daemon's own socket, for Ryuk
    profile = decide(
        info,
        info_document(url, candidate.tls, timeout=PROBE_TIMEOUT),
        os.environ,
        rootless="(rootless " in candidate.source,
        ci=ci_kind(os.environ),
    )
    info = named(info, profile)
    engine = ("rootless " if profile.name.startswith("rootless") else "") + info.kind
    from .pod import is_loopback, recognise

    beside = way.remote is None and (url.is_unix or is_loopback(url.host))
    ruled = settle(profile, beside, settings.published_host.value or "", (published, verified, how))
    published, verified, how = ruled.published
    warnings = [*settings.warnings, *way.warnings, *ruled.warnings]
    # A broken config file or a configured endpoint that failed before this one was
    # passed over: say so, or the user never learns why their setting had no effect.
    warnings.extend(
        say_.passed_over(entry.source, entry.detail, entry.fix)
        for entry in trace
        if entry.outcome == "failed" and entry.kind != FailureKind.SOCKET_MISSING
    )
    if candidate.tls is not None and not candidate.tls.verify:
        warnings.append(say_.unverified_tls(str(url)))
    warnings.extend(api_skew(info.min_api))
    if candidate.tls is not None and not candidate.tls.x509_strict:
        warnings.append(say_.x509_lenient(settings.tls_x509_strict.source))
    notes = [*candidate.notes, *way.notes, *ruled.notes]
    if how and (verified or not way.warnings):
        notes.append(how)
    if waited:
        notes.append(say_.waited_for_daemon(waited, str(url)))
    pod = recognise(os.environ, url, candidate.tls, PROBE_TIMEOUT)
    if pod is not None:
        notes.append(say_.in_pod(pod.ci, shares_network=pod.shares_network))
    if profile.name != "kubedock":  # its containers are pods, on the cluster's network
        warnings.extend(mtu_warnings(url, candidate.tls, where, pod, PROBE_TIMEOUT))
    if info.kind == "Podman" and not _ryuk_ready_for_podman():
        notes.append(say_.podman_ryuk())
    return DockerHost(
        docker_url=url,
        requested=requested,
        source=candidate.source,
        tls=candidate.tls,
        published_host=published,
        published_host_verified=verified,
        daemon_socket=daemon_socket,
        in_container=where.in_container,
        engine=EngineFacts(
            version=info.version,
            api_version=info.api_version,
            kind=engine,
            min_api=info.min_api,
            os=info.os,
            arch=info.arch,
        ),
        published_how=how,
        warnings=tuple(warnings),
        trace=tuple(trace),
        container_id=where.container_id,
        mounts=network.mounts_of(self_info),
        notes=tuple(notes),
        remote=way.remote,
        profile=profile,
    )


def _ryuk_ready_for_podman() -> bool:
    """Ryuk off, or told it may run privileged, as Podman needs: nothing to say."""
    off = os.environ.get("TESTCONTAINERS_RYUK_DISABLED", "").strip().lower() == "true"
    return off or bool(os.environ.get("TESTCONTAINERS_RYUK_PRIVILEGED", "").strip())


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
        setting = pinned[0].pinned_by
        assert setting is not None
        return (say_.would_work(candidate.shown_url, info.version, setting),)
    return ()


def _failure_message(
    settings: Settings,
    mode: SearchMode,
    trace: list[TraceEntry],
    hints: tuple[str, ...],
    ci_fix: str,
) -> str:
    return say_.no_endpoint(
        mode,
        settings.mode.source,
        failures=[(e.source, e.url, e.detail, e.fix) for e in trace if e.outcome == "failed"],
        skipped=[
            (e.source, e.detail)
            for e in trace
            if e.outcome == "skipped" and e.detail != NOT_PRESENT
        ],
        absent=sum(1 for e in trace if e.detail == NOT_PRESENT),
        warnings=settings.warnings,
        hints=hints,
        ci_fix=ci_fix,
    )
