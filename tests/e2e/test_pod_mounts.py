"""Bind mounts in a pod: which folders the daemon sees at the same path, proven by a marker.

An ARC pod (the simulated one of test_pods.py) whose checkout is, as ARC's ``_work``, an
emptyDir mounted at the same path in the job's and the dind container. There is no
container of ours for the daemon to inspect; the plugin writes a marker and reads it
back through a bind mount. The job's suite: ``docker_tmp_path`` gives a folder under the
checkout, and a testcontainers container mounts it and reads a file from it;
``daemon_path`` accepts the checkout and refuses the job's own /tmp (dind has a /tmp too,
but another one). In a module that asks for no plugin fixture, a testcontainers volume
mapping of a folder only the job has is copied in and back, and one of a path the job
does not have either is warned about. The probes leave nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from .conftest import Labelled
from .helpers import PROJECT_DIR, Run, remove_labelled
from .test_pods import SETUPS, Pod, start_pod

pytestmark = pytest.mark.e2e

ARC = next(setup for setup in SETUPS if setup.name == "arc-dind")
# The checkout shared as ARC shares _work: the same path in both containers.
SHARED_CHECKOUT = dataclasses.replace(
    ARC, name="arc-shared-checkout", shared=("/var/run", PROJECT_DIR)
)

WITH_FIXTURES = f'''\
import os

import pytest
from pytest_dockerhost.errors import BindMountError
from testcontainers.core.container import DockerContainer

from helpers import labels


def test_docker_tmp_path_is_mounted_by_the_daemon(docker_tmp_path, docker_host):
    (docker_tmp_path / "data.txt").write_text("written by the job")
    print(f"E2E docker_tmp_path {{docker_tmp_path}}")
    source = docker_host.daemon_path(docker_tmp_path)
    container = (
        DockerContainer("{BUSYBOX}")
        .with_command(["sleep", "60"])
        .with_volume_mapping(source, "/data", "ro")
        .with_kwargs(labels=labels())
    )
    with container:
        read = container.exec(["cat", "/data/data.txt"])
    print(f"E2E the container read {{read.output.decode()!r}}")
    assert read.output == b"written by the job"


def test_daemon_path_knows_the_shared_checkout_from_the_jobs_own_tmp(docker_host):
    assert docker_host.daemon_path(os.getcwd()) == os.getcwd()
    with pytest.raises(BindMountError) as refused:
        docker_host.daemon_path("/tmp")
    print(f"E2E /tmp refused: {{refused.value}}")
'''

# No plugin fixture here: the copy and the warning come to code that never asked for one.
PLAIN = f'''\
import os
import tempfile

from testcontainers.core.container import DockerContainer

from helpers import labels


def test_a_mapping_of_a_folder_only_the_job_has_is_copied():
    folder = tempfile.mkdtemp(prefix="only-in-the-job-")
    with open(os.path.join(folder, "data.txt"), "w") as handle:
        handle.write("copied from the job")
    container = (
        DockerContainer("{BUSYBOX}")
        .with_command(["sh", "-c", "cat /data/data.txt > /data/out.txt"])
        .with_volume_mapping(folder, "/data", "rw")
        .with_kwargs(labels=labels())
    )
    with container:
        assert container.wait() == 0
    with open(os.path.join(folder, "out.txt")) as handle:
        print(f"E2E copied back {{handle.read()!r}}")


def test_a_mapping_of_a_path_the_job_lacks_too():
    container = DockerContainer("{BUSYBOX}").with_volume_mapping("/tmp/not-in-the-job", "/data")
    assert container is not None
'''

WARNING = re.compile(
    r"DockerHostWarning: with_volume_mapping\('/tmp/not-in-the-job', \.\.\.\): the daemon "
    r"cannot bind-mount it, and it is no file or folder the plugin copies in instead, so "
    r"the container would get an empty folder there\."
)


@pytest.fixture(scope="module")
def pod(engine: Any, test_images: None, agent_wheel: Path, busybox_archive: bytes) -> Iterator[Pod]:
    labelled = Labelled(engine, f"{os.getpid()}-mounts-{uuid.uuid4().hex[:8]}")
    try:
        started = start_pod(engine, SHARED_CHECKOUT, labelled, agent_wheel, busybox_archive)
        started.agent.put(
            PROJECT_DIR, {"test_mounts.py": WITH_FIXTURES, "test_plain_mapping.py": PLAIN}
        )
        yield started
        started.remove()
        labelled.assert_clean()
    finally:
        remove_labelled(engine, labelled.selector)


@pytest.fixture(scope="module")
def job(pod: Pod) -> Run:
    return pod.agent.pytest(
        "-s",
        "-rA",
        "test_mounts.py",
        "test_plain_mapping.py",
        environment={"E2E_PUBLISHED_HOST": pod.setup.published},
        user=pod.setup.job_user,
    )


def test_the_daemon_mounts_a_docker_tmp_path_under_the_shared_checkout(job: Run) -> None:
    assert job.exit_code == 0, str(job)
    assert re.search(r"^=+ 4 passed, 1 warning in ", job.output, re.M), str(job)
    found = re.search(r"E2E docker_tmp_path (\S+)", job.output)
    assert found, str(job)
    # pytest's own tmp_path (under the job's /tmp) was tried first; the daemon lacks it.
    assert found.group(1).startswith(f"{PROJECT_DIR}/.pytest-dockerhost/"), str(job)
    assert "E2E the container read 'written by the job'" in job.output, str(job)


def test_the_jobs_own_tmp_is_refused_with_the_fix(job: Run) -> None:
    refused = re.search(r"E2E /tmp refused: (.*)", job.output)
    assert refused, str(job)
    assert refused.group(1).startswith("/tmp exists only inside this container"), str(job)
    assert "the docker_tmp_path fixture finds one" in refused.group(1), str(job)


def test_a_mapping_of_the_jobs_own_folder_is_copied_in_and_back(job: Run) -> None:
    assert "E2E copied back 'copied from the job'" in job.output, str(job)


def test_a_mapping_no_copy_can_stand_for_is_warned_about(job: Run) -> None:
    assert WARNING.search(job.output), str(job)
    assert len(re.findall("DockerHostWarning", job.output)) == 1, str(job)
    # ...at the user's own line, not inside the plugin.
    line = 1 + next(i for i, text in enumerate(PLAIN.splitlines()) if "not-in-the-job" in text)
    assert f"test_plain_mapping.py:{line}: DockerHostWarning" in job.output, str(job)


def test_the_probes_and_the_folder_leave_nothing(pod: Pod, job: Run) -> None:
    assert job.exit_code == 0, str(job)
    inner = pod.inner
    assert inner.containers.list(all=True) == []
    assert [i.tags for i in inner.images.list() if "pytest-dockerhost-probe" in str(i.tags)] == []
    listing = pod.agent.exec(["ls", "-A", PROJECT_DIR])
    assert ".pytest-dockerhost" not in listing.output.split(), str(listing)
    # The markers went too.
    found = pod.agent.exec(
        ["sh", "-c", f"find {PROJECT_DIR} /tmp -name '.pytest-dockerhost-probe-*'"]
    )
    assert found.output.strip() == "", str(found)
    with contextlib.suppress(Exception):
        pod.inner.close()
