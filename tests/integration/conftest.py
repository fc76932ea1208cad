from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import DIND, tagged
from .daemons import TLSDaemon, running_tls_daemon


@pytest.fixture(scope="session")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, engine: object) -> Iterator[TLSDaemon]:
    """A dockerd on 127.0.0.1 with --tlsverify: what a dind service looks like to a job."""
    with running_tls_daemon(tmp_path_factory.mktemp("tlsd")) as daemon:
        yield daemon


# --- sidecar runs: shared by the sidecar test modules ---------------------------------------

LABEL_RUN = "org.pytest-dockerhost.run"
LABEL_REUSE = "org.pytest-dockerhost.reuse"
INI = "[pytest]\ndocker_sidecar_privileged = false\n"
BASE_ARGS = ("-p", "dockerhost", "--docker-mode=sidecar", "-p", "no:cacheprovider")


# Our own tag of the dind image: kept sidecars are keyed by image, so the reuse tests never
# meet (or remove) a kept sidecar of another run on this engine, such as a benchmark's.
SIDECAR_IMAGE = f"pytest-dockerhost-test/dind:sidecar-tests-{os.getpid()}"


def run_sidecar(pytester: pytest.Pytester, *args: str, timeout: float = 180) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*BASE_ARGS, *args, timeout=timeout)


def labelled_now(engine: Any) -> dict[tuple[str, str], dict[str, str]]:
    """Every container, network, volume and image the plugin labelled, keyed by (kind, id)."""
    api = engine.api
    found: dict[tuple[str, str], dict[str, str]] = {}
    for entry in api.containers(all=True, filters={"label": LABEL_RUN}):
        found["container", entry["Id"]] = dict(entry.get("Labels") or {})
    for entry in api.networks(filters={"label": LABEL_RUN}):
        found["network", entry["Name"]] = dict(entry.get("Labels") or {})
    for entry in api.volumes(filters={"label": LABEL_RUN}).get("Volumes") or []:
        found["volume", entry["Name"]] = dict(entry.get("Labels") or {})
    for entry in api.images(filters={"label": LABEL_RUN}):
        found["image", entry["Id"]] = dict(entry.get("Labels") or {})
    return found


def remove_now(engine: Any, kind: str, ident: str) -> None:
    from pytest_dockerhost.cleanup.janitor import remove_resource

    remove_resource(engine.api, kind, ident)  # best effort: the test already names it


@pytest.fixture(scope="session")
def sidecar_image(engine: Any, test_images: None) -> Iterator[str]:
    with tagged(engine, DIND, SIDECAR_IMAGE) as image:  # only the tag goes afterwards
        yield image


@pytest.fixture
def sidecar(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: Any, sidecar_image: str
) -> Iterator[None]:
    """Sidecar settings for the inner runs, and the check that they left nothing behind.

    The local dind stand-in, unprivileged (this engine refuses --privileged). Labelled
    resources that appeared during the test and whose owner is gone (or that were kept for
    reuse) are leftovers: they are removed, and the test fails.
    """
    monkeypatch.setenv("PYTEST_DOCKER_SIDECAR_IMAGE", sidecar_image)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    # Kept sidecars store their client certificates in the cache folder: keep it private.
    monkeypatch.setenv("XDG_CACHE_HOME", str(pytester.path / "xdg-cache"))
    pytester.makeini(INI)
    before = labelled_now(engine)
    yield
    from pytest_dockerhost.cleanup.janitor import Owner
    from pytest_dockerhost.cleanup.lease import read_book
    from pytest_dockerhost.cleanup.ownership import Judge
    from pytest_dockerhost.sidecar.reuse import reuse_key

    # This machine's clock is the daemon's: it runs here.
    judge = Judge(Owner.current("", None), read_book(engine, time.time()))
    ours = reuse_key(sidecar_image)
    left = []
    for (kind, ident), labels in labelled_now(engine).items():
        if (kind, ident) in before:
            continue
        if labels.get(LABEL_REUSE) == "true":
            if labels.get("org.pytest-dockerhost.reuse-key") != ours:
                continue  # kept by another run on this engine (a benchmark, say)
        elif judge.alive(labels):
            continue  # another live run on this engine: not ours
        left.append(f"{kind} {ident[:24]} (run {labels.get(LABEL_RUN)})")
        remove_now(engine, kind, ident)
    assert not left, f"left behind: {left}"


def cleanup_command(python_bin: str, *args: str) -> str:
    done = subprocess.run(
        [python_bin, "-m", "pytest_dockerhost", "cleanup", *args],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_DOCKER_")},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
