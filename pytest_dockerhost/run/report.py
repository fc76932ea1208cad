"""``--docker-report=FILE`` and ``python -m pytest_dockerhost --json``: what resolution and the
run did, as JSON that CI can keep as an artifact. Its schema is in docs/report.md."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .lifecycle import Phase

if TYPE_CHECKING:
    from ..config.parsing import Mode
    from ..config.settings import Settings
    from ..discovery.endpoint import DockerHost, TraceEntry
    from ..discovery.resolution import Resolution
    from ..sidecar.started import Started
    from .lifecycle import EndpointLifecycle

SCHEMA = 1


def resolution_report(resolution: Resolution) -> dict[str, Any]:
    """The settings, every candidate tried, and the endpoint (or why there is none)."""
    host = resolution.host
    return {
        **_head(resolution.settings, resolution.mode),
        "candidates": [_candidate(entry) for entry in resolution.trace],
        "endpoint": _endpoint(host) if host is not None else None,
        "error": str(resolution.error) if resolution.error is not None else "",
        "hints": list(resolution.hints),
    }


def run_report(state: EndpointLifecycle, *, hosts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """A pytest run's report: resolution's, then the sidecar's lifecycle and the cleanup;
    ``hosts``: what pytest-xdist workers on other hosts used (run/hosts.py)."""
    if state.resolution is not None:
        data = resolution_report(state.resolution)
    else:
        data = {**_head(state.settings, state.mode), "candidates": [], "hints": []}
        data["endpoint"], data["error"] = None, ""
        data["resolved"] = False  # no selected test needed Docker
    if state.host is not None:
        data["endpoint"] = _endpoint(state.host)
        data["error"] = ""
    elif state.error is not None:
        data["error"] = str(state.error)
    data["sidecar"] = _sidecar(state)
    data["pool"] = state.pool.report() if state.pool is not None else None
    reaped = state.cleanup.reaped
    data["cleanup"] = {
        "swept": list(state.cleanup.swept),
        "removed": list(reaped.removed) if reaped else [],
        "failed": list(reaped.failed) if reaped else [],
        "notes": list(state.cleanup.notes),
    }
    data["hosts"] = list(hosts)
    return data


def write(path: str, data: dict[str, Any]) -> None:
    """Whole or not at all: written beside the target, then renamed over it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)


def _head(settings: Settings, mode: Mode) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "schema": SCHEMA,
        "tool": {"name": "pytest-dockerhost", "version": version("pytest-dockerhost")},
        "mode": mode,
        "settings": [
            {"name": name, "value": value, "source": source}
            for name, value, source in settings.describe()
        ],
        "warnings": list(settings.warnings),
        "on_ci": settings.on_ci,
    }


def _candidate(entry: TraceEntry) -> dict[str, Any]:
    return {
        "source": entry.source,
        "url": entry.url,
        "outcome": entry.outcome,
        "seconds": round(entry.elapsed, 4),
        "detail": entry.detail,
        "fix": entry.fix,
        "failure": entry.kind.value if entry.kind is not None else "",
    }


def endpoint_report(host: DockerHost) -> dict[str, Any]:
    """The report's ``endpoint`` (an xdist worker on another host sends its own)."""
    return _endpoint(host)


def _endpoint(host: DockerHost) -> dict[str, Any]:
    tls = host.tls
    return {
        "url": host.url,
        "mode": host.mode,
        "source": host.source,
        "tls": None
        if tls is None
        else {
            "verify": tls.verify,
            "ca_cert": tls.ca_cert,
            "client_cert": tls.client_cert,
            "source": tls.source,
        },
        "engine": {
            "kind": host.engine.kind,
            "version": host.engine_version,
            "api": host.api_version,
            "min_api": host.engine.min_api,
            "profile": dataclasses.asdict(host.profile),
        },
        "published_ports": {
            "host": host.published_host,
            "verified": host.published_host_verified,
            "how": host.published_how,
        },
        "in_container": host.in_container,
        "notes": list(host.notes),
        "warnings": list(host.warnings),
        "outer": _endpoint(host.outer) if host.outer is not None else None,
    }


def _sidecar(state: EndpointLifecycle) -> dict[str, Any] | None:
    if state.strategy != "sidecar":
        return None
    shared = state.sidecar
    spec = shared.spec if shared is not None else None
    started = shared.peek() if shared is not None else state.sidecar_started
    data: dict[str, Any] = {
        "image": spec.image if spec else state.settings.sidecar_image.value,
        "outcome": _outcome(state, started),
        "kept_for_reuse": state.settings.sidecar_reuse.value,
        "error": str(state.error) if state.host is None and state.error is not None else "",
        "timings": dict(state.sidecar_timings),
    }
    if started is not None:
        data.update(
            name=started.name,
            container_id=started.container_id,
            reused=started.reused,
            start_seconds=round(started.elapsed, 3),
            preloaded=list(started.preloaded),
            notes=list(started.notes),
        )
    return data


def _outcome(state: EndpointLifecycle, started: Started | None) -> str:
    if Phase.CANCELLED in (state.phase, state.ended_in):
        return "cancelled"
    if started is not None:
        return "reused" if started.reused else "started"
    return "failed" if state.error is not None else "not started"
