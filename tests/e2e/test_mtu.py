"""MTU: a job on a network of MTU 1400 (a pod network's size, smaller than Ethernet's).

A DooD agent on a user-defined network of MTU 1400 runs, in sidecar mode, a suite that
asks for no plugin fixture: testcontainers creates a network of its own in the sidecar,
starts busybox on it, and the job fetches a file far larger than the MTU from its
published port; ``docker.from_env()`` reads a container's eth0 MTU on the default bridge.
The sidecar's daemon (Docker 28, which takes ``--default-network-opt``) was given our
MTU: both networks' containers have 1400, and the transfer arrives whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND28
from .conftest import Labelled
from .helpers import LABEL, Agent, socket_gid

pytestmark = pytest.mark.e2e

MTU = 1400
SIZE = 300_000  # bytes: some two hundred full-size packets

SUITE = f'''\
import hashlib
import urllib.request

import docker
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from helpers import labels


def test_a_big_transfer_from_a_network_testcontainers_creates():
    with Network() as network:
        container = (
            DockerContainer("{BUSYBOX}")
            .with_exposed_ports(80)
            .with_network(network)
            .with_kwargs(labels=labels())
        )
        with container:
            made = container.exec(
                ["sh", "-c", "head -c {SIZE} /dev/urandom > /www/big && sha256sum /www/big"]
            )
            assert made.exit_code == 0, made.output
            digest = made.output.decode().split()[0]
            mtu = container.exec(["cat", "/sys/class/net/eth0/mtu"]).output.decode().strip()
            print(f"E2E eth0 MTU on testcontainers' network: {{mtu}}")
            host, port = container.get_container_host_ip(), container.get_exposed_port(80)
            url = f"http://{{host}}:{{port}}/big"
            for attempt in range(100):
                try:
                    with urllib.request.urlopen(url, timeout=10) as reply:
                        body = reply.read()
                    break
                except OSError:
                    if attempt == 99:
                        raise
            got = hashlib.sha256(body).hexdigest()
            print(f"E2E fetched {{len(body)}} bytes, same digest: {{got == digest}}")
            assert (len(body), got) == ({SIZE}, digest)


def test_the_default_bridge_has_it_too():
    client = docker.from_env()
    try:
        out = client.containers.run(
            "{BUSYBOX}", ["cat", "/sys/class/net/eth0/mtu"], labels=labels(), remove=True
        )
    finally:
        client.close()
    print(f"E2E eth0 MTU on the default bridge: {{out.decode().strip()}}")
'''

SIDECAR_ENV = {
    "PYTEST_DOCKER_SIDECAR_IMAGE": DIND28,
    # This engine refuses --privileged (moby#42906) and lacks CAP_SYS_RESOURCE.
    "PYTEST_DOCKER_SIDECAR_PRIVILEGED": "false",
    "PYTEST_DOCKER_SIDECAR_CAP_DROP": "SYS_RESOURCE",
}


@pytest.fixture
def small_network(engine: Any, labelled: Labelled) -> Any:
    """Removed with everything else that carries the test's label (containers first)."""
    return engine.networks.create(
        f"pdh-mtu-{labelled.value}",
        driver="bridge",
        options={"com.docker.network.driver.mtu": str(MTU)},
        labels={LABEL: labelled.value},
    )


def test_the_sidecar_and_the_networks_tests_create_in_it_take_our_mtu(
    make_agent: Callable[..., Agent], small_network: Any, labelled: Labelled
) -> None:
    agent = make_agent(
        files={"test_mtu.py": SUITE}, group_add=[socket_gid()], network=small_network.name
    )
    inside = agent.exec(["cat", "/sys/class/net/eth0/mtu"])
    assert inside.output.strip() == str(MTU), str(inside)  # the job's own link
    run = agent.pytest(
        "--docker-mode=sidecar", f"--docker-preload={BUSYBOX}", "-s", "-rA", environment=SIDECAR_ENV
    )
    assert run.exit_code == 0, str(run)
    assert "3 passed" in run.output, str(run)  # with the project's own test_service.py
    note = (
        f"docker: note: the sidecar's daemon uses MTU {MTU}, this machine's eth0's, for its "
        "bridge and every network created in it (--default-network-opt)"
    )
    assert any(line.startswith(note) for line in run.lines()), str(run)
    found = dict(re.findall(r"E2E eth0 MTU on (.+?): (\d+)", run.output))
    assert found == {"testcontainers' network": str(MTU), "the default bridge": str(MTU)}, str(run)
    assert f"E2E fetched {SIZE} bytes, same digest: True" in run.output, str(run)
    agent.remove()
