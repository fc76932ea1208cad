"""Each source on its own: explicit options, DOCKER_HOST, docker contexts, the
testcontainers properties file, the well-known sockets, and TLS settlement."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pytest_dockerhost.discovery.sources.context import docker_context
from pytest_dockerhost.discovery.sources.env import docker_host_env
from pytest_dockerhost.discovery.sources.explicit import explicit_options
from pytest_dockerhost.discovery.sources.properties import parse_properties
from pytest_dockerhost.discovery.sources.properties import (
    testcontainers_properties as tc_properties,
)
from pytest_dockerhost.discovery.sources.sockets import socket_paths, well_known_sockets
from pytest_dockerhost.engine.transport import Failure, make_ssl_context
from pytest_dockerhost.engine.url import TLSConfig

from .conftest import MakeCtx


def _certs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).write_text("pem\n")
    return folder


# ---- explicit options and DOCKER_HOST ------------------------------------------------------


def test_explicit_host_and_socket(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(cli={"host": "tcp://docker:2375", "socket": "/run/d.sock"})
    found = explicit_options(ctx)
    assert [(c.source, str(c.url), c.pinned) for c in found] == [
        ("--docker-socket", "unix:///run/d.sock", True),
        ("--docker-host", "tcp://docker:2375", True),
    ]
    assert found[1].tls is None


def test_ini_host_is_explicit_and_named(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(ini={"host": "tcp://docker"})
    (found,) = explicit_options(ctx)
    assert found.source == "ini docker_host"
    assert str(found.url) == "tcp://docker:2375"
    assert docker_host_env(ctx) == []  # the setting's origin is ini, not the variable


def test_docker_host_is_not_an_explicit_option(make_ctx: MakeCtx) -> None:
    ctx = make_ctx({"DOCKER_HOST": "tcp://docker:2375"})
    assert explicit_options(ctx) == []
    (found,) = docker_host_env(ctx)
    assert (found.source, str(found.url), found.pinned) == (
        "DOCKER_HOST",
        "tcp://docker:2375",
        True,
    )


def test_bad_docker_host_becomes_a_broken_candidate(make_ctx: MakeCtx) -> None:
    (found,) = docker_host_env(make_ctx({"DOCKER_HOST": "http://docker:2375"}))
    assert found.url is None
    assert found.error.startswith("DOCKER_HOST=http://docker:2375 is not a valid Docker URL")
    assert found.fix == "in DOCKER_HOST, write tcp://docker:2375"


def test_a_huge_value_is_clipped_in_the_error(make_ctx: MakeCtx) -> None:
    (found,) = docker_host_env(make_ctx({"DOCKER_HOST": "tcp://" + "x" * 10_000}))
    assert len(found.error) < 300
    assert "10006 characters long" in found.error


def test_tls_verify_and_cert_path_give_tls_on_2376(make_ctx: MakeCtx, tmp_path: Path) -> None:
    certs = _certs(tmp_path / "certs")
    env = {"DOCKER_HOST": "tcp://docker", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    (found,) = docker_host_env(make_ctx(env))
    assert str(found.url) == "tcp://docker:2376"
    assert found.tls is not None
    assert found.tls.verify
    assert found.tls.ca_cert == str(certs / "ca.pem")
    assert found.tls.client_key == str(certs / "key.pem")
    assert found.tls.source == f"DOCKER_CERT_PATH={certs}"
    assert found.notes == (f"TLS verified with DOCKER_CERT_PATH={certs} (DOCKER_TLS_VERIFY)",)


def test_cert_path_alone_means_tls_without_verification(make_ctx: MakeCtx, tmp_path: Path) -> None:
    certs = _certs(tmp_path / "certs")
    (found,) = docker_host_env(make_ctx({"DOCKER_HOST": "tcp://d", "DOCKER_CERT_PATH": str(certs)}))
    assert str(found.url) == "tcp://d:2376"
    assert found.tls is not None
    assert not found.tls.verify
    assert "TLS without server verification" in found.notes[0]


def test_tls_verify_without_cert_path_uses_home_docker(make_ctx: MakeCtx) -> None:
    ctx = make_ctx({"DOCKER_HOST": "tcp://d:2376", "DOCKER_TLS_VERIFY": "1"})
    (found,) = docker_host_env(ctx)
    assert found.tls is not None
    assert found.tls.ca_cert == str(ctx.home / ".docker/ca.pem")
    assert found.tls.source == "~/.docker (the default, since DOCKER_CERT_PATH is not set)"


def test_docker_tls_turns_tls_on_without_verification(make_ctx: MakeCtx) -> None:
    (found,) = docker_host_env(make_ctx({"DOCKER_HOST": "tcp://d", "DOCKER_TLS": "1"}))
    assert found.url is not None
    assert found.url.port == 2376
    assert found.tls is not None
    assert not found.tls.verify


def test_certs_client_convention_on_2376(make_ctx: MakeCtx, tmp_path: Path) -> None:
    dind = _certs(tmp_path / "certs" / "client")
    (found,) = docker_host_env(
        make_ctx({"DOCKER_HOST": "tcp://docker:2376"}, dind_cert_dir=str(dind))
    )
    assert found.tls is not None
    assert found.tls.verify
    assert found.tls.ca_cert == str(dind / "ca.pem")
    assert found.notes == (f"TLS from {dind} (found; DOCKER_CERT_PATH is not set)",)


def test_certs_client_is_ignored_on_2375(make_ctx: MakeCtx, tmp_path: Path) -> None:
    dind = _certs(tmp_path / "certs" / "client")
    (found,) = docker_host_env(
        make_ctx({"DOCKER_HOST": "tcp://docker:2375"}, dind_cert_dir=str(dind))
    )
    assert found.tls is None


def test_incomplete_certs_client_means_dind_is_still_writing(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    # A job that starts before its docker:dind service: the volume is there, the files not yet.
    dind = _certs(tmp_path / "certs" / "client")
    (dind / "key.pem").unlink()
    (found,) = docker_host_env(
        make_ctx({"DOCKER_HOST": "tcp://docker:2376"}, dind_cert_dir=str(dind))
    )
    assert found.tls is not None
    assert found.tls.pending
    assert found.tls.verify
    assert "certificates are not written yet" in found.notes[0]
    with pytest.raises(Failure) as caught:
        make_ssl_context(found.tls)
    assert caught.value.kind == "cert-missing"
    assert caught.value.retryable


def test_no_certs_client_folder_means_plain_tcp(make_ctx: MakeCtx, tmp_path: Path) -> None:
    (found,) = docker_host_env(
        make_ctx({"DOCKER_HOST": "tcp://docker:2376"}, dind_cert_dir=str(tmp_path / "absent"))
    )
    assert found.tls is None


def test_missing_configured_cert_is_not_worth_waiting_for(tmp_path: Path) -> None:
    tls = TLSConfig(True, str(tmp_path / "ca.pem"), None, None, source="DOCKER_CERT_PATH")
    with pytest.raises(Failure) as caught:
        make_ssl_context(tls)
    assert not caught.value.retryable


def test_certs_client_found_when_verify_is_on(make_ctx: MakeCtx, tmp_path: Path) -> None:
    dind = _certs(tmp_path / "certs" / "client")
    env = {"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_VERIFY": "1"}
    (found,) = docker_host_env(make_ctx(env, dind_cert_dir=str(dind)))
    assert found.tls is not None
    assert found.tls.source == f"{dind} (found)"


# ---- docker contexts -------------------------------------------------------------------------


def _write_context(
    config: Path, name: str, host: str, *, skip_verify: bool = False, tls: bool = False
) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    data = {
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
    }
    (meta / "meta.json").write_text(json.dumps(data))
    if tls:
        _certs(config / "contexts" / "tls" / digest / "docker")
    return meta / "meta.json"


def test_docker_context_variable(make_ctx: MakeCtx, tmp_path: Path) -> None:
    config = tmp_path / "dockercfg"
    _write_context(config, "ci", "tcp://docker:2376", tls=True)
    (found,) = docker_context(make_ctx({"DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "ci"}))
    assert (found.source, str(found.url), found.pinned) == (
        "DOCKER_CONTEXT=ci",
        "tcp://docker:2376",
        True,
    )
    assert found.tls is not None
    assert found.tls.verify
    assert found.tls.source == "context ci"
    digest = hashlib.sha256(b"ci").hexdigest()
    assert found.tls.client_cert == str(config / "contexts/tls" / digest / "docker/cert.pem")


def test_current_context_in_config_json(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    config = ctx.home / ".docker"
    _write_context(config, "remote", "tcp://build:2375")
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    (found,) = docker_context(ctx)
    assert found.source == "context remote (currentContext in ~/.docker/config.json)"
    assert not found.pinned
    assert found.tls is None
    assert str(found.url) == "tcp://build:2375"


def test_skip_tls_verify_context(make_ctx: MakeCtx, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    _write_context(config, "lax", "tcp://h", skip_verify=True, tls=True)
    (found,) = docker_context(make_ctx({"DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "lax"}))
    assert found.tls is not None
    assert not found.tls.verify
    assert str(found.url) == "tcp://h:2376"


def test_unix_context_drops_tls(make_ctx: MakeCtx, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    _write_context(config, "desk", "unix:///run/desk.sock", tls=True)
    (found,) = docker_context(make_ctx({"DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "desk"}))
    assert found.tls is None
    assert str(found.url) == "unix:///run/desk.sock"


@pytest.mark.parametrize("current", [None, "default", ""])
def test_no_or_default_context_gives_nothing(make_ctx: MakeCtx, current: str | None) -> None:
    ctx = make_ctx()
    (ctx.home / ".docker").mkdir()
    if current is not None:
        (ctx.home / ".docker/config.json").write_text(json.dumps({"currentContext": current}))
    assert docker_context(ctx) == []


def test_missing_context_named_by_variable(make_ctx: MakeCtx, tmp_path: Path) -> None:
    (found,) = docker_context(make_ctx({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "gone"}))
    assert found.url is None
    assert found.pinned
    assert "the docker context 'gone' does not exist" in found.error
    assert "docker context ls" in found.fix
    assert "unset DOCKER_CONTEXT" in found.fix


def test_missing_current_context(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    (ctx.home / ".docker").mkdir()
    (ctx.home / ".docker/config.json").write_text('{"currentContext": "gone"}')
    (found,) = docker_context(ctx)
    assert found.source == "context gone (currentContext in ~/.docker/config.json)"
    assert "does not exist" in found.error
    assert "docker context use default" in found.fix


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"text"'])
def test_corrupt_config_json(make_ctx: MakeCtx, text: str) -> None:
    ctx = make_ctx()
    (ctx.home / ".docker").mkdir()
    (ctx.home / ".docker/config.json").write_text(text)
    (found,) = docker_context(ctx)
    assert found.source == "~/.docker/config.json"
    assert "~/.docker/config.json is not valid JSON" in found.error
    assert "repair or remove ~/.docker/config.json" in found.fix


def test_empty_config_json_is_fine(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    (ctx.home / ".docker").mkdir()
    (ctx.home / ".docker/config.json").write_text("")
    assert docker_context(ctx) == []


def test_garbage_meta_json(make_ctx: MakeCtx, tmp_path: Path) -> None:
    meta = _write_context(tmp_path / "cfg", "bad", "tcp://h:2375")
    meta.write_bytes(b"\x00\xffgarbage")
    (found,) = docker_context(
        make_ctx({"DOCKER_CONFIG": str(tmp_path / "cfg"), "DOCKER_CONTEXT": "bad"})
    )
    assert "the docker context 'bad' has an unreadable meta.json" in found.error
    assert "docker context rm bad" in found.fix


def test_meta_json_without_docker_endpoint(make_ctx: MakeCtx, tmp_path: Path) -> None:
    meta = _write_context(tmp_path / "cfg", "k8s", "tcp://h:2375")
    meta.write_text(json.dumps({"Name": "k8s", "Endpoints": {"kubernetes": {}}}))
    (found,) = docker_context(
        make_ctx({"DOCKER_CONFIG": str(tmp_path / "cfg"), "DOCKER_CONTEXT": "k8s"})
    )
    assert "has no docker endpoint" in found.error
    assert "docker context create k8s" in found.fix


def test_context_with_a_bad_host(make_ctx: MakeCtx, tmp_path: Path) -> None:
    _write_context(tmp_path / "cfg", "odd", "http://h:2375")
    (found,) = docker_context(
        make_ctx({"DOCKER_CONFIG": str(tmp_path / "cfg"), "DOCKER_CONTEXT": "odd"})
    )
    assert "the docker context 'odd' has a bad host 'http://h:2375'" in found.error
    assert "write tcp://h:2375" in found.fix
    assert "docker context update odd" in found.fix


# ---- ~/.testcontainers.properties ----------------------------------------------------------


def test_parse_properties_java_syntax() -> None:
    text = "\n".join(
        [
            "# a comment",
            "! another comment",
            "   ",
            r"tc.host=tcp\://host\:2376",
            "docker.host : unix:///var/run/docker.sock",
            r"spaced   value with spaces",
            r"unicode=\u0041\u00e9",
            r"multi=one, \\",
            "two",
            "cont=first\\",
            "   second\\",
            "   third",
            r"key\ with\ spaces=v",
            r"tabs=a\tb",
            "empty=",
            "lonely",
            r"esc\=key=x",
            r"colon\:key:y",
        ]
    )
    props = parse_properties(text)
    assert props["tc.host"] == "tcp://host:2376"
    assert props["docker.host"] == "unix:///var/run/docker.sock"
    assert props["spaced"] == "value with spaces"
    assert props["unicode"] == "Aé"
    assert props["multi"] == "one, \\"
    assert props["cont"] == "firstsecondthird"
    assert props["key with spaces"] == "v"
    assert props["tabs"] == "a\tb"
    assert props["empty"] == ""
    assert props["lonely"] == ""
    assert props["esc=key"] == "x"
    assert props["colon:key"] == "y"
    assert "# a comment" not in props


def test_parse_properties_malformed_unicode_escape_is_kept() -> None:
    assert parse_properties(r"k=\uZZZZ")["k"] == "uZZZZ"
    assert parse_properties("k=v\\")["k"] == "v"


def test_properties_source_tc_host_then_docker_host(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    (ctx.home / ".testcontainers.properties").write_text(
        "docker.host=unix:///run/other.sock\ntc.host=tcp\\://localhost\\:2375\n"
    )
    found = tc_properties(ctx)
    assert [(c.source, str(c.url), c.pinned) for c in found] == [
        ("~/.testcontainers.properties tc.host", "tcp://localhost:2375", False),
        ("~/.testcontainers.properties docker.host", "unix:///run/other.sock", False),
    ]


def test_properties_tls_keys(make_ctx: MakeCtx, tmp_path: Path) -> None:
    certs = _certs(tmp_path / "props-certs")
    ctx = make_ctx()
    (ctx.home / ".testcontainers.properties").write_text(
        f"docker.host=tcp://build\ndocker.tls.verify=1\ndocker.cert.path={certs}\n"
    )
    (found,) = tc_properties(ctx)
    assert str(found.url) == "tcp://build:2376"
    assert found.tls is not None
    assert found.tls.verify
    assert found.tls.source == f"~/.testcontainers.properties docker.cert.path={certs}"


def test_properties_bad_url_names_the_line(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    (ctx.home / ".testcontainers.properties").write_text("tc.host=tcp://host\\:notaport\n")
    (found,) = tc_properties(ctx)
    assert found.error.startswith(
        "~/.testcontainers.properties tc.host=tcp://host:notaport is not a valid Docker URL"
    )
    assert found.fix.startswith("in ~/.testcontainers.properties tc.host, write tcp://host:2376")


def test_no_properties_file(make_ctx: MakeCtx) -> None:
    assert tc_properties(make_ctx()) == []


def test_unreadable_properties_file(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    (ctx.home / ".testcontainers.properties").mkdir()  # reading a folder fails for root too
    (found,) = tc_properties(ctx)
    assert "~/.testcontainers.properties cannot be read" in found.error
    assert found.fix == "make it readable or remove it"


# ---- well-known sockets ----------------------------------------------------------------------


def test_socket_order(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = make_ctx({"XDG_RUNTIME_DIR": "/run/user/4242"}, system_sockets=("/var/run/docker.sock",))
    for profile in ("zeta", "default"):
        (ctx.home / ".colima" / profile).mkdir(parents=True)
        (ctx.home / ".colima" / profile / "docker.sock").touch()
    home = str(ctx.home)
    assert socket_paths(ctx) == [
        ("/var/run/docker.sock", "the system socket"),
        ("/run/user/4242/docker.sock", "rootless Docker ($XDG_RUNTIME_DIR)"),
        (f"{home}/.docker/run/docker.sock", "Docker Desktop"),
        (f"{home}/.docker/desktop/docker.sock", "Docker Desktop"),
        (f"{home}/.colima/default/docker.sock", "Colima"),
        (f"{home}/.colima/zeta/docker.sock", "Colima"),
        (f"{home}/.rd/docker.sock", "Rancher Desktop"),
        (f"{home}/.orbstack/run/docker.sock", "OrbStack"),
        ("/run/user/4242/podman/podman.sock", "rootless Podman"),
        (str(tmp_path / "no-podman.sock"), "Podman"),
    ]


def test_well_known_sockets_are_named_under_home(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(system_sockets=("/var/run/docker.sock",))
    found = well_known_sockets(ctx)
    assert found[0].source == "/var/run/docker.sock (the system socket)"
    assert "~/.orbstack/run/docker.sock (OrbStack)" in [c.source for c in found]
    assert "/run/user/4242/docker.sock (rootless Docker)" in [c.source for c in found]
    assert not any(c.pinned for c in found)


def test_show_path_relative_to_home(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    assert ctx.show(ctx.home / ".docker" / "x") == "~/.docker/x"
    assert ctx.show("/etc/x") == "/etc/x"
    assert ctx.show(os.fspath(ctx.home) + "2/x") == os.fspath(ctx.home) + "2/x"
