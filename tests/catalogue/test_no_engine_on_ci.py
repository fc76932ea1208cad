"""Each CI's own fix when it gave the job no Docker engine, as users meet it: a suite that
never asks for the plugin's fixtures, run with that CI's variable alone, on a machine with
no engine at all.

"No engine" is made for real: the run gets a mount namespace of its own with an empty
tmpfs over /run (so /var/run/docker.sock, /run/user and /run/podman are not there) and a
fresh HOME (no contexts, no testcontainers properties). Nothing is sent to any engine, so
the real dockerd on this machine is left alone. Each case fails (the variable says CI)
instead of skipping, and ends its diagnosis with the CI's fix, in the header, under the
failing test, and in ``python -m pytest_dockerhost``.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.catalogue

# An empty /run in a mount namespace of the child's own: no socket anywhere under it.
NO_RUN = 'mount -t tmpfs none /run && exec "$@"'
WITHOUT_ENGINE = ("unshare", "--mount", "--propagation", "private", "sh", "-c", NO_RUN, "sh")

SUITE = """
import docker


def test_sdk():
    docker.from_env().ping()


def test_pure():
    assert 1 + 1 == 2
"""


@dataclass(frozen=True)
class Case:
    id: str
    variable: str
    value: str
    name: str  # the CI as the fix line names it
    says: tuple[str, ...]  # what the fix must tell users to write, word for word


CASES = (
    Case(
        "azure",
        "TF_BUILD",
        "True",
        "Azure Pipelines",
        ("`mapDockerSocket: true`", "container resource"),
    ),
    Case(
        "bitbucket",
        "BITBUCKET_BUILD_NUMBER",
        "42",
        "Bitbucket Pipelines",
        ("`services: [docker]` to the step",),
    ),
    Case(
        "circleci",
        "CIRCLECI",
        "true",
        "CircleCI",
        ("`- setup_remote_docker`", "machine executor"),
    ),
    Case(
        "arc-kubernetes",
        "ACTIONS_RUNNER_CONTAINER_HOOKS",
        "/home/runner/k8s/index.js",
        "GitHub ARC in Kubernetes mode",
        ("`containerMode.type: dind`", "kubedock", "--docker-host"),
    ),
    Case(
        "gitlab",
        "GITLAB_CI",
        "true",
        "GitLab CI",
        (
            "`services: [docker:dind]`",
            '{DOCKER_HOST: "tcp://docker:2376", DOCKER_TLS_CERTDIR: "/certs"}',
        ),
    ),
    # This machine runs the tests in a container (/.dockerenv), as a GitHub job container
    # runs its steps; the case of a runner's own machine is a unit test.
    Case(
        "github-job-container",
        "GITHUB_ACTIONS",
        "true",
        "a GitHub Actions job container",
        ("mounts its host's /var/run/docker.sock into job containers", "ubuntu-latest"),
    ),
)


def _cannot_hide_the_engine() -> str:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1) for a mount namespace without /run"
    if not os.path.exists("/.dockerenv"):
        return "the GitHub job container case needs this machine to be a container"
    return ""


@pytest.fixture
def no_engine(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    why = _cannot_hide_the_engine()
    if why:
        pytest.skip(why)
    home = pytester.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def _fix_line(case: Case) -> str:
    return f"fix for {case.name} ({case.variable} is set): "


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_no_engine_on_ci_fails_with_the_cis_own_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_engine: None, case: Case
) -> None:
    monkeypatch.setenv(case.variable, case.value)
    pytester.makepyfile(test_plain=SUITE)
    result = pytester.run(
        *WITHOUT_ENGINE,
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "dockerhost",
        "-p",
        "no:cacheprovider",
        timeout=60,
    )
    result.assert_outcomes(passed=1, failed=1)  # failed, not skipped: the variable says CI
    text = result.stdout.str()
    header = f"docker: {_fix_line(case)}"
    result.stdout.fnmatch_lines(
        [
            "docker: no working endpoint (mode auto); tests that need Docker will fail",
            f"{header}*",
            "*pytest-dockerhost: no working Docker endpoint (mode auto, from default).",
            "  /var/run/docker.sock (the system socket): unix:///var/run/docker.sock",
            "    what happened: /var/run/docker.sock does not exist",
            "  run `python -m pytest_dockerhost` for the whole table",
            f"  {_fix_line(case)}*",
            f"  (failing instead of skipping: CI detected via {case.variable})",
        ]
    )
    (line,) = [line for line in text.splitlines() if line.startswith(f"  {_fix_line(case)}")]
    for words in case.says:
        assert words in line, (words, line)
    assert "chmod" not in text
    assert [row for row in text.splitlines() if row.startswith(header)] == [
        "docker: " + line.strip()
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_diagnostic_command_ends_with_the_cis_own_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_engine: None, case: Case
) -> None:
    monkeypatch.setenv(case.variable, case.value)
    result = pytester.run(*WITHOUT_ENGINE, sys.executable, "-m", "pytest_dockerhost", timeout=60)
    assert result.ret == 1
    lines = result.stdout.lines
    verdict = lines.index("no working Docker endpoint.")
    fix = " ".join(line.strip() for line in lines[verdict + 1 :])
    assert fix.startswith(_fix_line(case)), fix
    for words in case.says:
        assert words in fix, (words, fix)
