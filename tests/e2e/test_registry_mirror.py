"""Registry mirrors (#13 item 4): the sidecar's daemon gets the outer engine's mirrors.

Users whose engine has ``registry-mirrors`` (a pull-through cache, a company mirror, a way
around Docker Hub's rate limit) expect the pulls of their tests to use it, also inside the
sidecar. Here:

- the mirror is ``pytest-dockerhost-test/registry:local`` on the host engine, on a network
  of its own, holding the busybox test image as ``library/busybox:latest``; its access log
  shows every request, with the pulling daemon's user agent;
- the outer engine is a nested Docker 28 whose daemon.json names the mirror (and, as such
  a setup does, the mirror's address as an insecure registry), joined to that network;
- a DooD agent on it runs, with ``--docker-mode=sidecar`` (the default, privileged sidecar,
  which Docker 28 grants), a suite that asks for no plugin fixture: it pulls ``busybox``
  with ``docker.from_env()`` and runs it.

The mirror must serve the sidecar's pull, and the run must name the mirror. Each suite
checks that its daemon has the mirror before it pulls, so a daemon without one never
falls back to docker.io (no registry may be contacted here).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import AGENT, BUSYBOX, DIND28, ROOT
from ..helpers import engine_events
from .helpers import LABEL, started_images
from .project import FETCH, PYTEST_INI

pytestmark = pytest.mark.e2e

# The one image in the mirror: what a pull of "busybox:latest" (docker.io) asks it for.
MIRRORED = {BUSYBOX: "library/busybox:latest"}
MANIFEST_BY_TAG = '"HEAD /v2/library/busybox/manifests/latest HTTP/1.1" 200 '
CLI = "UpstreamClient(Docker-Client/28."  # `docker pull` on the outer engine
SDK = "UpstreamClient(docker-sdk-python/"  # docker.from_env().images.pull in the suite

MIRROR_SUITE = """\
import json
import os

import docker

from helpers import labels

MIRROR = os.environ["E2E_MIRROR"]


def test_pull_through_the_mirror():
    client = docker.from_env()
    try:
        info = client.info()
        registries = info["RegistryConfig"]
        print(f"E2E daemon {info['ID']} registry config {json.dumps(registries)}")
        # Without the mirror this daemon would ask docker.io, which no test may contact.
        mirrors = [m.rstrip("/") for m in registries.get("Mirrors") or []]
        assert MIRROR in mirrors, "the daemon was not given the outer engine's mirror"
        insecure = registries["IndexConfigs"].get(MIRROR.split("://", 1)[1]) or {}
        assert insecure.get("Secure") is False, "nor its insecure registry"
        image = client.images.pull("busybox", tag="latest")
        print(f"E2E pulled {image.attrs['RepoDigests']}")
        out = client.containers.run(
            "busybox:latest", ["echo", "pulled through the mirror"], labels=labels(), remove=True
        )
        print(f"E2E busybox said {out.decode().strip()!r}")
        assert out == b"pulled through the mirror\\n"
    finally:
        client.close()
