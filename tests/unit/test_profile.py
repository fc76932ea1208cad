"""The engine profile: which kind of engine, from its own /version and /info documents and
the CI's variables, and the one policy table. The engines themselves are tested where the
policy takes effect (tests/integration, tests/e2e); here, the order of the signs."""

from __future__ import annotations

import pytest

from pytest_dockerhost.discovery.endpoint import DockerHost, EngineFacts
from pytest_dockerhost.discovery.profile import EngineProfile, decide
from pytest_dockerhost.engine.probe import EngineInfo
from pytest_dockerhost.engine.url import parse_url

DOCKER = EngineInfo("28.5.2", "1.51", "linux", "amd64")
PODMAN = EngineInfo("5.8.6", "1.41", "linux", "amd64", kind="Podman")
KUBEDOCK = EngineInfo("0.18.0", "1.25", "linux", "amd64")
PIPELINES = {"Plugins": {"Authorization": ["pipelines"]}, "MemTotal": 1 << 30, "NCPU": 4}


@pytest.mark.parametrize(
    ("engine", "info", "env", "name"),
    [
        (DOCKER, {}, {}, "docker"),
        (DOCKER, None, {}, "docker"),  # /info did not answer: what /version says
        (DOCKER, {"SecurityOptions": ["name=seccomp", "name=rootless"]}, {}, "rootless docker"),
        (PODMAN, {}, {}, "podman"),
        (PODMAN, {"SecurityOptions": ["name=rootless"]}, {}, "rootless podman"),
        (DOCKER, PIPELINES, {}, "bitbucket pipelines"),
        (DOCKER, {"Plugins": {"Authorization": ["opa"]}}, {}, "docker with authorization"),
        (
            DOCKER,
            {"Plugins": {"Authorization": ["opa"]}},
            {"BITBUCKET_BUILD_NUMBER": "7"},
            "bitbucket pipelines",
        ),
        (DOCKER, {}, {"BITBUCKET_BUILD_NUMBER": "7"}, "docker"),  # no policy: no plugin
        (KUBEDOCK, {"Name": "kubedock", "OperatingSystem": "kubernetes"}, {}, "kubedock"),
    ],
)
def test_the_profile_follows_what_the_engine_says(
    engine: EngineInfo, info: dict[str, object] | None, env: dict[str, str], name: str
) -> None:
    assert decide(engine, info, env).name == name


def test_bitbucket_binds_only_under_the_clone_dir_with_ryuk_off_and_no_sidecar() -> None:
    profile = decide(DOCKER, PIPELINES, {"BITBUCKET_CLONE_DIR": "/opt/atlassian/build"})
    policy = profile.policy
    assert (policy.ryuk, policy.reaper) == (False, True)  # the plugin's reaper replaces Ryuk
    assert (policy.bind_root, policy.copies, policy.bodies) == (
        "/opt/atlassian/build",
        False,
        "content-length",
    )
    assert "runtime v3" in policy.sidecar
    assert (profile.memory, profile.ncpu, profile.authorization) == (1 << 30, 4, ("pipelines",))


def test_kubedock_reaps_itself_and_copies_every_folder() -> None:
    policy = decide(KUBEDOCK, {"Name": "kubedock"}, {}).policy
    assert (policy.ryuk, policy.reaper, policy.copies) == (False, False, True)
    assert policy.sidecar


def _host(profile: EngineProfile) -> DockerHost:
    return DockerHost(
        docker_url=parse_url("tcp://localhost:2375"),
        requested="auto",
        source="DOCKER_HOST",
        tls=None,
        published_host="localhost",
        published_host_verified=True,
        daemon_socket="/var/run/docker.sock",
        in_container=True,
        engine=EngineFacts("28.5.2", "1.51"),
        profile=profile,
    )


def test_the_header_names_a_profile_and_its_policy_only_when_it_is_not_plain() -> None:
    assert _host(decide(DOCKER, {}, {})).profile_line() == ""
    assert _host(decide(PODMAN, {}, {})).profile_line() == ""
    line = _host(decide(DOCKER, PIPELINES, {"BITBUCKET_CLONE_DIR": "/b"})).profile_line()
    assert line == (
        "docker: profile bitbucket pipelines (authorization plugin pipelines): Ryuk off (the "
        "engine's policy refuses it); the plugin's reaper removes what tests leave; binds "
        "only under /b; other folders are copied; request bodies sent with a Content-Length "
        "(the policy cannot read chunked ones); no sidecar"
    )
    host = _host(decide(DOCKER, PIPELINES, {}))
    assert not host.ryuk_allowed
