"""Fixtures for the unit tests: short folders for unix sockets, TLS material, fake homes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.discovery.sources import SourceContext
from pytest_dockerhost.engine.api import EngineAddress, EngineClientLike, open_client
from pytest_dockerhost.engine.url import parse_url

from ..helpers.servers import FakeEngine, fake_engine
from ..helpers.tls import Material, make_material


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: unix socket paths are limited to 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="pdh-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def material(tmp_path: Path) -> Material:
    return make_material(tmp_path / "client")


MakeCtx = Callable[..., SourceContext]


@pytest.fixture
def make_ctx(tmp_path: Path) -> MakeCtx:
    """A SourceContext over a fake home: no real socket, no /certs/client unless asked."""
    home = tmp_path / "home"
    home.mkdir()

    def make(
        env: Mapping[str, str] | None = None,
        *,
        cli: Mapping[str, Any] | None = None,
        ini: Mapping[str, Any] | None = None,
        dind_cert_dir: str | None = None,
        system_sockets: tuple[str, ...] | None = None,
    ) -> SourceContext:
        env = dict(env or {})
        settings = Settings.from_sources(cli or {}, env, ini or {})
        return SourceContext(
            settings=settings,
            env=env,
            home=home,
            uid=4242,
            dind_cert_dir=dind_cert_dir or str(tmp_path / "no-certs"),
            system_sockets=system_sockets or (str(tmp_path / "no-docker.sock"),),
            podman_system_socket=str(tmp_path / "no-podman.sock"),
        )

    return make


def no_docker_py(timeout: float) -> object:
    raise AssertionError("the call went to docker-py: the fake engine is not docker-py")


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    """A fake Engine API on loopback that keeps state and records every request."""
    with fake_engine() as fake:
        yield fake


def stdlib_client(engine: FakeEngine) -> EngineClientLike:
    """The stdlib Engine API client cleanup uses, for ``engine``; docker-py is refused."""
    return open_client(EngineAddress(parse_url(engine.url), None, "1.41"), 10, no_docker_py)
