"""MTU: our interface's, what the sidecar's dockerd is given, and what a CI is told. A
machine whose default route has MTU 1450 is a file tree here (/proc/net/route and
/sys/class/net as the kernel writes them); the e2e tests use a real 1400 network."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dockerhost.discovery.mtu import DaemonMtu, OwnMtu, engine_version_of_image, own_mtu
from pytest_dockerhost.messages.mtu import bridge_too_large

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)


def sys_net(tmp_path: Path, mtu: str) -> str:
    (tmp_path / "eth0").mkdir()
    (tmp_path / "eth0" / "mtu").write_text(mtu + "\n")
    return str(tmp_path)


def test_a_default_route_below_1500_is_found(tmp_path: Path) -> None:
    assert own_mtu(sys_net(tmp_path, "1450"), ROUTE) == OwnMtu("eth0", 1450)


@pytest.mark.parametrize("mtu", ["1500", "9000", "", "garbage"])
def test_ethernet_or_more_or_unknown_is_nothing_to_match(tmp_path: Path, mtu: str) -> None:
    assert own_mtu(sys_net(tmp_path, mtu), ROUTE) is None


def test_no_default_route_is_nothing_to_match(tmp_path: Path) -> None:
    header_only = ROUTE.splitlines()[0] + "\n"
    assert own_mtu(sys_net(tmp_path, "1400"), header_only) is None


@pytest.mark.parametrize(
    ("env", "version"),
    [
        (["PATH=/bin", "DOCKER_VERSION=29.1.2"], (29, 1)),
        (["DOCKER_VERSION=28.5.2+dfsg1"], (28, 5)),
        (["DOCKER_VERSION=v24.0"], (24, 0)),
        (["DOCKER_VERSION=20.10.24+dfsg1"], (20, 10)),
        (["PATH=/bin"], None),
        (None, None),
        (["DOCKER_VERSION=latest"], None),
    ],
)
def test_the_engine_version_a_dind_image_declares(
    env: list[str] | None, version: tuple[int, int] | None
) -> None:
    assert engine_version_of_image(env) == version


def test_engines_24_and_later_get_the_default_for_every_network() -> None:
    mtu = DaemonMtu.matching(OwnMtu("eth0", 1400), (28, 5))
    assert mtu.flags() == [
        "--mtu=1400",
        "--default-network-opt=bridge=com.docker.network.driver.mtu=1400",
    ]
    assert mtu.network_options() == {"com.docker.network.driver.mtu": "1400"}


def test_older_or_unknown_engines_get_only_the_bridges_mtu() -> None:
    """An unknown flag stops dockerd: --default-network-opt only where the image says 24+."""
    for engine in ((20, 10), None):
        assert DaemonMtu.matching(OwnMtu("eth0", 1400), engine).flags() == ["--mtu=1400"]


def test_nothing_is_passed_at_1500() -> None:
    mtu = DaemonMtu.matching(None, (28, 5))
    assert (mtu.flags(), mtu.network_options()) == ([], {})


@pytest.mark.parametrize(
    ("ci", "fix"),
    [
        ("GitHub Actions", '"--group=123", "--mtu=1450", "--default-network-opt=bridge='),
        ("GitLab CI", 'services: [{name: "docker:dind", command: ["--mtu=1450", "--default-'),
        ("Jenkins", 'in the pod template\'s dind container: `args: ["--mtu=1450", '),
        ("Tekton", 'on the task\'s dind sidecar: `args: ["--mtu=1450", '),
        ("", "start that dockerd with `--mtu=1450 --default-network-opt=bridge=com.docker."),
    ],
)
def test_a_bridge_larger_than_the_link_is_told_its_cis_fix(ci: str, fix: str) -> None:
    text = bridge_too_large(1500, 1450, "eth0", "unix:///var/run/docker.sock", ci)
    assert text.startswith(
        "the daemon at unix:///var/run/docker.sock gives its bridge MTU 1500, larger than "
        "this job's eth0 (1450): packets larger than 1450 from test containers can stall"
    )
    assert fix in text
