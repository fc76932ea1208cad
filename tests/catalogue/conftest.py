"""The lab for the bad-input catalogue: loopback servers and broken files, made once."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from ..helpers.servers import (
    LoopbackServer,
    closed_port,
    docker_api,
    over_tls,
    silent,
    web_server,
)
from ..helpers.tls import (
    expired_server,
    future_server,
    make_material,
    other_ca_dir,
    server_context_for,
)

USER_UID = 1000
OTHER_GID = 4321


def _copy(good: Path, folder: Path) -> Path:
    shutil.copytree(good, folder)
    return folder


@pytest.fixture(scope="session")
def lab() -> Iterator[dict[str, str]]:
    """Values the cases are formatted with: URLs of loopback servers, paths of bad files.

    Everything lives in a short, world-readable folder so that cases run as uid 1000
    (through setpriv) see the same files.
    """
    root = Path(tempfile.mkdtemp(prefix="pdh-lab-", dir="/tmp"))
    root.chmod(0o755)
    with ExitStack() as stack:

        def serve(handler: object, **kwargs: object) -> LoopbackServer:
            server = LoopbackServer(handler, **kwargs)  # type: ignore[arg-type]
            stack.callback(server.close)
            return server

        material = make_material(root / "certs")
        ca = material.ca
        values: dict[str, str] = {"root": str(root), "certs": str(material.client_dir)}
        values["docker"] = serve(docker_api()).url
        values["tls_docker"] = serve(over_tls(material.server_context(), docker_api())).url
        values["web"] = serve(web_server).url
        tls_web = over_tls(material.server_context(require_client_cert=False), web_server)
        values["tls_web"] = serve(tls_web).url
        values["silent"] = serve(silent).url
        values["slow"] = serve(docker_api(delay=10)).url
        values["old"] = serve(docker_api(version="1.11.2", api_version="1.23")).url
        for name, leaf in (
            ("expired_srv", expired_server(ca)),
            ("future_srv", future_server(ca)),
            ("nosan_srv", ca.issue_cert("docker")),
        ):
            values[name] = serve(over_tls(server_context_for(leaf, ca), docker_api())).url
        values["closed_port"] = str(closed_port())
        values["closed"] = f"tcp://127.0.0.1:{values['closed_port']}"

        good = material.client_dir
        for name in ("ca", "cert", "key"):
            folder = _copy(good, root / f"no-{name}")
            (folder / f"{name}.pem").unlink()
            values[f"no_{name}"] = str(folder)
        values["nowhere"] = str(root / "no-such-folder")
        mismatch = _copy(good, root / "mismatch")
        ca.issue_cert("someone-else").private_key_pem.write_to_path(str(mismatch / "key.pem"))
        values["mismatch"] = str(mismatch)
        other_ca = other_ca_dir(root / "other-ca")
        values["other_ca"] = str(other_ca)
        foreign = other_ca_dir(root / "foreign-client")
        shutil.copy(good / "ca.pem", foreign / "ca.pem")
        values["foreign_client"] = str(foreign)
        garbage = _copy(good, root / "garbage")
        (garbage / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
        values["garbage"] = str(garbage)
        garbage_key = _copy(good, root / "garbage-key")
        (garbage_key / "key.pem").write_text("this is not a key\n")
        values["garbage_key"] = str(garbage_key)

        unreadable = _copy(good, root / "unreadable")
        (unreadable / "key.pem").chmod(0o000)
        values["unreadable"] = str(unreadable)

        (root / "regular.sock").write_text("")
        values["regular"] = str(root / "regular.sock")
        (root / "dir.sock").mkdir()
        values["directory"] = str(root / "dir.sock")
        (root / "dangling.sock").symlink_to(root / "gone.sock")
        values["dangling"] = str(root / "dangling.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(root / "stale.sock"))
        stale.close()
        values["stale"] = str(root / "stale.sock")
        other_gid = root / "gid.sock"
        serve(docker_api(), unix_path=str(other_gid))
        os.chown(other_gid, 0, OTHER_GID)
        other_gid.chmod(0o660)
        values["other_gid_sock"] = str(other_gid)
        values["other_gid"] = str(OTHER_GID)
        no_ssh = root / "bin-without-ssh"
        no_ssh.mkdir()
        values["no_ssh_path"] = str(no_ssh)
        for path in root.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        try:
            yield values
        finally:
            shutil.rmtree(root, ignore_errors=True)
