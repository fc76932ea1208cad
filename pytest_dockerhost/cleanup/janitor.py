"""Who owns what: the labels on everything a run creates, liveness of its owner, and the
sweeps that remove what dead runs left behind (``cleanup`` and each start)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from ..engine.api import EngineAPILike, EngineClientLike, engine_errors
from ..labels import (
    L_CACHE,
    L_CONFIG,
    L_CREATED,
    L_KEEP_FOR,
    L_OWNER_CONTAINER,
    L_OWNER_HOST,
    L_OWNER_PID,
    L_OWNER_START,
    L_REUSE,
    L_REUSE_KEY,
    L_ROLE,
    L_RUN,
    LABEL,
)
from .ownership import Judge, Owner

# Names the sidecar modules have always imported from here.
__all__ = [
    "LABEL",
    "L_CACHE",
    "L_CONFIG",
    "L_CREATED",
    "L_KEEP_FOR",
    "L_OWNER_CONTAINER",
    "L_OWNER_HOST",
    "L_OWNER_PID",
    "L_OWNER_START",
    "L_REUSE",
    "L_REUSE_KEY",
    "L_ROLE",
    "L_RUN",
    "Owner",
    "api_text",
    "cleanup",
    "is_not_found",
    "labelled_resources",
    "remove_container",
    "remove_now",
    "remove_resource",
    "remove_run",
    "reuse_cert_dir",
    "sweep",
]


def is_not_found(exc: Exception) -> bool:
    from ..engine.api import NotFound

    if isinstance(exc, NotFound):
        return True
    import docker.errors

    return isinstance(exc, docker.errors.NotFound)


def api_text(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return text if len(text) <= 600 else text[:597] + "..."


def remove_container(api: EngineAPILike, container_id: str) -> None:
    # Anonymous volumes the image declares (VOLUME ...) go with it: v=True.
    with contextlib.suppress(Exception):
        api.remove_container(container_id, force=True, v=True)


def remove_network(api: EngineAPILike, name: str) -> None:
    with contextlib.suppress(Exception):
        info = api.inspect_network(name)
        for endpoint in info.get("Containers") or {}:
            with contextlib.suppress(Exception):
                api.disconnect_container_from_network(endpoint, name, force=True)
        api.remove_network(name)


# --- sweeping and cleanup -------------------------------------------------------------------


def labelled_resources(
    client: EngineClientLike, label: str = L_RUN
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(kind, id or name, labels) of every container, network, volume and image (a bind
    mount probe's) with ``label``."""
    api = client.api
    for entry in api.containers(all=True, filters={"label": label}):
        yield "container", str(entry["Id"]), dict(entry.get("Labels") or {})
    for entry in api.images(filters={"label": label}):
        yield "image", str(entry["Id"]), dict(entry.get("Labels") or {})
    for entry in api.networks(filters={"label": label}):
        yield "network", str(entry["Name"]), dict(entry.get("Labels") or {})
    for entry in api.volumes(filters={"label": label}).get("Volumes") or []:
        yield "volume", str(entry["Name"]), dict(entry.get("Labels") or {})


def remove_now(api: EngineAPILike, kind: str, ident: str) -> None:
    """Remove one container (with its anonymous volumes), network or volume; raises what
    the engine said."""
    if kind == "container":
        # Podman's forced removal first waits out the stop timeout (10 s for a pid 1 that
        # ignores SIGTERM, as busybox httpd does); a kill first makes it immediate.
        with contextlib.suppress(*engine_errors()):
            api.kill(ident)  # refused for one that is not running: nothing to wait for
        api.remove_container(ident, force=True, v=True)
    elif kind == "image":
        api.remove_image(ident, force=True)
    elif kind == "network":
        api.remove_network(ident)
    else:
        api.remove_volume(ident, force=True)


def remove_resource(api: EngineAPILike, kind: str, ident: str) -> None:
    """``remove_now`` for a sweep: a network loses its endpoints first, and what cannot go
    now is left for the next sweep."""
    if kind == "network":
        remove_network(api, ident)
        return
    with contextlib.suppress(*engine_errors()):
        remove_now(api, kind, ident)


