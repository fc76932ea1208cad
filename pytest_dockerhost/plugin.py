"""The pytest surface of pytest-dockerhost: options, hooks, fixtures, marker, header.

Everything else lives in plain modules that are imported lazily, so that
runs which never touch Docker pay almost nothing for the plugin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .config.options import register as register_options
from .config.settings import Settings
from .wiring.usage import DOCKER_FIXTURES

if TYPE_CHECKING:
    from pathlib import Path

    import docker

    from .discovery.endpoint import DockerHost
    from .run.session import DockerSession

_SESSION: pytest.StashKey[DockerSession] = pytest.StashKey()
_MAY_USE: pytest.StashKey[bool] = pytest.StashKey()
_WORKER_KEY = "pytest_dockerhost"
_TEST_HOOKS = "dockerhost-tests"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    register_options(parser, pluginmanager)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the first conftest is imported: code that imports docker or testcontainers
    # resolves and wires the endpoint then, so that a module-level docker.from_env()
    # already reaches it.
    state = _session(early_config, early=True)
    if state is None:
        return  # a bad setting: pytest_configure reports it as a usage error
    from .wiring.usage import ImportWatch, docker_imported

    settings = state.settings
    state.starts_early = _runs_tests(early_config)
    state.begin_sidecar()  # sidecar mode: now, before the conftests import
    when = settings.resolve.value
    explicit = not settings.mode.is_default or settings.on_ci is not None
    if when == "always" or (when == "auto" and explicit and docker_imported()):
        # Imported before pytest loaded us (another plugin): no import left to watch for.
        _activate(early_config)
    elif when == "auto":
        watch = ImportWatch(lambda: _activate_on_import(early_config))
        watch.install()
        state.on_close(watch.uninstall)


def pytest_configure(config: pytest.Config) -> None:
    from .config.option_table import OPTIONS_BY_NAME
    from .config.texts import marker

    config.addinivalue_line("markers", marker(OPTIONS_BY_NAME["required"].flag))
    state = _session(config, early=False)
    assert state is not None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and _WORKER_KEY in workerinput and not state.adopted:
        state.adopt(workerinput[_WORKER_KEY])
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(state), "dockerhost-xdist")
    if state.deferred:
        _activate(config)


def _session(config: pytest.Config, *, early: bool) -> DockerSession | None:
    """This run's state, made once: before the initial conftests, or at configure time."""
    state = config.stash.get(_SESSION, None)
    if state is not None:
        return state
    from .errors import SettingError
    from .run.session import DockerSession

    namespace = config.known_args_namespace if early else None
    try:
        settings = Settings.from_config(config, namespace=namespace)
    except SettingError as exc:
        if early:
            return None
        raise pytest.UsageError(f"pytest-dockerhost: {exc}") from None
    state = DockerSession(settings)
    state.say = _writer(config)
    config.stash[_SESSION] = state
    if early:
        handed = _xdist_workerinput()
        if handed is not None and _WORKER_KEY in handed:
            state.adopt(handed[_WORKER_KEY])
    return state


def _runs_tests(config: pytest.Config) -> bool:
    """Not --help, --version, --markers, --fixtures or --collect-only: a run whose tests may
    need a sidecar soon (xdist workers never start one: they adopt the controller's)."""
    known = config.known_args_namespace
    flags = ("help", "version", "markers", "showfixtures", "show_fixtures_per_test", "collectonly")
    return not any(getattr(known, flag, False) for flag in flags)


def _xdist_workerinput() -> dict[str, Any] | None:
    """In a pytest-xdist worker, before ``config.workerinput`` exists: the dict the controller
    sent, which xdist's worker script holds while it builds the config."""
    import os
    import sys

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        found = frame.f_globals.get("workerinput")
        if frame.f_globals.get("__name__") == "__channelexec__" and isinstance(found, dict):
            return found
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _activate_on_import(config: pytest.Config) -> None:
    """``_activate`` from inside the user's ``import docker``, which must not fail."""
    try:
        _activate(config)
    except Exception as exc:  # a bug of ours: keep it for the tests, not the import line
        state = config.stash.get(_SESSION, None)
        if state is not None and not state.error:
            from .messages.header import internal_error

            state.error = internal_error(exc)


def _activate(config: pytest.Config) -> None:
    """Resolve and wire now (code that may use Docker is about to run), with the per-test
    hooks that turn an unreachable daemon into the plugin's diagnosis."""
    import os

    state = config.stash.get(_SESSION, None)
    if state is None:
        return
    if "PYTEST_XDIST_WORKER" in os.environ and not state.adopted:
        # A worker that does not know the controller's endpoint yet must not resolve (or
        # start a sidecar) on its own: wait for config.workerinput.
        state.deferred = not hasattr(config, "workerinput")
        if state.deferred:
            return
    state.deferred = False
    manager = config.pluginmanager
    if not manager.has_plugin(_TEST_HOOKS):
        manager.register(DockerTestHooks(), _TEST_HOOKS)
    state.activate(wait=False)  # a sidecar still starting: the first test waits for it


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_SESSION, None)
    if state is not None and not hasattr(session.config, "workerinput"):
        state.finish()  # the owner reaps, once every worker is done
        if state.settings.report.value:
            _write_report(state)


def _write_report(state: DockerSession) -> None:
    from .run.report import run_report, write

    setting = state.settings.report
    assert setting.value is not None
    try:
        write(setting.value, run_report(state))
    except OSError as exc:  # said in the summary, with where the path came from
        from .messages.header import warning
        from .messages.reports import report_unwritable

        state.report_error = warning(report_unwritable(setting.value, setting.source, exc))


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


