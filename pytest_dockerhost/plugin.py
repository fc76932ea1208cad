"""The pytest surface of pytest-dockerhost: options, hooks, fixtures, marker, header.

Everything else lives in plain modules that are imported lazily, so that
runs which never touch Docker pay almost nothing for the plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .config.options import register as register_options
from .config.settings import Settings
from .wiring.usage import DOCKER_FIXTURES

if TYPE_CHECKING:
    from pathlib import Path

    import docker

    from .discovery.endpoint import DockerHost
    from .run.hooks import DockerHostPlugin

_PLUGIN: pytest.StashKey[DockerHostPlugin] = pytest.StashKey()
_PLUGIN_NAME = "dockerhost-run"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    register_options(parser, pluginmanager)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the first conftest is imported: a module-level docker.from_env() there must
    # already reach the endpoint (DockerHostPlugin.load_early).
    plugin = _plugin(early_config, early=True)
    if plugin is not None:  # None: a bad setting, which pytest_configure reports
        plugin.load_early()


def pytest_configure(config: pytest.Config) -> None:
    from .config.option_table import OPTIONS_BY_NAME
    from .config.texts import marker

    config.addinivalue_line("markers", marker(OPTIONS_BY_NAME["required"].flag))
    plugin = _plugin(config, early=False)
    assert plugin is not None
    plugin.configure()


def _plugin(config: pytest.Config, *, early: bool) -> DockerHostPlugin | None:
    """This run's hooks, registered once: before the initial conftests, or at configure
    time."""
    plugin = config.stash.get(_PLUGIN, None)
    if plugin is not None:
        return plugin
    from .errors import SettingError
    from .run.hooks import DockerHostPlugin, handed_over

    namespace = config.known_args_namespace if early else None
    try:
        settings = Settings.from_config(config, namespace=namespace)
    except SettingError as exc:
        if early:
            return None
        raise pytest.UsageError(f"pytest-dockerhost: {exc}") from None
    plugin = DockerHostPlugin(config, settings, early=early)
    config.stash[_PLUGIN] = plugin
    config.pluginmanager.register(plugin, _PLUGIN_NAME)
    handed = handed_over() if early else None
    if handed is not None:
        plugin.lifecycle.adopt(handed)
    return plugin


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if not DOCKER_FIXTURES.isdisjoint(names) and item.get_closest_marker("docker") is None:
            item.add_marker(pytest.mark.docker)


def _require(config: pytest.Config) -> DockerHost:
    return config.stash[_PLUGIN].require()


@pytest.fixture(scope="session")
def docker_host(pytestconfig: pytest.Config) -> DockerHost:
    """The verified Docker endpoint: URL, TLS, host for published ports, versions, trace."""
    return _require(pytestconfig)


@pytest.fixture(scope="session")
def docker_client(docker_host: DockerHost) -> Iterator[docker.DockerClient]:
    """A docker-py client for ``docker_host``, closed at the end of the session."""
    client = docker_host.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def docker_env(docker_host: DockerHost) -> dict[str, str]:
    """An environment for ``subprocess`` calls of the ``docker`` CLI that reach ``docker_host``."""
    return docker_host.cli_env()


@pytest.fixture
def docker_tmp_path(
    docker_host: DockerHost, tmp_path: Path, pytestconfig: pytest.Config
) -> Iterator[Path]:
    """A fresh folder for containers to map: bind it as it is through docker-py or
    testcontainers. One the daemon sees where there is one (the daemon's path is passed for
    it under DooD); elsewhere the plugin copies it into the container, and back."""
    from .wiring.mountable import mountable_folder, remove_mountable

    folder, ours = mountable_folder(docker_host, tmp_path, pytestconfig.rootpath)
    try:
        yield folder
    finally:
        if ours:
            remove_mountable(folder)
