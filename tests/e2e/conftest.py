"""Fixtures for the e2e suite: one wheel per session, labelled agents, a leftover check."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX
from .helpers import LABEL, PROJECT_DIR, Agent, build_wheel, leftovers, remove_labelled
from .project import PROJECT


@pytest.fixture(scope="session")
def agent_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin's wheel, built once per session from this checkout."""
    return build_wheel(tmp_path_factory.mktemp("e2e-wheel"))


@pytest.fixture(scope="session")
def busybox_archive(engine: Any, test_images: None) -> bytes:
    """`docker save` of the busybox image, for daemons that cannot pull it (dind)."""
    return b"".join(engine.images.get(BUSYBOX).save(named=True))


class Labelled:
    """This test's label: everything it creates carries it, and nothing may outlive it."""

    def __init__(self, engine: Any, value: str) -> None:
        self.engine = engine
        self.value = value
        self.selector = f"{LABEL}={value}"

    def leftovers(self) -> dict[str, list[str]]:
        return leftovers(self.engine, self.selector)

    def assert_clean(self, selector: str | None = None) -> None:
        """Assert that the engine holds no container, volume or network with the label."""
        left = leftovers(self.engine, selector or self.selector)
        assert left == {"containers": [], "volumes": [], "networks": []}, (
            f"left on the engine: {left}"
        )


@pytest.fixture
def labelled(engine: Any, test_images: None, request: pytest.FixtureRequest) -> Iterator[Labelled]:
    value = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    state = Labelled(engine, value)
    try:
        yield state
    finally:
        remove_labelled(engine, state.selector)


@pytest.fixture
def make_agent(
    engine: Any, labelled: Labelled, agent_wheel: Path
) -> Iterator[Callable[..., Agent]]:
    """Start an agent on the host engine (DooD unless told otherwise), project and plugin in."""
    agents: list[Agent] = []

    def make(
        files: dict[str, Any] | None = None, *, project: dict[str, str] = PROJECT, **kw: Any
    ) -> Agent:
        environment = {"E2E_LABEL": labelled.selector, **kw.pop("environment", {})}
        agent = Agent.create(engine, labelled.value, environment=environment, **kw)
        agents.append(agent)
        agent.start()
        agent.put(PROJECT_DIR, {**project, **(files or {})})
        agent.install(agent_wheel)
        return agent

    try:
        yield make
    finally:
        for agent in agents:
            agent.remove()
