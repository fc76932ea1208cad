"""kubedock's branch of the profile: how it is told from a dockerd, and what the profile
rules once the endpoint is known (the host for published ports, the header's note and
warning). The engine's answers themselves are tested against a server that answers as
kubedock does (tests/integration/test_kubedock.py)."""

from __future__ import annotations

import pytest

from pytest_dockerhost.discovery.profile import decide, settle
from pytest_dockerhost.engine.probe import EngineInfo
from pytest_dockerhost.messages import kubedock as say_

KUBEDOCK = EngineInfo("1.25", "1.25", "linux", "amd64")  # its /version: Version is the API
DOCKER = EngineInfo("28.5.2", "1.51", "linux", "amd64")
INFO = {"ID": "com.joyrex2001.kubedock", "Name": "kubedock", "OperatingSystem": "kubernetes"}
FOUND = ("kubedock.invalid", True, "")  # what resolution found before the profile


@pytest.mark.parametrize(
    ("engine", "info", "name"),
    [
        (KUBEDOCK, INFO, "kubedock"),
        (KUBEDOCK, {"Name": "kubedock"}, "kubedock"),
        (DOCKER, {"ID": "com.joyrex2001.kubedock"}, "kubedock"),  # its ID is proof enough
        # A dockerd's Name is its host's: a machine named kubedock runs plain Docker.
        (DOCKER, {"Name": "kubedock", "OperatingSystem": "Debian GNU/Linux 12"}, "docker"),
    ],
)
def test_kubedock_is_told_by_its_name_and_api_or_its_id(
    engine: EngineInfo, info: dict[str, object], name: str
) -> None:
    assert decide(engine, info, {}).name == name


def test_its_policy_refuses_a_sidecar_with_the_reason_and_the_way_forward() -> None:
    policy = decide(KUBEDOCK, INFO, {}).policy
    assert policy.sidecar.startswith("kubedock runs each container as a Kubernetes pod")
    assert "--docker-mode=auto" in policy.sidecar
    assert policy.published_host == "127.0.0.1"


def test_beside_the_job_ports_are_taken_on_loopback_and_the_flags_are_named() -> None:
    ruled = settle(decide(KUBEDOCK, INFO, {}), local=True, chosen="", found=FOUND)
    assert ruled.published == ("127.0.0.1", False, "")  # unverified: kubedock cannot say
    assert ruled.warnings == (say_.ports_assumed("127.0.0.1"),)
    assert "--port-forward" in ruled.warnings[0]
    assert "--reverse-proxy" in ruled.warnings[0]
    assert ruled.notes == (say_.REAPING,)
    assert "--reapmax (60 min by default)" in ruled.notes[0]


def test_elsewhere_ports_stay_on_its_host_which_only_the_reverse_proxy_serves() -> None:
    ruled = settle(decide(KUBEDOCK, INFO, {}), local=False, chosen="", found=FOUND)
    assert ruled.published == FOUND
    assert ruled.warnings == (say_.ports_elsewhere("kubedock.invalid"),)
    assert "`kubedock server --reverse-proxy`" in ruled.warnings[0]


def test_a_host_the_user_set_wins_without_a_warning() -> None:
    profile = decide(KUBEDOCK, INFO, {})
    chosen = settle(profile, local=True, chosen="10.0.0.5", found=("10.0.0.5", True, "set"))
    assert (chosen.published, chosen.warnings) == (("10.0.0.5", True, "set"), ())


def test_other_profiles_are_left_as_resolution_found_them() -> None:
    ruled = settle(decide(DOCKER, {}, {}), local=True, chosen="", found=FOUND)
    assert (ruled.published, ruled.notes, ruled.warnings) == (FOUND, (), ())
