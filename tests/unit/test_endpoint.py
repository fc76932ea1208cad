"""parse_url as the docker CLI reads DOCKER_HOST, TLSConfig and DockerHost."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pytest_dockerhost.discovery.endpoint import DockerHost, EngineFacts, SidecarInfo, TraceEntry
from pytest_dockerhost.discovery.profile import EngineProfile, Policy
from pytest_dockerhost.engine.transport import FailureKind
from pytest_dockerhost.engine.url import DockerURL, TLSConfig, URLError, parse_url


@pytest.mark.parametrize(
    ("raw", "tls", "expected"),
    [
        ("unix:///var/run/docker.sock", None, DockerURL("unix", path="/var/run/docker.sock")),
        ("tcp://docker:2376", None, DockerURL("tcp", host="docker", port=2376)),
        ("tcp://docker", False, DockerURL("tcp", host="docker", port=2375)),
        ("tcp://docker", None, DockerURL("tcp", host="docker", port=2375)),
        ("tcp://docker", True, DockerURL("tcp", host="docker", port=2376)),
        ("tcp://docker/", True, DockerURL("tcp", host="docker", port=2376)),
        ("TCP://10.0.0.5:2375", None, DockerURL("tcp", host="10.0.0.5", port=2375)),
        ("tcp://[::1]:2376", None, DockerURL("tcp", host="::1", port=2376)),
        ("tcp://[::1]", True, DockerURL("tcp", host="::1", port=2376)),
        ("ssh://me@build.example", None, DockerURL("ssh", host="build.example", user="me")),
        ("ssh://build.example:2222", None, DockerURL("ssh", host="build.example", port=2222)),
        ("  tcp://docker:2376  ", None, DockerURL("tcp", host="docker", port=2376)),
    ],
)
def test_parse_url_accepts(raw: str, tls: bool | None, expected: DockerURL) -> None:
    url = parse_url(raw, tls=tls)
    assert (url.scheme, url.host, url.port, url.path, url.user) == (
        expected.scheme,
        expected.host,
        expected.port,
        expected.path,
        expected.user,
    )


def test_str_round_trips() -> None:
    assert str(parse_url("tcp://[::1]:2376")) == "tcp://[::1]:2376"
    assert str(parse_url("unix:///run/x.sock")) == "unix:///run/x.sock"
    assert str(parse_url("ssh://me@h")) == "ssh://me@h"
    assert str(parse_url("tcp://docker", tls=True)) == "tcp://docker:2376"


@pytest.mark.parametrize(
    ("raw", "what", "fix"),
    [
        ("", "the URL is empty", "unix:///var/run/docker.sock or tcp://HOST:2376"),
        ("tcp://", "tcp:// has no host name", "write tcp://HOST:2376"),
        ("tcp://:2376", "tcp:// has no host name", "write tcp://HOST:2376"),
        ("tcp://host:notaport", "the port 'notaport' is not a number", "write tcp://host:2376"),
        ("tcp://host:70000", "the port 70000 is out of range", "write tcp://host:2376"),
        ("tcp://host:0", "the port 0 is out of range", "write tcp://host:2376"),
        ("http://docker:2375", "not http://", "write tcp://docker:2375"),
        (
            "https://docker:2376",
            "not https://",
            "write tcp://docker:2376 and set DOCKER_TLS_VERIFY=1",
        ),
        ("unix://", "unix:// has no path", "write unix:///var/run/docker.sock"),
        ("unix://run/docker.sock", "relative path", "write unix:///run/docker.sock"),
        ("/var/run/docker.sock", "needs the unix:// scheme", "write unix:///var/run/docker.sock"),
        ("npipe:////./pipe/docker_engine", "Windows named pipe", "unix:///var/run/docker.sock"),
        ("npipe://./pipe/docker_engine", "Windows named pipe", "unix:///var/run/docker.sock"),
        ("fd://", "systemd socket activation", "use unix:///var/run/docker.sock"),
        ("docker:2376", "has no scheme", "tcp://HOST:PORT"),
        ("ftp://docker", "ftp:// is not supported", "use unix://, tcp:// or ssh://"),
        ("t¢p://docker", "is not a URL scheme", "use unix:// or tcp://"),
        ("tcp://dócker✓:2376", "is not a valid host name", "DNS name or an IP address"),
        ("tcp://a b:2376", "spaces or control characters", "remove them"),
        ("tcp://docker:2376\n", "", ""),  # trailing newline is stripped: valid
        ("tcp://user@docker:2376", "take no user name", "write tcp://docker:2376"),
        ("tcp://docker:2376/v1.41", "take no path", "write tcp://docker:2376"),
        ("tcp://[::1:2376", "closed with ']'", "tcp://[::1]:2376"),
        ("tcp://" + "a" * 10_000, "characters long", "check what fills this variable"),
    ],
)
def test_parse_url_refuses_with_a_fix(raw: str, what: str, fix: str) -> None:
    if not what:
        assert parse_url(raw).port == 2376
        return
    with pytest.raises(URLError) as info:
        parse_url(raw)
    assert what in str(info.value)
    assert fix in info.value.fix


def _tls(folder: str = "/c", verify: bool = True) -> TLSConfig:
    return TLSConfig(verify, f"{folder}/ca.pem", f"{folder}/cert.pem", f"{folder}/key.pem", "t")


def test_cert_dir_when_files_share_a_folder() -> None:
    assert _tls().cert_dir == "/c"
    assert TLSConfig(True, "/a/ca.pem", "/b/cert.pem", "/b/key.pem", "t").cert_dir is None
    assert TLSConfig(True, "/a/my-ca.crt", None, None, "t").cert_dir is None
    assert TLSConfig(False, None, None, None, "t").cert_dir is None


def _host(url: str = "tcp://docker:2376", api: str = "1.41", **changes: object) -> DockerHost:
    values: dict[str, object] = {
        "docker_url": parse_url(url),
        "requested": "auto",
        "source": "DOCKER_HOST",
        "tls": _tls(),
        "published_host": "docker",
        "published_host_verified": True,
        "daemon_socket": "/var/run/docker.sock",
        "in_container": True,
        "engine": EngineFacts("20.10.24", api),
    }
    values.update(changes)
    return DockerHost(**values)  # type: ignore[arg-type]


def test_summary_is_the_header_line() -> None:
    assert _host().summary() == (
        "docker: dind tcp://docker:2376 (engine 20.10.24, API 1.41, TLS verified) via "
        "DOCKER_HOST; published ports on docker"
    )
    plain = _host(url="tcp://docker:2375", tls=None, published_host_verified=False)
    assert "TLS off) via DOCKER_HOST; published ports on docker (unverified)" in plain.summary()
    unix = _host(url="unix:///var/run/docker.sock", tls=None)
    assert unix.summary().startswith(
        "docker: dood unix:///var/run/docker.sock (engine 20.10.24, API 1.41) via"
    )


def test_environment_for_tls_and_plain() -> None:
    env = _host().environment()
    assert env["DOCKER_HOST"] == "tcp://docker:2376"
    assert env["DOCKER_TLS_VERIFY"] == "1"
    assert env["DOCKER_CERT_PATH"] == "/c"
    assert env["DOCKER_CONTEXT"] is None
    plain = _host(tls=None).environment()
    assert plain["DOCKER_TLS_VERIFY"] is None
    assert plain["DOCKER_CERT_PATH"] is None
    noverify = _host(tls=_tls(verify=False)).environment()
    assert noverify["DOCKER_TLS"] == "1"
    assert noverify["DOCKER_TLS_VERIFY"] is None


def test_cli_env_unsets_stale_variables() -> None:
    env = _host(tls=None).cli_env({"DOCKER_TLS_VERIFY": "1", "DOCKER_CONTEXT": "old", "PATH": "/b"})
    assert env == {"DOCKER_HOST": "tcp://docker:2376", "PATH": "/b"}


def test_round_trip_through_a_dict() -> None:
    host = _host(
        warnings=("w",),
        notes=("n",),
        engine=EngineFacts("28.5.2", "1.51", kind="Podman", min_api="1.24", os="linux"),
        published_how="on the route",
        mounts=(("/a", "/b"),),
        profile=EngineProfile(
            "bitbucket pipelines",
            Policy(ryuk=False, bind_root="/clone", bodies="content-length", sidecar="denied"),
            authorization=("pipelines",),
            memory=1 << 30,
        ),
    )
    data = json.loads(json.dumps(host.to_dict()))  # as xdist hands it to workers
    assert DockerHost.from_dict(data) == host


def test_a_sidecar_round_trips_through_json_with_its_outer_daemon() -> None:
    refused = TraceEntry("DOCKER_HOST", "tcp://d:2375", "failed", 0.1, "d refused", "start it")
    refused = dataclasses.replace(refused, kind=FailureKind.REFUSED)
    outer = _host(url="unix:///var/run/docker.sock", tls=None, trace=(refused,))
    host = _sidecar(outer)
    data = json.loads(json.dumps(host.to_dict()))  # as xdist hands it to workers
    again = DockerHost.from_dict(data)
    assert again == host
    assert again.outer == outer
    assert again.outer is not None
    assert again.outer.trace[0].kind is FailureKind.REFUSED
    kind = host.to_dict()["sidecar"]["outer"]["trace"][0]["kind"]
    assert type(kind) is str  # execnet carries plain types only
    assert kind == "refused"
    assert (again.url, again.mode, again.outer.mode) == (
        "tcp://127.0.0.1:32768",
        "sidecar",
        "dood",
    )


def _sidecar(outer: DockerHost, *, privileged: bool = True) -> DockerHost:
    return _host(
        url="tcp://127.0.0.1:32768",
        requested="sidecar",
        source="sidecar pytest-dockerhost-r1 (docker:dind)",
        published_host="127.0.0.1",
        sidecar=SidecarInfo("r1", "pytest-dockerhost-r1", outer, "c0ffee", privileged),
    )


@pytest.mark.parametrize(
    ("url", "mode"),
    [("unix:///var/run/docker.sock", "dood"), ("tcp://docker:2375", "dind"), ("ssh://me@b", "ssh")],
)
def test_the_header_names_the_transport_reached(url: str, mode: str) -> None:
    host = _host(url=url, requested="dind" if mode == "dind" else "auto", tls=None)
    assert (host.mode, host.url) == (mode, url)
    assert host.summary().startswith(f"docker: {mode} {url} (engine 20.10.24, API 1.41")


def test_a_sidecar_header_names_its_privilege_and_the_daemon_hosting_it() -> None:
    outer = _host(url="unix:///var/run/docker.sock", tls=None)
    assert (
        _sidecar(outer)
        .summary()
        .endswith("; sidecar (privileged) on dood unix:///var/run/docker.sock")
    )
    assert (
        _sidecar(outer, privileged=False)
        .summary()
        .startswith(
            "docker: sidecar tcp://127.0.0.1:32768 (engine 20.10.24, API 1.41, TLS verified) via "
            "sidecar pytest-dockerhost-r1 (docker:dind); published ports on 127.0.0.1; "
            "sidecar (unprivileged) on dood"
        )
    )


def test_the_engine_label_names_a_kind_other_than_docker() -> None:
    assert _host().engine_label == "20.10.24"
    assert _host(engine=EngineFacts("5.8.6", "1.44", kind="Podman")).engine_label == "Podman 5.8.6"


def test_client_api_version_is_capped_at_docker_py_default() -> None:
    import docker.constants

    assert _host(api="1.24").client_api_version == "1.24"
    assert _host(api="9.99").client_api_version == docker.constants.DEFAULT_DOCKER_API_VERSION
