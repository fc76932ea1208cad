"""The containerd image store (``"features": {"containerd-snapshotter": true}``), the
default of fresh Docker 29 installs, on both sides: a nested Docker 28 outer engine and a
sidecar image that use it. Preload, reuse and the cache volume work, and preload sends
only what the sidecar lacks, whichever store each side has."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import AGENT, BUSYBOX, DIND28
from .helpers import Agent
from .plain import passed
from .project import PLAIN_PROJECT

pytestmark = pytest.mark.e2e

CONTAINERD = {"features": {"containerd-snapshotter": True}}
SIDECAR_CONTAINERD = "pytest-dockerhost-test/dind:28-containerd"
PRELOADED = f"docker: preloaded {BUSYBOX} into the sidecar in "
SIDECAR_NAME = re.compile(r"via sidecar (pytest-dockerhost-[\w-]+) \(")


@pytest.fixture(scope="module")
def store28(
    engine: Any, test_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from .engines import daemon_json_tar, nested_engine

    folder = tmp_path_factory.mktemp("containerd")
    with nested_engine(engine, f"c{os.getpid()}", folder, daemon_json=CONTAINERD) as nested:
        nested.load(engine, [BUSYBOX, DIND28, AGENT])
        # The sidecar image with the same store inside: DIND28 plus a daemon.json.
        api = nested.client.api
        made = api.create_container(DIND28)
        try:
            api.put_archive(made["Id"], "/", daemon_json_tar(CONTAINERD))
            repository, tag = SIDECAR_CONTAINERD.rsplit(":", 1)
            api.commit(made["Id"], repository=repository, tag=tag)
        finally:
            api.remove_container(made["Id"], force=True)
        yield nested


@pytest.fixture
def agent(store28: Any, agent_wheel: Path) -> Iterator[Agent]:
    from .engines import dood_agent

    with dood_agent(store28, agent_wheel, PLAIN_PROJECT) as made:
        yield made


def _sidecar_run(agent: Agent, *args: str, image: str = SIDECAR_CONTAINERD) -> Any:
    env = {
        "PYTEST_DOCKER_SIDECAR_IMAGE": image,
        "PYTEST_DOCKER_PRELOAD": BUSYBOX,
        "E2E_LABEL": "pytest-dockerhost-e2e=containerd",
    }
    run = agent.pytest("-rA", "-s", "--docker-mode=sidecar", *args, environment=env, user="root")
    passed(run)
    return run


def _inner_store(store28: Any, run: Any) -> str:
    match = SIDECAR_NAME.search(run.output)
    assert match, str(run)
    sidecar = store28.client.containers.get(match.group(1))
    code, out = sidecar.exec_run(["docker", "info", "--format", "{{json .DriverStatus}}"])
    assert code == 0, out
    return str(out.decode())


def test_the_outer_engine_reports_its_containerd_store(agent: Agent) -> None:
    run = agent.exec(["python", "-m", "pytest_dockerhost"], user="root")
    assert run.exit_code == 0, str(run)
    assert re.search(
        r"^docker: engine Docker 28\.\S+: API 1\.24-1\.5\d, containerd image store, cgroup v1$",
        run.output,
        re.M,
    ), str(run)


def test_preload_and_reuse_across_containerd_stores_send_an_image_once(
    store28: Any, agent: Agent
) -> None:
    first = _sidecar_run(agent, "--docker-sidecar-reuse")
    assert PRELOADED in first.output, str(first)
    assert "io.containerd.snapshotter" in _inner_store(store28, first)
    second = _sidecar_run(agent, "--docker-sidecar-reuse")
    assert "reattached to kept sidecar" in second.output, str(second)
    assert PRELOADED not in second.output, str(second)  # the sidecar has it already
    from pytest_dockerhost.cleanup.janitor import remove_run

    kept = store28.client.containers.list(filters={"label": "org.pytest-dockerhost.reuse=true"})
    for container in kept:
        remove_run(store28.client, container.labels["org.pytest-dockerhost.run"])


@pytest.mark.parametrize("inner", ["containerd", "graph-driver"])
def test_a_cache_volume_keeps_the_preloaded_image_for_the_next_run(
    store28: Any, agent: Agent, inner: str
) -> None:
    """The outer store is containerd; the sidecar's is containerd, or the graph driver:
    an image the cached store has is recognised across the two and not sent again."""
    image = SIDECAR_CONTAINERD if inner == "containerd" else DIND28
    cache = f"pdh-e2e-cache-{inner}-{os.getpid()}"
    try:
        first = _sidecar_run(agent, f"--docker-sidecar-cache={cache}", image=image)
        assert PRELOADED in first.output, str(first)
        second = _sidecar_run(agent, f"--docker-sidecar-cache={cache}", image=image)
        assert PRELOADED not in second.output, str(second)
    finally:
        store28.client.volumes.get(cache).remove(force=True)


MULTI = "pytest-dockerhost-test/multi:local"


@pytest.fixture(scope="module")
def multi_platform_image(store28: Any, engine: Any) -> Any:
    """A linux/amd64 + linux/arm64 index in the outer containerd store, all content there."""
    from .oci import first_layer, multi_platform

    made = multi_platform(MULTI, first_layer(b"".join(engine.images.get(BUSYBOX).save())))
    list(store28.client.api.load_image(made.archive))
    return made


def _exported_blobs(stream: Any) -> set[str]:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return {"sha256:" + n.rsplit("/", 1)[1] for n in tar.getnames() if "blobs/sha256/" in n}


def test_a_multi_platform_image_is_exported_for_the_daemons_own_platform_only(
    store28: Any, multi_platform_image: Any
) -> None:
    """What preload sends (API 1.48+): the outer daemon's own platform, not the index's
    other platforms; docker-py's export, which cannot ask, carries all of them."""
    from pytest_dockerhost.config.settings import Settings
    from pytest_dockerhost.discovery.resolution import resolve
    from pytest_dockerhost.sidecar.preload import _export, own_platform

    settings = Settings.from_sources(env={"DOCKER_HOST": store28.url})
    host = resolve(settings, env={"DOCKER_HOST": store28.url}).require()
    assert json.loads(own_platform(host) or "{}") == {"os": "linux", "architecture": "amd64"}
    client = host.engine_client(60)
    try:
        ours = _exported_blobs(_export(client, MULTI, own_platform(host)))
        everything = _exported_blobs(_export(client, MULTI, None))
    finally:
        client.close()
    layers = multi_platform_image.layers
    assert layers["amd64"] in ours
    assert layers["arm64"] not in ours
    assert {layers["amd64"], layers["arm64"]} <= everything  # the test can tell


def test_a_multi_platform_image_preloads_into_the_sidecar(
    store28: Any, agent: Agent, multi_platform_image: Any
) -> None:
    env = {
        "PYTEST_DOCKER_SIDECAR_IMAGE": DIND28,
        "PYTEST_DOCKER_PRELOAD": f"{BUSYBOX},{MULTI}",
        "E2E_LABEL": "pytest-dockerhost-e2e=containerd",
    }
    run = agent.pytest(
        "-rA", "-s", "--docker-mode=sidecar", "--docker-sidecar-reuse", environment=env, user="root"
    )
    passed(run)
    assert f"docker: preloaded {MULTI} into the sidecar in " in run.output, str(run)
    match = SIDECAR_NAME.search(run.output)
    assert match, str(run)
    sidecar = store28.client.containers.get(match.group(1))
    try:
        code, out = sidecar.exec_run(
            ["docker", "image", "inspect", "--format", "{{.Architecture}}", MULTI]
        )
        assert (code, out.decode().strip()) == (0, "amd64"), out
    finally:
        from pytest_dockerhost.cleanup.janitor import remove_run

        remove_run(store28.client, sidecar.labels["org.pytest-dockerhost.run"])
