"""The run's reaper against a fake Engine API: what a session's reaping removes (its own
labelled things, containers first), what it tolerates, what it reports, and which dead
runs a sweep retires. The fake records every request, so the DELETEs are the proof."""

from __future__ import annotations

import time

import pytest

from pytest_dockerhost.cleanup.ownership import Judge, LeaseBook, Owner, process_start
from pytest_dockerhost.cleanup.reaper import (
    LABEL_SESSION,
    RunIdentity,
    mark,
    marker_name,
    reap,
    retire,
    sweep_dead,
)
from pytest_dockerhost.engine.api import EngineClientLike
from pytest_dockerhost.labels import L_OWNER_PID, L_OWNER_PLACE, L_OWNER_START, L_ROLE, L_RUN
from pytest_dockerhost.messages.reaper import could_not_remove

from ..helpers.servers import FakeEngine
from .conftest import stdlib_client

SESSION = "5e55e55e-0000-4000-8000-000000000001"
OTHER = "07he7000-0000-4000-8000-000000000002"


@pytest.fixture
def client(engine: FakeEngine) -> EngineClientLike:
    return stdlib_client(engine)


def _a_run_with_bystanders(engine: FakeEngine) -> None:
    """A session's container (running and exited), network, volume and image; another
    session's container; things nobody labelled; and the run's own marker volume."""
    own = {LABEL_SESSION: SESSION}
    engine.add("containers", "c-running", own)
    engine.add("containers", "c-exited", own, State="exited")
    engine.add("networks", "n-own", own)
    engine.add("volumes", "v-own", own)
    engine.add("images", "sha256:i-own", own)
    engine.add("volumes", "pytest-dockerhost-run-r1", {**own, L_ROLE: "run", L_RUN: "r1"})
    engine.add("containers", "c-other", {LABEL_SESSION: OTHER})
    engine.add("containers", "c-bystander", {"com.example.app": "db"})
    engine.add("networks", "bridge", {})
    engine.add("volumes", "userdata", {})


