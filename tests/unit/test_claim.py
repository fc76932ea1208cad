"""A run's claim against a fake Engine API: at its start it takes a lease, sweeps what a
dead run left (its session's containers, its labelled sidecar things, its bookkeeping)
and leaves a live run's and a bystander's alone; at its end it reaps its own session and
lets its lease go. Without a lease it touches nothing on the daemon."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import pytest

from pytest_dockerhost.cleanup.claim import Claim
from pytest_dockerhost.cleanup.lease import PREFIX
from pytest_dockerhost.cleanup.ownership import Owner
from pytest_dockerhost.cleanup.reaper import LABEL_SESSION, Reaped, RunIdentity, marker_name
from pytest_dockerhost.discovery.endpoint import DockerHost
from pytest_dockerhost.engine.url import parse_url
from pytest_dockerhost.labels import L_RUN
from pytest_dockerhost.messages.reaper import unavailable
from pytest_dockerhost.tempdirs import LOCK

from ..helpers import dood_host
from ..helpers.servers import FakeEngine, fake_engine

DEAD, LIVE = "deadrun00001", "liverun00001"


@pytest.fixture(autouse=True)
def dead_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The claim sweeps the temp dir for folders of dead runs: here a temp dir of the test's
    own, never the machine's (where a concurrent test's killed runs left theirs on purpose),
    holding one folder whose owner is gone (its lock is free)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = tmp_path / "pytest-dockerhost-deadrun00001-key"
    folder.mkdir()
    (folder / LOCK).touch()
    return folder


@pytest.fixture
def host(engine: FakeEngine) -> DockerHost:
    return dataclasses.replace(dood_host(), docker_url=parse_url(engine.url))


def _run_on(engine: FakeEngine, run: str, *, renewed_ago: float) -> None:
    """What a run elsewhere (another container) made: its lease, renewed ``renewed_ago``
    seconds ago by the daemon's clock, its marker, a test's container and network under its
    session, and its sidecar's container and volume under its run label."""
    owner = dataclasses.replace(Owner.current(run, None, 60.0), place=f"elsewhere-{run}")
    session = f"session-of-{run}"
    stamp = engine.stamp(engine.now() - renewed_ago)
    engine.add("volumes", f"{PREFIX}{run}-7", owner.labels("lease"), CreatedAt=stamp)
    engine.add(
        "volumes", f"pytest-dockerhost-run-{run}", {**owner.labels("run"), LABEL_SESSION: session}
    )
    engine.add("containers", f"test-{run}", {LABEL_SESSION: session})
    engine.add("networks", f"net-{run}", {LABEL_SESSION: session})
    engine.add("containers", f"sidecar-{run}", owner.labels("sidecar"))
    engine.add("volumes", f"docker-{run}", owner.labels("volume"))


def _bystanders(engine: FakeEngine) -> None:
    engine.add("containers", "postgres-of-someone", {"com.example.app": "db"})
    engine.add("networks", "bridge", {})
    engine.add("volumes", "userdata", {})


def _claim(host: DockerHost, run: str = "ourrun000001") -> Claim:
    claim = Claim(host, RunIdentity(run, f"session-of-{run}"), lease=60.0, reap=True)
    # Each in a pid namespace of its own, as runs in containers on a shared CI daemon: only
    # their leases tell whether they live.
    claim.owner = dataclasses.replace(claim.owner, place=f"elsewhere-{run}")
    return claim


def test_the_start_sweeps_a_dead_runs_things_and_leaves_a_live_runs_and_a_bystanders(
    engine: FakeEngine, host: DockerHost, dead_runs_folder: Path
) -> None:
    _run_on(engine, DEAD, renewed_ago=120)  # its lease lapsed a minute ago
    _run_on(engine, LIVE, renewed_ago=5)
    _bystanders(engine)
    claim = _claim(host)
    claim.take()
    try:
        assert claim.notes == []
        assert claim.lease is not None
        assert not dead_runs_folder.exists()
        assert sorted(engine.deletes()) == sorted(
            [
                f"containers/test-{DEAD}",
                f"networks/net-{DEAD}",
                f"volumes/pytest-dockerhost-run-{DEAD}",
                f"containers/sidecar-{DEAD}",
                f"volumes/docker-{DEAD}",
                f"volumes/{PREFIX}{DEAD}-7",
            ]
        )
        # Named (ids cut short): what the dead run's tests and sidecar left; its
        # bookkeeping goes unnamed.
        assert sorted(claim.swept) == sorted(
            [
                f"container {f'test-{DEAD}'[:12]}",
                f"network {f'net-{DEAD}'[:12]}",
                f"container sidecar-{DEAD}",
                f"volume docker-{DEAD}",
            ]
        )
        assert engine.names("containers") == {
            f"test-{LIVE}",
            f"sidecar-{LIVE}",
            "postgres-of-someone",
        }
        assert engine.names("networks") == {f"net-{LIVE}", "bridge"}
        # This run's marker records its session for the next run's sweep.
        assert claim.marked
        marker = engine.objects["volumes"][marker_name(claim.identity)]
        assert marker["Labels"][LABEL_SESSION] == claim.identity.session
    finally:
        claim.abandon()


