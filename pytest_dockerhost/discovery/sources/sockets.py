"""The well-known unix sockets: the system one, rootless, Docker Desktop, Colima, Rancher
Desktop, OrbStack and Podman."""

from __future__ import annotations

import glob

from ...engine.url import DockerURL
from .base import Candidate, SourceContext


def socket_paths(ctx: SourceContext) -> list[tuple[str, str]]:
    """(path, label) in the order they are tried."""
    home = ctx.home
    runtime = ctx.env.get("XDG_RUNTIME_DIR", "").strip()
    paths: list[tuple[str, str]] = [(path, "the system socket") for path in ctx.system_sockets]
    if runtime:
        paths.append((f"{runtime}/docker.sock", "rootless Docker ($XDG_RUNTIME_DIR)"))
    paths.append((f"/run/user/{ctx.uid}/docker.sock", "rootless Docker"))
    paths.append((str(home / ".docker/run/docker.sock"), "Docker Desktop"))
    paths.append((str(home / ".docker/desktop/docker.sock"), "Docker Desktop"))
    colima = sorted(glob.glob(str(home / ".colima/*/docker.sock")))
    colima.sort(key=lambda p: not p.endswith("/default/docker.sock"))
    paths.extend((path, "Colima") for path in colima)
    paths.append((str(home / ".rd/docker.sock"), "Rancher Desktop"))
    paths.append((str(home / ".orbstack/run/docker.sock"), "OrbStack"))
    if runtime:
        paths.append((f"{runtime}/podman/podman.sock", "rootless Podman"))
    paths.append((ctx.podman_system_socket, "Podman"))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for path, label in paths:
        if path not in seen:
            seen.add(path)
            unique.append((path, label))
    return unique


def well_known_sockets(ctx: SourceContext) -> list[Candidate]:
    return [
        Candidate(
            source=f"{ctx.show(path)} ({label})",
            url=DockerURL("unix", path=path),
            raw=f"unix://{path}",
        )
        for path, label in socket_paths(ctx)
    ]
