"""The run's own reaper: what the run's tests created is removed at its end, and what a
killed run left behind is removed by the next one, with nothing but the API connection.

Every process of one run (the xdist controller and its workers) shares one identity.
testcontainers labels what it creates with ``org.testcontainers.session-id``; the plugin
makes that id the run's, in every process, so one label finds the whole run. The run
records itself in a marker volume that carries its owner's labels: a later run (or
``python -m pytest_dockerhost cleanup``) that finds a marker whose owner is gone removes
everything with that session id, then the marker. Ryuk, where it works, removes the
same things when its connection closes; each side tolerates what the other removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

from ..engine.api import EngineClientLike, engine_errors
from ..labels import L_OWNER_PID, L_OWNER_PLACE, L_OWNER_START, L_ROLE, L_RUN, TC_SESSION
from ..messages import reaper as say_
from .ownership import Judge

LABEL_SESSION = TC_SESSION
ROLE_RUN = "run"


@final
@dataclass(frozen=True)
class RunIdentity:
    """One run: ``run_id`` for our labels, ``session`` for testcontainers'."""

    run_id: str
    session: str

    @classmethod
    def new(cls) -> RunIdentity:
        session = uuid.uuid4()
        return cls(session.hex[:12], str(session))

    def to_dict(self) -> dict[str, str]:
        return {"run_id": self.run_id, "session": self.session}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunIdentity:
        return cls(str(data["run_id"]), str(data["session"]))


@final
@dataclass(frozen=True)
class Reaped:
    """What the end-of-run removal did, for the terminal summary."""

    removed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    retired: bool = False  # the run's marker went too: nothing of it is left on record


MARKER_PREFIX = "pytest-dockerhost-run-"


def marker_name(identity: RunIdentity) -> str:
    return MARKER_PREFIX + identity.run_id


def mark(client: EngineClientLike, identity: RunIdentity, owner_labels: dict[str, str]) -> None:
    """Record this run on the daemon, with its owner, so that a later run can tell."""
    labels = {**owner_labels, LABEL_SESSION: identity.session}
    client.api.create_volume(marker_name(identity), labels=labels)


def named_owner(labels: Mapping[str, str]) -> tuple[str, str, str] | None:
    """The owner a resource's labels name (pid, its start, its place), or None."""
    if L_OWNER_PID not in labels:
        return None
    return labels[L_OWNER_PID], labels.get(L_OWNER_START, ""), labels.get(L_OWNER_PLACE, "")


def reap(client: EngineClientLike, session: str, owner: Mapping[str, str] | None = None) -> Reaped:
    """Remove every container, network and volume labelled with ``session``, but for
    those whose labels name an owner other than the run's (``owner``: its labels)."""
    from .janitor import api_text, is_not_found, labelled_resources, remove_now

    removed: list[str] = []
    failed: list[str] = []
    api = client.api
    ours = named_owner(owner or {})
    found = labelled_resources(client, f"{LABEL_SESSION}={session}")
    # Containers first: a network or volume in use cannot go.
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if ident.startswith(MARKER_PREFIX):
            continue  # the run's own record: its owner removes it last
        theirs = named_owner(labels)
        if theirs is not None and theirs != ours:
            # Another tool's, under the session's label: its own owner decides (the
            # janitor's sweep judges it by that owner, as everything it labelled).
            continue
        try:
            remove_now(api, kind, ident)
        except engine_errors() as exc:  # docker-py's APIError, requests' errors: all reported
            if not is_not_found(exc):  # Ryuk, or the test itself, was quicker
                failed.append(say_.could_not_remove(kind, ident, api_text(exc)))
            continue
        removed.append(f"{kind} {ident[:12]}")
    return Reaped(tuple(removed), tuple(failed))


def retire(
    client: EngineClientLike, session: str, marker: str, owner: Mapping[str, str] | None = None
) -> Reaped:
    """Reap ``session`` (the run's, whose owner has the labels ``owner``), then remove its
    run's marker, unless something would not go (the marker keeps it on record for the
    next sweep)."""
    from .janitor import api_text, is_not_found

    done = reap(client, session, owner)
    if done.failed:
        return done
    try:
        client.api.remove_volume(marker, force=True)
    except engine_errors() as exc:
        if not is_not_found(exc):  # in use: the next sweep retries
            why = say_.could_not_remove("volume", marker, api_text(exc))
            return Reaped(done.removed, (why,))
    return Reaped(done.removed, retired=True)


def sweep_dead(client: EngineClientLike, judge: Judge, *, everything: bool = False) -> list[str]:
    """Reap the sessions of runs whose owner is gone (kill -9, an aborted CI job), then
    sweep what else they labelled; with ``everything``, reap every other run's session.
    Never a live run's: see ``ownership`` for how that is proved."""
    from .janitor import sweep

    removed: list[str] = []
    markers = client.api.volumes(filters={"label": f"{L_ROLE}={ROLE_RUN}"}).get("Volumes") or []
    for entry in markers:
        labels = dict(entry.get("Labels") or {})
        if labels.get(L_RUN) == judge.here.run_id or LABEL_SESSION not in labels:
            continue
        if not everything and judge.alive(labels):
            continue
        # The run's marker and lease are bookkeeping, not leftovers: they go unnamed.
        retired = retire(client, labels[LABEL_SESSION], str(entry["Name"]), labels)
        removed.extend(retired.removed)
    removed.extend(sweep(client, judge))
    return removed
