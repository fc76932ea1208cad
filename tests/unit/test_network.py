"""Where we run: container ids from mountinfo and cgroup, the default gateway, host paths."""

from __future__ import annotations

from pathlib import Path

from pytest_dockerhost.discovery import network

CID = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
OTHER = "a" * 64

DOCKER_DIR = f"/var/lib/docker/containers/{CID}"
MOUNTINFO_V2 = "\n".join(
    [
        "1051 973 0:60 / / rw,relatime master:434 - overlay overlay rw,lowerdir=/x",
        "1052 1051 0:63 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
        "1058 1051 0:59 / /sys/fs/cgroup ro,nosuid,relatime - cgroup2 cgroup rw",
        f"1060 1051 8:1 {DOCKER_DIR}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw",
        f"1061 1051 8:1 {DOCKER_DIR}/hostname /etc/hostname rw - ext4 /dev/sda1 rw",
        f"1062 1051 8:1 {DOCKER_DIR}/hosts /etc/hosts rw,relatime - ext4 /dev/sda1 rw",
        "1063 1051 0:26 /docker.sock /var/run/docker.sock rw,nosuid - tmpfs tmpfs rw",
    ]
)

CGROUP_V2 = "0::/\n"

CGROUP_V1 = f"""\
12:pids:/docker/{CID}
11:memory:/docker/{CID}
1:name=systemd:/docker/{CID}
"""

CGROUP_SYSTEMD = f"0::/system.slice/docker-{CID}.scope\n"

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_container_id_from_mountinfo_on_cgroup_v2() -> None:
    assert network.container_id_from(MOUNTINFO_V2, CGROUP_V2) == CID


def test_mountinfo_wins_over_cgroup() -> None:
    assert network.container_id_from(MOUNTINFO_V2, f"1:cpu:/docker/{OTHER}\n") == CID


def test_container_id_from_cgroup_v1() -> None:
    assert network.container_id_from("", CGROUP_V1) == CID


def test_container_id_from_a_systemd_scope() -> None:
    assert network.container_id_from("", CGROUP_SYSTEMD) == CID


def test_podman_overlay_containers() -> None:
    line = (
        f"99 80 0:40 /containers/storage/overlay-containers/{CID}/userdata/hostname "
        "/etc/hostname rw - tmpfs tmpfs rw\n"
    )
    assert network.container_id_from(line, "") == CID


def test_no_container_on_a_plain_host() -> None:
    host_mountinfo = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    assert network.container_id_from(host_mountinfo, "0::/user.slice/user-1000.slice\n") is None
    assert network.container_id_from("", "") is None


def test_a_nested_containers_folder_that_is_not_ours() -> None:
    # A bind mount of some container's folder to a path other than /etc/hostname etc.
    line = f"70 60 8:1 /var/lib/docker/containers/{OTHER}/x /data rw - ext4 /dev/sda1 rw\n"
    assert network.container_id_from(line, "") is None


def test_detect_reads_a_root(tmp_path: Path) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text(MOUNTINFO_V2)
    (tmp_path / "proc/self/cgroup").write_text(CGROUP_V2)
    where = network.detect(str(tmp_path))
    assert where.in_container
    assert where.container_id == CID


def test_detect_dockerenv_alone(tmp_path: Path) -> None:
    (tmp_path / ".dockerenv").touch()
    where = network.detect(str(tmp_path))
    assert where.in_container
    assert where.container_id is None


def test_detect_podman_containerenv(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run/.containerenv").touch()
    assert network.detect(str(tmp_path)).in_container


def test_detect_nothing(tmp_path: Path) -> None:
    assert network.detect(str(tmp_path)) == network.Where(False, None)


def test_default_gateway() -> None:
    assert network.default_gateway(ROUTE) == "172.17.0.1"


def test_default_gateway_absent() -> None:
    header = ROUTE.splitlines()[0]
    no_default = header + "\neth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    assert network.default_gateway(no_default) is None
    assert network.default_gateway("") is None
    # A default route without the gateway flag (a point-to-point link) is not a gateway.
    p2p = header + "\ntun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
    assert network.default_gateway(p2p) is None


def test_daemon_side_path() -> None:
    info = {
        "Mounts": [
            {"Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock"},
            {"Source": "/srv/ci/run", "Destination": "/run/host"},
            {"Source": "/srv/ci", "Destination": "/run"},
        ]
    }
    assert network.daemon_side_path(info, "/var/run/docker.sock") == "/var/run/docker.sock"
    assert network.daemon_side_path(info, "/run/host/docker.sock") == "/srv/ci/run/docker.sock"
    assert network.daemon_side_path(info, "/run/other.sock") == "/srv/ci/other.sock"
    assert network.daemon_side_path(info, "/tmp/x.sock") is None
    assert network.daemon_side_path(None, "/var/run/docker.sock") is None
    renamed = {"Mounts": [{"Source": "/run/docker.sock", "Destination": "/tmp/d.sock"}]}
    assert network.daemon_side_path(renamed, "/tmp/d.sock") == "/run/docker.sock"


def test_own_gateway_prefers_the_network_mode() -> None:
    info = {
        "HostConfig": {"NetworkMode": "ci_net"},
        "NetworkSettings": {
            "Networks": {"bridge": {"Gateway": "172.17.0.1"}, "ci_net": {"Gateway": "172.20.0.1"}}
        },
    }
    assert network.own_gateway(info) == "172.20.0.1"
    assert network.own_gateway({"NetworkSettings": {"Networks": {}}}) is None
    assert network.uses_host_network({"HostConfig": {"NetworkMode": "host"}})
    assert not network.uses_host_network(info)


def test_can_connect_to_a_loopback_listener() -> None:
    import socket

    from ..helpers.servers import closed_port

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        assert network.can_connect("127.0.0.1", [closed_port(), sock.getsockname()[1]])
    assert not network.can_connect("127.0.0.1", [closed_port()])
