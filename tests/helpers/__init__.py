"""Helpers shared by the test folders."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_dockerhost.discovery.endpoint import DockerHost

DROP_TO_USER = ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"]


def dood_host(mounts: tuple[tuple[str, str], ...] = ()) -> DockerHost:
    """A DooD endpoint as resolution builds it for a job in a container, for unit tests
    that need one and never connect (``mounts``: the job container's, as inspected)."""
    from pytest_dockerhost.discovery.endpoint import DockerHost, EngineFacts
    from pytest_dockerhost.engine.url import parse_url

    return DockerHost(
        docker_url=parse_url("unix:///var/run/docker.sock"),
        requested="auto",
        source="/var/run/docker.sock (the system socket)",
        tls=None,
        published_host="172.17.0.1",
        published_host_verified=True,
        daemon_socket="/var/run/docker.sock",
        in_container=True,
        engine=EngineFacts("20.10.24", "1.41"),
        container_id="c0ffee",
        mounts=mounts,
    )


def sidecar_host() -> DockerHost:
    """The plugin's own sidecar as an endpoint, for unit tests that never connect: its
    daemon sees no folder of this machine."""
    import dataclasses

    from pytest_dockerhost.discovery.endpoint import EngineFacts, SidecarInfo
    from pytest_dockerhost.engine.url import parse_url

    return dataclasses.replace(
        dood_host(),
        docker_url=parse_url("tcp://pytest-dockerhost-x:2376"),
        requested="sidecar",
        source="sidecar",
        published_host="pytest-dockerhost-x",
        engine=EngineFacts("28.5.2", "1.51"),
        container_id=None,
        sidecar=SidecarInfo("run", "pytest-dockerhost-x", dood_host(), "c1", privileged=True),
    )


@functools.lru_cache(maxsize=1)
def cannot_run_as_user() -> str:
    """Why this interpreter cannot run as uid 1000 through setpriv, or "" when it can."""
    if os.getuid() != 0:
        return "needs root to run a child as uid 1000"
    if shutil.which("setpriv") is None:
        return "needs setpriv (util-linux) to run a child as uid 1000"
    try:
        done = subprocess.run(
            [*DROP_TO_USER, sys.executable, "-c", "import pytest_dockerhost, pytest"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError as exc:
        return f"setpriv failed: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{sys.executable} cannot run as uid 1000 here ({last})"
    return ""


# Source for generated test files: fetch a page from a published port, retrying while the
# service starts.
FETCH = """
import time
import urllib.request


def fetch(url, attempts=100):
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                return reply.read().decode().strip()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")
"""


def engine_events(
    engine: Any, since: float, until: float, filters: dict[str, Any], *, asked_until: float = 0
) -> list[Any]:
    """The engine's own events in [since, until]. The API's window is whole seconds, so
    events from earlier in the first second (a previous test's) are dropped by their
    nanosecond time. ``asked_until``: a later end for the API's window (Podman 5 stops
    reading its event file when the wall clock reaches ``until``: ask it past now)."""
    end = int(max(until, asked_until)) + 1
    events = engine.events(since=int(since), until=end, filters=filters, decode=True)
    low, high = int(since * 1e9), int(until * 1e9) + 1
    return [event for event in events if low <= int(event.get("timeNano", 0)) <= high]
