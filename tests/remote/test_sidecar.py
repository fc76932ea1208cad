"""Sidecar mode whose outer engine is on another machine: the sidecar starts there, and its
API and its containers' published ports come through the run's one SSH connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND
from .hosts import RemoteHost, load_image
from .test_plugin import (
    SUITE,
    assert_ran_there,
    logins,
    passed,
    remote_starts,
    run_pytest,
    ssh_left,
    write,
)

pytestmark = pytest.mark.e2e


def test_a_plain_suite_runs_in_a_sidecar_on_a_remote_engine(
    remote_docker: RemoteHost, engine: Any, tmp_path: Path, private_tmp: str
) -> None:
    host = remote_docker
    load_image(engine, host, DIND)
    env = {
        "DOCKER_HOST": host.ssh_url,
        "TMPDIR": private_tmp,
        "PYTEST_DOCKER_MODE": "sidecar",
        "PYTEST_DOCKER_SIDECAR_IMAGE": DIND,
        "PYTEST_DOCKER_SIDECAR_PRIVILEGED": "false",  # this engine refuses --privileged
        "PYTEST_DOCKER_PRELOAD": BUSYBOX,  # from the remote engine into the sidecar
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }
    folder = write(tmp_path / "suite", SUITE)
    before = logins(host)
    run, began, ended = run_pytest(host, folder, env, "-v", "-s", label=tmp_path.name)
    assert passed(run) == {"127.0.0.1"}, str(run)
    (summary,) = [line for line in run.header() if line.startswith("docker: sidecar tcp://")]
    assert summary.endswith(f"on ssh {host.ssh_url}"), summary
    assert "published ports on 127.0.0.1, forwarded through SSH to remote-docker" in summary
    # The remote engine started the sidecar; the suite's containers ran inside it.
    started = remote_starts(host, began, ended)
    assert DIND in started, started
    assert BUSYBOX not in started, started
    assert_ran_there(host, engine, began, ended, at_least=0)
    assert logins(host) - before == 1, "the sidecar's API and ports share the run's connection"
    left = host.inner("ps", "-aq", "--filter", "label=org.pytest-dockerhost.role=sidecar")
    assert left.stdout.strip() == "", "the sidecar is removed at the end"
    assert ssh_left(private_tmp) == []
