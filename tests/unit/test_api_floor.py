"""Which tools in PATH an engine's raised minimum API refuses (engine/skew.py). The engine
itself, with a raised minimum, and bookworm's real docker CLI and Compose v1 are in
tests/e2e/test_api_floor.py; here the tools are files laid out as each kind is: a Go
compose binary's module list (no compose v2 binary can be had here), podman-docker's
script, Compose v1's Python launcher."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from pytest_dockerhost.engine.skew import api_skew, client_tools, go_client_api

FLOOR = "1.44"


def _executable(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _go_binary(path: Path, *modules: str) -> Path:
    """An ELF-headed file with a Go build-info section listing ``modules`` as deps."""
    deps = "".join(f"dep\t{module}\th1:abc=\n" for module in modules)
    info = (
        f"path\tgithub.com/docker/compose/v2/cmd\nmod\tgithub.com/docker/compose/v2\tv2.0.0\n{deps}"
    )
    body = b"\x7fELF" + b"\0" * 4096 + b"\xff Go buildinf:\x08\x02" + b"\0" * 16 + info.encode()
    return _executable(path, body + b"\0" * 1024)


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {"PATH": str(tmp_path / "bin"), "DOCKER_CONFIG": str(tmp_path / "config"), **more}


def test_a_compose_plugin_built_with_an_older_client_is_named(tmp_path: Path) -> None:
    plugin = _go_binary(
        tmp_path / "config" / "cli-plugins" / "docker-compose",
        "github.com/docker/docker\tv24.0.7+incompatible",
    )
    (warning,) = api_skew(FLOOR, _env(tmp_path))
    assert warning.startswith(
        f"the docker compose plugin at {plugin} speaks API 1.43, and this engine accepts 1.44 "
        "and later: `docker compose` in tests will be refused"
    )
    assert "Fix: upgrade it to a version that speaks API 1.44 or later" in warning
    assert "DOCKER_MIN_API_VERSION=1.43 in the daemon's environment" in warning


def test_a_standalone_compose_v2_that_speaks_the_floor_passes(tmp_path: Path) -> None:
    _go_binary(
        tmp_path / "bin" / "docker-compose",
        "github.com/docker/docker\tv27.1.1+incompatible",
        "github.com/moby/moby/api\tv1.52.0",
    )
    (tool,) = client_tools(_env(tmp_path))
    assert (tool.kind, tool.api) == ("compose", "1.52")
    assert api_skew(FLOOR, _env(tmp_path)) == []
    assert api_skew("1.53", _env(tmp_path)) != []


def test_compose_v1_negotiates_unless_compose_api_version_pins_it(tmp_path: Path) -> None:
    launcher = shutil.which("docker-compose")  # Debian's 1.29 where installed
    first = Path(launcher).read_bytes()[:2] if launcher else b""
    text = "#!/usr/bin/python3\nfrom compose.cli.main import main\nmain()\n"
    if first == b"#!":
        text = Path(str(launcher)).read_text()
    compose = _executable(tmp_path / "bin" / "docker-compose", text)
    if "python" not in text.splitlines()[0]:
        pytest.skip(f"{launcher} is not Compose v1")
    assert api_skew(FLOOR, _env(tmp_path)) == []
    assert api_skew(FLOOR, _env(tmp_path, COMPOSE_API_VERSION="auto")) == []
    (warning,) = api_skew(FLOOR, _env(tmp_path, COMPOSE_API_VERSION="1.41"))
    assert warning.startswith(
        f"docker-compose (Compose v1) at {compose} speaks API 1.41, set by COMPOSE_API_VERSION"
    )
    assert "Fix: unset COMPOSE_API_VERSION" in warning


def test_podmans_docker_is_named_as_podman(tmp_path: Path) -> None:
    _executable(tmp_path / "bin" / "podman", "#!/bin/sh\necho podman version 5.8.6\n")
    # podman-docker's /usr/bin/docker, in its words.
    shim = _executable(
        tmp_path / "bin" / "docker",
        "#!/bin/sh\n"
        '[ -e /etc/containers/nodocker ] || echo "Emulate Docker CLI using podman." >&2\n'
        f'exec {tmp_path}/bin/podman "$@"\n',
    )
    (warning,) = api_skew(FLOOR, _env(tmp_path))
    assert warning.startswith(
        f"`docker` at {shim} is Podman's docker-compatible command (podman 5.8.6)"
    )
    assert "install a docker CLI that speaks API 1.44 or later" in warning


def test_a_go_binary_without_a_module_list_tells_nothing() -> None:
    """The docker CLI is built without modules: no claim is made from it, the CLI itself
    is asked instead."""
    cli = shutil.which("docker")
    if cli is None or Path(cli).read_bytes()[:4] != b"\x7fELF":
        pytest.skip("no docker CLI binary here")
    assert go_client_api(cli) == ""


def test_the_usual_minimum_runs_no_tool(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _executable(tmp_path / "bin" / "docker", f"#!/bin/sh\n: > {marker}\necho 1.12\n")
    assert api_skew("1.24", _env(tmp_path)) == []
    assert api_skew("", _env(tmp_path)) == []
    assert not marker.exists()
    assert len(api_skew(FLOOR, _env(tmp_path))) == 1
    assert marker.exists()
