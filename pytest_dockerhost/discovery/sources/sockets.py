"""The well-known unix sockets: the system one, rootless, Docker Desktop, Colima, Rancher
Desktop, OrbStack, Podman and Podman machine; on Windows, the engines' named pipes."""

from __future__ import annotations

import glob

from ...engine.url import DockerURL
from ...messages import platforms as say_
from .base import Candidate, SourceContext

# Windows: Docker Desktop's pipe, then Podman machine's default one.
NAMED_PIPES = (
    ("npipe:////./pipe/docker_engine", "Docker Desktop"),
    ("npipe:////./pipe/podman-machine-default", "Podman machine"),
)


def _defaults_first(paths: list[str], default: str) -> list[str]:
    """Sorted, with the default profile's or machine's socket first."""
    return sorted(sorted(paths), key=lambda p: default not in p)


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
    # ~/.colima, or ~/.config/colima where Colima follows XDG.
    colima = glob.glob(str(home / ".colima/*/docker.sock"))
    colima += glob.glob(str(home / ".config/colima/*/docker.sock"))
    paths.extend((path, "Colima") for path in _defaults_first(colima, "/default/"))
    paths.append((str(home / ".rd/docker.sock"), "Rancher Desktop"))
    paths.append((str(home / ".orbstack/run/docker.sock"), "OrbStack"))
    if runtime:
        paths.append((f"{runtime}/podman/podman.sock", "rootless Podman"))
    paths.append((ctx.podman_system_socket, "Podman"))
    paths.extend((path, "Podman machine") for path in _podman_machine(ctx))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for path, label in paths:
        if path not in seen:
            seen.add(path)
            unique.append((path, label))
    return unique


def _podman_machine(ctx: SourceContext) -> list[str]:
    """Podman machine's API sockets on macOS: Podman 5 in $TMPDIR, Podman 4 under ~."""
    found: list[str] = []
    tmpdir = ctx.env.get("TMPDIR", "").strip().rstrip("/")
    if tmpdir:
        found += _defaults_first(glob.glob(f"{tmpdir}/podman/*-api.sock"), "machine-default-")
    machines = str(ctx.home / ".local/share/containers/podman/machine")
    found += _defaults_first(glob.glob(f"{machines}/*/podman.sock"), "machine-default/")
    found += glob.glob(f"{machines}/podman.sock")
    return found


def well_known_sockets(ctx: SourceContext) -> list[Candidate]:
    if ctx.platform == "win32":
        return named_pipes()
    return [
        Candidate(
            source=f"{ctx.show(path)} ({label})",
            url=DockerURL("unix", path=path),
            raw=f"unix://{path}",
        )
        for path, label in socket_paths(ctx)
    ]


def named_pipes() -> list[Candidate]:
    """Windows' engines, which listen on named pipes: each says why it cannot be used, and
    the fix, in the report of what was tried."""
    found = []
    for pipe, engine in NAMED_PIPES:
        what, fix = say_.named_pipe(pipe, engine)
        found.append(Candidate.broken(f"{pipe} ({engine})", pipe, what, fix, pinned_by=None))
    return found
