"""Bitbucket Pipelines' docker service, reproduced: a dockerd on tcp://localhost:PORT without
TLS behind a real authorization plugin named ``pipelines`` with Bitbucket's rules
(tests/helpers/authz.py). pytest runs as a user runs it in a step: BITBUCKET_BUILD_NUMBER and
BITBUCKET_CLONE_DIR set, DOCKER_HOST pointing at the service, and the suite's own code
(testcontainers, docker-py) with no plugin fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
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
