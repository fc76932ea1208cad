"""Who owns what: the labels on everything a run creates, liveness of its owner, and the
sweeps that remove what dead runs left behind (``cleanup`` and each start)."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, final

from ..engine_api import EngineAPILike, EngineClientLike, engine_errors

LABEL = "org.pytest-dockerhost"
L_RUN = f"{LABEL}.run"
L_ROLE = f"{LABEL}.role"  # sidecar, volume, network, cache
L_OWNER_PID = f"{LABEL}.owner-pid"
L_OWNER_START = f"{LABEL}.owner-start"  # the pid's start time, so a recycled pid is not "alive"
L_OWNER_HOST = f"{LABEL}.owner-host"
L_OWNER_CONTAINER = f"{LABEL}.owner-container"
L_CREATED = f"{LABEL}.created"
L_CONFIG = f"{LABEL}.config-hash"
L_REUSE = f"{LABEL}.reuse"
L_REUSE_KEY = f"{LABEL}.reuse-key"
L_CACHE = f"{LABEL}.cache"


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot ("" when unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


@final
@dataclass(frozen=True)
class Owner:
    """The process that owns a run's resources: it alone removes them at the end."""

    run_id: str
    pid: int
    start: str
    host: str
    container: str  # our container's id when we run in one, else ""

    @classmethod
    def current(cls, run_id: str, container: str | None) -> Owner:
        pid = os.getpid()
        return cls(run_id, pid, process_start(pid), socket.gethostname(), container or "")

    def labels(self, role: str) -> dict[str, str]:
        return {
            L_RUN: self.run_id,
            L_ROLE: role,
            L_OWNER_PID: str(self.pid),
            L_OWNER_START: self.start,
            L_OWNER_HOST: self.host,
            L_OWNER_CONTAINER: self.container,
            L_CREATED: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pid": self.pid,
            "start": self.start,
            "host": self.host,
            "container": self.container,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        return cls(
            str(data["run_id"]),
            int(data["pid"]),
            str(data["start"]),
            str(data["host"]),
            str(data["container"]),
        )


def owner_alive(labels: dict[str, str], client: EngineClientLike, here: Owner) -> bool:
    """Is the run that made a resource still alive? Unknown counts as alive: never remove
    what might be in use."""
    container = labels.get(L_OWNER_CONTAINER, "")
    same_place = container == here.container and labels.get(L_OWNER_HOST) == here.host
    if container and not same_place:
        # The owner ran in another container on this daemon: alive while that one runs.
        try:
            other = client.api.inspect_container(container)
        except engine_errors() as exc:  # docker.errors.NotFound, or the daemon is gone
            return not is_not_found(exc)
        return bool((other.get("State") or {}).get("Running"))
    if not same_place:
        return True  # another machine, or the host while we are in a container: cannot tell
    try:
        pid = int(labels.get(L_OWNER_PID, ""))
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    started = labels.get(L_OWNER_START, "")
    return not started or process_start(pid) in ("", started)


def is_not_found(exc: Exception) -> bool:
    from ..engine_api import NotFound

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


def remove_labelled(client: EngineClientLike, labels: dict[str, str]) -> None:
    """The volume and network that belong with a sidecar's labels (its run)."""
    run = labels.get(L_RUN)
    if run:
        remove_run(client, run)


# --- sweeping and cleanup -------------------------------------------------------------------


def labelled_resources(
    client: EngineClientLike, label: str = L_RUN
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(kind, id or name, labels) of every container, network and volume with ``label``."""
    api = client.api
    for entry in api.containers(all=True, filters={"label": label}):
        yield "container", str(entry["Id"]), dict(entry.get("Labels") or {})
    for entry in api.networks(filters={"label": label}):
        yield "network", str(entry["Name"]), dict(entry.get("Labels") or {})
    for entry in api.volumes(filters={"label": label}).get("Volumes") or []:
        yield "volume", str(entry["Name"]), dict(entry.get("Labels") or {})


def remove_now(api: EngineAPILike, kind: str, ident: str) -> None:
    """Remove one container (with its anonymous volumes), network or volume; raises what
    the engine said."""
    if kind == "container":
        api.remove_container(ident, force=True, v=True)
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


def sweep(client: EngineClientLike, *, here: Owner) -> list[str]:
    """Remove what runs whose owner is gone left behind (kill -9, a crashed CI job). Never a
    live run's resources, never a kept (reused) sidecar, never a cache volume."""
    removed: list[str] = []
    found = list(labelled_resources(client))
    # Containers first: a volume or network in use cannot be removed.
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_REUSE) == "true" or labels.get(L_ROLE) == "cache":
            continue
        if labels.get(L_RUN) == here.run_id or owner_alive(labels, client, here):
            continue
        remove_resource(client.api, kind, ident)
        removed.append(f"{kind} {ident[:24]}")
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


def cleanup(client: EngineClientLike, *, everything: bool, kept: bool, cache: bool) -> list[str]:
    """``python -m pytest_dockerhost cleanup``: what dead runs left behind; with ``kept`` also
    sidecars kept by --docker-sidecar-reuse, with ``everything`` also live runs', with
    ``cache`` also named cache volumes."""
    here = Owner.current("", None)
    removed: list[str] = []
    found = list(labelled_resources(client, L_ROLE))
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_ROLE) == "cache":
            if cache:
                remove_resource(client.api, kind, ident)
                removed.append(f"{kind} {ident[:24]} (cache)")
            continue
        is_kept = labels.get(L_REUSE) == "true"
        if is_kept and not (kept or everything):
            continue
        if not is_kept and not everything and owner_alive(labels, client, here):
            continue
        remove_resource(client.api, kind, ident)
        removed.append(f"{kind} {ident[:24]}" + (" (kept sidecar)" if is_kept else ""))
    return removed


def private_dir(prefix: str = "pytest-dockerhost-") -> str:
    """A fresh 0700 folder for client certificates."""
    return tempfile.mkdtemp(prefix=prefix)
