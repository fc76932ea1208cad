"""The integration, CI-recipe and fault modules again, with Debian sid's Docker 28 (API
1.51) as this machine's engine instead of bookworm's 20.10.

The modules run unchanged in an inner pytest to which a nested Docker 28 *is* the machine's
engine (``NestedEngine.as_the_machines_engine``): /var/run/docker.sock is its socket, the
loopback is its host's, and /tmp is shared with it, so binds of the tests' folders resolve.
Where the engines differ the modules ask the engine, never its version: Docker 28 grants
``--privileged`` (``privileged_refusal``), so the sidecar runs privileged without a
fallback, and the Jenkins compose recipe runs as written, with Docker 28 as its dind.

Left out: test_rootless.py (bookworm's own rootless dockerd, whichever engine the machine
has) and the modules that nest today's engines themselves (they run on 20.10 with Docker
28 or Podman inside): test_pool.py's second engine is such a nested Docker 28, and an
unprivileged dind inside this nested Docker 28 never answers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerhost.cleanup.reaper import LABEL_SESSION
from pytest_dockerhost.labels import L_OWNER_HOST, L_RUN

from ..conftest import AGENT, BUSYBOX, DIND, DIND28, ROOT
from ..helpers import engine_events
from .helpers import LABEL, started_images

pytestmark = pytest.mark.e2e

E2E = "tests/e2e/"
MODULES = {
    "integration": (
        "tests/integration",
        "--ignore=tests/integration/test_rootless.py",
        "--ignore=tests/integration/test_pool.py",
    ),
    "ci-recipes": tuple(
        E2E + name
        for name in (
            "test_plain_suites.py",
            "test_jenkins_dood.py",
            "test_jenkins_dind.py",
            "test_gitlab_service.py",
            "test_sidecar_from_dood.py",
            "test_ownership.py",
        )
    ),
    "faults": ("tests/faults",),
}
# What may skip on Docker 28, and why: the diagnosis of a refused --privileged needs an
# engine that refuses it.
EXPECTED_SKIPS = ("this engine accepts --privileged",)
INNER_LIMIT = 1500  # seconds; each group takes 2 to 3 minutes here
SUMMARY = re.compile(r"^(?:=+ )?(?P<counts>.*\d+ passed.*) in [\d.]+s", re.M)
# The labels whose values name one run or one test: the plugin's run, testcontainers'
# session (the plugin makes it the run's), and the e2e tests' own.
OWNED_BY = (L_RUN, LABEL_SESSION, LABEL)
WATCHED = {"type": ["container", "image", "volume", "network"]}


@dataclass(frozen=True)
class Owned:
    """What the inner run and its tests made, as Docker 28 saw it in the run's window: the
    values of their own labels, the volumes and networks they created (by name), and the
    host names the plugin stamps as its owner's (Docker 28's, whose UTS namespace the inner
    run shares, and its containers', where the plugin runs in an agent). Another tool's
    images and containers on the machine's engine carry none of these."""

    labels: frozenset[tuple[str, str]]
    names: frozenset[str]
    hostnames: frozenset[str]

    @classmethod
    def from_events(cls, events: list[dict[str, Any]], hostname: str) -> Owned:
        labels: set[tuple[str, str]] = set()
        names: set[str] = set()
        hostnames = {hostname}
        for event in events:
            kind, attributes = event.get("Type"), _attributes(event)
            labels.update((key, attributes[key]) for key in OWNED_BY if attributes.get(key))
            if event.get("Action") != "create":
                continue
            if kind == "container":  # its host name, unless it sets one
                hostnames.add(str(event["Actor"]["ID"])[:12])
            elif kind in ("volume", "network"):
                names.add(_name(event))
        return cls(frozenset(labels), frozenset(names), frozenset(hostnames))

    def stamped(self, event: dict[str, Any]) -> bool:
        """Made by a plugin that ran on Docker 28's host or in one of its containers."""
        return _attributes(event).get(L_OWNER_HOST) in self.hostnames

    def claims(self, event: dict[str, Any]) -> bool:
        if event.get("Type") in ("volume", "network"):
            return _name(event) in self.names
        attributes = _attributes(event)
        return self.stamped(event) or any(
            (key, attributes.get(key)) in self.labels for key in OWNED_BY
        )


def _attributes(event: dict[str, Any]) -> dict[str, str]:
    return dict(event.get("Actor", {}).get("Attributes") or {})


def _name(event: dict[str, Any]) -> str:
    # A network's event names it in its attributes; a volume's ID is its name.
    return str(_attributes(event).get("name") or event["Actor"]["ID"])


@pytest.fixture(scope="module")
def machine28(
    engine: Any, test_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    if os.geteuid() != 0 or not (shutil.which("nsenter") and shutil.which("unshare")):
        pytest.skip("needs root, nsenter(1) and unshare(1) to make Docker 28 the machine's")
    from .engines import nested_engine

    workdir = tmp_path_factory.mktemp("machine28")
    with nested_engine(engine, f"m{os.getpid()}", workdir, share_tmp=True) as nested:
        nested.load(engine, [BUSYBOX, DIND, AGENT, DIND28])
        yield nested


def _inner_environment() -> dict[str, str]:
    # The outer run's neutral environment, less what only the outer run uses.
    return {k: v for k, v in os.environ.items() if not k.startswith("PDH_REQUIRE_")}


@pytest.mark.parametrize("group", list(MODULES))
def test_the_modules_pass_with_docker_28_as_the_machines_engine(
    machine28: Any, engine: Any, group: str, tmp_path: Path
) -> None:
    command = machine28.as_the_machines_engine(
        sys.executable,
        *("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"),
        f"--basetemp={tmp_path / 'inner'}",
        *MODULES[group],
    )
    since = time.time()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=_inner_environment(),
        capture_output=True,
        text=True,
        timeout=INNER_LIMIT,
        check=False,
    )
    until = time.time()
    output = done.stdout + done.stderr
    tail = "\n".join(output.splitlines()[-80:])
    assert done.returncode == 0, tail
    summary = SUMMARY.search(output)
    assert summary, tail
    assert not re.search(r"\d+ (failed|errors?)\b", summary["counts"]), tail
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    unexpected = [line for line in skipped if not any(why in line for why in EXPECTED_SKIPS)]
    assert not unexpected, "\n".join(unexpected)
    # The engine's own events: the modules' containers started on Docker 28, and nothing
    # of theirs reached this machine's own engine meanwhile. Only what the run owns is
    # compared: other tools build and run things on a shared engine at the same time.
    assert started_images(machine28.client, since, until), tail
    hostname = machine28.container.attrs["Config"]["Hostname"]
    inner = engine_events(machine28.client, since, until, WATCHED)
    owned = Owned.from_events(inner, hostname)
    # What the comparison rests on: the plugin's own containers there name their owner's
    # host, and the run's labels were seen.
    stamped = [e for e in inner if e.get("Type") == "container" and owned.stamped(e)]
    assert stamped, f"no container on Docker 28 has {L_OWNER_HOST} in {sorted(owned.hostnames)}"
    assert owned.labels
    on_machine = engine_events(engine, since, until, WATCHED)
    leaked = [event for event in on_machine if owned.claims(event)]
    assert leaked == [], leaked[:10]
