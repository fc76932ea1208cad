"""The plugin's pytest hooks for one run, as methods of an object registered once (the way
pytest-xdist's ``DSession`` and pytest's ``LFPlugin`` are): it owns the hook timing (what
the terminal has shown, whether collection is under way) and the writer of progress lines,
and drives the endpoint's lifecycle. ``plugin.py`` keeps what pytest needs at module level."""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

import pytest

from ..config.parsing import strategy_for
from ..config.settings import Settings
from .xdist_hooks import HANDOVER_ENV, WORKER_KEY

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost
    from ..errors import DockerHostError
    from ..wiring.usage import ImportWatch
    from .hosts import RemoteWorkers
    from .lifecycle import EndpointLifecycle

MAY_USE: pytest.StashKey[bool] = pytest.StashKey()
BEGAN: pytest.StashKey[float] = pytest.StashKey()  # wall-clock time the test's setup began
TEST_HOOKS = "dockerhost-tests"
XDIST_HOOKS = "dockerhost-xdist"


def runs_tests(config: pytest.Config) -> bool:
    """Not --help, --version, --markers, --fixtures or --collect-only: a run whose tests may
    need a sidecar soon (xdist workers never start one: they adopt the owner's)."""
    known = config.known_args_namespace
    flags = ("help", "version", "markers", "showfixtures", "show_fixtures_per_test", "collectonly")
    return not any(getattr(known, flag, False) for flag in flags)


def handed_over() -> dict[str, Any] | None:
    """In an xdist worker, before its conftests: the owner's endpoint, taken out of the
    environment so that the processes its tests start do not inherit it."""
    text = os.environ.pop(HANDOVER_ENV, None)
    if text is None or "PYTEST_XDIST_WORKER" not in os.environ:
        return None
    import json

    from .pool import pick

    data = json.loads(text)
    return pick(data, os.environ["PYTEST_XDIST_WORKER"]) if isinstance(data, dict) else None


def _all_workers_elsewhere(options: Any) -> bool:
    """The controller of a distributed run whose every ``--tx`` is on another host."""
    if not getattr(options, "tx", None) or "PYTEST_XDIST_WORKER" in os.environ:
        return False  # the common case decided without importing run/hosts.py
    from .hosts import no_local_worker

    return no_local_worker(options)


