"""Sidecar mode from inside a Jenkins-like agent container under DooD.

The agent reaches the host's daemon through the mounted socket; a port the sidecar
publishes on the host's loopback is out of its reach, so the plugin puts the sidecar on
a network it creates, joins the agent to it and talks TLS to it by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND
from ..e2e.helpers import Agent, socket_sharing_agent

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images")]

INNER_TEST = f"""
import time
import urllib.request

from testcontainers.core.container import DockerContainer


def fetch(url, attempts=100):
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                return reply.read().decode().strip()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {{url}}")


def test_service(docker_host):
    assert docker_host.mode == "sidecar"
    assert docker_host.url.startswith("tcp://pytest-dockerhost-")
    assert docker_host.published_host_verified
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(80)
        assert host == docker_host.published_host
        assert fetch(f"http://{{host}}:{{port}}/") == "pytest-dockerhost-test ok"
"""


@pytest.fixture
def agent(engine: Any, tmp_path: Path) -> Iterator[Agent]:
    files = {"test_service.py": INNER_TEST, "pytest.ini": "[pytest]\naddopts = -p dockerhost\n"}
    name = f"sidecar-{uuid.uuid4().hex[:8]}"
    with socket_sharing_agent(engine, name, tmp_path / "wheel", files) as created:
        yield created


def test_sidecar_from_a_dood_agent_on_a_shared_network(agent: Agent, engine: Any) -> None:
    run = agent.pytest(
        "--docker-mode=sidecar",
        "--docker-preload",
        BUSYBOX,
        "-v",
        environment={
            "PYTEST_DOCKER_SIDECAR_IMAGE": DIND,
            "PYTEST_DOCKER_SIDECAR_PRIVILEGED": "false",
            # This engine lacks CAP_SYS_RESOURCE, which the agent cannot see from inside.
            "PYTEST_DOCKER_SIDECAR_CAP_DROP": "SYS_RESOURCE",
        },
    )
    assert run.exit_code == 0, str(run)
    assert any("1 passed" in line for line in run.lines()), str(run)
    assert any("started in" in line for line in run.header()), str(run)
    # What this agent's run made (labelled with the agent as owner) is gone: the sidecar,
    # its volume and the network; and the agent has left the network.
    mine = f"org.pytest-dockerhost.owner-container={agent.container.id}"
    assert not engine.containers.list(all=True, filters={"label": mine})
    assert not engine.networks.list(filters={"label": mine})
    assert not engine.volumes.list(filters={"label": mine})
    agent.container.reload()
    networks = agent.container.attrs["NetworkSettings"]["Networks"]
    assert not [name for name in networks if name.startswith("pytest-dockerhost")]
