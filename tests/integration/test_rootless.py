"""Rootless Docker, for real: bookworm's dockerd-rootless.sh (rootlesskit, slirp4netns)
run as uid 1000, and pytest as that user with no DOCKER_HOST. ``auto`` finds the socket
under $XDG_RUNTIME_DIR, the header says rootless Docker, and a testcontainers service's
published port answers on localhost.

It needs what a rootless host has: rootlesskit, slirp4netns, uidmap, a subordinate id
range for uid 1000 and /dev/net/tun usable by it. ``.ci/run`` provides them (an ACL on
/dev/net/tun for uid 1000 only) and sets PDH_REQUIRE_ROOTLESS=1, so there a missing
piece fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from ..helpers import DROP_TO_USER, FETCH, cannot_run_as_user

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images")]

ROOTLESS_SH = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
SUITE = f"""
from testcontainers.core.container import DockerContainer

from fetch import fetch


def test_service_on_rootless_docker():
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80) as web:
        host, port = web.get_container_host_ip(), web.get_exposed_port(80)
        assert fetch(f"http://{{host}}:{{port}}/") == "pytest-dockerhost-test ok"
        print(f"ROOTLESS fetched from {{host}}:{{port}}")


def test_docker_client(docker_client, docker_host):
    assert docker_client.info()["SecurityOptions"]
    assert any("rootless" in o for o in docker_client.info()["SecurityOptions"])
"""


def _missing() -> str:
    """What this machine lacks for rootless Docker as uid 1000 ("" when nothing)."""
    reason = cannot_run_as_user()
    if reason:
        return reason
    for tool in ("rootlesskit", "slirp4netns", "newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install rootlesskit slirp4netns uidmap)"
    if not os.path.exists(ROOTLESS_SH):
        return f"needs {ROOTLESS_SH} (docker.io)"
    import pwd

    try:
        names = {"1000", pwd.getpwuid(1000).pw_name}
    except KeyError:
        names = {"1000"}
    for table in ("/etc/subuid", "/etc/subgid"):
        with open(table, encoding="utf-8") as handle:
            if not any(line.split(":")[0] in names for line in handle):
                return f"needs a subordinate id range for uid 1000 in {table}"
    probe = subprocess.run(
        [
            *DROP_TO_USER,
            sys.executable,
            "-c",
            "import os; os.close(os.open('/dev/net/tun', os.O_RDWR))",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return "needs /dev/net/tun usable by uid 1000 (slirp4netns opens it)"
    return ""


@pytest.fixture
def rootless(engine: Any) -> Iterator[dict[str, str]]:
    missing = _missing()
    if missing:
        if os.environ.get("PDH_REQUIRE_ROOTLESS") == "1":
            pytest.fail(f"rootless Docker cannot run: {missing}")
        pytest.skip(missing)
    import docker

    base = Path(f"/tmp/pdh-rootless-{os.getpid()}")
    env = {
        "HOME": str(base / "home"),
        "XDG_RUNTIME_DIR": str(base / "run"),
        "PATH": f"{os.path.dirname(ROOTLESS_SH)}:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    for folder in (base / "home", base / "run", base / "project"):
        folder.mkdir(parents=True, mode=0o700)
        os.chown(folder, 1000, 1000)
    base.chmod(0o755)
    daemon = subprocess.Popen(
        [*DROP_TO_USER, "env", *(f"{k}={v}" for k, v in env.items()), ROOTLESS_SH],
        stdout=subprocess.DEVNULL,
        stderr=open(base / "dockerd.log", "w"),  # noqa: SIM115 (kept for the test's life)
        start_new_session=True,
    )
    socket = base / "run" / "docker.sock"
    client: Any = None
    try:
        deadline = time.monotonic() + 60
        while client is None:
            if socket.exists():
                with contextlib.suppress(docker.errors.DockerException):
                    candidate = docker.DockerClient(base_url=f"unix://{socket}", version="1.41")
                    candidate.ping()
                    client = candidate
            if client is None:
                assert daemon.poll() is None, (base / "dockerd.log").read_text()[-3000:]
                assert time.monotonic() < deadline, (base / "dockerd.log").read_text()[-3000:]
                time.sleep(0.3)
        client.images.load(b"".join(engine.images.get(BUSYBOX).save(named=True)))
        yield {**env, "PROJECT": str(base / "project")}
    finally:
        if client is not None:
            client.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def test_auto_finds_rootless_docker_and_its_published_ports_answer(
    rootless: dict[str, str],
) -> None:
    project = Path(rootless["PROJECT"])
    for name, text in {
        "test_rootless.py": SUITE,
        "fetch.py": FETCH,
        "pytest.ini": "[pytest]\n",
    }.items():
        (project / name).write_text(text)
        os.chown(project / name, 1000, 1000)
    env = {
        "HOME": rootless["HOME"],
        "XDG_RUNTIME_DIR": rootless["XDG_RUNTIME_DIR"],
        "PATH": os.environ["PATH"],
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    done = subprocess.run(
        [
            *DROP_TO_USER,
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "dockerhost",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-s",
            "-v",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    run_dir = rootless["XDG_RUNTIME_DIR"]
    assert (f"docker: dood unix://{run_dir}/docker.sock (engine rootless Docker 20.10") in output, (
        output
    )
    assert f"via {run_dir}/docker.sock (rootless Docker ($XDG_RUNTIME_DIR))" in output, output
    assert "ROOTLESS fetched from localhost:" in output, output
    assert "2 passed" in output, output
