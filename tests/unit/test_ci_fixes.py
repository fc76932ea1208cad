"""Which CI runs us, from its variables, and the CI's own fix when it gave the job no engine:
the pure texts, the fact, and resolution's paragraph over a fake home with no socket."""

from __future__ import annotations

from typing import get_args

import pytest

from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.discovery.ci import CI, no_engine, no_engine_fix, recognise
from pytest_dockerhost.discovery.endpoint import TraceEntry
from pytest_dockerhost.discovery.resolution import resolve
from pytest_dockerhost.engine.transport import FailureKind
from pytest_dockerhost.messages import ci as say_
from pytest_dockerhost.messages.catalogue import catalogue
from pytest_dockerhost.messages.names import flag
from pytest_dockerhost.messages.resolution import no_endpoint

from .conftest import MakeCtx

MISSING = TraceEntry(
    "/var/run/docker.sock (the system socket)",
    "unix:///var/run/docker.sock",
    "failed",
    0.0,
    "/var/run/docker.sock does not exist",
    "mount the host's socket",
    FailureKind.SOCKET_MISSING,
)
NO_SERVICE = TraceEntry(
    "DOCKER_HOST",
    "tcp://docker:2376",
    "failed",
    0.01,
    "docker does not resolve",
    "",
    FailureKind.DNS,
)
DENIED = TraceEntry(
    "/var/run/docker.sock (the system socket)",
    "unix:///var/run/docker.sock",
    "failed",
    0.0,
    "permission denied",
    "--group-add 999",
    FailureKind.SOCKET_EACCES,
)


@pytest.mark.parametrize(
    ("env", "in_container", "expected"),
    [
        ({"TF_BUILD": "True"}, True, CI("azure", "TF_BUILD")),
        (
            {"BITBUCKET_BUILD_NUMBER": "7", "CI": "true"},
            True,
            CI("bitbucket", "BITBUCKET_BUILD_NUMBER"),
        ),
        ({"CIRCLECI": "true", "CI": "true"}, True, CI("circleci", "CIRCLECI")),
        ({"GITLAB_CI": "true"}, True, CI("gitlab", "GITLAB_CI")),
        ({"GITHUB_ACTIONS": "true"}, True, CI("github-job-container", "GITHUB_ACTIONS")),
        ({"GITHUB_ACTIONS": "true"}, False, CI("github", "GITHUB_ACTIONS")),
        ({"JENKINS_URL": "http://jenkins:8080/"}, False, CI("jenkins", "JENKINS_URL")),
        # ARC's Kubernetes mode sets GITHUB_ACTIONS too; its job pods may lack it.
        (
            {"GITHUB_ACTIONS": "true", "ACTIONS_RUNNER_CONTAINER_HOOKS": "/k8s/index.js"},
            True,
            CI("arc-kubernetes", "ACTIONS_RUNNER_CONTAINER_HOOKS"),
        ),
        (
            {"ACTIONS_RUNNER_CONTAINER_HOOKS": "/k8s/index.js"},
            True,
            CI("arc-kubernetes", "ACTIONS_RUNNER_CONTAINER_HOOKS"),
        ),
    ],
)
def test_the_ci_is_told_from_its_variables(
    env: dict[str, str], in_container: bool, expected: CI
) -> None:
    assert recognise(env, in_container=in_container) == expected


@pytest.mark.parametrize("env", [{}, {"CI": "true"}, {"BUILDKITE": "true"}, {"TF_BUILD": " "}])
def test_no_ci_of_its_own_fix_is_none(env: dict[str, str]) -> None:
    assert recognise(env, in_container=True) is None
    assert no_engine_fix(env, [MISSING], in_container=True) == ""


@pytest.mark.parametrize(
    "variable", ["BITBUCKET_BUILD_NUMBER", "CIRCLECI", "ACTIONS_RUNNER_CONTAINER_HOOKS"]
)
def test_the_new_ci_variables_make_tests_fail_instead_of_skip(variable: str) -> None:
    settings = Settings.from_sources({}, {variable: "1"}, {})
    assert settings.on_ci == variable
    assert settings.fail_without_docker


