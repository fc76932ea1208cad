"""testcontainers' with_volume_mapping while a host is wired: the daemon's path under DooD,
a local folder the daemon cannot see passed as it is (it is copied in), a warning where
the daemon cannot see a path that is no local file or folder, named volumes untouched,
and the method put back afterwards. The real testcontainers class; the hosts need no daemon
(a DooD agent's mounts come from inspecting it, given here as they would be found;
no daemon is needed: the mapping only fills the container's ``volumes``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from testcontainers.core.container import DockerContainer

from pytest_dockerhost.errors import DockerHostWarning
from pytest_dockerhost.wiring.mount_guard import MountGuard

from ..helpers import dood_host, sidecar_host

ORIGINAL = DockerContainer.with_volume_mapping


def unconnected() -> DockerContainer:
    """testcontainers' own class without its __init__, which connects to a daemon: the
    mapping is all that is tested here, and it only fills ``volumes``."""
    made = DockerContainer.__new__(DockerContainer)
    made.volumes = {}
    return made


@pytest.fixture
def guard() -> Iterator[MountGuard]:
    made = MountGuard()
    yield made
    made.uninstall()
    assert DockerContainer.with_volume_mapping is ORIGINAL


def test_under_dood_a_mounted_folder_is_passed_as_the_daemons_path(guard: MountGuard) -> None:
    guard.install(dood_host((("/workspace", "/var/lib/docker/volumes/ws/_data"),)))
    container = unconnected().with_volume_mapping("/workspace/job", "/data", "ro")
    assert container.volumes == {
        "/var/lib/docker/volumes/ws/_data/job": {"bind": "/data", "mode": "ro"}
    }


def test_a_local_folder_the_sidecar_cannot_see_is_passed_as_it_is_to_be_copied(
    guard: MountGuard, tmp_path: Path
) -> None:
    guard.install(sidecar_host())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        container = unconnected().with_volume_mapping(str(tmp_path), "/data", "rw")
        unconnected().with_volume_mapping(str(Path(__file__)), "/data.py")  # a file too
    assert container.volumes == {str(tmp_path): {"bind": "/data", "mode": "rw"}}


def test_a_path_the_sidecar_cannot_see_and_no_copy_can_stand_for_is_warned_about(
    guard: MountGuard, tmp_path: Path
) -> None:
    missing = str(tmp_path / "not-here")
    guard.install(sidecar_host())
    with pytest.warns(DockerHostWarning) as caught:
        container = unconnected().with_volume_mapping(missing, "/data")
    (warning,) = caught
    assert str(warning.message).startswith(
        f"with_volume_mapping({missing!r}, ...): the daemon cannot bind-mount it, and it is "
        "no file or folder the plugin copies in instead, so the container would get an empty "
        "folder there."
    )
    assert warning.filename == __file__  # the caller's line
    assert container.volumes == {missing: {"bind": "/data", "mode": "ro"}}


def test_a_named_volume_is_the_daemons_own(guard: MountGuard) -> None:
    guard.install(sidecar_host())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        container = unconnected().with_volume_mapping("cache", "/cache", "rw")
    assert container.volumes == {"cache": {"bind": "/cache", "mode": "rw"}}


def test_the_daemons_socket_and_the_kernels_folders_are_the_daemons_own(
    guard: MountGuard,
) -> None:
    """Ryuk's mapping of the engine's socket, a nested dind's cgroup folder: no warning."""
    guard.install(sidecar_host())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        container = (
            unconnected()
            .with_volume_mapping("/var/run/docker.sock", "/var/run/docker.sock", "rw")
            .with_volume_mapping("/sys/fs/cgroup", "/sys/fs/cgroup", "rw")
        )
    assert sorted(container.volumes) == ["/sys/fs/cgroup", "/var/run/docker.sock"]


def test_uninstall_puts_the_method_back(guard: MountGuard) -> None:
    guard.install(sidecar_host())
    assert DockerContainer.with_volume_mapping is not ORIGINAL
    guard.uninstall()
    assert DockerContainer.with_volume_mapping is ORIGINAL
