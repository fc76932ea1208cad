"""Client tools too old for the engine: an engine that raised its minimum API version
(Docker 29.0-29.2 accept 1.44 and later, 29.3 lowered it to 1.40; any engine with
``DOCKER_MIN_API_VERSION``) refuses the tools in PATH that speak an older one.

Only asked when the engine's minimum is above the long-standing 1.24, so the common case
costs nothing. The tools: the docker CLI (or Podman's ``docker`` in its place), the
``docker compose`` CLI plugin and a standalone ``docker-compose``. docker-py is not one:
``docker.from_env()`` and testcontainers (``version=None``, "auto") speak the engine's
own version, which it always accepts.
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, final

from ..messages import endpoint as say_
from .url import MIN_API_VERSION, version_at_least

# cli: the docker CLI; podman: Podman's docker-compatible command as `docker`;
# compose-plugin: `docker compose`; compose: a standalone Go docker-compose (v2);
# compose-v1: the Python docker-compose 1.x (Debian's docker-compose package).
ToolKind = Literal["cli", "podman", "compose-plugin", "compose", "compose-v1"]

# Where the docker CLI looks for its plugins, after $DOCKER_CONFIG/cli-plugins.
PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
# The API version each Docker Engine client library speaks at most, by its release: a Go
# tool built with it negotiates down from there, never up.
CLIENT_API = {
    (18, 9): "1.39",
    (19, 3): "1.40",
    (20, 10): "1.41",
    (23, 0): "1.42",
    (24, 0): "1.43",
    (25, 0): "1.44",
    (26, 0): "1.45",
    (26, 1): "1.45",
    (27, 0): "1.46",
    (27, 1): "1.46",
    (27, 2): "1.47",
    (27, 3): "1.47",
    (27, 4): "1.47",
    (27, 5): "1.47",
    (28, 0): "1.48",
    (28, 1): "1.49",
    (28, 2): "1.50",
    (28, 3): "1.51",
    (28, 4): "1.51",
    (28, 5): "1.51",
}
# Docker 29.3's default minimum, back down from 29.0's 1.44.
FLOOR_29_3 = "1.40"
_BUILDINFO = b"\xff Go buildinf:"
_BUILDINFO_SPAN = 1 << 18  # the module list follows the marker; it is never this long
# A Go binary's module list: the Engine's client library up to 28.x, and the API module of
# Docker 29's split one, whose version is the API's. A replacement (=>) line comes last.
_MOBY_CLIENT = re.compile(rb"\tgithub\.com/docker/docker\tv(\d+)\.(\d+)\.")
_MOBY_API = re.compile(rb"\tgithub\.com/moby/moby/api\tv1\.(\d+)\.")


@final
@dataclass(frozen=True)
class ClientTool:
    """A tool in PATH that talks to the engine, and the API version it speaks ("" when it
    negotiates the engine's own, or cannot be told)."""

    kind: ToolKind
    path: str
    api: str


def api_skew(min_api: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning, with the fix, for each tool here that the engine will refuse."""
    if not min_api or version_at_least(MIN_API_VERSION, min_api):
        return []
    env = os.environ if environ is None else environ
    warnings: list[str] = []
    for tool in client_tools(env):
        if tool.kind == "podman":
            warnings.append(say_.podman_as_docker(tool.path, tool.api, min_api))
            continue
        if not tool.api or version_at_least(tool.api, min_api):
            continue
        # A newer engine helps only a tool that speaks 29.3's minimum, where the engine's
        # is above it.
        helps = version_at_least(tool.api, FLOOR_29_3) and not version_at_least(FLOOR_29_3, min_api)
        floor = FLOOR_29_3 if helps else ""
        if tool.kind == "compose-v1":
            warnings.append(say_.compose_v1_pinned(tool.path, tool.api, min_api, floor))
        else:
            warnings.append(say_.tool_too_old(tool.kind, tool.path, tool.api, min_api, floor))
    return warnings


def client_tools(env: Mapping[str, str]) -> list[ClientTool]:
    """The docker CLI, the compose plugin and a standalone docker-compose, as found."""
    path = env.get("PATH", os.defpath)
    tools: list[ClientTool] = []
    cli = shutil.which("docker", path=path)
    if cli is not None:
        tools.append(docker_cli(cli, env))
    plugin = compose_plugin(env)
    if plugin is not None:
        tools.append(compose_tool(plugin, "compose-plugin", env))
    standalone = shutil.which("docker-compose", path=path)
    if standalone is not None and (
        plugin is None or os.path.realpath(standalone) != os.path.realpath(plugin)
    ):
        tools.append(compose_tool(standalone, "compose", env))
    return tools


def docker_cli(cli: str, env: Mapping[str, str]) -> ClientTool:
    if _is_podman(cli):
        said = _run([cli, "--version"], env)  # "podman version 5.8.6"
        return ClientTool("podman", cli, said.split()[-1] if said else "")
    # The client half only: no engine is asked.
    said = _run([cli, "version", "--format", "{{.Client.APIVersion}}"], env)
    return ClientTool("cli", cli, said.splitlines()[0] if said else "")


def compose_plugin(env: Mapping[str, str]) -> str | None:
    """The `docker compose` plugin the docker CLI would run, if any."""
    config = env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    for folder in (os.path.join(config, "cli-plugins"), *PLUGIN_DIRS):
        candidate = os.path.join(folder, "docker-compose")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def compose_tool(path: str, kind: ToolKind, env: Mapping[str, str]) -> ClientTool:
    """Compose v1 is Python: docker-py negotiates the engine's version unless
    COMPOSE_API_VERSION pins one. Compose v2 is Go: its client library's version."""
    first = _first_line(path)
    if first.startswith(b"#!") and b"python" in first:
        pinned = env.get("COMPOSE_API_VERSION", "")
        return ClientTool("compose-v1", path, "" if pinned.lower() == "auto" else pinned)
    return ClientTool(kind, path, go_client_api(path))


def go_client_api(path: str) -> str:
    """The Engine API a Go binary's client library speaks, from its build info; "" when it
    names none we know (a build without modules, a newer library)."""
    try:
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m,
        ):
            start = m.find(_BUILDINFO)
            if start < 0:
                return ""
            info = m[start : start + _BUILDINFO_SPAN]
    except (OSError, ValueError):
        return ""
    api = _MOBY_API.findall(info)
    if api:
        return f"1.{int(api[-1])}"
    client = _MOBY_CLIENT.findall(info)
    if not client:
        return ""
    major, minor = (int(part) for part in client[-1])
    return CLIENT_API.get((major, minor), "")


def _is_podman(cli: str) -> bool:
    """Podman's `docker`: a link to podman, or podman-docker's script that execs it."""
    if os.path.basename(os.path.realpath(cli)).startswith("podman"):
        return True
    try:
        with open(cli, "rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and b"exec " in head and b"podman" in head


def _first_line(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.readline(256)
    except OSError:
        return b""


def _run(command: list[str], env: Mapping[str, str]) -> str:
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            env={**env, "DOCKER_HOST": "unix:///nonexistent"},  # never the engine itself
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()