def test_reap_removes_exactly_the_sessions_things_containers_first(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    _a_run_with_bystanders(engine)
    done = reap(client, SESSION)
    deletes = engine.deletes()
    assert sorted(deletes) == [
        "containers/c-exited",
        "containers/c-running",
        "images/sha256:i-own",
        "networks/n-own",
        "volumes/v-own",
    ]
    # A network or volume in use cannot go before its containers.
    assert {d.split("/")[0] for d in deletes[:2]} == {"containers"}
    assert sorted(done.removed) == [
        "container c-exited",
        "container c-running",
        "image sha256:i-own",
        "network n-own",
        "volume v-own",
    ]
    assert done.failed == ()
    assert not done.retired
    # The marker stays for its owner, the rest was never the session's.
    assert engine.names("containers") == {"c-other", "c-bystander"}
    assert engine.names("volumes") == {"pytest-dockerhost-run-r1", "userdata"}
    assert engine.names("networks") == {"bridge"}


def test_reap_removes_containers_with_their_anonymous_volumes(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    engine.add("containers", "c-running", {LABEL_SESSION: SESSION})
    reap(client, SESSION)
    (delete,) = [r for r in engine.requests if r.method == "DELETE"]
    assert delete.query == {"force": "1", "v": "1"}


def test_what_is_already_gone_is_no_failure_and_what_refuses_is_said(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    _a_run_with_bystanders(engine)
    # Ryuk was quicker with one; the other is still in use.
    engine.refuse["DELETE /containers/c-exited"] = (404, "No such container: c-exited")
    engine.refuse["DELETE /networks/n-own"] = (409, "network n-own has active endpoints")
    done = retire(client, SESSION, "pytest-dockerhost-run-r1")
    assert "container c-exited" not in done.removed
    assert done.failed == (
        could_not_remove("network", "n-own", "network n-own has active endpoints"),
    )
    # Something would not go: the marker keeps the run on record for the next sweep.
    assert not done.retired
    assert "volumes/pytest-dockerhost-run-r1" not in engine.deletes()
    assert "pytest-dockerhost-run-r1" in engine.names("volumes")


def test_retire_removes_the_marker_last_once_everything_went(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    _a_run_with_bystanders(engine)
    done = retire(client, SESSION, "pytest-dockerhost-run-r1")
    assert done.retired
    assert done.failed == ()
    assert engine.deletes()[-1] == "volumes/pytest-dockerhost-run-r1"
    assert engine.names("volumes") == {"userdata"}


def test_mark_records_the_run_with_its_owner_and_session(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    identity = RunIdentity("r1", SESSION)
    owner = Owner.current("r1", None, 60.0)
    mark(client, identity, owner.labels("run"))
    labels = engine.objects["volumes"][marker_name(identity)]["Labels"]
    assert labels[LABEL_SESSION] == SESSION
    assert labels[L_RUN] == "r1"
    assert labels[L_ROLE] == "run"


def _marker(engine: FakeEngine, run: str, session: str, *, place: str = "elsewhere") -> None:
    labels = {**Owner.current(run, None, 60.0).labels("run"), L_OWNER_PLACE: place}
    engine.add("volumes", f"pytest-dockerhost-run-{run}", {**labels, LABEL_SESSION: session})
    engine.add("containers", f"c-{run}", {LABEL_SESSION: session})


def test_sweep_dead_retires_a_dead_runs_session_and_leaves_a_live_ones(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    now = time.time()
    _marker(engine, "dead", "s-dead")  # its lease lapsed a minute ago
    _marker(engine, "live", "s-live")  # renewed ten seconds ago
    _marker(engine, "mine", "s-mine")  # this run's own
    engine.add("volumes", "pytest-dockerhost-run-old", {L_ROLE: "run", L_RUN: "old"})
    book = LeaseBook(now, renewed={"dead": now - 120, "live": now - 10})
    book.terms.update(dead=60.0, live=60.0)
    judge = Judge(Owner.current("mine", None, 60.0), book)
    removed = sweep_dead(client, judge)
    assert removed == ["container c-dead"]
    assert engine.deletes() == ["containers/c-dead", "volumes/pytest-dockerhost-run-dead"]
    assert engine.names("containers") == {"c-live", "c-mine"}
    # With everything (the cleanup command's --all), a live run's session goes too.
    assert sweep_dead(client, judge, everything=True) == ["container c-live"]
    assert engine.names("containers") == {"c-mine"}
    assert engine.names("volumes") == {"pytest-dockerhost-run-mine", "pytest-dockerhost-run-old"}


def test_a_sessions_label_on_another_owners_container_does_not_make_it_the_runs(
    engine: FakeEngine, client: EngineClientLike
) -> None:
    """Another tool made a container under a dead run's session (and run) labels, with an
    owner of its own that lives (this process): neither the sweep of the dead run nor the
    run's own end takes it; the run's own containers (no owner named) and a container
    naming the run's owner go."""
    now = time.time()
    _marker(engine, "dead", "s-dead")
    run_owner = engine.objects["volumes"]["pytest-dockerhost-run-dead"]["Labels"]
    pid1 = {L_OWNER_PID: "1", L_OWNER_START: process_start(1)}
    tool = {**Owner.current("dead", None).labels("tool"), **pid1, LABEL_SESSION: "s-dead"}
    engine.add("containers", "c-tool", tool)
    engine.add("containers", "c-dead-own", {**run_owner, L_ROLE: "sidecar"})
    book = LeaseBook(now, renewed={"dead": now - 120}, terms={"dead": 60.0})
    removed = sweep_dead(client, Judge(Owner.current("mine", None, 60.0), book))
    assert sorted(removed) == ["container c-dead", "container c-dead-own"]
    assert engine.names("containers") == {"c-tool"}
    # At a run's own end too: only what names no owner, or the run's own.
    mine = Owner.current("mine", None, 60.0).labels("run")
    engine.add("containers", "c-mine", {LABEL_SESSION: "s-mine"})
    engine.add("containers", "c-tool-2", {**tool, LABEL_SESSION: "s-mine"})
    engine.add("volumes", "pytest-dockerhost-run-mine", {**mine, LABEL_SESSION: "s-mine"})
    done = retire(client, "s-mine", "pytest-dockerhost-run-mine", mine)
    assert done.removed == ("container c-mine",)
    assert done.retired
    assert engine.names("containers") == {"c-tool", "c-tool-2"}
