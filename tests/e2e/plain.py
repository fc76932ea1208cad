"""What a run of the fixture-free suite (``project.PLAIN_PROJECT``) shows its user."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .helpers import Run
from .project import PLAIN_PASSED

OK = "pytest-dockerhost-test ok"
FETCHED = re.compile(rf"E2E (conftest fixture|inline container) fetched '{OK}' from (\S+):\d+")
DAEMON = re.compile(r"E2E (sdk|module client) daemon (\S+) (?:said 'sdk ok'|at )")
# A frame of a client library's traceback: what the plugin's diagnosis replaces.
LIBRARY_FRAME = re.compile(
    r"(site-packages|dist-packages)/(docker|requests|urllib3|testcontainers)/"
)


@dataclass(frozen=True)
class PlainRun:
    hosts: frozenset[str]  # where the tests reached their services' published ports
    daemons: frozenset[str]  # the engine ID each docker.from_env() client talked to


def passed(run: Run) -> PlainRun:
    """All four tests passed, each reached what it started; where and on which daemon."""
    assert run.exit_code == 0, str(run)
    assert PLAIN_PASSED in run.output, str(run)
    fetched = FETCHED.findall(run.output)
    assert {kind for kind, _ in fetched} == {"conftest fixture", "inline container"}, str(run)
    daemons = DAEMON.findall(run.output)
    assert {kind for kind, _ in daemons} == {"sdk", "module client"}, str(run)
    return PlainRun(frozenset(h for _, h in fetched), frozenset(d for _, d in daemons))


def diagnosed(run: Run, diagnosis: str, *, failing: int) -> None:
    """Each of ``failing`` reports carries the plugin's ``diagnosis`` and the original error in
    one line, and no client library's traceback."""
    assert run.output.count(diagnosis) >= failing, str(run)
    assert run.output.count("  original error: ") >= failing, str(run)
    assert not LIBRARY_FRAME.search(run.output), str(run)
