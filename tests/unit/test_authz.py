"""An authorization plugin's refusal, told from the error text Docker answers with, and the
fix each of Bitbucket's rules gets (the integration module test_bitbucket.py meets them
from a real dockerd behind a real plugin)."""

from __future__ import annotations

import pytest

from pytest_dockerhost.discovery.authz import denial
from pytest_dockerhost.messages import authz as say_
from pytest_dockerhost.messages import pool, units

from ..helpers import authz as pipelines


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (pipelines.NO_PRIVILEGED, "privileged"),
        (pipelines.NO_SOCKET, "socket"),
        (pipelines.CLONE_ONLY, "outside"),
        (pipelines.NO_MOUNTS, "mounts"),
        (pipelines.UNREADABLE, "body"),
        ("requests from this user are not allowed", "other"),
    ],
)
def test_each_rule_gets_its_own_fix(message: str, kind: str) -> None:
    assert say_.refused_kind(message) == kind


def test_a_refusal_is_found_down_the_chain_with_its_plugin_and_message() -> None:
    refused = RuntimeError(
        "403 Client Error for http://localhost:2375/v1.41/containers/create: Forbidden "
        '("authorization denied by plugin pipelines: --mounts is not allowed")'
    )
    try:
        try:
            raise refused
        except RuntimeError as exc:
            raise ValueError("testcontainers could not start the container") from exc
    except ValueError as outer:
        found = denial(outer)
    assert found is not None
    assert (found.plugin, found.message) == ("pipelines", "--mounts is not allowed")
    said = found.explain()
    assert "authorization plugin 'pipelines' (Bitbucket Pipelines' docker service)" in said
    assert "Fix: use a volume bind" in said


def test_other_403s_are_not_refusals() -> None:
    assert denial(RuntimeError("403 Client Error: Forbidden (unauthorized: registry)")) is None
    assert denial(None) is None


def test_memory_sizes_read_as_docker_says_them() -> None:
    assert units.memory(1024**3) == "1 GiB"
    assert units.memory(25_231_466_496) == "23.5 GiB"
    assert units.memory(8 * 1024**2) == "8 MiB"
    assert units.memory(0) == ""
    assert pool.size(2, 8_345_000_000) == "2 CPUs, 7.8 GiB"  # the pool's header, the same way


def test_a_collection_errors_text_tells_the_path_without_the_api_version() -> None:
    from pytest_dockerhost.discovery.authz import denial_in_text

    text = (
        "E   docker.errors.APIError: 403 Client Error for http://localhost:2375/v1.41/"
        'containers/create?name=web: Forbidden ("authorization denied by plugin pipelines: '
        '-v only supports $BITBUCKET_CLONE_DIR and its subdirectories")\n'
    )
    found = denial_in_text(text)
    assert found is not None
    assert (found.path, found.method, found.message) == (
        "/containers/create",
        "",
        pipelines.CLONE_ONLY,
    )
    assert "refused a request to /containers/create: -v only supports" in found.explain()
    assert denial_in_text("E   ConnectionRefusedError: [Errno 111]") is None
