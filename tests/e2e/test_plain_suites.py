"""Suites that never ask for the plugin's fixtures, run the way CI agents run them.

The project (``project.PLAIN_PROJECT``) has a conftest session fixture that starts a
service with testcontainers, an inline ``DockerContainer``, ``docker.from_env()`` in a
test body and a module-level ``docker.from_env()`` made during collection. Nothing in
it names ``docker_host``, ``docker_client`` or ``docker_env``: the plugin has to find
the daemon, wire the clients, keep sidecar runs off the outer engine and explain
failures all the same.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND
from .conftest import Labelled
from .helpers import INNER_TIMEOUT, Agent, Run, leftovers, socket_gid, started_images
from .plain import diagnosed, passed
from .project import PLAIN_PROJECT

pytestmark = pytest.mark.e2e

SIDECAR_ENV = {"PYTEST_DOCKER_SIDECAR_IMAGE": DIND, "PYTEST_DOCKER_PRELOAD": BUSYBOX}
FALLBACK_PRIVILEGED = (
    "docker: note: sidecar fallback: the engine refused --privileged (moby#42906), so the "
    "sidecar runs with an explicit capability set instead"
)
FALLBACK_CAPS = (
    "docker: note: sidecar fallback: the engine refused a capability of that set, so the "
    "sidecar runs without SYS_RESOURCE, "
)
SIDECAR_LINE = re.compile(
    r"^docker: sidecar tcp://\S+:\d+ \(engine [^,]+, API [\d.]+, TLS verified\) via sidecar "
    rf"pytest-dockerhost-(\w+) \({re.escape(DIND)}\); published ports on (\S+); sidecar "
    r"\((?:un)?privileged\) on dood unix:///var/run/docker\.sock$",
    re.M,
)


def _profile_is_the_engines(run: Run, privileged_refusal: str, fallbacks: tuple[str, ...]) -> None:
    """Privileged, the default, where the engine grants it (Docker 28); else ``fallbacks``,
    each named, to the unprivileged profile."""
    (line,) = [x for x in run.header() if SIDECAR_LINE.match(x)]
    if not privileged_refusal:
        assert "(privileged) on dood" in line, line
        assert "sidecar fallback" not in run.output, str(run)
        return
    assert "(unprivileged) on dood" in line, line
    for fallback in fallbacks:
        assert fallback in run.output, str(run)


def _owned_by_run(engine: Any, run_id: str) -> dict[str, list[str]]:
    return leftovers(engine, f"org.pytest-dockerhost.run={run_id}")


def test_dood_as_root_like_a_github_container_job(
    make_agent: Callable[..., Agent], engine: Any, labelled: Labelled
) -> None:
    agent = make_agent(project=PLAIN_PROJECT)
    run = agent.pytest("-rA", user="root")
    result = passed(run)
    gateway = agent.gateway()
    assert result.hosts == {gateway}, str(run)
    assert result.daemons == {engine.info()["ID"]}, str(run)
    assert re.search(
        r"^docker: dood unix:///var/run/docker\.sock \(engine [^)]+\) via /var/run/docker\.sock"
        rf".*; published ports on {re.escape(gateway)}( \(unverified\))?$",
        run.output,
        re.M,
    ), str(run)
    agent.remove()
    labelled.assert_clean()


def test_jenkins_dood_gid_mismatch_is_diagnosed_in_every_failing_test_then_group_add_passes(
    make_agent: Callable[..., Agent], engine: Any, labelled: Labelled
) -> None:
    gid = socket_gid()
    agent = make_agent(project=PLAIN_PROJECT)
    # On CI (JENKINS_URL): each test that needed Docker fails with the diagnosis.
    denied = agent.pytest("--continue-on-collection-errors")
    assert denied.exit_code == 1, str(denied)
    assert re.search(r"^=+ 2 failed, 2 errors in ", denied.output, re.M), str(denied)
    diagnosed(denied, "permission denied on /var/run/docker.sock", failing=4)
    assert denied.output.count(f"`docker run --group-add {gid} ...`") >= 4, str(denied)
    assert "failing instead of skipping: CI detected via JENKINS_URL" in denied.output
    assert "original error: docker.errors.DockerException: Error while fetching server API" in (
        denied.output
    )
    assert "chmod" not in denied.output
    assert "docker: no working endpoint (mode auto); tests that need Docker will fail" in (
        denied.output
    )
    # Locally, the same tests are skipped with the same diagnosis.
    local = agent.pytest("-rs", environment={"JENKINS_URL": ""})
    assert local.exit_code == 0, str(local)
    assert re.search(r"^=+ 4 skipped in ", local.output, re.M), str(local)
    diagnosed(local, "permission denied on /var/run/docker.sock", failing=4)

    fixed = make_agent(project=PLAIN_PROJECT, group_add=[gid])
    result = passed(fixed.pytest("-rA"))
    assert result.hosts == {fixed.gateway()}
    assert result.daemons == {engine.info()["ID"]}
    for each in (agent, fixed):
        each.remove()
    labelled.assert_clean()


def test_sidecar_from_a_dood_agent_with_no_privilege_setting_under_xdist(
    make_agent: Callable[..., Agent], engine: Any, labelled: Labelled, privileged_refusal: str
) -> None:
    agent = make_agent(project=PLAIN_PROJECT, group_add=[socket_gid()])
    since = time.time()
    run = agent.pytest("-n", "2", "-rA", "--docker-mode=sidecar", environment=SIDECAR_ENV)
    until = time.time()
    result = passed(run)
    match = SIDECAR_LINE.search(run.output)
    assert match, str(run)
    run_id, published = match.groups()
    # Where privileged is refused, then SYS_RESOURCE: two fallbacks, each named.
    _profile_is_the_engines(run, privileged_refusal, (FALLBACK_PRIVILEGED, FALLBACK_CAPS))
    assert result.hosts == {published}
    assert published not in ("localhost", "127.0.0.1")
    # Every client reached the sidecar's daemon, never the outer engine...
    assert len(result.daemons) == 1
    assert engine.info()["ID"] not in result.daemons
    # ...and the outer engine started exactly one container for the run: the sidecar.
    images = started_images(engine, since, until)
    assert images.count(DIND) == 1, images
    assert BUSYBOX not in images, images
    # Two extra creates, the most the fallbacks may cost: privileged, the full set, fewer.
    creates = started_images(engine, since, until, event="create").count(DIND)
    assert creates == (3 if privileged_refusal else 1), creates
    assert _owned_by_run(engine, run_id) == {"containers": [], "volumes": [], "networks": []}
    agent.remove()
    labelled.assert_clean()


def _host_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for relative, text in PLAIN_PROJECT.items():
        (folder / relative).write_text(text)
    return folder


def test_sidecar_on_the_host_under_xdist(
    tmp_path: Path, engine: Any, labelled: Labelled, privileged_refusal: str
) -> None:
    project = _host_project(tmp_path / "plain")
    env = {
        **os.environ,
        **SIDECAR_ENV,
        "E2E_LABEL": labelled.selector,
        "PYTEST_DOCKER_MODE": "sidecar",
    }
    since = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-rA", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT,
        check=False,
    )
    until = time.time()
    run = Run(done.returncode, done.stdout + done.stderr)
    result = passed(run)
    match = SIDECAR_LINE.search(run.output)
    assert match, str(run)
    assert "docker: sidecar tcp://127.0.0.1:" in match.group(0)
    run_id, published = match.groups()
    _profile_is_the_engines(run, privileged_refusal, (FALLBACK_PRIVILEGED,))
    # On the daemon's own machine the bounding set already tells what to leave out.
    assert "the engine refused a capability of that set" not in run.output, str(run)
    assert result.hosts == {published}
    assert len(result.daemons) == 1
    assert engine.info()["ID"] not in result.daemons
    images = started_images(engine, since, until)
    assert images.count(DIND) == 1, images
    assert BUSYBOX not in images, images
    assert _owned_by_run(engine, run_id) == {"containers": [], "volumes": [], "networks": []}
    labelled.assert_clean()