def test_the_end_reaps_the_runs_own_session_and_lets_its_lease_go(
    engine: FakeEngine, host: DockerHost
) -> None:
    _run_on(engine, LIVE, renewed_ago=5)
    _bystanders(engine)
    claim = _claim(host)
    claim.take()
    before = set(engine.deletes())
    # What this run's tests started (testcontainers labels it with the run's session).
    engine.add("containers", "ours-db", {LABEL_SESSION: claim.identity.session})
    engine.add("volumes", "ours-data", {LABEL_SESSION: claim.identity.session})
    done = claim.end()
    assert sorted(done.removed) == ["container ours-db", "volume ours-data"]
    assert done.failed == ()
    assert done.retired
    ours = claim.identity.run_id
    assert [d for d in engine.deletes() if d not in before] == [
        "containers/ours-db",
        "volumes/ours-data",
        f"volumes/{marker_name(claim.identity)}",
        f"volumes/{PREFIX}{ours}-1",
    ]
    volumes = engine.objects["volumes"].values()
    assert not [v for v in volumes if v["Labels"].get(L_RUN) == ours]
    assert engine.names("containers") == {f"test-{LIVE}", f"sidecar-{LIVE}", "postgres-of-someone"}
    assert claim.lease is None


def test_an_abandoned_claim_lapses_and_the_next_run_sweeps_what_it_left(
    engine: FakeEngine, host: DockerHost
) -> None:
    first = _claim(host, "first0000001")
    first.take()
    engine.add("containers", "left-by-first", {LABEL_SESSION: first.identity.session})
    first.abandon()  # killed: no more renewals, no end
    second = _claim(host, "second000001")
    second.take()
    assert "containers/left-by-first" not in engine.deletes()  # its lease still runs
    second.abandon()
    engine.advance(61)
    third = _claim(host, "third0000001")
    third.take()
    try:
        assert f"container {'left-by-first'[:12]}" in third.swept
        assert "left-by-first" not in engine.names("containers")
        assert f"volumes/{marker_name(first.identity)}" in engine.deletes()
        # The second run lapsed too (abandoned): its marker went, it had nothing else.
        assert f"volumes/{marker_name(second.identity)}" in engine.deletes()
    finally:
        third.abandon()


def test_without_a_lease_the_claim_removes_nothing_on_the_daemon(
    engine: FakeEngine, host: DockerHost, dead_runs_folder: Path
) -> None:
    _run_on(engine, DEAD, renewed_ago=120)
    engine.refuse["POST /volumes/create"] = (403, "read-only socket proxy")
    claim = _claim(host)
    claim.take()
    assert claim.lease is None
    assert claim.owner.lease == 0.0  # what it makes claims no lease: others judge it alive
    assert claim.notes == [unavailable("403: read-only socket proxy")]
    assert engine.deletes() == []
    assert not claim.marked
    assert [r.method for r in engine.requests] == ["POST"]
    assert not dead_runs_folder.exists()  # this machine's folders are judged by their locks
    assert claim.end().removed == ()


def test_a_claim_on_a_daemon_that_is_gone_says_so_and_raises_nothing(host: DockerHost) -> None:
    with fake_engine() as gone:
        url = gone.url
    claim = _claim(dataclasses.replace(host, docker_url=parse_url(url)))
    began = time.monotonic()
    claim.take()
    assert time.monotonic() - began < 10
    assert claim.lease is None
    assert len(claim.notes) == 1
    assert claim.notes[0].startswith("the run's reaper could not record this run on the daemon")
    assert claim.end() == Reaped()  # nothing was made there, so nothing is tried
