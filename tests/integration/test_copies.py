"""Folders the engine cannot see arrive by copy: a suite written the usual way, with no
plugin fixture, maps local folders and files into containers, and they are there.

The engine is the plugin's own sidecar (``--docker-mode=sidecar``, the local dind
stand-in): a dockerd in a container, which sees none of this machine's folders. A bind
of one would give the container an empty folder; here it is copied in before the
container starts, and a read-write one is copied back when the container stops, ends or
is removed (only then: a file written inside is not here before). The local folders are
under the inner run's own directory, so this test reads them afterwards too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from .conftest import run_sidecar

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images")]

PLAIN = f"""
import pathlib

import docker
import pytest
import requests
from testcontainers.core.container import DockerContainer

from pytest_dockerhost.errors import BindMountError

BUSYBOX = "{BUSYBOX}"
HERE = pathlib.Path(__file__).parent


def folder(name, content):
    path = HERE / name
    path.mkdir()
    (path / "in.txt").write_text(content)
    return path


def test_testcontainers_maps_folders_the_engine_cannot_see():
    rw = folder("tc-rw", "read-write from here")
    ro = folder("tc-ro", "read-only from here")
    container = (
        DockerContainer(BUSYBOX)
        .with_command(["sleep", "60"])
        .with_volume_mapping(str(rw), "/data/rw", "rw")
        .with_volume_mapping(str(ro), "/data/ro", "ro")
    )
    with container:
        assert container.exec(["cat", "/data/rw/in.txt"]).output == b"read-write from here"
        assert container.exec(["cat", "/data/ro/in.txt"]).output == b"read-only from here"
        wrote = container.exec(
            ["sh", "-c", "echo written inside > /data/rw/out.txt; echo kept > /data/ro/out.txt"]
        )
        assert wrote.exit_code == 0
        assert not (rw / "out.txt").exists()  # a copy, not a bind: back when it stops
    assert (rw / "out.txt").read_text() == "written inside\\n"
    assert not (ro / "out.txt").exists()


def test_docker_py_run_create_and_stop():
    client = docker.from_env()
    ran = folder("py-run", "through docker-py")
    client.containers.run(
        BUSYBOX,
        ["sh", "-c", "cat /data/in.txt > /data/out.txt"],
        volumes={{str(ran): {{"bind": "/data", "mode": "rw"}}}},
        remove=True,
    )
    assert (ran / "out.txt").read_text() == "through docker-py"

    conf = HERE / "app.conf"
    conf.write_text("key = value\\n")
    stopped = folder("py-stop", "")
    container = client.containers.create(
        BUSYBOX, ["sleep", "60"], volumes=[f"{{conf}}:/etc/app/app.conf:ro", f"{{stopped}}:/work"]
    )
    try:
        container.start()
        assert container.exec_run(["cat", "/etc/app/app.conf"]).output == b"key = value\\n"
        container.exec_run(["sh", "-c", "echo stopped > /work/out.txt; echo x > /etc/app/app.conf"])
        container.stop(timeout=1)
        assert (stopped / "out.txt").read_text() == "stopped\\n"
    finally:
        container.remove(force=True)
    assert conf.read_text() == "key = value\\n"


def test_a_wait_that_times_out_copies_nothing_yet():
    client = docker.from_env()
    waited = folder("py-wait", "")
    container = client.containers.run(
        BUSYBOX, ["sleep", "60"], detach=True, volumes={{str(waited): {{"bind": "/work"}}}}
    )
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            container.wait(timeout=1)
        container.exec_run(["sh", "-c", "echo after the wait > /work/out.txt"])
    finally:
        container.remove(force=True)
    assert (waited / "out.txt").read_text() == "after the wait\\n"


