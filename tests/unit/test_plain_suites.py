"""Suites that never ask for the plugin's fixtures, with no daemon to reach.

The failures are real: docker-py and testcontainers are pointed at a closed loopback
port or a missing socket, and each test that needed Docker must show the plugin's
diagnosis instead of the client library's traceback, skipped locally and failed on CI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..helpers.servers import LoopbackServer, closed_port, docker_api, serving

PLAIN = """
import docker


def test_sdk():
    docker.from_env().ping()


def test_pure():
    assert 1 + 1 == 2
"""

CONFTEST_FIXTURE = """
import pytest
from testcontainers.core.container import DockerContainer


@pytest.fixture(scope="session")
def service():
    with DockerContainer("pytest-dockerhost-test/busybox:local") as container:
        yield container
"""

USES_FIXTURE = """
def test_uses_service(service):
    pass
"""

MODULE_LEVEL = """
import docker

CLIENT = docker.from_env()


def test_never_runs():
    pass
"""


@pytest.fixture
def dead_host(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"tcp://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("DOCKER_HOST", url)
    return url


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "dockerhost", "-p", "no:cacheprovider", *args)


def _no_library_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str()
    for frame in ("site-packages/docker/", "site-packages/requests/", "site-packages/urllib3/"):
        assert frame not in text, text


def test_unmarked_sdk_test_is_skipped_locally_with_the_diagnosis(
    pytester: pytest.Pytester, dead_host: str
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    result = _run(pytester, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "docker: no working endpoint (mode auto); tests that need Docker will be skipped",
            "SKIPPED [[]1[]] test_plain.py:*: pytest-dockerhost: no working Docker endpoint*",
            f"  DOCKER_HOST: {dead_host}",
            "    what happened: * refused the connection",
            "    fix: *",
        ]
    )
    assert "original error: docker.errors.DockerException: Error while fetching server API" in (
        result.stdout.str()
    )
    _no_library_traceback(result)


def test_on_ci_the_same_tests_fail_with_the_diagnosis_and_the_fix(
    pytester: pytest.Pytester, dead_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    pytester.makeconftest(CONFTEST_FIXTURE)
    pytester.makepyfile(test_plain=PLAIN, test_fixture=USES_FIXTURE)
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    text = result.stdout.str()
    # Under the failing test and under the conftest fixture's setup error.
    assert text.count("pytest-dockerhost: no working Docker endpoint (mode auto") == 2, text
    assert text.count("(failing instead of skipping: CI detected via GITLAB_CI)") == 2, text
    assert text.count("  original error: docker.errors.DockerException: ") == 2, text
    assert "fix:" in text
    _no_library_traceback(result)


def test_a_module_level_client_without_a_daemon_is_a_diagnosed_collection_error(
    pytester: pytest.Pytester, dead_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    pytester.makepyfile(test_module_level=MODULE_LEVEL)
    result = _run(pytester)
    assert result.ret == 2  # a collection error interrupts the run, as without the plugin
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_module_level.py*",
            "pytest-dockerhost: no working Docker endpoint (mode auto, from default).",
            f"  DOCKER_HOST: {dead_host}",
        ]
    )
    assert "original error: docker.errors.DockerException: Error while fetching server API" in (
        result.stdout.str()
    )
    _no_library_traceback(result)


def test_a_module_level_client_without_a_daemon_skips_its_module_locally(
    pytester: pytest.Pytester, dead_host: str
) -> None:
    pytester.makepyfile(test_module_level=MODULE_LEVEL, test_other="def test_ok():\n    pass\n")
    result = _run(pytester, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] test_module_level.py*pytest-dockerhost: no working Docker endpoint*"]
    )


def test_other_failures_keep_their_report(pytester: pytest.Pytester, dead_host: str) -> None:
    pytester.makepyfile(
        test_other="""
import docker


def test_fails():
    assert 1 == 2, "a plain failure"
"""
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: a plain failure*"])
    assert "pytest-dockerhost: " not in result.stdout.str().split("= FAILURES =")[1]


def test_resolve_marked_leaves_unmarked_code_alone(
    pytester: pytest.Pytester, dead_host: str
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    result = _run(pytester, "--docker-resolve=marked")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("docker: no working endpoint*")
    result.stdout.fnmatch_lines(["*DockerException: Error while fetching server API version*"])


@pytest.fixture
def listening_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """DOCKER_HOST at a loopback Docker API that counts every connection it accepts."""
    with serving(docker_api()) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        yield server


def test_a_docker_free_run_resolves_nothing(
    pytester: pytest.Pytester, listening_host: LoopbackServer
) -> None:
    pytester.makepyfile(test_free="def test_ok():\n    pass\n")
    result = _run(pytester, "-v")
    result.assert_outcomes(passed=1)
    # Resolution pings DOCKER_HOST first: nothing reached it, so nothing was resolved.
    assert listening_host.accepted == 0
    result.stdout.no_fnmatch_line("docker: dind *")
    result.stdout.no_fnmatch_line("docker: no working endpoint*")
    result.stdout.no_fnmatch_line("docker: tried*")


def test_a_run_that_uses_docker_reaches_the_same_listener(
    pytester: pytest.Pytester, listening_host: LoopbackServer
) -> None:
    """The other side of the test above: the listener does see an attempt when there is one."""
    pytester.makepyfile(test_plain=PLAIN)
    result = _run(pytester, "-v")
    result.assert_outcomes(passed=2)
    assert listening_host.accepted > 0
    result.stdout.fnmatch_lines([f"docker: dind {listening_host.url} * via DOCKER_HOST;*"])
