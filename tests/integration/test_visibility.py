"""The bind-mount probe against this machine's dockerd: a folder here is seen, a folder
hidden from the daemon (a tmpfs in a mount namespace of its own, over a folder the daemon
has too) is not, the probe leaves nothing, and a probe killed halfway is swept by the
next run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerhost.discovery.visibility import IMAGE, MARKER, ROLE_PROBE

from ..conftest import BUSYBOX

URL = "unix:///var/run/docker.sock"
ROLE = "org.pytest-dockerhost.role"

SEES = textwrap.dedent(
    """
    import json, sys
    import docker
    from pytest_dockerhost.discovery.visibility import sees

    url, folder = sys.argv[1], sys.argv[2]
    found = sees(url, lambda: docker.DockerClient(base_url=url, version="1.41"), folder)
    print(json.dumps(found))
    """
)


def probes(engine: Any) -> dict[str, list[str]]:
    flt = {"label": f"{ROLE}={ROLE_PROBE}"}
    return {
        "images": [i["Id"] for i in engine.api.images(filters=flt)],
        "containers": [c["Id"] for c in engine.api.containers(all=True, filters=flt)],
    }


def run_sees(folder: Path, *wrapper: str) -> Any:
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", SEES, URL, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_folder_on_the_daemons_machine_is_seen_and_nothing_is_left(
    engine: Any, tmp_path: Path
) -> None:
    assert run_sees(tmp_path) is True
    assert probes(engine) == {"images": [], "containers": []}
    assert not list(tmp_path.glob(MARKER + "*"))  # the marker went too


def test_a_folder_the_daemon_has_but_not_ours_is_not_seen(engine: Any, tmp_path: Path) -> None:
    """The same path, another folder: what a pod's dind has at the job's /tmp."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a mount namespace of its own")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    script = f'mount -t tmpfs none {hidden} && exec "$@"'
    wrapper = ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh")
    assert run_sees(hidden, *wrapper) is False
    assert probes(engine) == {"images": [], "containers": []}


def test_a_probe_killed_halfway_is_swept_by_the_next_run(
    engine: Any, pytester: pytest.Pytester
) -> None:
    """Killed after the probe image exists: it carries the run's owner labels, so the next
    run's sweep (its owner is gone) removes it."""
    killed = textwrap.dedent(
        f"""
        import os
        import docker
        from pytest_dockerhost.discovery import visibility
        from pytest_dockerhost.cleanup.ownership import Owner

        visibility.label_with(Owner.current("probekilled1", None).labels("probe"))
        client = docker.DockerClient(base_url="{URL}", version="1.41")
        client.api.create_container = lambda *a, **k: os._exit(9)  # dies mid-probe
        visibility.sees("{URL}", lambda: client, os.getcwd())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", killed], cwd=pytester.path, timeout=60, check=False
    )
    assert done.returncode == 9
    left = engine.api.images(filters={"label": "org.pytest-dockerhost.run=probekilled1"})
    assert [image["RepoTags"][0].split(":")[0] for image in left] == [IMAGE]
    try:
        pytester.makepyfile("def test_one(docker_client):\n    assert docker_client.ping()\n")
        result = pytester.runpytest_subprocess("-p", "dockerhost", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        gone = engine.api.images(filters={"label": "org.pytest-dockerhost.run=probekilled1"})
        assert gone == [], result.stdout.str()
    finally:
        for image in engine.api.images(filters={"label": "org.pytest-dockerhost.run=probekilled1"}):
            engine.api.remove_image(image["Id"], force=True)


def test_docker_tmp_path_on_the_daemons_machine_is_pytests_tmp_path(
    pytester: pytest.Pytester, engine: Any
) -> None:
    pytester.makepyfile(
        f'''
        def test_mount(docker_tmp_path, docker_host, docker_client, tmp_path):
            assert docker_tmp_path == tmp_path  # seen as it is: nothing else to make
            (docker_tmp_path / "data.txt").write_text("from the test")
            container = docker_client.containers.run(
                "{BUSYBOX}", ["sleep", "60"], detach=True,
                volumes={{docker_host.daemon_path(docker_tmp_path): {{"bind": "/data"}}}},
            )
            try:
                # exec, not the logs of a `cat` run: those can come back empty on 20.10
                read = container.exec_run(["cat", "/data/data.txt"])
            finally:
                container.remove(force=True)
            assert read.output == b"from the test"
        '''
    )
    result = pytester.runpytest_subprocess("-p", "dockerhost", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
