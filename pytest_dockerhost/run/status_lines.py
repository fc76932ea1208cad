"""What the header and the terminal summary say about a run: its settings, its endpoint
(or why there is none), what resolution tried, and what the reaper did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messages import header as say_
from ..messages import reaper as reaped_

if TYPE_CHECKING:
    from ..config.settings import Settings
    from .lifecycle import EndpointLifecycle


def settings_lines(state: EndpointLifecycle, verbose: int, *, warnings: bool = True) -> list[str]:
    """Warnings about the settings, and with -v where each non-default one came from."""
    lines = [say_.warning(w) for w in state.settings.warnings] if warnings else []
    if verbose > 0:
        for name, value, source in state.settings.describe(given_only=True):
            lines.append(say_.setting(name, value, source))
    return lines


def header_lines(
    state: EndpointLifecycle, verbose: int, *, with_settings: bool = True
) -> list[str]:
    lines: list[str] = []
    if state.needs_start:
        # Nothing resolved yet: resolution waits until a selected test needs Docker.
        return settings_lines(state, verbose) if with_settings else lines
    if (
        state.host is None
        and state.outer is not None
        and state.sidecar is not None
        and not state.error
    ):
        lines.append(_sidecar_line(state))
        lines.extend(say_.warning(warning) for warning in state.outer.warnings)
        lines.extend(state.pool.header_lines() if state.pool is not None else ())
    elif state.host is not None:
        lines.extend(state.host.header())
        lines.extend(say_.note(note) for note in state.host.notes)
        lines.extend(state.pool.header_lines() if state.pool is not None else ())
        lines.extend(
            say_.warning(warning)
            for warning in state.host.warnings
            if with_settings or warning not in state.settings.warnings  # shown already
        )
    else:
        lines.append(say_.no_endpoint(state.mode, fail=state.settings.fail_without_docker))
        if verbose <= 0:
            error = str(state.error) if state.error is not None else ""
            lines.extend(say_.detail(line) for line in error.splitlines()[1:4])
        if state.resolution is not None and state.resolution.ci_fix:
            lines.append(say_.detail(state.resolution.ci_fix))
    if verbose > 0:
        trace = (
            state.host.trace
            if state.host is not None
            else (state.resolution.trace if state.resolution is not None else ())
        )
        if state.host is not None:
            lines.append(state.host.engine_line())
        if with_settings:
            lines.extend(settings_lines(state, verbose, warnings=False))
        for entry in trace:
            lines.append(
                say_.tried(entry.source, entry.url, entry.outcome, entry.elapsed, entry.detail)
            )
            if entry.fix and verbose > 1:
                lines.append(say_.fix(entry.fix))
    return lines


def summary_lines(state: EndpointLifecycle, verbose: int) -> list[str]:
    """The endpoint's line at the end of the run, when no earlier line showed it: resolved
    inside a test, or a sidecar that an xdist worker started."""
    if state.settled:
        return header_lines(state, verbose, with_settings=False)
    started = state.sidecar.peek() if state.sidecar is not None else None
    if started is None:
        return []
    host = started.host
    return [*host.header(), *(say_.note(note) for note in host.notes)]


def reaper_lines(state: EndpointLifecycle) -> list[str]:
    """What the reaper did at the start (killed runs) and the end (this run)."""
    cleanup = state.cleanup
    lines = [say_.warning(note) for note in cleanup.notes]
    if cleanup.swept:
        lines.append(say_.note(reaped_.swept(len(cleanup.swept))))
    if cleanup.reaped is not None and cleanup.reaped.removed:
        lines.append(reaped_.removed(len(cleanup.reaped.removed), state.identity.session))
    if cleanup.reaped is not None and cleanup.reaped.failed:
        lines.extend(reaped_.not_removed(cleanup.reaped.failed))
    return lines


def _sidecar_line(state: EndpointLifecycle) -> str:
    assert state.outer is not None
    assert state.sidecar is not None
    spec = state.sidecar.spec
    extras = say_.sidecar_extras(
        spec.image,
        privileged=spec.privileged,
        runtime=spec.runtime,
        cache=spec.cache,
        reuse=spec.reuse,
        preload=spec.preload,
    )
    outer = state.outer
    return say_.planned_sidecar(
        extras,
        outer.mode,
        outer.shown_url,
        engine=outer.engine_label,
        api=outer.api_version,
        source=outer.source,
    )


def report_failure_line(settings: Settings, exc: OSError) -> str:
    """--docker-report could not be written: said in the summary, with where the path came
    from."""
    from ..messages.reports import report_unwritable

    setting = settings.report
    assert setting.value is not None
    return say_.warning(report_unwritable(setting.value, setting.source, exc))
