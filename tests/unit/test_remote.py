"""The pure parts of reaching an engine on another machine: SSH targets and URLs with a
socket path, what ssh says sorted by its fix, the ports a container publishes, and
Podman's ways of naming a remote engine (``CONTAINER_HOST``, ``podman system connection``).
Connections, forwards and faults are tested against real sshd hosts in tests/remote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_dockerhost.config.settings import Settings
from pytest_dockerhost.discovery.remote import ports_target
from pytest_dockerhost.discovery.sources.podman import container_host_env, podman_connection
from pytest_dockerhost.engine.transport import FailureKind
from pytest_dockerhost.engine.url import DockerURL, parse_url
from pytest_dockerhost.errors import SettingError
from pytest_dockerhost.remote.forwards import published
from pytest_dockerhost.remote.ssh import SSHTarget, classify

from .conftest import MakeCtx


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ssh://ci@build", DockerURL("ssh", host="build", user="ci")),
        (
            "ssh://core@127.0.0.1:50123/run/user/501/podman/podman.sock",
            DockerURL("ssh", host="127.0.0.1", port=50123, user="core", path=""),
        ),
        ("ssh://build/var/run/docker.sock", DockerURL("ssh", host="build")),
    ],
)
def test_ssh_urls_keep_the_remote_socket_path(raw: str, expected: DockerURL) -> None:
    url = parse_url(raw)
    path = raw.split("://", 1)[1].partition("/")[2]
    assert (url.scheme, url.host, url.port, url.user) == (
        expected.scheme,
        expected.host,
        expected.port,
        expected.user,
    )
    assert url.path == ("/" + path if path else "")
    assert str(url) == raw  # DOCKER_HOST round-trips


@pytest.mark.parametrize(
    ("text", "target", "arguments"),
    [
        ("remote-docker", SSHTarget("remote-docker"), ["--", "remote-docker"]),
        (
            "ci@build:2222",
            SSHTarget("build", "ci", 2222),
            ["-p", "2222", "-l", "ci", "--", "build"],
        ),
        ("ssh://ci@build/", SSHTarget("build", "ci"), ["-l", "ci", "--", "build"]),
    ],
)
def test_ssh_targets_become_ssh_arguments(
    text: str, target: SSHTarget, arguments: list[str]
) -> None:
    assert SSHTarget.parse(text) == target
    assert target.arguments() == arguments
    with_key = SSHTarget("build", identity="/keys/id")
    assert with_key.arguments() == ["-i", "/keys/id", "--", "build"]


@pytest.mark.parametrize("text", ["", "-oProxyCommand=x", "ci@", "host:port"])
def test_what_is_not_an_ssh_target_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(text) + "$"):
        SSHTarget.parse(text)


def test_the_ssh_setting_refuses_an_option_and_names_its_source() -> None:
    with pytest.raises(SettingError) as raised:
        Settings.from_sources({}, {"PYTEST_DOCKER_SSH": "-oProxyCommand=touch /tmp/x"}, {})
    assert raised.value.source == "PYTEST_DOCKER_SSH"
    assert "must be an SSH target" in str(raised.value)
    settings = Settings.from_sources({"ssh": "ci@build:2222"}, {"PYTEST_DOCKER_SSH": "a"}, {})
    assert (settings.ssh.value, settings.ssh.source) == ("ci@build:2222", "--docker-ssh")


UNREACHABLE = FailureKind.SSH_UNREACHABLE


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("Host key verification failed.", FailureKind.SSH_HOST_KEY),
        ("@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @", FailureKind.SSH_HOST_KEY),
        ("ci@build: Permission denied (publickey).", FailureKind.SSH_AUTH),
        (
            "ssh: Could not resolve hostname nowhere: Name or service not known",
            FailureKind.SSH_UNREACHABLE,
        ),
        ("ssh: connect to host 10.0.0.9 port 22: Connection refused", UNREACHABLE),
        (
            "ssh: connect to host 10.0.0.9 port 22: Connection timed out",
            FailureKind.SSH_UNREACHABLE,
        ),
        ("kex_exchange_identification: read: Connection reset by peer", FailureKind.SSH_ERROR),
    ],
)
def test_what_ssh_says_is_sorted_by_its_fix(said: str, kind: FailureKind) -> None:
    assert classify(said) is kind


def test_published_ports_are_reached_on_the_remotes_loopback_or_their_own_address() -> None:
    inspect = {
        "NetworkSettings": {
            "Ports": {
                "80/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "32768"},
                    {"HostIp": "::", "HostPort": "32768"},
                ],
                "5432/tcp": [{"HostIp": "10.1.2.3", "HostPort": "40000"}],
                "9000/tcp": None,  # exposed, not published
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            }
        }
    }
    assert published(inspect) == [(5353, "127.0.0.1"), (32768, "127.0.0.1"), (40000, "10.1.2.3")]
    assert published({}) == []


def test_container_host_is_a_configured_endpoint_with_its_key(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(
        {
            "CONTAINER_HOST": "ssh://core@build:2222/run/user/1000/podman/podman.sock",
            "CONTAINER_SSHKEY": "/keys/podman",
        }
    )
    (found,) = container_host_env(ctx)
    assert found.pinned_by == "CONTAINER_HOST"
    assert found.url is not None
    assert found.url.path == "/run/user/1000/podman/podman.sock"
    assert found.ssh_identity == "/keys/podman"
    assert container_host_env(make_ctx({})) == []


def test_a_broken_container_host_says_so_with_its_source(make_ctx: MakeCtx) -> None:
    (found,) = container_host_env(make_ctx({"CONTAINER_HOST": "ssh://"}))
    assert found.url is None
    assert "CONTAINER_HOST" in found.error


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_podmans_default_connection_is_a_candidate(make_ctx: MakeCtx) -> None:
    ctx = make_ctx({})
    assert podman_connection(ctx) == []
    connections = {
        "Connection": {
            "Default": "builder",
            "Connections": {
                "other": {"URI": "ssh://x@other/run/podman/podman.sock"},
                "builder": {
                    "URI": "ssh://root@build:22/run/podman/podman.sock",
                    "Identity": "/keys/builder",
                },
            },
        }
    }
    _write(ctx.home / ".config/containers/podman-connections.json", json.dumps(connections))
    (found,) = podman_connection(ctx)
    assert (found.source, found.pinned_by) == ("podman connection builder", None)
    assert str(found.url) == "ssh://root@build:22/run/podman/podman.sock"
    assert found.ssh_identity == "/keys/builder"


def test_podmans_older_containers_conf_names_its_active_service(make_ctx: MakeCtx) -> None:
    ctx = make_ctx({})
    _write(
        ctx.home / ".config/containers/containers.conf",
        '[engine]\nactive_service = "box"\n\n'
        '[engine.service_destinations.other]\nuri = "ssh://o@other/run/x.sock"\n\n'
        '[engine.service_destinations.box]\nuri = "ssh://me@box/run/user/1000/podman/podman.sock"\n'
        'identity = "/keys/box"\n',
    )
    (found,) = podman_connection(ctx)
    assert str(found.url) == "ssh://me@box/run/user/1000/podman/podman.sock"
    assert found.ssh_identity == "/keys/box"


def test_circleci_uses_remote_docker_only_where_the_job_has_that_alias(tmp_path: Path) -> None:
    settings = Settings.from_sources({}, {}, {})
    env = {"CIRCLECI": "true", "HOME": str(tmp_path)}
    assert ports_target(settings, env) is None
    _write(tmp_path / ".ssh/config", "Host remote-docker\n  HostName 10.0.0.5\n  User root\n")
    assert ports_target(settings, env) == "remote-docker"
    assert ports_target(settings, {**env, "CIRCLECI": ""}) is None
    chosen = Settings.from_sources({}, {"PYTEST_DOCKER_SSH": "ci@build"}, {})
    assert ports_target(chosen, env) == "ci@build"
