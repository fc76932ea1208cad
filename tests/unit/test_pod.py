"""Recognising the CI and a Kubernetes pod; the network side is tested for real in
tests/e2e/test_pods.py."""

from __future__ import annotations

from pathlib import Path

from pytest_dockerhost.discovery.pod import ci_name, is_loopback, recognise
from pytest_dockerhost.engine.url import parse_url


def test_the_runner_variables_name_the_ci(tmp_path: Path) -> None:
    none = str(tmp_path / "no-tekton")
    assert ci_name({"GITHUB_ACTIONS": "true"}, none) == "GitHub Actions"
    assert ci_name({"GITLAB_CI": "true"}, none) == "GitLab CI"
    assert ci_name({"JENKINS_URL": "http://j:8080/"}, none) == "Jenkins"
    assert ci_name({"JENKINS_URL": " "}, none) == ""  # blank is not set
    # Tekton sets no variable: every step has /tekton mounted.
    assert ci_name({}, str(tmp_path)) == "Tekton"
    assert ci_name({}, none) == ""


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
