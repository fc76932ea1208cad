"""The pure parts of a sidecar start: its create body, its certificate tar, the messages'
option names, and who owns what."""

from __future__ import annotations

import io
import re
import tarfile
from typing import Any

import pytest

from pytest_dockerhost.config.settings import OPTIONS, OPTIONS_BY_NAME
from pytest_dockerhost.messages import names
from pytest_dockerhost.messages import sidecar as say
from pytest_dockerhost.sidecar.payload import container_config, server_tar, tls_sans
from pytest_dockerhost.sidecar.spec import CAPABILITIES, Profile


def _body(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "image": "img",
        "name": "pytest-dockerhost-abc",
        "labels": {"l": "v"},
        "topology": "host",
        "profile": Profile(True),
        "volume": "vol",
        "network": None,
        "runtime": None,
        **overrides,
    }
    return container_config(**values)  # type: ignore[arg-type]


def test_privileged_on_the_hosts_loopback() -> None:
    body = _body()
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert host["Privileged"] is True
    assert "CapAdd" not in host
    assert host["PortBindings"] == {"2376/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["Mounts"] == [
        {"Target": "/var/lib/docker", "Source": "vol", "Type": "volume", "ReadOnly": False}
    ]
    assert "DOCKER_TLS_CERTDIR=/certs" in body["Env"]  # type: ignore[operator]
    assert "NetworkingConfig" not in body


def test_unprivileged_on_cgroup_v1_mounts_the_hierarchy_and_shares_its_namespace() -> None:
    body = _body(profile=Profile(False, ("SYS_ADMIN", "NET_ADMIN")))
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert host["Privileged"] is False
    assert host["CapAdd"] == ["SYS_ADMIN", "NET_ADMIN"]
    assert host["SecurityOpt"] == ["seccomp=unconfined", "apparmor=unconfined"]
    assert host["DeviceCgroupRules"] == ["a *:* rwm"]
    assert host["MaskedPaths"] == []
    assert host["ReadonlyPaths"] == []
    assert host["CgroupnsMode"] == "host"
    assert {"Target": "/sys/fs/cgroup", "Source": "/sys/fs/cgroup", "Type": "bind",
            "ReadOnly": False} in host["Mounts"]  # fmt: skip


def test_unprivileged_on_cgroup_v2_gets_a_writable_hierarchy_in_the_hosts_namespace() -> None:
    """An unprivileged container's own cgroup2 mount is read-only: the inner daemon could
    create no cgroup. A private namespace over the host's hierarchy would make dind's
    "move every process of the root into /init" step move the host's processes."""
    body = _body(profile=Profile(False, ("SYS_ADMIN",)))  # one config for v1 and v2 hosts
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert host["CgroupnsMode"] == "host"
    assert {"Target": "/sys/fs/cgroup", "Source": "/sys/fs/cgroup", "Type": "bind",
            "ReadOnly": False} in host["Mounts"]  # fmt: skip
    assert host["MaskedPaths"] == []
    assert host["ReadonlyPaths"] == []


def test_privileged_on_cgroup_v2_keeps_the_engines_private_writable_namespace() -> None:
    """Privileged: the engine mounts cgroup2 read-write in a private namespace, where
    dind's /init move is what nesting needs. Nothing to add."""
    body = _body()
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert "CgroupnsMode" not in host
    assert all(mount["Target"] != "/sys/fs/cgroup" for mount in host["Mounts"])


def test_under_dood_it_joins_our_network_under_its_name() -> None:
    body = _body(topology="network", network="net-1", runtime="sysbox-runc")
    host = body["HostConfig"]
    assert isinstance(host, dict)
    assert host["NetworkMode"] == "net-1"
    assert "PortBindings" not in host
    assert host["Runtime"] == "sysbox-runc"
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"net-1": {"Aliases": ["pytest-dockerhost-abc"]}}
    }


