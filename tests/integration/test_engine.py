"""The plugin against the real dockerd that .ci/run starts, through pytester runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ..conftest import BUSYBOX
from ..helpers import FETCH
from .daemons import TLSDaemon, free_port

pytestmark = pytest.mark.integration


def _tls_env(monkeypatch: pytest.MonkeyPatch, daemon: TLSDaemon) -> None:
    monkeypatch.setenv("DOCKER_HOST", daemon.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(daemon.tls.folder))


@pytest.mark.usefixtures("test_images")
def test_docker_client_runs_a_container_and_reaches_its_published_port(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        FETCH
        + f"""
def test_service(docker_client, docker_host):
    container = docker_client.containers.run(
        "{BUSYBOX}", detach=True, ports={{"80/tcp": None}},
        labels={{"pytest-dockerhost-test": "engine"}},
    )
    try:
        container.reload()
        port = container.ports["80/tcp"][0]["HostPort"]
        url = f"http://{{docker_host.published_host}}:{{port}}/"
        assert fetch(url) == "pytest-dockerhost-test ok"
    finally:
        container.remove(force=True)


def test_no_docker_needed():
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "dockerhost")
    result.stdout.fnmatch_lines(
        [
            # The daemon runs in this container's namespace here, but nothing proves it before
            # a published port answers: said, with the fix. The test's fetch then proves it.
            "docker: dood unix:///var/run/docker.sock (engine *, API *) via "
            "/var/run/docker.sock (the system socket); published ports on localhost "
            "(unverified)",
            "docker: note: published ports on localhost: the daemon's bridge address is one of "
            "this network namespace's; no published port answered there yet, so this is a "
            "guess: if tests cannot reach their containers, set --docker-published-host *",
            "*2 passed*",
        ]
    )
    assert result.ret == 0


@pytest.mark.usefixtures("test_images")
def test_testcontainers_container_through_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FETCH
        + f"""
from testcontainers.core.container import DockerContainer


def test_with_testcontainers(docker_host):
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(80)
        assert host == docker_host.published_host
        assert fetch(f"http://{{host}}:{{port}}/") == "pytest-dockerhost-test ok"
"""
    )
    result = pytester.runpytest_subprocess("-p", "dockerhost", "-v")
    result.stdout.fnmatch_lines(["docker: dood unix:///var/run/docker.sock *", "*1 passed*"])
    assert result.ret == 0


def test_testcontainers_imported_before_the_session_is_patched_and_restored(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: object
) -> None:
    # A conftest that imports testcontainers freezes its config before the plugin resolves.
    pytester.makeconftest("import testcontainers.core.config  # noqa: F401\n")
    pytester.makepyfile(
        """
import os
from testcontainers.core.config import testcontainers_config


def test_config_points_at_the_endpoint(docker_host):
    assert testcontainers_config.tc_host_override == docker_host.published_host
    assert testcontainers_config.ryuk_docker_socket == docker_host.daemon_socket
    assert os.environ["DOCKER_HOST"] == docker_host.url
"""
    )
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    before = dict(os.environ)
    result = pytester.runpytest_inprocess("-p", "dockerhost")
    result.assert_outcomes(passed=1)
    after = dict(os.environ)
    after.pop("PYTEST_CURRENT_TEST", None)
    before.pop("PYTEST_CURRENT_TEST", None)
    assert after == before, "the plugin must restore the environment"


def test_dind_mode_reaches_a_tls_daemon_with_docker_cert_path(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tls_daemon: TLSDaemon
) -> None:
    _tls_env(monkeypatch, tls_daemon)
    pytester.makepyfile(
        """
import subprocess


def test_client(docker_client):
    assert docker_client.version()["ApiVersion"]


def test_cli(docker_env, docker_host):
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=docker_env, capture_output=True, text=True, check=True,
    )
    assert done.stdout.strip() == docker_host.engine_version
"""
    )
    result = pytester.runpytest_subprocess("-p", "dockerhost", "--docker-mode=dind")
    result.stdout.fnmatch_lines(
        [
            f"docker: dind {tls_daemon.url} (engine *, API *, TLS verified) via DOCKER_HOST; "
            "published ports on 127.0.0.1",
            f"docker: note: TLS verified with DOCKER_CERT_PATH={tls_daemon.tls.folder} "
            "(DOCKER_TLS_VERIFY)",
            "*2 passed*",
        ]
    )


