"""The pytest surface through pytester: options, ini keys, env vars, the header, -v trace,
skip or fail without an endpoint, the marker, and auto-marking of Docker fixtures.

A fake Docker API on loopback stands in for the daemon, so no dockerd is needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..helpers.servers import LoopbackServer, closed_port, docker_api, serving

DOCKER_TESTS = """
import pytest

def test_uses_host(docker_host):
    assert docker_host.engine_version

@pytest.mark.docker
def test_marked():
    pass

def test_plain():
    pass
"""


@pytest.fixture
def fake_docker() -> Iterator[LoopbackServer]:
    with serving(docker_api()) as server:
        yield server


@pytest.fixture
def dead_host(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"tcp://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("DOCKER_HOST", url)
    return url


def test_header_line_names_mode_url_engine_source_and_ports(
    pytester: pytest.Pytester, fake_docker: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", fake_docker.url)
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            f"docker: dind {fake_docker.url} (engine 20.10.24, API 1.41, TLS off) via "
            "DOCKER_HOST; published ports on 127.0.0.1",
            "*3 passed*",
        ]
    )
    result.stdout.no_fnmatch_line("docker: tried*")
    assert result.ret == 0


def test_verbose_header_shows_settings_and_trace(
    pytester: pytest.Pytester, fake_docker: LoopbackServer
) -> None:
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest("-v", "--docker-host", fake_docker.url, "--docker-timeout=7")
    # Settings in the header; the endpoint and its trace once collection found Docker tests.
    result.stdout.fnmatch_lines(
        [
            f"docker: setting host = {fake_docker.url} (from --docker-host)",
            "docker: setting timeout = 7.0 (from --docker-timeout)",
            "rootdir: *",
            "collecting ... collected 3 items",
            f"docker: dind {fake_docker.url} (*) via --docker-host; *",
            f"docker: tried --docker-host: {fake_docker.url} -> ok in * ms "
            "(engine 20.10.24, API 1.41)",
        ]
    )


def test_ini_keys_are_read_and_named(
    pytester: pytest.Pytester, fake_docker: LoopbackServer
) -> None:
    pytest.importorskip("docker")  # whatever ran before: the premise below holds
    pytester.makeini(f"[pytest]\ndocker_host = {fake_docker.url}\ndocker_mode = dind\n")
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest("-v")
    # docker-py is imported in this process already and the mode is explicit: resolved at
    # start-up, so the endpoint line comes first.
    result.stdout.fnmatch_lines(
        [
            f"docker: dind {fake_docker.url} (*) via ini docker_host; *",
            "docker: setting mode = dind (from ini docker_mode)",
        ]
    )
    assert result.ret == 0


def test_cli_beats_env_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_docker: LoopbackServer
) -> None:
    pytester.makeini("[pytest]\ndocker_mode = dood\ndocker_timeout = 9\n")
    monkeypatch.setenv("PYTEST_DOCKER_MODE", "dind")
    monkeypatch.setenv("PYTEST_DOCKER_TIMEOUT", "3")
    monkeypatch.setenv("DOCKER_HOST", fake_docker.url)
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-v", "--docker-timeout=4")
    result.stdout.fnmatch_lines(
        [
            "docker: setting mode = dind (from PYTEST_DOCKER_MODE)",
            "docker: setting timeout = 4.0 (from --docker-timeout)",
        ]
    )


def test_no_endpoint_skips_docker_tests_with_the_reason(
    pytester: pytest.Pytester, dead_host: str
) -> None:
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest("-rs")
    result.stdout.fnmatch_lines(
        [
            "docker: *no working*endpoint*(mode auto*; tests that need Docker will be skipped",
            f"docker: DOCKER_HOST: {dead_host}",
            f"docker: what happened: {dead_host[6:]} refused the connection",
            "docker: fix: check that a Docker daemon listens on *",
            "SKIPPED [[]*] *pytest-dockerhost: no working Docker endpoint (mode auto, *",
            "*1 passed, 2 skipped*",
        ]
    )
    assert result.ret == 0


@pytest.mark.parametrize(
    ("args", "env", "why"),
    [
        (["--docker-required"], {}, "--docker-required"),
        ([], {"PYTEST_DOCKER_REQUIRED": "1"}, "PYTEST_DOCKER_REQUIRED"),
        ([], {"CI": "true"}, "CI detected via CI"),
        ([], {"JENKINS_URL": "http://jenkins:8080/"}, "CI detected via JENKINS_URL"),
        ([], {"GITLAB_CI": "true"}, "CI detected via GITLAB_CI"),
        ([], {"GITHUB_ACTIONS": "true"}, "CI detected via GITHUB_ACTIONS"),
    ],
)
def test_required_or_ci_fails_instead(  # noqa: PLR0917
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    dead_host: str,
    args: list[str],
    env: dict[str, str],
    why: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(
        [
            "docker: *no working*endpoint*; tests that need Docker will fail",
            f"  (failing instead of skipping: {why})",
            "*1 passed, 2 errors*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling of the above exception*")
    assert result.ret == 1


def test_required_flag_does_not_swallow_the_path(pytester: pytest.Pytester, dead_host: str) -> None:
    pytester.makepyfile(test_one="def test_a(): pass", test_two="def test_b(): pass")
    result = pytester.runpytest("--docker-required", "test_one.py")
    result.stdout.fnmatch_lines(["*1 passed*"])
    assert result.ret == 0


def test_not_required_beats_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dead_host: str
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest("--no-docker-required")
    result.stdout.fnmatch_lines(["*1 passed, 2 skipped*"])


@pytest.mark.parametrize(
    ("flag", "outcome"), [("=false", "1 passed, 2 skipped"), ("=1", "2 errors")]
)
def test_on_off_flags_also_take_a_value(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    dead_host: str,
    flag: str,
    outcome: str,
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest(f"--docker-required{flag}")
    result.stdout.fnmatch_lines([f"*{outcome}*"])


@pytest.mark.parametrize(
    ("where", "word", "outcome"),
    [
        ("cli", "No", "1 passed, 2 skipped"),
        ("PYTEST_ADDOPTS", "off", "1 passed, 2 skipped"),
        ("ini addopts", "YES", "2 errors"),
    ],
)
def test_a_flag_with_a_value_works_wherever_it_is_given(
    pytester: pytest.Pytester,
    *,
    monkeypatch: pytest.MonkeyPatch,
    dead_host: str,
    where: str,
    word: str,
    outcome: str,
) -> None:
    # Only the `--flag=WORD` strings a run was given are registered as options: each place
    # pytest takes arguments from must be seen.
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(DOCKER_TESTS)
    flag = f"--docker-required={word}"
    args: list[str] = []
    if where == "cli":
        args.append(flag)
    elif where == "PYTEST_ADDOPTS":
        monkeypatch.setenv("PYTEST_ADDOPTS", flag)
    else:
        pytester.makeini(f"[pytest]\naddopts = {flag}\n")
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines([f"*{outcome}*"])


def test_a_flag_with_an_unknown_word_gets_the_settings_error(
    pytester: pytest.Pytester, dead_host: str
) -> None:
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest("--docker-required=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--docker-required*'maybe'*"])
    assert "unrecognized arguments" not in result.stderr.str()


def test_ini_docker_required(pytester: pytest.Pytester, dead_host: str) -> None:
    pytester.makeini("[pytest]\ndocker_required = true\n")
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*(failing instead of skipping: ini docker_required)*"])
    assert result.ret == 1


def test_fixture_users_are_auto_marked(pytester: pytest.Pytester, dead_host: str) -> None:
    pytester.makepyfile(
        """
        def test_client(docker_client): pass
        def test_env(docker_env): pass
        def test_plain(): pass
        """
    )
    result = pytester.runpytest("-m", "not docker")
    result.stdout.fnmatch_lines(["*1 passed, 2 deselected*"])
    result = pytester.runpytest("-m", "docker", "-rs")
    result.stdout.fnmatch_lines(["*2 skipped, 1 deselected*"])


def test_marker_is_registered(pytester: pytest.Pytester, dead_host: str) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.docker: the test needs a Docker engine*"])
    pytester.makepyfile("import pytest\n@pytest.mark.docker\ndef test_x(): pass\n")
    result = pytester.runpytest("--strict-markers", "-rs")
    result.stdout.fnmatch_lines(["*1 skipped*"])


def test_options_are_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "Docker endpoint (pytest-dockerhost):",
            "*--docker-mode={auto,dood,dind,sidecar}*",
            "*--docker-host=HOST*",
            "*--docker-socket=SOCKET*",
            "*--docker-cert-path=CERT-PATH*",
            "*--docker-tls-verify*",
            "*--no-docker-tls-verify*",
            "*--docker-timeout=TIMEOUT*",
            "*--docker-required*",
        ]
    )
    result.stdout.fnmatch_lines(["*docker_mode (string):*", "*docker_timeout (string):*"])


@pytest.mark.parametrize(
    ("args", "ini", "env", "said"),
    [
        (["--docker-mode=bogus"], "", {}, "--docker-mode='bogus' is not valid: must be one of"),
        ([], "docker_mode = nope", {}, "ini docker_mode='nope' is not valid: must be one of"),
        ([], "", {"PYTEST_DOCKER_MODE": "x"}, "PYTEST_DOCKER_MODE='x' is not valid"),
        (["--docker-timeout=-5"], "", {}, "--docker-timeout='-5' is not valid: must be a positive"),
        (
            [],
            "docker_timeout = soon",
            {},
            "ini docker_timeout='soon' is not valid: must be a number",
        ),
        ([], "", {"DOCKER_HOST": ""}, "DOCKER_HOST is set but empty. Unset it"),
    ],
)
def test_bad_settings_are_usage_errors_naming_the_source(  # noqa: PLR0917
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    ini: str,
    env: dict[str, str],
    said: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*args)
    result.stderr.fnmatch_lines([f"ERROR: pytest-dockerhost: {said}*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_tls_verify_zero_warns_in_the_header(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dead_host: str
) -> None:
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "0")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["docker: setting tls_verify = true (from DOCKER_TLS_VERIFY)"])


def test_tls_verify_zero_warning_when_resolved(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    from ..helpers.servers import over_tls
    from ..helpers.tls import make_material

    material = make_material(Path(str(tmp_path)) / "certs")
    with serving(over_tls(material.server_context(), docker_api())) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "0")
        monkeypatch.setenv("DOCKER_CERT_PATH", str(material.client_dir))
        pytester.makepyfile("def test_x(docker_host): assert docker_host.tls.verify")
        result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "docker: warning: DOCKER_TLS_VERIFY=0 turns TLS verification ON*Unset*",
            f"docker: dind {server.url} (engine 20.10.24, API 1.41, TLS verified) via DOCKER_HOST*",
            f"docker: note: TLS verified with DOCKER_CERT_PATH={material.client_dir} *",
            "*1 passed*",
        ]
    )
    assert result.stdout.str().count("DOCKER_TLS_VERIFY=0 turns") == 1


def test_docker_env_and_environment_are_wired_and_restored(
    pytester: pytest.Pytester, fake_docker: LoopbackServer
) -> None:
    pytester.makepyfile(
        f"""
        import os

        from docker.models.containers import Container, ContainerCollection

        def test_env(docker_env, docker_host):
            assert docker_env["DOCKER_HOST"] == "{fake_docker.url}"
            assert "DOCKER_TLS_VERIFY" not in docker_env
            assert os.environ["DOCKER_HOST"] == "{fake_docker.url}"
            assert os.environ["TESTCONTAINERS_HOST_OVERRIDE"] == "127.0.0.1"
            # Binds the engine cannot see become copies: docker-py's methods, wrapped.
            assert ContainerCollection.create.__wrapped__
            assert Container.remove.__wrapped__
        """
    )
    import os

    from docker.models.containers import Container, ContainerCollection

    methods = (ContainerCollection.create, Container.stop, Container.wait, Container.remove)
    result = pytester.runpytest("--docker-host", fake_docker.url)
    result.assert_outcomes(passed=1)
    assert "DOCKER_HOST" not in os.environ
    assert "TESTCONTAINERS_HOST_OVERRIDE" not in os.environ
    assert (ContainerCollection.create, Container.stop, Container.wait, Container.remove) == methods


def test_plugin_can_be_disabled(pytester: pytest.Pytester, dead_host: str) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.docker\ndef test_x():\n    pass\n")
    on = pytester.runpytest()
    on.stdout.fnmatch_lines(["docker: no working endpoint (mode auto)*"])
    on.assert_outcomes(skipped=1)  # the plugin found no daemon and skipped the Docker test
    off = pytester.runpytest("-p", "no:dockerhost")
    off.stdout.no_fnmatch_line("docker:*")
    off.assert_outcomes(passed=1)  # nobody knows the marker: the test just runs


def test_a_run_without_docker_tests_never_contacts_the_daemon(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_docker: LoopbackServer
) -> None:
    monkeypatch.setenv("DOCKER_HOST", fake_docker.url)
    pytester.makepyfile(DOCKER_TESTS)
    result = pytester.runpytest("-k", "plain")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.no_fnmatch_line("docker: *")
    assert fake_docker.accepted == 0, "resolution must wait for a test that needs Docker"

    result = pytester.runpytest("-k", "uses_host")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["collected 3 items / 2 deselected / 1 selected", "docker: dind *"])
    assert fake_docker.accepted > 0


REWRITE_CHECK = """
import sys


