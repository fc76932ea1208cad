"""Bitbucket Pipelines' docker service, reproduced: a dockerd on tcp://localhost:PORT without
TLS behind a real authorization plugin named ``pipelines`` with Bitbucket's rules
(tests/helpers/authz.py). pytest runs as a user runs it in a step: BITBUCKET_BUILD_NUMBER and
BITBUCKET_CLONE_DIR set, DOCKER_HOST pointing at the service, and the suite's own code
(testcontainers, docker-py) with no plugin fixture."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from ..e2e.project import FETCH  # the helpers module users write: fetch a page
from ..helpers import authz
from .pipelines import PipelinesDaemon, running_pipelines


@pytest.fixture(scope="module")
def pipelines(
    tmp_path_factory: pytest.TempPathFactory, engine: Any, test_images: None
) -> Iterator[PipelinesDaemon]:
    with running_pipelines(tmp_path_factory.mktemp("pipelines"), engine, BUSYBOX) as daemon:
        yield daemon


def test_the_plugin_denies_what_bitbucket_denies(
    pipelines: PipelinesDaemon, tmp_path: Path
) -> None:
    """The simulation is faithful: each rule answers 403 with the plugin's name, and a bind
    under the clone dir passes."""
    import docker.errors
    from docker.types import Mount

    client = pipelines.client()
    api = client.api
    clone = str(pipelines.clone_dir)
    asks: dict[str, dict[str, Any]] = {
        authz.NO_PRIVILEGED: {"privileged": True},
        authz.NO_SOCKET: {"binds": ["/var/run/docker.sock:/var/run/docker.sock"]},
        authz.CLONE_ONLY: {"binds": [f"{tmp_path}:/data"]},
        authz.NO_MOUNTS: {"mounts": [Mount("/data", clone, type="bind")]},
    }
    try:
        for message, config in asks.items():
            with pytest.raises(docker.errors.APIError) as denied:
                api.create_container(BUSYBOX, host_config=api.create_host_config(**config))
            assert denied.value.status_code == 403
            assert f"authorization denied by plugin pipelines: {message}" in str(denied.value)
        made = api.create_container(
            BUSYBOX,
            labels={"org.pytest-dockerhost.test": "bitbucket"},
            host_config=api.create_host_config(binds=[f"{clone}:/data:ro"]),
        )
        try:
            # A chunked body (a generator) has no Content-Length: the plugin cannot read it.
            with pytest.raises(docker.errors.APIError, match=authz.UNREADABLE):
                api.put_archive(made["Id"], "/", iter([b"\0" * 1024]))
        finally:
            api.remove_container(made["Id"], force=True)
    finally:
        client.close()


# A suite as its author wrote it for a laptop: no plugin fixture, no Ryuk setting.
TESTCONTAINERS_SUITE = f'''\
import docker
import pytest
from testcontainers.core.container import DockerContainer

from helpers import fetch

IMAGE = "{BUSYBOX}"


@pytest.fixture(scope="module")
def web():
    with DockerContainer(IMAGE).with_exposed_ports(80) as container:
        yield container


def test_service_from_a_conftest_fixture(web):
    url = f"http://{{web.get_container_host_ip()}}:{{web.get_exposed_port(80)}}/"
    assert fetch(url) == "pytest-dockerhost-test ok"


def test_a_container_left_running():
    # Never stopped: Ryuk would remove it; here the plugin's reaper must.
    DockerContainer(IMAGE).with_command(["sleep", "600"]).start()


def test_sdk_in_the_test_body():
    client = docker.from_env()
    out = client.containers.run(IMAGE, ["echo", "sdk ok"], remove=True)
    assert out.strip() == b"sdk ok"
'''


def run_step(
    daemon: PipelinesDaemon, name: str, files: dict[str, str], *args: str, timeout: float = 240
) -> tuple[int, str, float]:
    """pytest as a Bitbucket step runs it, in a project under the clone dir: (exit code,
    output, seconds)."""
    import os
    import subprocess
    import sys
    import time

    project = daemon.clone_dir / name
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p dockerhost -ra\n")
    (project / "helpers.py").write_text(FETCH)
    for file, text in files.items():
        (project / file).write_text(text)
    env = {**os.environ, "DOCKER_HOST": daemon.tcp_url, "BITBUCKET_BUILD_NUMBER": "7"}
    env["BITBUCKET_CLONE_DIR"] = str(daemon.clone_dir)
    env.pop("TESTCONTAINERS_RYUK_DISABLED", None)  # the author never heard of it
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


def test_a_testcontainers_suite_without_ryuk_settings_passes_and_leaves_nothing(
    pipelines: PipelinesDaemon,
) -> None:
    before = pipelines.decided()
    code, output, _ = run_step(pipelines, "suite", {"test_suite.py": TESTCONTAINERS_SUITE})
    assert code == 0, output
    assert "3 passed" in output, output
    assert (
        "docker: profile bitbucket pipelines (authorization plugin pipelines): Ryuk off "
        "(the engine's policy refuses it); the plugin's reaper removes what tests leave"
    ) in output, output
    assert pipelines.denied(before) == [], output  # nothing the run asked was refused
    client = pipelines.client()
    try:
        left = [c.name for c in client.containers.list(all=True)]
    finally:
        client.close()
    assert left == [], output  # the container left running was reaped


FOLDERS_SUITE = f'''\
import os

import docker
import pytest
from testcontainers.core.container import DockerContainer

from pytest_dockerhost.errors import BindMountError

IMAGE = "{BUSYBOX}"


def test_docker_tmp_path_is_bound_under_the_clone_dir(docker_tmp_path):
    assert str(docker_tmp_path).startswith(os.environ["BITBUCKET_CLONE_DIR"] + "/")
    (docker_tmp_path / "data.txt").write_text("bound")
    out = docker.from_env().containers.run(
        IMAGE, ["cat", "/data/data.txt"], remove=True,
        volumes={{str(docker_tmp_path): {{"bind": "/data", "mode": "ro"}}}},
    )
    assert out == b"bound"


def test_a_folder_outside_the_clone_dir_is_refused_by_the_policy(docker_host, tmp_path):
    with pytest.raises(BindMountError) as refused:
        docker_host.daemon_path(tmp_path)
    print(f"REFUSED {{refused.value}}")
    # The profile rules it out before any request: the engine is not even asked.
    said = str(refused.value)
    assert "the engine's policy (bitbucket pipelines) allows binds only under " in said
    assert os.environ["BITBUCKET_CLONE_DIR"] in said
    assert "cannot see it" not in said


def test_a_folder_outside_the_clone_dir_is_copied(tmp_path):
    (tmp_path / "data.txt").write_text("copied")
    container = (
        DockerContainer(IMAGE).with_command(["sleep", "60"])
        .with_volume_mapping(str(tmp_path), "/data", "ro")
    )
    with container:
        read = container.exec(["cat", "/data/data.txt"])
    assert read.output == b"copied"
'''


def test_docker_tmp_path_binds_under_the_clone_dir_and_other_folders_are_copied(
    pipelines: PipelinesDaemon,
) -> None:
    """The bind-mount probe asks as the policy allows (-v under the clone dir), and is never
    refused: --mounts and tmp_path's bind would be."""
    before = pipelines.decided()
    code, output, _ = run_step(pipelines, "folders", {"test_folders.py": FOLDERS_SUITE})
    assert code == 0, output
    assert "3 passed" in output, output
    refused = [line["msg"] for line in pipelines.denied(before)]
    # The probe asks as -v from the start (the profile names the plugin): allowed under the
    # clone dir. tmp_path is ruled out by the profile before any request, and nothing else
    # the run sent (the copy's body) was refused.
    assert refused == [], refused