def test_plain_http_against_the_tls_port_says_so_and_how_to_fix_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tls_daemon: TLSDaemon
) -> None:
    monkeypatch.setenv("DOCKER_HOST", tls_daemon.url)
    pytester.makepyfile("def test_x(docker_host):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "dockerhost", "--docker-required")
    result.stdout.fnmatch_lines(
        [
            "*Client sent an HTTP request to an HTTPS server*",
            "*fix: turn TLS on: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH*",
            "*1 error*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_wrong_ca_is_a_verification_error_not_a_fallback(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tls_daemon: TLSDaemon,
) -> None:
    from .daemons import make_tls_material

    other = make_tls_material(pytester.path / "other-ca")
    monkeypatch.setenv("DOCKER_HOST", tls_daemon.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(other.folder))
    pytester.makepyfile("def test_x(docker_host):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "dockerhost", "--docker-required")
    result.stdout.fnmatch_lines(
        ["*certificate failed verification*", "*fix: *ca.pem*", "*1 error*"]
    )
    # The local socket works, but a configured TLS endpoint is never silently replaced.
    assert "docker: dood" not in result.stdout.str()


def test_dind_mode_waits_for_a_daemon_that_is_still_starting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tls_daemon: TLSDaemon
) -> None:
    port = free_port()
    late = TLSDaemon(pytester.path / "late", tls_daemon.tls, port)
    monkeypatch.setenv("DOCKER_HOST", late.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tls_daemon.tls.folder))
    pytester.makepyfile("def test_x(docker_client):\n    assert docker_client.ping()\n")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "dockerhost",
            "--docker-mode=dind",
            "--docker-timeout=60",
            "-p",
            "no:cacheprovider",
        ],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2)  # the job starts first, the service later: the usual CI race
        late.start()
        output, _ = run.communicate(timeout=90)
    finally:
        run.kill()
        late.stop()
    assert run.returncode == 0, output
    assert f"docker: dind {late.url}" in output, output
    assert "1 passed" in output, output


def test_diagnostic_command_prints_the_trace(engine: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dockerhost"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/var/run/docker.sock (the system socket)" in done.stdout
    assert "docker: dood unix:///var/run/docker.sock" in done.stdout

    env["DOCKER_HOST"] = f"tcp://127.0.0.1:{free_port()}"
    failed = subprocess.run(
        [sys.executable, "-m", "pytest_dockerhost"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert failed.returncode == 1
    assert "refused the connection" in failed.stdout
    assert "unix:///var/run/docker.sock answers" in failed.stdout


def test_a_daemon_that_dies_mid_session_is_named_once_and_later_tests_fail_fast(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tls_daemon: TLSDaemon
) -> None:
    # A private daemon of its own: stopping it must not disturb the other tests.
    daemon = TLSDaemon(pytester.path / "dying", tls_daemon.tls)
    daemon.start()
    daemon.wait_ready()
    _tls_env(monkeypatch, daemon)
    monkeypatch.setenv("DOCKER_HOST", daemon.url)
    pytester.makepyfile(
        """
import pathlib
import time


def test_first(docker_client):
    assert docker_client.ping()
    pathlib.Path("first-done").write_text("1")
    for _ in range(600):
        if pathlib.Path("daemon-stopped").exists():
            return
        time.sleep(0.05)


def test_second(docker_client):
    docker_client.ping()


def test_third(docker_client):
    docker_client.ping()
"""
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "dockerhost", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(600):
            if (pytester.path / "first-done").exists():
                break
            time.sleep(0.05)
        daemon.stop()
        (pytester.path / "daemon-stopped").write_text("1")
        started = time.monotonic()
        output, _ = run.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        run.kill()
        daemon.stop()
    assert run.returncode == 1, output
    assert elapsed < 20, output
    assert "1 failed, 1 passed, 1 error" in output, output
    # As test_second's failure message and in test_third's setup error (and its summary line).
    assert output.count(f"the Docker endpoint {daemon.url} (dind, via DOCKER_HOST) stopped") >= 2
    assert "refused the connection" in output
    failures = output.split("= FAILURES =", 1)[1]
    # The client library's traceback is one line naming the original exception.
    assert "  original error: requests.exceptions.ConnectionError: " in failures, output
    assert "site-packages" not in failures, output