def test_the_certificate_tar_has_no_ca_key_and_a_private_server_key() -> None:
    from pytest_dockerhost.sidecar import certs

    if not certs.available():
        pytest.skip("needs cryptography")
    material = certs.make(tls_sans("pytest-dockerhost-abc"))
    with tarfile.open(fileobj=io.BytesIO(server_tar(material))) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert set(members) == {
        "certs/ca/cert.pem",
        "certs/server/ca.pem",
        "certs/server/cert.pem",
        "certs/server/key.pem",
    }  # no certs/ca/key.pem: the docker:dind entrypoint then generates nothing
    assert members["certs/server/key.pem"].mode == 0o600


def test_messages_name_only_options_that_exist_with_their_twins() -> None:
    flags = {spec.flag for spec in OPTIONS}
    texts = [
        say.pull_failed("img", "default", "unix:///x", "nope"),
        say.privileged_refused("unix:///x", "unable to apply caps", "default"),
        say.capabilities_refused("unix:///x", "unable to apply caps"),
        say.preload_missing("img", "--docker-preload", "unix:///x"),
        say.not_ready("img", 30, "default", "refused", ""),
        say.unreachable("tcp://h:2376", "DOCKER_HOST"),
        say.published_unverified("10.0.0.1", 2376),
    ]
    for text in texts:
        named = set(re.findall(r"--docker-[a-z-]+", text))
        assert named, text
        assert named <= flags, text
    cap_drop = OPTIONS_BY_NAME["sidecar_cap_drop"]
    assert f"ini {cap_drop.ini}" in say.capabilities_refused("u", "w")
    assert f"env {cap_drop.env}" in say.capabilities_refused("u", "w")
    assert names.option("mode") == "--docker-mode (ini docker_mode, env PYTEST_DOCKER_MODE)"


def test_every_capability_the_profile_can_ask_for_is_a_known_one() -> None:
    assert len(set(CAPABILITIES)) == len(CAPABILITIES)
    assert all(name == name.upper() and not name.startswith("CAP_") for name in CAPABILITIES)


# The outer engine's /info RegistryConfig, as Docker 28 reports it with a mirror and that
# mirror's address as an insecure registry (measured on a nested engine).
DOCKER28_REGISTRY_INFO = {
    "RegistryConfig": {
        "IndexConfigs": {
            "172.21.0.2:5000": {"Mirrors": [], "Name": "172.21.0.2:5000", "Secure": False},
            "docker.io": {"Mirrors": ["http://172.21.0.2:5000/"], "Secure": True},
        },
        "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8", "10.9.0.0/16"],
        "Mirrors": ["http://172.21.0.2:5000/"],
    }
}


def test_the_outer_engines_mirrors_and_insecure_registries_become_dockerd_flags() -> None:
    from pytest_dockerhost.sidecar.payload import Registries

    registries = Registries.from_info(DOCKER28_REGISTRY_INFO)
    assert registries.flags() == [
        "--registry-mirror=http://172.21.0.2:5000",
        "--insecure-registry=172.21.0.2:5000",
        "--insecure-registry=10.9.0.0/16",  # a CIDR is listed apart from the names
    ]
    # An engine without any: no flags, and the image's own command is left alone.
    assert Registries.from_info({"RegistryConfig": {"Mirrors": None}}).flags() == []
    assert Registries.from_info({}).flags() == []


def test_daemon_flags_are_the_containers_command_which_dind_appends_to_dockerd() -> None:
    from pytest_dockerhost.sidecar.payload import container_config
    from pytest_dockerhost.sidecar.spec import Profile

    common: dict[str, Any] = {
        "image": "img",
        "name": "pytest-dockerhost-abc",
        "labels": {},
        "topology": "host",
        "profile": Profile(True),
        "volume": "vol",
        "network": None,
        "runtime": None,
    }
    flags = ["--registry-mirror=http://m:5000"]
    assert container_config(**common, daemon_flags=flags)["Cmd"] == flags
    assert "Cmd" not in container_config(**common)
