"""Binds the engine cannot see, planned as copies; the archives that carry them; the length
of what goes to the engine; docker-py's methods put back. No engine: the planning reads
docker-py's own bind formats, the archives are real tar files on disk, and the request
is read by a loopback server, since no engine tells what headers it got (the copies
against real engines are in tests/integration/test_copies.py)."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container, ContainerCollection
from docker.types import Mount

from pytest_dockerhost.messages.endpoint import outside_folder
from pytest_dockerhost.wiring.archive import in_archive, pack, unpack
from pytest_dockerhost.wiring.copies import Copies, Copy, Source, plan, source

from ..helpers import dood_host, sidecar_host
from ..helpers.servers import LoopbackServer, reply


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    """Local paths of each kind a bind may name."""
    unseen = tmp_path / "unseen"
    (unseen / "sub").mkdir(parents=True)
    (unseen / "sub" / "a.txt").write_text("a")
    seen = tmp_path / "seen"
    seen.mkdir()
    single = tmp_path / "single.conf"
    single.write_text("key = value\n")
    return {
        "unseen": str(unseen),
        "seen": str(seen),
        "single": str(single),
        "missing": str(tmp_path / "missing"),
    }


def daemon_side(tree: dict[str, str]) -> dict[str, str | None]:
    """What daemon_path answers: ``seen`` under another path (DooD), the rest unseen."""
    return {tree["seen"]: "/host" + tree["seen"], tree["unseen"]: None, tree["single"]: None}


def test_docker_py_volumes_unseen_become_copies_and_the_rest_go_to_the_daemon(
    tree: dict[str, str],
) -> None:
    asked: list[str] = []

    def source_for(local: str) -> str | None:
        asked.append(local)
        return daemon_side(tree)[local]

    kwargs = {
        "volumes": {
            tree["unseen"]: {"bind": "/data", "mode": "rw"},
            tree["single"]: {"bind": "/etc/app.conf", "ro": True},
            tree["seen"]: {"bind": "/seen", "mode": "ro,z"},
            tree["missing"]: {"bind": "/missing", "mode": "rw"},  # the daemon's own path
            "cache": {"bind": "/cache", "mode": "rw"},  # a named volume
        },
        "auto_remove": False,
    }
    changed, copies = plan(kwargs, source_for)
    assert copies == [
        Copy(tree["unseen"], "/data", writable=True),
        Copy(tree["single"], "/etc/app.conf", writable=False),
    ]
    assert changed == {
        "volumes": [
            f"/host{tree['seen']}:/seen:ro,z",
            f"{tree['missing']}:/missing:rw",
            "cache:/cache:rw",
        ],
        "auto_remove": False,
    }
    assert sorted(asked) == sorted([tree["unseen"], tree["single"], tree["seen"]])
    assert kwargs["volumes"][tree["unseen"]] == {"bind": "/data", "mode": "rw"}  # not edited


def test_bind_strings_and_mounts_too(tree: dict[str, str]) -> None:
    kwargs = {
        "volumes": [f"{tree['unseen']}:/data", f"{tree['single']}:/etc/app.conf:ro", "/anon"],
        "mounts": [
            Mount("/m", tree["unseen"], type="bind", read_only=True),
            Mount("/s", tree["seen"], type="bind"),
            Mount("/v", "named", type="volume"),
        ],
    }
    changed, copies = plan(kwargs, daemon_side(tree).__getitem__)
    assert copies == [
        Copy(tree["unseen"], "/data", writable=True),  # no mode: read-write, as docker has it
        Copy(tree["single"], "/etc/app.conf", writable=False),
        Copy(tree["unseen"], "/m", writable=False),
    ]
    assert changed["volumes"] == ["/anon"]
    seen, volume = changed["mounts"]
    assert isinstance(seen, Mount)
    assert (seen["Source"], seen["Target"]) == ("/host" + tree["seen"], "/s")
    assert volume is kwargs["mounts"][2]


def test_binds_the_daemon_sees_as_they_are_leave_the_keywords_untouched(
    tree: dict[str, str],
) -> None:
    kwargs = {"volumes": {tree["seen"]: {"bind": "/seen", "mode": "rw"}}, "name": "x"}
    changed, copies = plan(kwargs, lambda local: local)
    assert changed is kwargs
    assert copies == []


def test_a_sidecar_gets_copies_of_files_and_folders_and_the_daemons_own_paths(
    tree: dict[str, str],
) -> None:
    host = sidecar_host()
    for local in (tree["unseen"], tree["single"]):
        found = source(host, local)
        assert (found.path, found.copy) == (local, True)
        assert found.unseen.startswith(f"{local} is on this machine, but the daemon at ")
    missing = source(host, tree["missing"])
    assert (missing.copy, missing.unseen.startswith(tree["missing"])) == (False, True)
    for daemons in ("/var/run/docker.sock", "/sys/fs/cgroup", "/proc/../dev/shm"):
        assert source(host, daemons) == Source(daemons)  # never copied, never warned about


def test_under_dood_a_mounted_folder_is_the_daemons_path(tmp_path: Path) -> None:
    host = dood_host(((str(tmp_path), "/var/lib/docker/volumes/ws/_data"),))
    assert source(host, str(tmp_path / "job")) == Source("/var/lib/docker/volumes/ws/_data/job")


def _names(archive: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {member.name: "dir" if member.isdir() else "file" for member in tar}


def test_a_folder_goes_in_under_the_target_and_a_file_as_the_target(tree: dict[str, str]) -> None:
    with pack(tree["unseen"], "/in/container/") as archive:
        assert _names(archive.read()) == {
            "in/container": "dir",
            "in/container/sub": "dir",
            "in/container/sub/a.txt": "file",
        }
    with pack(tree["single"], "/etc/app.conf") as archive:
        assert _names(archive.read()) == {"etc/app.conf": "file"}
    assert in_archive("/a/../b/./c/") == "b/c"


def _archive(*members: tuple[str, str, str]) -> bytes:
    """A tar as get_archive streams one: (name, kind, content or link target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            else:
                data = value.encode()
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_what_the_container_wrote_comes_back_into_the_folder(tmp_path: Path) -> None:
    local = tmp_path / "rw"
    local.mkdir()
    (local / "kept.txt").write_text("not in the archive: stays")
    (local / "over.txt").write_text("old")
    (local / "over.txt").chmod(0o444)
    archive = _archive(
        ("data", "dir", ""),
        ("data/over.txt", "file", "new"),
        ("data/deep/er/out.txt", "file", "written inside"),
        ("data/here", "link", "deep/er/out.txt"),
    )
    unpack([archive[:700], archive[700:]], "/data", str(local))
    assert (local / "over.txt").read_text() == "new"
    assert (local / "kept.txt").read_text() == "not in the archive: stays"
    assert (local / "deep/er/out.txt").read_text() == "written inside"
    assert os.readlink(local / "here") == "deep/er/out.txt"
    assert (local / "deep/er/out.txt").stat().st_mode & 0o777 == 0o640


def test_a_file_comes_back_as_the_file(tmp_path: Path) -> None:
    local = tmp_path / "app.conf"
    local.write_text("old")
    unpack([_archive(("app.conf", "file", "new"))], "/etc/app.conf", str(local))
    assert local.read_text() == "new"


@pytest.mark.parametrize(
    "member",
    [
        ("data/../../escaped.txt", "file", "x"),
        ("data/abs", "link", "/etc/passwd"),
        ("data/up", "link", "../../.."),
    ],
)
def test_nothing_is_written_outside_the_folder(
    tmp_path: Path, member: tuple[str, str, str]
) -> None:
    local = tmp_path / "rw"
    local.mkdir()
    with pytest.raises(OSError, match="leads outside the folder") as refused:
        unpack([_archive(member)], "/data", str(local))
    assert str(refused.value) == outside_folder(member[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rw"]
    assert list(local.iterdir()) == []


def test_a_symlink_written_earlier_is_not_followed_out(tmp_path: Path) -> None:
    local = tmp_path / "rw"
    local.mkdir()
    with pytest.raises(OSError, match="leads outside the folder"):
        unpack(
            [_archive(("data/in", "link", "."), ("data/in/../../out.txt", "file", "x"))],
            "/data",
            str(local),
        )
    assert not (tmp_path / "out.txt").exists()


def test_the_copy_is_sent_with_its_length_not_chunked(tree: dict[str, str]) -> None:
    """An engine's authorization plugin gets a body only with a Content-Length (moby
    #41452): docker-py's put_archive of the spooled archive must send one."""
    got: dict[str, object] = {}
    done = threading.Event()

    def record(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
        length = int(headers.get("Content-Length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
        got.update(request=head.split(b"\r\n", 1)[0].decode(), headers=headers, body=body)
        reply(conn, "200 OK", b"", {"Api-Version": "1.41"})
        done.set()

    server = LoopbackServer(record)
    api = docker.APIClient(base_url=server.url, version="1.41", timeout=10)
    try:
        with pack(tree["unseen"], "/data") as archive:
            assert api.put_archive("c0ffee", "/", archive)
            archive.seek(0)
            sent = archive.read()
        assert done.wait(10)
    finally:
        api.close()
        server.close()
    headers = got["headers"]
    assert isinstance(headers, dict)
    assert got["request"] == "PUT /v1.41/containers/c0ffee/archive?path=%2F HTTP/1.1"
    assert "Transfer-Encoding" not in headers
    assert headers["Content-Length"] == str(len(sent))
    assert got["body"] == sent
    assert _names(sent)["data/sub/a.txt"] == "file"


def test_the_methods_are_put_back() -> None:
    originals = [
        ContainerCollection.create,
        Container.stop,
        Container.wait,
        Container.remove,
    ]
    copies = Copies()
    copies.install(dood_host())
    assert ContainerCollection.create is not originals[0]
    assert Container.remove.__name__ == "remove"  # functools.wraps: docs and reprs unchanged
    copies.uninstall()
    assert [
        ContainerCollection.create,
        Container.stop,
        Container.wait,
        Container.remove,
    ] == originals