def pytest_collection(session: pytest.Session) -> None:
    state = session.config.stash.get(_SESSION, None)
    if state is not None:
        state.collecting = True  # progress lines must not land after "collecting ... "


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # tryfirst: before the terminal reporter asks for pytest_report_collectionfinish.
    state = session.config.stash.get(_SESSION, None)
    if state is None:
        return
    from .wiring.usage import may_use_docker

    found = False
    imports = state.settings.resolve.value != "marked"
    for item in session.items:
        if may_use_docker(item, state.module_cache, imports=imports):
            item.stash[_MAY_USE] = True
            found = True
    if found:
        _activate(session.config)  # no per-test hooks and no resolution for Docker-free runs
    else:
        state.cancel_sidecar()  # started early, at session start: not needed after all
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker and state.sidecar is not None and not state.sidecar.owner:
        state.sidecar.record_collection(worker, found)  # the controller cancels on "none"s
    state.collecting = False


def _writer(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines (a sidecar image pull) shown live, even while output is captured."""

    midline = [False]  # "collecting ... " is on the terminal, waiting for its count

    def say(text: str) -> None:
        if hasattr(config, "workerinput"):
            return
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            # A conftest that imports docker at its top starts a sidecar before the
            # terminal exists: the header shows these lines.
            early = config.stash.get(_SESSION, None)
            if early is not None:
                early.early_lines.append(text)
            return
        capman = config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            state = config.stash.get(_SESSION, None)
            if state is not None and state.collecting and not midline[0]:
                midline[0] = True
                reporter.write("\n")
            reporter.write_line(text)

    return say


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(_SESSION, None)
    if state is None:
        return []
    # Before resolution (it waits for collection) this is only the settings' lines.
    state.shown = state.settled
    early, state.early_lines = state.early_lines, []
    verbose = config.get_verbosity()
    if state.needs_start and not state.settings.warnings and verbose <= 0 and not early:
        return []  # a Docker-free run has nothing to say: not even the messages are imported
    from .run.status_lines import header_lines

    return [*early, *header_lines(state, verbose)]


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    state = config.stash.get(_SESSION, None)
    if state is None or state.shown or not state.settled or config.get_verbosity() < 0:
        return []
    from .run.status_lines import header_lines

    state.shown = True
    return header_lines(state, config.get_verbosity(), with_settings=False)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    # Resolved during a test, or a sidecar an xdist worker started: the line goes here.
    state = config.stash.get(_SESSION, None)
    if state is None or hasattr(config, "workerinput"):
        return
    if state.report_error:
        terminalreporter.write_line(state.report_error)  # asked for: said even with -q
    if config.get_verbosity() < 0:
        return
    endpoint_said = state.shown or not (state.settled or state.sidecar)
    if endpoint_said and state.reaped is None and not state.notes and not state.swept:
        return  # nothing left to say: a Docker-free run imports no messages
    from .run.status_lines import reaper_lines, summary_lines

    for line in [*summary_lines(state, config.get_verbosity()), *reaper_lines(state)]:
        terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if not DOCKER_FIXTURES.isdisjoint(names) and item.get_closest_marker("docker") is None:
            item.add_marker(pytest.mark.docker)


def _require(config: pytest.Config) -> DockerHost:
    from .errors import DockerHostError, EndpointLostError

    state = config.stash[_SESSION]
    try:
        return state.require()
    except DockerHostError as exc:
        from .run.reports import verdict

        failed, message = verdict(state.settings, str(exc), lost=isinstance(exc, EndpointLostError))
    # Outside the except block, so that no exception chain is printed.
    if failed:
        pytest.fail(message, pytrace=False)
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


@pytest.fixture
def docker_tmp_path(
    docker_host: DockerHost, tmp_path: Path, pytestconfig: pytest.Config
) -> Iterator[Path]:
    """A fresh folder the daemon can bind-mount: mount ``docker_host.daemon_path(it)``
    (the same path on a laptop and in a pod). Fails, with the fix, where there is none."""
    from .errors import BindMountError
    from .wiring.mountable import mountable_folder, remove_mountable

    try:
        folder, ours = mountable_folder(docker_host, tmp_path, pytestconfig.rootpath)
    except BindMountError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield folder
    finally:
        if ours:
            remove_mountable(folder)


class DockerTestHooks:
    """Per-test hooks, registered once the run may use Docker."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker("docker") is not None:
            _require(item.config)
        elif item.stash.get(_MAY_USE, False):
            item.config.stash[_SESSION].activate()  # wired before it runs; it may not need it

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if report.failed and call.excinfo is not None:
            state = item.config.stash.get(_SESSION, None)
            if state is not None and not isinstance(call.excinfo.value, pytest.fail.Exception):
                why, lost = state.explain_failure(call.excinfo.value)
                if why:
                    from .run.reports import replace_test_report

                    replace_test_report(
                        report, item, state.settings, why=why, lost=lost, exc=call.excinfo.value
                    )
        return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    # Module level: the import that fails may be the one that resolved (too late to register).
    report = yield
    state = collector.config.stash.get(_SESSION, None)
    if report.failed and state is not None and state.host is None and state.error:
        from .run.reports import replace_collect_report

        replace_collect_report(report, str(collector.path), state.settings, state.error)
    return report


class XdistHooks:
    """Registered only when pytest-xdist is present: hand the endpoint to workers."""

    def __init__(self, session: DockerSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKER_KEY] = self.session.export()

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # The controller collects nothing: its workers tell whether any test needs Docker.
        shared = self.session.sidecar
        dsession = node.config.pluginmanager.get_plugin("dsession")
        specs = getattr(getattr(dsession, "nodemanager", None), "specs", None)
        if (
            shared is not None
            and shared.owner
            and specs
            and shared.no_worker_needs_docker(len(specs))
        ):
            self.session.cancel_sidecar()