def test_the_plugin_loads_as_plain_modules():
    loaders = {
        name: type(module.__loader__).__name__
        for name, module in sys.modules.items()
        if name.startswith("pytest_dockerhost.")
    }
    assert "pytest_dockerhost.plugin" in loaders
    assert [name for name, loader in loaders.items() if loader == "AssertionRewritingHook"] == []


def test_the_suites_own_asserts_are_still_rewritten():
    assert [1, 2] == [1, 3]


def test_the_endpoints_lifecycle_is_not_loaded():
    assert "pytest_dockerhost.run.hooks" in sys.modules
    assert "pytest_dockerhost.run.lifecycle" not in sys.modules
"""


def test_a_docker_free_run_loads_little_of_the_plugin(pytester: pytest.Pytester) -> None:
    """Without assertion rewriting (pytest rewrites every module of a plugin's distribution,
    through a loader that costs a Docker-free run more than the plugin's own work there:
    benchmarks/README.md), and without the endpoint's lifecycle; the suite's own asserts
    are still rewritten. pytest marks the package from a regular install's file list, not
    from this editable one: a plugin loaded first marks it as that would."""
    pytester.makepyfile(
        mark_as_installed="import pytest\npytest.register_assert_rewrite('pytest_dockerhost')\n",
        test_rewrite=REWRITE_CHECK,
    )
    result = pytester.runpytest_subprocess(
        "-p", "mark_as_installed", "-p", "dockerhost", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*At index 1 diff: 2 != 3*"])


def test_a_fixture_requested_dynamically_still_resolves(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_docker: LoopbackServer
) -> None:
    monkeypatch.setenv("DOCKER_HOST", fake_docker.url)
    pytester.makepyfile(
        "def test_late(request):\n"
        "    assert request.getfixturevalue('docker_host').engine_version == '20.10.24'\n"
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_worker_takes_the_hand_over_out_of_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pytest-xdist's local workers inherit the owner's endpoint in their environment; a
    worker takes it out, so that the processes its tests start do not adopt it."""
    import json
    import os

    from pytest_dockerhost.run.hooks import HANDOVER_ENV, handed_over

    data = {"host": None, "error": "no daemon", "run": {"run_id": "r", "session": "s"}}
    monkeypatch.setenv(HANDOVER_ENV, json.dumps(data))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert handed_over() is None  # not a worker: a leftover, dropped
    assert HANDOVER_ENV not in os.environ
    monkeypatch.setenv(HANDOVER_ENV, json.dumps(data))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert handed_over() == data
    assert HANDOVER_ENV not in os.environ
    assert handed_over() is None