def test_the_fix_is_given_only_when_no_engine_is_there() -> None:
    assert no_engine([])
    assert no_engine([MISSING, NO_SERVICE])
    assert not no_engine([MISSING, DENIED])
    env = {"GITLAB_CI": "true"}
    assert no_engine_fix(env, [NO_SERVICE], in_container=True).startswith(
        "fix for GitLab CI (GITLAB_CI is set): the job has no Docker service: "
    )
    # A socket that is there but refuses us has a fix of its own: the CI's would mislead.
    assert no_engine_fix(env, [DENIED], in_container=True) == ""


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("azure", ["`mapDockerSocket: true` to the container resource"]),
        ("bitbucket", ["`services: [docker]` to the step", "tcp://localhost:2375"]),
        ("circleci", ["`- setup_remote_docker` step", "machine executor"]),
        ("arc-kubernetes", ["`containerMode.type: dind`", "kubedock", flag("host")]),
        (
            "gitlab",
            [
                "`services: [docker:dind]`",
                '`variables: {DOCKER_HOST: "tcp://docker:2376", DOCKER_TLS_CERTDIR: "/certs"}`',
            ],
        ),
        ("github-job-container", ["/var/run/docker.sock into job containers", "ubuntu-latest"]),
        ("github", ["`runs-on: ubuntu-latest`", "docker group"]),
        ("jenkins", ["-v /var/run/docker.sock:/var/run/docker.sock", "--group-add"]),
    ],
)
def test_each_ci_gets_its_own_configuration_words(kind: say_.CIKind, says: list[str]) -> None:
    line = say_.no_engine_fix(kind, "SOME_VARIABLE")
    assert line.startswith(f"fix for {say_.CI_NAMES[kind]} (SOME_VARIABLE is set): ")
    for words in says:
        assert words in line, (words, line)
    assert "\n" not in line
    assert "chmod" not in line  # never: it hands the engine to every local user


def test_every_ci_kind_has_a_name_a_fix_and_a_catalogue_entry() -> None:
    kinds = set(get_args(say_.CIKind))
    assert set(say_.CI_NAMES) == kinds
    listed = {kind for entry in catalogue() for kind in entry.kinds}
    assert {f"no-engine-{kind}" for kind in kinds} <= listed
    (azure,) = [e for e in catalogue() if e.kinds == ("no-engine-azure",)]
    assert azure.says == say_.no_engine_fix("azure", "TF_BUILD")
    assert azure.title == "fix for Azure Pipelines (TF_BUILD is set)"


def test_the_paragraph_ends_with_the_cis_fix() -> None:
    fix = say_.no_engine_fix("bitbucket", "BITBUCKET_BUILD_NUMBER")
    text = no_endpoint(
        "auto", "default", failures=(), skipped=(), absent=6, warnings=(), hints=(), ci_fix=fix
    )
    assert text.splitlines()[-1] == f"  {fix}"
    plain = no_endpoint("auto", "default", failures=(), skipped=(), absent=6, warnings=(), hints=())
    assert text == f"{plain}\n  {fix}"


def test_resolution_with_nothing_there_ends_with_the_cis_fix(make_ctx: MakeCtx) -> None:
    env = {"CIRCLECI": "true", "CI": "true"}
    resolution = resolve(make_ctx(env).settings, ctx=make_ctx(env))
    assert resolution.host is None
    assert resolution.ci_fix == say_.no_engine_fix("circleci", "CIRCLECI")
    assert str(resolution.error).splitlines()[-1] == f"  {resolution.ci_fix}"
    assert "chmod" not in str(resolution.error)


def test_resolution_with_a_failure_of_its_own_keeps_to_its_fix(make_ctx: MakeCtx) -> None:
    env = {"TF_BUILD": "True", "DOCKER_HOST": "http://docker:2375"}
    resolution = resolve(make_ctx(env).settings, ctx=make_ctx(env))
    assert resolution.host is None
    assert resolution.ci_fix == ""
    assert "mapDockerSocket" not in str(resolution.error)
