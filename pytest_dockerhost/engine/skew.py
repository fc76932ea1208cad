"""Clients too old for the engine: an engine that raised its minimum API version (Docker
29 accepts 1.44 and later) refuses docker-py and docker CLIs that speak an older one.

Only asked when the engine's minimum is above the long-standing 1.24, so the common case
costs nothing; docker-py's default is read from its source, without importing it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

from ..messages import endpoint as say_
from .url import MIN_API_VERSION, version_at_least

_DEFAULT = re.compile(r"""DEFAULT_DOCKER_API_VERSION\s*=\s*['"]([0-9.]+)['"]""")


def docker_py_api() -> str:
    """docker-py's default API version ("" when docker-py is not installed)."""
    spec = importlib.util.find_spec("docker")
    if spec is None or not spec.submodule_search_locations:
        return ""
    path = os.path.join(next(iter(spec.submodule_search_locations)), "constants.py")
    try:
        with open(path, encoding="utf-8") as handle:
            found = _DEFAULT.search(handle.read())
    except OSError:
        return ""
    return found.group(1) if found else ""


def cli_api() -> tuple[str, str]:
    """(the docker CLI in PATH, the API version it speaks), or ("", "")."""
    cli = shutil.which("docker")
    if cli is None:
        return "", ""
    try:
        done = subprocess.run(
            [cli, "version", "--format", "{{.Client.APIVersion}}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},  # the client half only
        )
    except (OSError, subprocess.TimeoutExpired):
        return cli, ""
    return cli, done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""


def api_skew(min_api: str) -> list[str]:
    """A warning, with the fix, for each client here that the engine will refuse."""
    if not min_api or version_at_least(MIN_API_VERSION, min_api):
        return []
    warnings: list[str] = []
    py_api = docker_py_api()
    if py_api and not version_at_least(py_api, min_api):
        warnings.append(say_.docker_py_too_old(py_api, min_api))
    cli, cli_version = cli_api()
    if cli_version and not version_at_least(cli_version, min_api):
        warnings.append(say_.cli_too_old(cli, cli_version, min_api))
    return warnings
