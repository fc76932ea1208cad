"""An unprivileged sidecar asked for explicitly is lowered as the default one is (issue 22,
item 7): from a DooD agent, which cannot see which capabilities the engine lacks, the
full set is refused at start ("unable to apply caps": this machine's dockerd has no
CAP_SYS_RESOURCE, docker-on-ci.md section 3), and the sidecar runs without the ones a
nested dockerd does not need, named in the header, instead of stopping with the cap-drop
fix. Docker 28 as this machine's engine (tests/e2e/test_modules_on_docker28.py) lacks it
too, and refuses the set at create instead. Where the engine grants every capability,
nothing is left out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerhost.sidecar.spec import CAPABILITIES, OFTEN_MISSING, refused_capabilities

from ..conftest import BUSYBOX, DIND, start_refusal
from ..e2e.helpers import LABEL, Agent, socket_sharing_agent
from .test_sidecar_dood import INNER_TEST

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("test_images")]


def _full_set_refusal(engine: Any, label: str) -> str:
    """Why the engine refuses a container with every capability of the sidecar's set, or
    "" where it starts one: the engine's own answer, asked the way the sidecar asks."""
    return start_refusal(engine, {LABEL: label}, cap_add=list(CAPABILITIES))


@pytest.fixture
def agent(engine: Any, tmp_path: Path) -> Iterator[Agent]:
    files = {"test_service.py": INNER_TEST, "pytest.ini": "[pytest]\naddopts = -p dockerhost\n"}
    name = f"lowered-{uuid.uuid4().hex[:8]}"
    with socket_sharing_agent(engine, name, tmp_path / "wheel", files) as created:
        yield created


def test_an_unprivileged_sidecar_asked_for_leaves_out_what_the_engine_refuses(
    agent: Agent, engine: Any
) -> None:
    refusal = _full_set_refusal(engine, agent.container.labels[LABEL])
    run = agent.pytest(
        "--docker-mode=sidecar",
        "--docker-preload",
        BUSYBOX,
        environment={
            "PYTEST_DOCKER_SIDECAR_IMAGE": DIND,
            "PYTEST_DOCKER_SIDECAR_PRIVILEGED": "false",
        },
    )
    assert run.exit_code == 0, str(run)
    assert any("1 passed" in line for line in run.lines()), str(run)
    header = run.header()
    assert "docker: note: sidecar fallback: the engine refused --privileged" not in "\n".join(
        header
    ), str(run)  # never asked for
    fallback = (
        "docker: note: sidecar fallback: the engine refused a capability of that set, so the "
        "sidecar runs without " + ", ".join(OFTEN_MISSING)
    )
    left_out = "docker: note: capabilities left out: " + ", ".join(
        f"{name} (after the engine refused the full set)" for name in OFTEN_MISSING
    )
    if refused_capabilities(refusal):
        assert fallback in header, str(run)
        assert left_out in header, str(run)
        assert "--docker-sidecar-cap-drop" not in run.output, str(run)
    else:  # an engine with every capability: the set asked for, nothing left out
        assert not refusal, refusal
        assert not [line for line in header if "left out" in line or "fallback" in line], str(run)
    mine = f"org.pytest-dockerhost.owner-container={agent.container.id}"
    assert not engine.containers.list(all=True, filters={"label": mine})
    assert not engine.volumes.list(filters={"label": mine})
    assert not engine.networks.list(filters={"label": mine})