class DockerHostPlugin:
    """One run's hooks: when to resolve, what the header and the summary say."""

    def __init__(self, config: pytest.Config, settings: Settings, *, early: bool) -> None:
        self.config = config
        self.settings = settings
        # Made before the conftests (``early``), it knows whether this run runs tests.
        self._start_early = runs_tests(config) if early else True
        # Made once the run may use Docker, at once for a sidecar (it starts before the
        # conftests import): a Docker-free run does not import it (benchmarks/README.md).
        self._lifecycle: EndpointLifecycle | None = None
        self._ended = False  # the owner's session is over: a lifecycle made now is finished
        self.collecting = False  # between pytest_collection and its finish
        self._midline = False  # "collecting ... " is on the terminal, waiting for its count
        self.shown = False  # the endpoint's line has been printed (header or collection)
        self.early_lines: list[str] = []  # progress said before the terminal existed
        self.module_cache: dict[str, bool] = {}  # module name -> imports docker/testcontainers
        self.report_failure: OSError | None = None  # --docker-report could not be written
        self._watch: ImportWatch | None = None
        self._remote_workers: RemoteWorkers | None = None  # xdist workers on other hosts
        # An xdist controller whose workers are all on other hosts runs no test: it resolves
        # nothing and starts no sidecar (each worker resolves on its host, run/hosts.py).
        self._all_elsewhere = _all_workers_elsewhere(
            config.known_args_namespace if early else config.option
        )
        if strategy_for(settings.mode.value) == "sidecar" and not self._all_elsewhere:
            self._make_lifecycle()

    @property
    def lifecycle(self) -> EndpointLifecycle:
        if self._lifecycle is None:
            return self._make_lifecycle()
        return self._lifecycle

    @property
    def remote_workers(self) -> RemoteWorkers:
        """What the controller's workers on other hosts reported (run/hosts.py)."""
        if self._remote_workers is None:
            from .hosts import RemoteWorkers

            self._remote_workers = RemoteWorkers()
        return self._remote_workers

    def said(self, why: str) -> str:
        """A diagnosis as a test reads it: on a worker elsewhere, naming its host."""
        place = self._lifecycle.elsewhere if self._lifecycle is not None else None
        if place is None:
            return why
        from ..messages.hosts import on_host

        return on_host(place, getattr(self.config, "workerinput", {}).get("workerid", "")) + why

    def _make_lifecycle(self) -> EndpointLifecycle:
        from .lifecycle import EndpointLifecycle

        made = EndpointLifecycle(self.settings, say=self.say, start_early=self._start_early)
        if self._ended:
            made.finish()  # as it would be, had it been made before the session's end
        self._lifecycle = made
        return made

    # --- before the conftests, and at configure time -------------------------------------

    def load_early(self) -> None:
        """Before the first conftest is imported: code that imports docker or testcontainers
        resolves and wires the endpoint then, so that a module-level docker.from_env()
        already reaches it."""
        from ..wiring.usage import ImportWatch, docker_imported

        settings = self.settings
        if self._lifecycle is not None:
            self._lifecycle.begin_sidecar()  # a sidecar: now, before the conftests import
        when = settings.resolve.value
        explicit = not settings.mode.is_default or settings.on_ci is not None
        if when == "always" or (when == "auto" and explicit and docker_imported()):
            # Imported before pytest loaded us (another plugin): no import left to watch for.
            self.activate()
        elif when == "auto":
            self._watch = ImportWatch(self._activate_on_import)
            self._watch.install()

    def configure(self) -> None:
        config = self.config
        deferred = self._lifecycle is not None and self._lifecycle.deferred
        handed = getattr(config, "workerinput", {}).get(WORKER_KEY)
        if handed is not None and self.lifecycle.role == "owner":
            self.lifecycle.adopt(handed)
        if config.pluginmanager.hasplugin("xdist"):
            from .xdist_hooks import XdistHooks

            config.pluginmanager.register(XdistHooks(self), XDIST_HOOKS)
        if deferred:
            self.activate()

    def _activate_on_import(self) -> None:
        """``activate`` from inside the user's ``import docker``, which must not fail."""
        try:
            self.activate()
        except Exception as exc:  # a bug of ours: keep it for the tests, not the import line
            self.lifecycle.keep_crash(exc)

    def activate(self) -> None:
        """Resolve and wire now (code that may use Docker is about to run), with the per-test
        hooks that turn an unreachable daemon into the plugin's diagnosis."""
        if self._all_elsewhere:
            return
        lifecycle = self.lifecycle
        waiting = lifecycle.role == "owner" and not hasattr(self.config, "workerinput")
        if "PYTEST_XDIST_WORKER" in os.environ and waiting:
            # A worker that does not know the owner's endpoint yet must not resolve (or
            # start a sidecar) on its own: wait for config.workerinput.
            lifecycle.defer()
            return
        manager = self.config.pluginmanager
        if not manager.has_plugin(TEST_HOOKS):
            manager.register(DockerTestHooks(self), TEST_HOOKS)
        lifecycle.activate(wait=False)  # a sidecar still starting: the first test waits for it

    def require(self) -> DockerHost:
        """The endpoint for a fixture or a marked test; otherwise skipped or failed, with
        the reason (outside the except block, so that no exception chain is printed)."""
        from ..errors import DockerHostError, EndpointLostError

        try:
            return self.lifecycle.require()
        except DockerHostError as exc:
            from .reports import verdict

            failed, message = verdict(
                self.settings, self.said(str(exc)), lost=isinstance(exc, EndpointLostError)
            )
        if failed:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    # --- the run ---------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # tryfirst: resolve before pytest-xdist starts workers and before the header is
        # written. A plain run waits for collection instead.
        xdist_owner = session.config.pluginmanager.has_plugin("dsession")
        if (self._lifecycle is None and not xdist_owner) or self._all_elsewhere:
            return
        lifecycle = self.lifecycle
        if lifecycle.needs_start and (lifecycle.starts_at_session_start or xdist_owner):
            from .pool_sidecars import for_workers  # a pool's sidecars then start at once

            if xdist_owner:
                for_workers(lifecycle.start)
            else:
                lifecycle.start()
        if xdist_owner and lifecycle.pool is not None:
            lifecycle.pool.spread(lifecycle, session.config)  # pins the local workers

    def pytest_collection(self, session: pytest.Session) -> None:
        self.collecting = True  # progress lines must not land after "collecting ... "

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # tryfirst: before the terminal reporter asks for pytest_report_collectionfinish.
        from ..wiring.usage import may_use_docker

        found = False
        imports = self.settings.resolve.value != "marked"
        for item in session.items:
            if may_use_docker(item, self.module_cache, imports=imports):
                item.stash[MAY_USE] = True
                found = True
        if found and session.config.option.collectonly:
            pass  # no test runs: nothing to resolve, and no sidecar to start
        elif found:
            self.activate()  # no per-test hooks and no resolution for Docker-free runs
        elif self._lifecycle is not None:
            self._lifecycle.cancel_sidecar()  # started early: not needed after all
        worker = getattr(session.config, "workerinput", {}).get("workerid")
        sidecar = self._lifecycle.sidecar if self._lifecycle is not None else None
        if worker and sidecar is not None and not sidecar.owner:
            sidecar.record_collection(worker, found)  # the owner cancels on "none"s
        if worker and self._lifecycle is not None and self._lifecycle.elsewhere:
            from .hosts import tell_controller  # before xdist sends "collectionfinish"

            tell_controller(session.config.workerinput.get(WORKER_KEY), self._lifecycle)  # type: ignore[attr-defined]
        self.collecting = False

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            lifecycle = self._lifecycle
            if lifecycle is not None and lifecycle.elsewhere:
                # A worker on another host owns its claim there: it reaps, then tells the
                # controller what it used (before xdist sends its workeroutput).
                from .hosts import worker_output

                lifecycle.finish()
                session.config.workeroutput[WORKER_KEY] = worker_output(lifecycle)  # type: ignore[attr-defined]
            return
        self._ended = True
        if self._lifecycle is not None:
            self._lifecycle.finish()  # the owner reaps, once every worker is done
        if self.settings.report.value:
            self._write_report()

    def _write_report(self) -> None:
        from .report import run_report, write

        path = self.settings.report.value
        assert path is not None
        try:
            uses = self._remote_workers.uses() if self._remote_workers is not None else []
            write(path, run_report(self.lifecycle, hosts=[use.report() for use in uses]))
        except OSError as exc:  # said in the summary, with where the path came from
            self.report_failure = exc

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._watch is not None:
            self._watch.uninstall()
            self._watch = None
        if self._lifecycle is not None:
            self._lifecycle.close()

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        # The import that fails may be the one that resolved (too late for the test hooks).
        report = yield
        lifecycle = self._lifecycle
        if lifecycle is None or not report.failed:
            return report
        if lifecycle.host is None and lifecycle.error is not None:
            from .reports import replace_collect_report

            why = self.said(str(lifecycle.error))
            replace_collect_report(report, str(collector.path), self.settings, why)
        elif lifecycle.host is not None:
            from .reports import replace_collect_denial

            replace_collect_denial(report)  # a module-level request the engine refused
        return report

    # --- what the terminal says ----------------------------------------------------------

    def say(self, text: str) -> None:
        """Progress lines (a sidecar image pull) shown live, even while output is captured."""
        config = self.config
        if hasattr(config, "workerinput"):
            return
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            # A conftest that imports docker at its top starts a sidecar before the
            # terminal exists: the header shows these lines.
            self.early_lines.append(text)
            return
        capman = config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            if self.collecting and not self._midline:
                self._midline = True
                reporter.write("\n")
            reporter.write_line(text)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lifecycle = self._lifecycle
        # Before resolution (it waits for collection) this is only the settings' lines.
        self.shown = lifecycle is not None and lifecycle.settled
        early, self.early_lines = self.early_lines, []
        verbose = config.get_verbosity()
        idle = lifecycle is None or lifecycle.needs_start
        if idle and not self.settings.warnings and verbose <= 0 and not early:
            return []  # a Docker-free run has nothing to say: not even the messages are imported
        from .status_lines import header_lines

        return [*early, *header_lines(self.lifecycle, verbose)]

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        lifecycle = self._lifecycle
        if self.shown or lifecycle is None or not lifecycle.settled or config.get_verbosity() < 0:
            return []
        from .status_lines import header_lines

        self.shown = True
        return header_lines(lifecycle, config.get_verbosity(), with_settings=False)

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        # Resolved during a test, or a sidecar an xdist worker started: the line goes here.
        if hasattr(config, "workerinput"):
            return
        lifecycle = self._lifecycle
        if self.report_failure is not None:  # asked for: said even with -q
            from .status_lines import report_failure_line

            terminalreporter.write_line(report_failure_line(self.settings, self.report_failure))
        if self._remote_workers is not None and config.get_verbosity() >= 0:
            for line in self._remote_workers.summary_lines():  # not said before the tests
                terminalreporter.write_line(line)
        if config.get_verbosity() < 0 or lifecycle is None:
            return  # never made: nothing was resolved, started or claimed
        endpoint_said = self.shown or not (lifecycle.settled or lifecycle.sidecar)
        if endpoint_said and lifecycle.cleanup.nothing_to_say:
            return  # nothing left to say: a Docker-free run imports no messages
        from .status_lines import reaper_lines, summary_lines

        lines = [] if self.shown else summary_lines(lifecycle, config.get_verbosity())
        self.shown = True
        for line in [*lines, *reaper_lines(lifecycle)]:
            terminalreporter.write_line(line)