def test_docker_tmp_path_is_copied_in_and_back(docker_tmp_path, tmp_path):
    assert docker_tmp_path == tmp_path  # no folder the engine sees: pytest's own
    (docker_tmp_path / "in.txt").write_text("in docker_tmp_path")
    container = (
        DockerContainer(BUSYBOX)
        .with_command(["sh", "-c", "cp /data/in.txt /data/out.txt"])
        .with_volume_mapping(docker_tmp_path, "/data", "rw")
    )
    with container:
        assert container.wait() == 0
    assert (docker_tmp_path / "out.txt").read_text() == "in docker_tmp_path"


def test_auto_remove_is_warned_about():
    client = docker.from_env()
    gone = folder("auto-removed", "x")
    container = client.containers.run(
        BUSYBOX, ["sleep", "60"], detach=True, auto_remove=True,
        volumes={{str(gone): {{"bind": "/data", "mode": "rw"}}}},
    )
    container.stop(timeout=0)


def test_a_container_removed_behind_docker_pys_back_is_warned_about():
    client = docker.from_env()
    lost = folder("removed-elsewhere", "x")
    container = client.containers.create(BUSYBOX, ["sleep", "60"], volumes=[f"{{lost}}:/data"])
    client.api.remove_container(container.id, force=True)
    with pytest.raises(docker.errors.NotFound):
        container.stop()


def test_a_copy_the_container_refuses_fails_with_the_fix():
    client = docker.from_env()
    labels = {{"copies-test": "read-only"}}
    with pytest.raises(BindMountError) as refused:
        client.containers.run(
            BUSYBOX, ["true"], read_only=True, labels=labels,
            volumes={{str(folder("refused", "x")): {{"bind": "/data"}}}},
        )
    print(f"COPY REFUSED: {{refused.value}}")
    assert client.containers.list(all=True, filters={{"label": "copies-test"}}) == []
"""


@pytest.mark.usefixtures("sidecar")
def test_a_plain_suite_maps_folders_the_sidecar_cannot_see(
    pytester: pytest.Pytester, engine: Any
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    result = run_sidecar(pytester, "--docker-preload", BUSYBOX, "-rA", "-s")
    out = result.stdout.str()
    here = Path(pytester.path)
    result.stdout.fnmatch_lines(
        [
            # Each warning at the user's own line, not inside docker-py or the plugin.
            f"*/test_plain.py:*: DockerHostWarning: {here}/auto-removed is copied into the "
            "container at /data, since the engine cannot bind-mount it, but the engine removes "
            "the container as soon as it exits (auto_remove), so what the container writes "
            "there is not copied back. Fix: leave auto_remove off*",
            "    container = client.containers.run(",
            f"*/test_plain.py:*: DockerHostWarning: {here}/removed-elsewhere: what the "
            "container wrote at /data could not be copied back here (No such container: *). "
            "The engine cannot bind-mount this folder, so it was copied into the container*",
            "    container.stop()",
            "docker: sidecar tcp://127.0.0.1:* via sidecar pytest-dockerhost-*",
            "*= 7 passed, 2 warnings in *",
        ]
    )
    assert result.ret == 0, out
    refused = next(line for line in out.splitlines() if "COPY REFUSED: " in line)
    assert refused[refused.index("COPY REFUSED: ") :] == (
        f"COPY REFUSED: {here}/refused could not be copied into the container at /data: "
        "container rootfs is marked read-only. The engine cannot bind-mount it, so the plugin "
        "copies it in before the container starts. Fix: make the files readable here and the "
        "target writable in the container (no read-only root filesystem there, or a volume "
        "at /data); or share the folder with the engine (the docker_tmp_path fixture finds "
        "one where there is one; in a pod, an emptyDir mounted at the same path in the job's "
        "and the dind container)."
    )
    # What the containers wrote is here after the run; what read-only copies got is not.
    assert (here / "tc-rw/out.txt").read_text() == "written inside\n"
    assert sorted(p.name for p in (here / "tc-ro").iterdir()) == ["in.txt"]
    assert (here / "py-run/out.txt").read_text() == "through docker-py"
    assert (here / "app.conf").read_text() == "key = value\n"
    assert sorted(p.name for p in (here / "auto-removed").iterdir()) == ["in.txt"]
    assert "Traceback" not in out