"""
PROJECT = {"pytest.ini": PYTEST_INI, "helpers.py": FETCH, "test_mirror.py": MIRROR_SUITE}
DAEMON = re.compile(r"^E2E daemon (\S+) registry config (\{.*\})$", re.M)


def new_lines(registry: Any, before: int, *needles: str) -> list[str]:
    """Access-log lines after the first ``before`` that contain every one of ``needles``."""
    return [line for line in registry.access_log()[before:] if all(n in line for n in needles)]


@pytest.fixture(scope="module")
def mirrored(
    engine: Any, test_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    """(the registry, a nested Docker 28 that has it as its mirror)."""
    import docker.errors

    from .engines import REGISTRY, local_registry, nested_engine

    try:
        engine.images.get(REGISTRY)
    except docker.errors.ImageNotFound:
        import subprocess

        subprocess.run(["bash", str(ROOT / "tests/images/build.sh"), "registry"], check=True)
    run_id = f"m{os.getpid()}"
    folder = tmp_path_factory.mktemp("mirror")
    with local_registry(engine, run_id, MIRRORED) as registry:
        host = registry.url.split("://", 1)[1]
        config = {"registry-mirrors": [registry.url], "insecure-registries": [host]}
        with nested_engine(engine, run_id, folder, daemon_json=config) as outer:
            registry.network.connect(outer.container)
            outer.load(engine, [BUSYBOX, DIND28, AGENT])
            yield registry, outer


def test_the_outer_engine_pulls_busybox_through_its_mirror(mirrored: tuple[Any, Any]) -> None:
    registry, outer = mirrored
    config = outer.client.info()["RegistryConfig"]
    assert [m.rstrip("/") for m in config["Mirrors"]] == [registry.url], config
    # Reachable from the outer engine's containers (where the sidecar will be) before any
    # pull: a mirror that does not answer makes the daemon fall back to docker.io.
    catalog = outer.client.containers.run(
        BUSYBOX,
        ["wget", "-q", "-O-", f"{registry.url}/v2/_catalog"],
        labels={LABEL: "mirror"},
        remove=True,
    )
    assert json.loads(catalog) == {"repositories": ["library/busybox"]}, catalog

    before = len(registry.access_log())
    pulled = outer.container.exec_run(["docker", "pull", "busybox:latest"])
    output = pulled.output.decode()
    assert pulled.exit_code == 0, output
    assert "docker.io/library/busybox:latest" in output, output
    digest = registry.digests["library/busybox:latest"]
    assert f"Digest: {digest}" in output, output  # the image we pushed, not Docker Hub's
    # The tag resolved by the mirror, then the manifest fetched by its digest, both by
    # this `docker pull`.
    assert new_lines(registry, before, MANIFEST_BY_TAG, CLI), registry.access_log()[before:]
    by_digest = f'"GET /v2/library/busybox/manifests/{digest} HTTP/1.1" 200 '
    assert new_lines(registry, before, by_digest, CLI), registry.access_log()[before:]
    outer.client.images.remove("busybox:latest")


def test_a_sidecar_on_that_engine_pulls_through_the_same_mirror_and_says_so(
    mirrored: tuple[Any, Any], agent_wheel: Path
) -> None:
    from .engines import dood_agent

    registry, outer = mirrored
    env = {
        "PYTEST_DOCKER_SIDECAR_IMAGE": DIND28,
        "E2E_LABEL": f"{LABEL}=mirror",
        "E2E_MIRROR": registry.url,
    }
    before = len(registry.access_log())
    with dood_agent(outer, agent_wheel, PROJECT) as agent:
        since = time.time()
        run = agent.pytest("-rA", "--docker-mode=sidecar", environment=env, user="root")
        until = time.time()
    assert run.exit_code == 0, str(run)
    assert "1 passed" in run.output, str(run)
    header = "\n".join(run.header())
    # The plugin names the mirror it handed on, in its own lines (not the suite's prints).
    assert re.search(rf"registry mirror.*{re.escape(registry.url)}", header, re.I), str(run)
    assert "E2E busybox said 'pulled through the mirror'" in run.output, str(run)

    # The suite's daemon was the sidecar's, and it was given the mirror and its address as
    # an insecure registry.
    (daemon, registries) = DAEMON.findall(run.output)[0]
    assert daemon != outer.client.info()["ID"], str(run)
    assert DIND28 in started_images(outer.client, since, until), str(run)
    host = registry.url.split("://", 1)[1]
    assert json.loads(registries)["IndexConfigs"][host]["Secure"] is False, registries

    # The mirror served that pull: its tag, its manifest and its layer, asked for by the
    # sidecar's daemon on behalf of docker-py (the first test's pull was the CLI's).
    assert new_lines(registry, before, MANIFEST_BY_TAG, SDK), registry.access_log()[before:]
    digest = registry.digests["library/busybox:latest"]
    by_digest = f'"GET /v2/library/busybox/manifests/{digest} HTTP/1.1" 200 '
    assert new_lines(registry, before, by_digest, SDK), registry.access_log()[before:]
    layer = '"GET /v2/library/busybox/blobs/sha256:'
    assert new_lines(registry, before, layer, SDK), registry.access_log()[before:]
    # ...and the outer engine pulled nothing itself.
    pulls = engine_events(outer.client, since, until, {"type": "image", "event": "pull"})
    assert not pulls, f"the outer engine pulled during the run: {pulls}"
