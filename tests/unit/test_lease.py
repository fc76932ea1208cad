"""A run's lease against a fake Engine API whose clock the test moves: the renewal makes
the next lease volume and removes the one before, a lease is held while renewed and
lapses by the daemon's clock once its owner stops, and its release removes only its run's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest

from pytest_dockerhost.cleanup.lease import PREFIX, Lease, read_book, record_use
from pytest_dockerhost.cleanup.ownership import Judge, Owner
from pytest_dockerhost.engine.api import EngineClientLike
from pytest_dockerhost.labels import L_LEASE, L_ROLE, L_RUN, L_USES

from ..helpers.servers import FakeEngine
from .conftest import stdlib_client

OpenClient = Callable[[], EngineClientLike]


@pytest.fixture
def connect(engine: FakeEngine) -> OpenClient:
    return lambda: stdlib_client(engine)


def _elsewhere(run: str, term: float) -> Owner:
    """An owner in another pid namespace: only its lease can tell whether it lives."""
    return dataclasses.replace(Owner.current(run, None, term), place=f"elsewhere-{run}")


def _leases(engine: FakeEngine, run: str) -> set[str]:
    volumes = engine.objects["volumes"].values()
    return {v["Name"] for v in volumes if v["Labels"].get(L_RUN) == run}


def test_each_renewal_makes_the_next_lease_and_removes_the_one_before(
    engine: FakeEngine, connect: OpenClient
) -> None:
    lease = Lease(connect, _elsewhere("r1", 0.4))  # renewed every 0.1 s
    lease.take(connect())
    deadline = time.monotonic() + 10
    while len(engine.made()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    lease.stop()
    made = engine.made()
    assert len(made) >= 4, made
    assert made == [f"{PREFIX}r1-{n}" for n in range(1, len(made) + 1)]
    assert engine.deletes() == [f"volumes/{name}" for name in made[:-1]]
    assert _leases(engine, "r1") == {made[-1]}
    labels = engine.objects["volumes"][made[-1]]["Labels"]
    assert (labels[L_ROLE], labels[L_LEASE]) == ("lease", "0.4")
    # Stopped: no more renewals.
    time.sleep(0.3)
    assert engine.made() == made


def test_a_lease_is_held_while_renewed_and_lapses_by_the_daemons_clock(
    engine: FakeEngine, connect: OpenClient
) -> None:
    theirs = Lease(connect, _elsewhere("r1", 60.0))
    theirs.take(connect())
    ours = Lease(connect, _elsewhere("r2", 60.0))
    ours.take(connect())
    made_by_them = theirs.owner.labels("sidecar")
    book = ours.book(connect())
    assert book.held("r1") is True
    assert Judge(ours.owner, book).alive(made_by_them)
    # Killed: it renews no more. A minute later by the daemon's clock (not ours), its
    # lease has lapsed for a run that reads the daemon's time from a new stamp.
    theirs.stop()
    engine.advance(61)
    later = Lease(connect, _elsewhere("r3", 60.0))
    later.take(connect())
    book = later.book(connect())
    assert book.held("r1") is False
    assert not Judge(later.owner, book).alive(made_by_them)
    # The reader's own clock has not moved: without a new stamp, r1 still looks alive.
    assert ours.book(connect()).held("r1") is True
    for lease in (ours, later):
        lease.stop()


def test_a_renewal_keeps_a_lease_held_past_its_first_term(
    engine: FakeEngine, connect: OpenClient
) -> None:
    lease = Lease(connect, _elsewhere("r1", 4.0))  # renewed every second
    lease.take(connect())
    engine.advance(5)  # the first stamp is now past its term
    seen = len(engine.made())
    deadline = time.monotonic() + 10
    while len(engine.made()) == seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.made()[-1] == f"{PREFIX}r1-2"
    reader = Lease(connect, _elsewhere("r2", 60.0))
    reader.take(connect())
    assert reader.book(connect()).held("r1") is True
    lease.stop()
    reader.stop()


def test_release_removes_every_lease_of_its_run_and_says_what_would_not_go(
    engine: FakeEngine, connect: OpenClient
) -> None:
    other = _elsewhere("r2", 60.0)
    engine.add("volumes", f"{PREFIX}r2-1", other.labels("lease"))
    lease = Lease(connect, _elsewhere("r1", 60.0))
    client = connect()
    lease.take(client)
    record_use(client, lease.owner, "pytest-dockerhost-kept-abcdef123456")
    used = f"{PREFIX}r1-uses-abcdef123456"
    assert read_book(client, lease.now()).uses == {"pytest-dockerhost-kept-abcdef123456": {"r1"}}
    assert engine.objects["volumes"][used]["Labels"][L_USES].endswith("abcdef123456")
    engine.refuse[f"DELETE /volumes/{used}"] = (409, "volume is in use")
    assert lease.release(client) == [f"volume {used}: 409: volume is in use"]
    assert _leases(engine, "r1") == {used}
    assert _leases(engine, "r2") == {f"{PREFIX}r2-1"}
    del engine.refuse[f"DELETE /volumes/{used}"]
    assert lease.release(client) == []
    assert _leases(engine, "r1") == set()
    assert _leases(engine, "r2") == {f"{PREFIX}r2-1"}


def test_the_book_keeps_each_runs_newest_lease_and_skips_what_it_cannot_read(
    engine: FakeEngine, connect: OpenClient
) -> None:
    labels = _elsewhere("r1", 30.0).labels("lease")
    now = engine.now()
    engine.add("volumes", f"{PREFIX}r1-1", labels, CreatedAt=engine.stamp(now - 100))
    engine.add("volumes", f"{PREFIX}r1-2", labels, CreatedAt=engine.stamp(now - 20))
    engine.add("volumes", f"{PREFIX}bad-1", {**labels, L_RUN: "bad", L_LEASE: "soon"})
    engine.add("volumes", f"{PREFIX}odd-1", {**labels, L_RUN: "odd"}, CreatedAt="yesterday")
    book = read_book(connect(), now)
    assert book.renewed == {"r1": float(int(now - 20))}
    assert book.terms == {"r1": 30.0}
    assert book.held("r1") is True
    assert read_book(connect(), now + 11).held("r1") is False
