"""Recognising the CI and a Kubernetes pod; the network side is tested for real in
tests/e2e/test_pods.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pytest_dockerhost.config.parsing import CI_VARIABLES
from pytest_dockerhost.discovery.ci import CI_SIGNS, ci_name
from pytest_dockerhost.discovery.ci import recognise as recognise_ci
from pytest_dockerhost.discovery.pod import is_loopback, recognise
from pytest_dockerhost.engine.url import parse_url


def test_the_runner_variables_name_the_ci(tmp_path: Path) -> None:
    none = str(tmp_path / "no-tekton")
    assert ci_name({"GITHUB_ACTIONS": "true"}, none) == "GitHub Actions"
    assert ci_name({"GITLAB_CI": "true"}, none) == "GitLab CI"
    assert ci_name({"JENKINS_URL": "http://j:8080/"}, none) == "Jenkins"
    assert ci_name({"JENKINS_URL": " "}, none) == ""  # blank is not set
    # The e2e agents' image sets JENKINS_URL: a CI of their pod's own comes first.
    assert ci_name({"GITLAB_CI": "true", "JENKINS_URL": "http://jenkins.invalid/"}, none) == (
        "GitLab CI"
    )
    # Tekton sets no variable: every step has /tekton mounted.
    assert ci_name({}, str(tmp_path)) == "Tekton"
    assert ci_name({}, none) == ""


# What the header's pod note and MTU fix call each CI (tests/e2e/test_pods.py asserts the
# lines): another name here changes what users see. ARC's Kubernetes mode is GitHub
# Actions there, as when GITHUB_ACTIONS is set beside it.
HEADER_NAMES = {
    "ACTIONS_RUNNER_CONTAINER_HOOKS": "GitHub Actions",
    "GITHUB_ACTIONS": "GitHub Actions",
    "GITLAB_CI": "GitLab CI",
    "JENKINS_URL": "Jenkins",
    "BUILDKITE": "Buildkite",
    "TF_BUILD": "Azure Pipelines",
}


@pytest.mark.parametrize(
    "variables",
    [*itertools.combinations(CI_VARIABLES, 1), *itertools.combinations(CI_VARIABLES, 2)],
)
def test_the_header_and_the_no_engine_fix_name_the_same_ci(
    variables: tuple[str, ...], tmp_path: Path
) -> None:
    """One table tells the CI for both: whichever of its variables are set, the header
    names the CI whose fix the no-endpoint paragraph gives."""
    env = dict.fromkeys(variables, "true")
    name = ci_name(env, str(tmp_path / "no-tekton"))
    fix = recognise_ci(env, in_container=False)
    if len(variables) == 1:
        assert name == HEADER_NAMES.get(variables[0], "")
    told = next((sign for sign in CI_SIGNS if fix and sign.variable == fix.variable), None)
    if told is not None:
        assert name == told.name
    if name and any(sign.name == name and sign.kind for sign in CI_SIGNS):
        assert told is not None
        assert told.name == name


def test_every_ci_told_apart_counts_as_ci() -> None:
    """A CI the header names or gives a fix for also fails a Docker test instead of
    skipping it, and each MTU fix is for a CI the header can name."""
    from pytest_dockerhost.messages.mtu import CI_FIXES

    assert {sign.variable for sign in CI_SIGNS} <= set(CI_VARIABLES)
    assert set(CI_FIXES) <= {sign.name for sign in CI_SIGNS} | {"Tekton"}


def test_outside_kubernetes_nothing_is_said() -> None:
    assert recognise({"GITLAB_CI": "true"}, parse_url("tcp://localhost:2376"), None, 1.0) is None


def test_a_loopback_endpoint_in_a_pod_shares_its_network_namespace() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "GITLAB_CI": "true"}
    pod = recognise(env, parse_url("tcp://localhost:2376"), None, 1.0)
    assert pod is not None
    assert (pod.ci, pod.shares_network) == ("GitLab CI", True)
    elsewhere = recognise(env, parse_url("tcp://10.0.0.7:2376"), None, 1.0)
    assert elsewhere is not None
    assert not elsewhere.shares_network


def test_loopback_names() -> None:
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.1")
    assert not is_loopback("10.0.0.7")
    assert not is_loopback("no-such-host.invalid")
