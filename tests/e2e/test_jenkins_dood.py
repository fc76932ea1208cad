"""Scenarios 1 and 5: a Jenkins agent container with the host's socket mounted (DooD).

The agent's user is ``jenkins`` (uid 1000) in a ``docker`` group whose gid (1999)
differs from the host socket's, which is what Jenkins users hit first.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..conftest import AGENT, ROOT
from .conftest import Labelled
from .helpers import LABEL, Agent, socket_gid
from .project import TEST_BIND_MOUNTS

pytestmark = pytest.mark.e2e

DOOD = ROOT / "examples" / "jenkins-dood"
DOOD_HEADER = "docker: dood unix:///var/run/docker.sock (engine *, API *) via /var/run/docker.sock*"


def _published_line(run: Any) -> str:
    (line,) = [x for x in run.header() if x.startswith("docker: dood ")]
    return line


def test_mismatched_gid_is_diagnosed_then_group_add_makes_testcontainers_pass(
    make_agent: Callable[..., Agent], labelled: Labelled
) -> None:
    gid = socket_gid()
    agent = make_agent()
    assert agent.exec(["id", "-G"]).output.split() == ["1000", "1999"]

    denied = agent.pytest()
    assert denied.exit_code == 1, str(denied)
    text = denied.output
    # What happened, with the socket's real gid and our groups...
    assert re.search(
        rf"permission denied on /var/run/docker\.sock: the socket is srw-rw---- owned by "
        rf"uid 0, gid {gid} .*this process runs as jenkins \(uid 1000\) with groups "
        rf".*1999 \(docker\).*none of which is {gid}",
        text,
    ), str(denied)
    assert f"The `docker` group here has gid 1999, which differs from the socket's gid {gid}" in (
        text
    )
    # ...and the fixes: at run time, in compose, in a Jenkinsfile, at build time.
    assert f"`docker run --group-add {gid} ...`" in text
    assert f'group_add: ["{gid}"]' in text
    assert f"args '--group-add {gid}'" in text
    assert f"ARG DOCKER_GID={gid}" in text
    assert "groupmod -g ${DOCKER_GID} docker" in text
    assert "chmod" not in text
    assert "failing instead of skipping: CI detected via JENKINS_URL" in text

    fixed = make_agent(group_add=[gid])
    passed = fixed.pytest("-s")
    assert passed.exit_code == 0, str(passed)
    gateway = fixed.gateway()
    line = _published_line(passed)
    assert re.fullmatch(
        r"docker: dood unix:///var/run/docker\.sock \(engine [\d.+~a-z]+, API [\d.]+\) via "
        rf"/var/run/docker\.sock.*; published ports on {re.escape(gateway)}( \(unverified\))?",
        line,
    ), str(passed)
    assert "localhost" not in line
    assert f"E2E fetched 'pytest-dockerhost-test ok' from {gateway}:" in passed.output
    assert "1 passed" in passed.output

    for agent_ in (agent, fixed):
        agent_.remove()
    labelled.assert_clean()


@pytest.fixture
def dood_image(engine: Any, labelled: Labelled) -> Iterator[str]:
    """examples/jenkins-dood/Dockerfile built on the agent image with the socket's gid."""
    tag = f"pytest-dockerhost-e2e/dood-agent:{labelled.value}"
    engine.images.build(
        path=str(DOOD),
        tag=tag,
        buildargs={"BASE_IMAGE": AGENT, "DOCKER_GID": str(socket_gid())},
        labels={LABEL: labelled.value},
        rm=True,
        forcerm=True,
        pull=False,
    )
    try:
        yield tag
    finally:
        with contextlib.suppress(Exception):
            engine.images.remove(tag, force=True)


def test_recipe_dockerfile_bakes_the_socket_gid_into_the_agent(
    make_agent: Callable[..., Agent], dood_image: str, labelled: Labelled
) -> None:
    agent = make_agent(image=dood_image)  # no --group-add
    groups = agent.exec(["id", "-G"]).output.split()
    assert str(socket_gid()) in groups
    run = agent.pytest("-s", "--docker-mode=dood")
    assert run.exit_code == 0, str(run)
    assert "E2E fetched 'pytest-dockerhost-test ok'" in run.output
    agent.remove()
    labelled.assert_clean()


def test_bind_mount_pitfall_agent_paths_refused_mounted_paths_translated(
    make_agent: Callable[..., Agent], engine: Any, labelled: Labelled
) -> None:
    # A named volume mounted into the agent stands for Jenkins' workspace volume.
    volume = engine.volumes.create(labels={LABEL: labelled.value})
    agent = make_agent(
        files={"test_bind_mounts.py": TEST_BIND_MOUNTS},
        group_add=[socket_gid()],
        volumes={volume.name: {"bind": "/workspace", "mode": "rw"}},
        environment={"E2E_WORKSPACE": "/workspace"},
    )
    agent.exec(["chown", "1000:1000", "/workspace"], user="root")
    run = agent.pytest("-s", "test_bind_mounts.py")
    assert run.exit_code == 0, str(run)
    assert "6 passed" in run.output, str(run)
    assert "E2E testcontainers read 'mapped by testcontainers'" in run.output, str(run)
    assert "E2E copied back 'only in the agent'" in run.output, str(run)
    match = re.search(r"E2E BindMountError: (.*)", run.output)
    assert match, str(run)
    message = match.group(1)
    assert "exists only inside this container" in message
    assert agent.container.id in message
    assert "docker run -v HOST_DIR:DIR" in message
    assert "put_archive" in message
    host_path = engine.volumes.get(volume.name).attrs["Mountpoint"]
    assert f"E2E daemon_path(/workspace/job-1) = {host_path}/job-1" in run.output
    assert f"E2E docker-py bound ['{host_path}/job-3:/data:ro']" in run.output, str(run)

    agent.remove()
    volume.remove(force=True)
    labelled.assert_clean()