class DockerTestHooks:
    """Per-test hooks, registered once the run may use Docker."""

    def __init__(self, plugin: DockerHostPlugin) -> None:
        self.plugin = plugin

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[BEGAN] = time.time()
        if item.get_closest_marker("docker") is not None:
            self.plugin.require()
        elif item.stash.get(MAY_USE, False):
            self.plugin.lifecycle.activate()  # wired before it runs; it may not need it

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if report.failed:
            from . import tunnels

            said = tunnels.forward_problems(item.stash.get(BEGAN, call.start))
            if said:
                report.sections.append(("docker: published ports", said))
        if report.failed and call.excinfo is not None:
            exc = call.excinfo.value
            if not isinstance(exc, pytest.fail.Exception):
                why: DockerHostError | None = self.plugin.lifecycle.explain_failure(exc)
                host = self.plugin.lifecycle.host
                if why is None and host is not None:
                    from ..discovery.health import KILLED_STATUS, killed_for_memory

                    began = item.stash.get(BEGAN, call.start)
                    settle = KILLED_STATUS in str(exc)
                    session = self.plugin.lifecycle.identity.session
                    said = killed_for_memory(
                        host, began, time.time(), settle=settle, session=session
                    )
                    if said:
                        report.sections.append(("docker: killed for memory", said))
                if why is not None:
                    from ..errors import AuthorizationDeniedError, EndpointLostError
                    from .reports import replace_test_report

                    # A refusal is the engine's answer: a failure, never a skip.
                    lost = isinstance(why, (EndpointLostError, AuthorizationDeniedError))
                    settings = self.plugin.settings
                    why_text = self.plugin.said(str(why))
                    replace_test_report(report, item, settings, why=why_text, lost=lost, exc=exc)
        return report