def expired(entry: dict[str, object], labels: dict[str, str], now: float) -> bool:
    """Is a kept sidecar past the age it was kept for (by the daemon's clock)?"""
    try:
        keep_for = float(labels.get(L_KEEP_FOR, ""))
        created = float(str(entry.get("Created", "")))
    except ValueError:
        return False  # kept by a version that set no age: only `cleanup --kept` removes it
    return now - created > keep_for


KeptSidecar = tuple[dict[str, object], str, dict[str, str]]  # list entry, name, labels


def kept_sidecars(client: EngineClientLike) -> Iterator[KeptSidecar]:
    """(list entry, name, labels) of every sidecar kept by --docker-sidecar-reuse."""
    for entry in client.api.containers(all=True, filters={"label": f"{L_REUSE}=true"}):
        labels = dict(entry.get("Labels") or {})
        if labels.get(L_ROLE) == "sidecar":
            yield entry, str((entry.get("Names") or ["/?"])[0]).lstrip("/"), labels


def sweep(client: EngineClientLike, judge: Judge) -> list[str]:
    """Remove what runs whose owner is gone left behind (kill -9, a crashed CI job), and
    kept sidecars past their age (or stopped) that no live run uses. Never a live run's
    resources, never a cache volume."""
    removed: list[str] = []
    found = list(labelled_resources(client))
    # Containers first: a volume or network in use cannot be removed.
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_ROLE) == "cache" or labels.get(L_REUSE) == "true":
            continue  # kept sidecars go with their container, below
        if not judge.alive(labels):
            remove_resource(client.api, kind, ident)
            if labels.get(L_ROLE) not in ("lease", "run"):  # bookkeeping, not leftovers
                removed.append(f"{kind} {ident[:24]}")
    for entry, name, labels in kept_sidecars(client):
        if judge.in_use(name):
            continue
        running = entry.get("State") == "running"
        if not running and judge.alive(labels):
            continue  # its run is creating it right now: not yet started, not yet in use
        if not running or expired(entry, labels, judge.book.now):
            removed.extend(remove_kept(client, str(entry["Id"]), name, labels))
    return removed


def reuse_cert_dir(name: str) -> str:
    """A kept sidecar's client certificates, kept with the user's cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pytest-dockerhost", "sidecars", name)


def remove_kept(
    client: EngineClientLike, container_id: str, name: str, labels: dict[str, str]
) -> list[str]:
    """A kept sidecar, its volume and network, and its client certificates if they are here."""
    remove_container(client.api, container_id)
    removed = [f"container {name} (kept sidecar)"]
    if labels.get(L_RUN):
        removed.extend(remove_run(client, labels[L_RUN]))
    shutil.rmtree(reuse_cert_dir(name), ignore_errors=True)
    return removed


def remove_run(client: EngineClientLike, run_id: str) -> list[str]:
    """Remove every container, network and volume of one run (its owner's final cleanup)."""
    removed: list[str] = []
    found = list(labelled_resources(client, f"{L_RUN}={run_id}"))
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_ROLE) == "cache":
            continue
        remove_resource(client.api, kind, ident)
        removed.append(f"{kind} {ident[:24]}")
    return removed


def cleanup(
    client: EngineClientLike, judge: Judge, *, everything: bool, kept: bool, cache: bool
) -> list[str]:
    """``python -m pytest_dockerhost cleanup``, after the sweep: with ``kept`` every kept
    sidecar no live run uses, with ``everything`` also live runs' resources and kept
    sidecars in use, with ``cache`` also named cache volumes."""
    removed: list[str] = []
    if kept or everything:
        for entry, name, labels in kept_sidecars(client):
            if everything or not judge.in_use(name):
                removed.extend(remove_kept(client, str(entry["Id"]), name, labels))
    found = list(labelled_resources(client, L_ROLE))
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        role = labels.get(L_ROLE)
        if role == "cache":
            if cache:
                remove_resource(client.api, kind, ident)
                removed.append(f"{kind} {ident[:24]} (cache)")
        elif everything and labels.get(L_RUN) != judge.here.run_id:
            remove_resource(client.api, kind, ident)  # the command's own lease goes last
            removed.append(f"{kind} {ident[:24]}")
    return removed
