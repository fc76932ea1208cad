"""Which CI runs us, told from its variables, and its own fix when it gave us no engine.

Machine state in (the environment, whether we run in a container, resolution's trace),
facts out. ``config.parsing.CI_VARIABLES`` decides skip or fail; one table here decides
which CI's configuration the no-endpoint message points to, and which CI the header names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import final

from ..engine.transport import FailureKind
from ..messages import ci as say_
from ..messages.ci import CIKind
from .endpoint import TraceEntry


@final
@dataclass(frozen=True)
class Sign:
    """A variable that tells which CI runs us."""

    variable: str
    kind: CIKind | None  # the CI whose own fix ends the no-endpoint paragraph, if it has one
    name: str  # how the header's pod note and MTU fix name it; "" where they name none


# In the order a CI is recognised: the first one set tells, for the no-endpoint fix and the
# header alike. ARC's Kubernetes mode comes before GitHub Actions: its runners set
# GITHUB_ACTIONS too, and its job pods may lack it. Jenkins comes last: agent images often
# carry JENKINS_URL into other CIs' jobs.
CI_SIGNS: tuple[Sign, ...] = (
    Sign("ACTIONS_RUNNER_CONTAINER_HOOKS", "arc-kubernetes", "GitHub Actions"),
    Sign("GITHUB_ACTIONS", "github", "GitHub Actions"),
    Sign("GITLAB_CI", "gitlab", "GitLab CI"),
    Sign("BITBUCKET_BUILD_NUMBER", "bitbucket", ""),
    Sign("CIRCLECI", "circleci", ""),
    Sign("BUILDKITE", None, "Buildkite"),
    Sign("TF_BUILD", "azure", "Azure Pipelines"),
    Sign("JENKINS_URL", "jenkins", "Jenkins"),
)
# Tekton sets no variable of its own, but mounts /tekton in every step.
TEKTON_DIR = "/tekton"
# Failures that mean no engine is there at all: no socket file, a service name that no
# container answers to. Any other failure has a fix of its own, and the CI's would mislead.
NOTHING_THERE = frozenset({FailureKind.SOCKET_MISSING, FailureKind.DNS})


@final
@dataclass(frozen=True)
class CI:
    """The CI recognised, and the variable that told."""

    kind: CIKind
    variable: str


def _told(env: Mapping[str, str]) -> Sign | None:
    return next((sign for sign in CI_SIGNS if env.get(sign.variable, "").strip()), None)


def recognise(env: Mapping[str, str], *, in_container: bool) -> CI | None:
    """The CI whose own fix applies, if it has one."""
    sign = _told(env)
    if sign is None or sign.kind is None:
        return None
    if sign.kind == "github" and in_container:
        return CI("github-job-container", sign.variable)
    return CI(sign.kind, sign.variable)


def ci_kind(env: Mapping[str, str]) -> str:
    """The CI its variables name (a kind of ``CI_SIGNS``), or ""."""
    sign = _told(env)
    return (sign.kind or "") if sign is not None else ""


def ci_name(env: Mapping[str, str], tekton_dir: str = TEKTON_DIR) -> str:
    """The CI as the header names it, or ""."""
    sign = _told(env)
    if sign is not None and sign.name:
        return sign.name
    return "Tekton" if os.path.isdir(tekton_dir) else ""


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
