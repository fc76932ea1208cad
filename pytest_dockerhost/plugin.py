"""The pytest surface of pytest-dockerhost: options, hooks, fixtures, marker, header.

Everything else lives in plain modules that are imported lazily, so that
runs which never touch Docker pay almost nothing for the plugin.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .settings import OPTIONS, Settings

if TYPE_CHECKING:
    import docker

    from .endpoint import DockerHost
    from .session import DockerSession

_BOOL_WORDS = {
    "true": ("true", "1", "yes", "on", "True", "TRUE"),
    "false": ("false", "0", "no", "off", "False", "FALSE"),
}
DOCKER_FIXTURES = frozenset({"docker_host", "docker_client", "docker_env"})
_SESSION: pytest.StashKey[DockerSession] = pytest.StashKey()
_WORKER_KEY = "pytest_dockerhost"
_TEST_HOOKS = "dockerhost-tests"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dockerhost", "Docker endpoint (pytest-dockerhost)")
    for spec in OPTIONS:
        dest = "dockerhost_" + spec.name
        if spec.kind == "bool":
            group.addoption(
                spec.flag,
                dest=dest,
                action="store_const",  # a bare flag: `--docker-required tests/` keeps the path
                const="true",
                default=None,
                help=spec.help,
            )
            group.addoption(
                "--no-" + spec.flag[2:],
                dest=dest,
                action="store_const",
                const="false",
                help=f"the opposite of {spec.flag}",
            )
            # argparse matches a whole option string before splitting at "=", so these
            # spellings keep `--docker-sidecar-privileged=false` working next to bare flags.
            for word in ("true", "false"):
                group.addoption(
                    *(f"{spec.flag}={alias}" for alias in _BOOL_WORDS[word]),
                    dest=dest,
                    action="store_const",
                    const=word,
                    help=argparse.SUPPRESS,
                )
        elif spec.kind == "lines":
            group.addoption(
                spec.flag,
                dest=dest,
                action="append",
                default=None,
                metavar=spec.metavar,
                help=spec.help,
            )
        else:
            metavar = "{" + ",".join(spec.choices) + "}" if spec.choices else spec.flag[9:].upper()
            group.addoption(spec.flag, dest=dest, default=None, metavar=metavar, help=spec.help)
        if spec.ini is not None:
            if spec.kind == "lines":
                parser.addini(spec.ini, help=spec.help, type="linelist", default=None)
            else:
                parser.addini(spec.ini, help=spec.help, type="string", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "docker: the test needs a Docker engine; skipped without one (failed with "
        "--docker-required or on CI). Tests using docker_host or docker_client count as marked.",
    )
    from .errors import SettingError
    from .session import DockerSession

    try:
        settings = Settings.from_config(config)
    except SettingError as exc:
        raise pytest.UsageError(f"pytest-dockerhost: {exc}") from None
    session = DockerSession(settings)
    session.say = _writer(config)
    config.stash[_SESSION] = session
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and _WORKER_KEY in workerinput:
        session.adopt(workerinput[_WORKER_KEY])
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(session), "dockerhost-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # tryfirst: resolve before pytest-xdist starts workers and before the header is written.
    # A plain run waits for collection instead: runs that select no Docker test pay nothing.
    state = session.config.stash.get(_SESSION, None)
    if state is None or not state.needs_start:
        return
    if state.mode == "sidecar" or session.config.pluginmanager.has_plugin("dsession"):
        state.start()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # tryfirst: before the terminal reporter asks for pytest_report_collectionfinish.
    state = session.config.stash.get(_SESSION, None)
    if state is None or not any(item.get_closest_marker("docker") for item in session.items):
        return  # no per-test hooks and no resolution: Docker-free runs pay nothing more
    manager = session.config.pluginmanager
    if not manager.has_plugin(_TEST_HOOKS):
        manager.register(DockerTestHooks(), _TEST_HOOKS)
    if state.needs_start:
        state.start()
        state.resolved_late = True


def _writer(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines (a sidecar image pull) shown live, even while output is captured."""

    def say(text: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or hasattr(config, "workerinput"):
            return
        capman = config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            reporter.write_line(text)

    return say


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(_SESSION, None)
    if state is None:
        return []
    # Before resolution (it waits for collection) this is only the settings' lines.
    return state.header_lines(config.get_verbosity())


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    state = config.stash.get(_SESSION, None)
    if state is None or not state.resolved_late or config.get_verbosity() < 0:
        return []
    return state.header_lines(config.get_verbosity(), with_settings=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & DOCKER_FIXTURES and item.get_closest_marker("docker") is None:
            item.add_marker(pytest.mark.docker)


def _require(config: pytest.Config) -> DockerHost:
    from .errors import DockerHostError, EndpointLostError

    state = config.stash[_SESSION]
    lost = False
    try:
        return state.require()
    except DockerHostError as exc:
        message = f"pytest-dockerhost: {exc}"
        lost = isinstance(exc, EndpointLostError)
    # Outside the except block, so that no exception chain is printed.
    settings = state.settings
    if lost:
        pytest.fail(message, pytrace=False)  # it worked before: this is a failure, not a skip
    if settings.fail_without_docker:
        why = (
            settings.required.source
            if not settings.required.is_default
            else f"CI detected via {settings.on_ci}"
        )
        pytest.fail(f"{message}\n  (failing instead of skipping: {why})", pytrace=False)
    pytest.skip(message)


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


class DockerTestHooks:
    """Per-test hooks, registered once collection has selected a test that needs Docker."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker("docker") is not None:
            _require(item.config)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if report.failed and call.excinfo is not None and item.get_closest_marker("docker"):
            state = item.config.stash.get(_SESSION, None)
            message = state.check_lost(call.excinfo.value) if state is not None else ""
            if message:
                report.sections.append(("pytest-dockerhost", message))
        return report


class XdistHooks:
    """Registered only when pytest-xdist is present: hand the endpoint to workers."""

    def __init__(self, session: DockerSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKER_KEY] = self.session.export()