def test_sidecar_mode_fails_at_once_with_the_reason_and_the_way_forward(
    pipelines: PipelinesDaemon,
) -> None:
    suite = "def test_needs_docker(docker_client):\n    docker_client.ping()\n"
    before = pipelines.decided()
    code, output, took = run_step(
        pipelines, "sidecar", {"test_sidecar.py": suite}, "--docker-mode=sidecar"
    )
    assert code != 0, output
    assert took < 30, output
    assert "denies privileged containers and binds of the docker socket" in output, output
    assert "runtime v3" in output, output
    assert "leave out --docker-mode=sidecar" in output, output
    assert pipelines.denied(before) == [], output  # nothing was even tried


DENIED_SUITE = f'''\
import docker
from docker.types import Mount
from testcontainers.core.container import DockerContainer

IMAGE = "{BUSYBOX}"


def test_privileged_through_docker_py():
    docker.from_env().containers.run(IMAGE, ["true"], privileged=True, remove=True)


def test_privileged_through_testcontainers():
    with DockerContainer(IMAGE).with_kwargs(privileged=True):
        pass


def test_a_mount_under_the_clone_dir(tmp_path):
    import os
    mount = Mount("/data", os.environ["BITBUCKET_CLONE_DIR"], type="bind")
    docker.from_env().containers.run(IMAGE, ["true"], mounts=[mount], remove=True)
'''


