"""Which CI runs us, told from its variables, and its own fix when it gave us no engine.

Machine state in (the environment, whether we run in a container, resolution's trace),
facts out. ``config.parsing.CI_VARIABLES`` decides skip or fail; this decides which CI's
configuration the no-endpoint message points to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import final

from ..engine.transport import FailureKind
from ..messages import ci as say_
from ..messages.ci import CIKind
from .endpoint import TraceEntry

# (variable, CI) in the order a CI is recognised. ARC's Kubernetes mode comes before GitHub
# Actions: its runners set GITHUB_ACTIONS too, and its job pods may lack it.
CI_SIGNS: tuple[tuple[str, CIKind], ...] = (
    ("ACTIONS_RUNNER_CONTAINER_HOOKS", "arc-kubernetes"),
    ("GITHUB_ACTIONS", "github"),
    ("GITLAB_CI", "gitlab"),
    ("BITBUCKET_BUILD_NUMBER", "bitbucket"),
    ("CIRCLECI", "circleci"),
    ("TF_BUILD", "azure"),
    ("JENKINS_URL", "jenkins"),
)
# Failures that mean no engine is there at all: no socket file, a service name that no
# container answers to. Any other failure has a fix of its own, and the CI's would mislead.
NOTHING_THERE = frozenset({FailureKind.SOCKET_MISSING, FailureKind.DNS})


@final
@dataclass(frozen=True)
class CI:
    """The CI recognised, and the variable that told."""

    kind: CIKind
    variable: str


def recognise(env: Mapping[str, str], *, in_container: bool) -> CI | None:
    for variable, kind in CI_SIGNS:
        if env.get(variable, "").strip():
            if kind == "github" and in_container:
                return CI("github-job-container", variable)
            return CI(kind, variable)
    return None


def no_engine(trace: Iterable[TraceEntry]) -> bool:
    """Nothing answered, and nothing failed but for not being there."""
    return all(entry.outcome != "failed" or entry.kind in NOTHING_THERE for entry in trace)


def no_engine_fix(
    env: Mapping[str, str], trace: Iterable[TraceEntry], *, in_container: bool | None = None
) -> str:
    """The recognised CI's own fix when the trace shows no engine at all, else ""."""
    if not no_engine(trace):
        return ""
    if in_container is None:
        from .network import detect

        in_container = detect().in_container
    ci = recognise(env, in_container=in_container)
    return say_.no_engine_fix(ci.kind, ci.variable) if ci is not None else ""
