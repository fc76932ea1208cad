"""kubedock (issue 22, item 5): pytest runs against a server that answers as kubedock does
(tests/helpers/kubedock.py: no Kubernetes can run here). What users see: the header's
profile line, its note and warning, testcontainers code that names no fixture of ours,
sidecar mode failing at once with the reason, and, from the server's own request log, that
the plugin's reaper never asked for a volume (kubedock answers 501 to the volumes API)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..helpers.kubedock import RELEASE, FakeKubedock, running_kubedock

pytestmark = [pytest.mark.integration]

# As users write it: docker-py at module level, testcontainers inline, no fixture of ours.
SUITE = """
import os

import docker
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

client = docker.from_env()


def test_from_env_reaches_kubedock():
    assert client.info()["Name"] == "kubedock"
    assert client.version()["ApiVersion"] == "1.25"


def test_ryuk_is_off_without_being_asked():
    assert os.environ["TESTCONTAINERS_RYUK_DISABLED"] == "true"
    assert testcontainers_config.ryuk_disabled


def test_a_published_port_is_taken_on_loopback(tmp_path):
    (tmp_path / "index.html").write_text("hello")
    service = DockerContainer("pytest-dockerhost-test/busybox:local").with_exposed_ports(8080)
    with service.with_volume_mapping(str(tmp_path), "/www") as container:
        assert container.get_container_host_ip() == "127.0.0.1"
        assert int(container.get_exposed_port(8080)) == 38080  # kubedock's forward