# A module whose import-time code makes a refused request: a collection error.
AT_IMPORT = f'''\
import docker

docker.from_env().containers.run(
    "{BUSYBOX}", ["true"], remove=True, volumes=["/var/run/docker.sock:/var/run/docker.sock"]
)


def test_never_collected():
    pass
'''


def test_a_refusal_in_the_users_code_names_request_plugin_refusal_and_fix(
    pipelines: PipelinesDaemon,
) -> None:
    files = {"test_denied.py": DENIED_SUITE, "test_at_import.py": AT_IMPORT}
    code, output, _ = run_step(pipelines, "denied", files, "--continue-on-collection-errors")
    assert code == 1, output
    assert "3 failed, 1 error" in output, output
    assert (
        "pytest-dockerhost: the engine's authorization plugin 'pipelines' (Bitbucket Pipelines' "
        f"docker service) refused a request to /containers/create: {authz.NO_SOCKET}."
    ) in output, output
    said = (
        "the engine's authorization plugin 'pipelines' (Bitbucket Pipelines' docker service) "
        "refused POST /containers/create: "
    )
    assert output.count(said + authz.NO_PRIVILEGED + ". It refused the request itself") == 2
    assert said + authz.NO_MOUNTS in output, output
    assert output.count("Fix: leave privileged out") == 2, output
    assert "Fix: use a volume bind" in output, output
    assert "does not see" not in output, output
    assert "cannot see" not in output, output


OOM_SUITE = f'''\
import docker


EAT = ["sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]


def test_a_container_that_eats_memory():
    client = docker.from_env()
    # Another run's, on the same engine at the same time: not this test's to explain.
    try:
        client.containers.run(
            "{BUSYBOX}", EAT, name="bitbucket-oom-bystander", mem_limit="8m",
            memswap_limit="8m", remove=True,
            labels={{"org.testcontainers.session-id": "another-run"}},
        )
    except docker.errors.ContainerError:
        pass
    client.containers.run(
        "{BUSYBOX}", EAT, name="bitbucket-oom-victim", mem_limit="8m", memswap_limit="8m",
        remove=True,
    )
'''


def test_a_container_killed_for_memory_is_named_with_the_limits_and_the_ci_setting(
    pipelines: PipelinesDaemon,
) -> None:
    code, output, _ = run_step(pipelines, "oom", {"test_oom.py": OOM_SUITE})
    assert code == 1, output
    assert "container bitbucket-oom-victim was killed for memory (OOMKilled)" in output, output
    assert "container bitbucket-oom-bystander was" not in output, output  # another session's
    assert "it is gone, so its own limit (if it had one) cannot be read" in output, output
    assert re.search(r"; the engine reports [\d.]+ GiB \(its machine's", output), output
    assert "Bitbucket's docker service has 1 GB by default" in output, output
    assert "definitions: services: docker: memory: 2048" in output, output


def test_the_recipe_asks_for_the_service_and_more_memory() -> None:
    """examples/bitbucket-pipelines.yml: the step has the docker service, and the service
    more than its 1 GB default, in the words the OOM line names."""
    import yaml

    from pytest_dockerhost.messages.authz import MEMORY_SETTING

    from ..conftest import ROOT

    recipe = yaml.safe_load((ROOT / "examples" / "bitbucket-pipelines.yml").read_text())
    (step,) = [entry["step"] for entry in recipe["pipelines"]["default"]]
    assert "docker" in step["services"]
    assert recipe["definitions"]["services"]["docker"]["memory"] > 1024
    assert MEMORY_SETTING.startswith("definitions: services: docker: memory:")