"""

PROFILE_LINE = (
    "docker: profile kubedock: Ryuk and the plugin's reaper off: the engine removes what it "
    "ran itself; folders reach containers by copy, not by bind; no sidecar"
)
NOTE = (
    "docker: note: kubedock removes what the run leaves: it deletes its pods after its "
    "--reapmax (60 min by default), and all of them when it exits"
)
PORTS_WARNING = (
    "docker: warning: kubedock's API does not say whether it runs with --port-forward or "
    "--reverse-proxy: published ports are taken on 127.0.0.1, where they answer only with one "
    "of them; without either, they answer only inside the cluster, at each pod's service. "
    "Fix: start kubedock with `kubedock server --port-forward` (or `--reverse-proxy`); where "
    "it runs so, --docker-published-host=127.0.0.1 says it and ends this warning"
)


@pytest.fixture
def kubedock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubedock]:
    """kubedock started with --port-forward, as its quick start says, at DOCKER_HOST."""
    with running_kubedock("port-forward") as fake:
        monkeypatch.setenv("DOCKER_HOST", fake.url)
        # The tests' neutral environment turns Ryuk off: here the wiring must.
        monkeypatch.delenv("TESTCONTAINERS_RYUK_DISABLED", raising=False)
        yield fake


def test_a_suite_without_fixtures_runs_on_kubedock_as_its_profile_says(
    pytester: pytest.Pytester, kubedock: FakeKubedock
) -> None:
    pytester.makepyfile(SUITE)
    report = pytester.path / "docker.json"

    result = pytester.runpytest_subprocess("-p", "dockerhost", f"--docker-report={report}")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            f"docker: dind {kubedock.url} (engine kubedock {RELEASE}, API 1.25, TLS off) "
            "via DOCKER_HOST; published ports on 127.0.0.1 (unverified)",
            PROFILE_LINE,
            NOTE,
            PORTS_WARNING,
        ]
    )
    # kubedock's pods are on the cluster's network: no bridge MTU to warn about.
    result.stdout.no_fnmatch_line("*MTU*")
    profile: dict[str, Any] = json.loads(report.read_text())["endpoint"]["engine"]["profile"]
    assert (profile["name"], profile["engine_name"], profile["operating_system"]) == (
        "kubedock",
        "kubedock",
        "kubernetes",
    )
    policy = profile["policy"]
    assert (policy["ryuk"], policy["reaper"], policy["copies"]) == (False, False, True)
    assert policy["published_host"] == "127.0.0.1"

    # The server's log: no claim or lease volume (the reaper is off), no probe image, and one
    # container, the test's, whose folder came as a copy rather than a bind.
    asked = kubedock.paths()
    assert not [path for path in asked if path.startswith("/volumes")], asked
    assert "/images/create" not in asked
    assert kubedock.paths("POST").count("/containers/create") == 1
    assert not kubedock.containers  # testcontainers removed it on leaving the block
    archives = [p for m, p in kubedock.requests if m == "PUT" and p.endswith("/archive")]
    assert len(archives) == 1, asked


def test_the_bind_reaches_kubedock_as_a_copy_not_a_bind(
    pytester: pytest.Pytester, kubedock: FakeKubedock
) -> None:
    pytester.makepyfile(
        """
        import docker

        def test_bind(tmp_path):
            (tmp_path / "conf.txt").write_text("x")
            client = docker.from_env()
            made = client.containers.create(
                "pytest-dockerhost-test/busybox:local",
                volumes={str(tmp_path): {"bind": "/conf", "mode": "ro"}},
            )
            made.remove(force=True)
        """
    )
    seen: list[list[str]] = []
    original = kubedock.create

    def record(body: dict[str, Any], name: str) -> dict[str, Any]:
        seen.append(list((body.get("HostConfig") or {}).get("Binds") or []))
        return original(body, name)

    kubedock.create = record  # type: ignore[method-assign]

    result = pytester.runpytest_subprocess("-p", "dockerhost")

    result.assert_outcomes(passed=1)
    assert seen == [[]], seen  # kubedock never sees a bind of this machine's folder
    puts = [p for m, p in kubedock.requests if m == "PUT" and p.endswith("/archive")]
    assert len(puts) == 1, kubedock.requests


def test_sidecar_mode_fails_at_once_on_kubedock_with_the_reason(
    pytester: pytest.Pytester, kubedock: FakeKubedock
) -> None:
    pytester.makepyfile(
        """
        import docker

        def test_needs_docker():
            docker.from_env().ping()
        """
    )
    began = time.monotonic()

    result = pytester.runpytest_subprocess(
        "-p", "dockerhost", "--docker-mode=sidecar", "--docker-required", timeout=60
    )

    took = time.monotonic() - began
    result.assert_outcomes(failed=1)
    assert took < 20, took  # no start, no wait for a daemon that cannot come
    result.stdout.fnmatch_lines(
        [
            "*--docker-mode=sidecar cannot run on this engine (kubedock): kubedock runs each "
            "container as a Kubernetes pod: it ignores --privileged and answers 501 to the "
            "volumes API, so no dind sidecar can run on it. Fix: use kubedock itself "
            "(--docker-mode=auto, the default, finds it at DOCKER_HOST=tcp://127.0.0.1:2475 "
            "beside the job), or a docker:dind container in the job's pod for sidecar mode*"
        ]
    )
    # Refused before anything was asked of kubedock: no container, no volume.
    asked = kubedock.paths()
    assert "/containers/create" not in asked, asked
    assert not [path for path in asked if path.startswith("/volumes")], asked


def test_the_published_host_the_warning_suggests_ends_the_warning(
    pytester: pytest.Pytester, kubedock: FakeKubedock
) -> None:
    pytester.makepyfile("import docker\n\ndef test_ping():\n    docker.from_env().ping()\n")

    result = pytester.runpytest_subprocess("-p", "dockerhost", "--docker-published-host=127.0.0.1")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"docker: dind {kubedock.url} (*) via DOCKER_HOST; published ports on 127.0.0.1",
            PROFILE_LINE,
        ]
    )
    result.stdout.no_fnmatch_line("*--port-forward*")


def test_the_stand_in_answers_as_kubedocks_source_says() -> None:
    """What the tests above rely on, as kubedock's routes write it (internal/server/routes:
    docker/system.go, docker.go's NotImplemented list, gin's 404, the version prefix)."""
    with running_kubedock() as fake:
        port = int(fake.url.rsplit(":", 1)[1])

        def ask(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request(method, path)
                reply = conn.getresponse()
                return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
            finally:
                conn.close()

        status, headers, body = ask("GET", "/_ping")
        assert (status, body, headers["api-version"]) == (200, b"OK", "1.25")
        assert "server" not in headers
        assert ask("HEAD", "/_ping")[0] == 200
        version = json.loads(ask("GET", "/v1.25/version")[2])
        assert [version[k] for k in ("Version", "ApiVersion", "MinAPIVersion")] == ["1.25"] * 3
        info = json.loads(ask("GET", "/v1.41/info")[2])
        assert set(info) == {"ID", "Name", "ServerVersion", "OperatingSystem", "MemTotal", "Labels"}
        assert (info["Name"], info["OperatingSystem"]) == ("kubedock", "kubernetes")
        for method, path in [
            ("POST", "/v1.25/volumes/create"),
            ("GET", "/volumes"),
            ("POST", "/build"),
        ]:
            assert ask(method, path)[::2] == (501, b""), path
        assert ask("GET", "/swarm")[::2] == (404, b"404 page not found")


def test_the_diagnostic_command_names_the_profile(kubedock: FakeKubedock) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pytest_dockerhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("docker: dind "))
    assert lines[summary + 1] == PROFILE_LINE, done.stdout
    assert "warning: " + PORTS_WARNING.removeprefix("docker: warning: ") in lines, done.stdout


def test_docker_tmp_path_asks_kubedock_nothing_for_a_folder_it_can_only_copy(
    pytester: pytest.Pytester, kubedock: FakeKubedock
) -> None:
    """The profile says no folder is shared: the bind-mount probe (an image and a container
    of its own) is never sent, and the folder reaches the container by copy."""
    pytester.makepyfile(
        """
        import docker

        def test_folder(docker_tmp_path):
            (docker_tmp_path / "conf.txt").write_text("x")
            made = docker.from_env().containers.create(
                "pytest-dockerhost-test/busybox:local",
                volumes={str(docker_tmp_path): {"bind": "/conf", "mode": "ro"}},
            )
            made.remove(force=True)
        """
    )
    result = pytester.runpytest_subprocess("-p", "dockerhost")
    result.assert_outcomes(passed=1)
    assert kubedock.paths("POST").count("/containers/create") == 1, kubedock.requests
    assert not [p for p in kubedock.paths() if p.startswith("/images")], kubedock.requests
    puts = [p for m, p in kubedock.requests if m == "PUT" and p.endswith("/archive")]
    assert len(puts) == 1, kubedock.requests
