"""Security checks not already in tests/integration/test_sidecar.py (which covers the
loopback-only port binding, the refused certificate-less client and the modes during a run):
client material removed at the end, no key material in any output, and DOCKER_TLS_VERIFY
with unusable certificates never falling back to plain text."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..integration.daemons import make_tls_material, running_tls_daemon
from .conftest import Run, labelled, no_traceback, project, remove_run_now

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("test_images")]

KEY_MARKERS = ("BEGIN", "PRIVATE KEY", "END CERTIFICATE")

TESTS = """
import os
import stat


def test_material(docker_host, docker_env):
    key = docker_host.tls.client_key
    folder = os.path.dirname(key)
    with open(os.environ["PATHS_FILE"], "w") as handle:
        handle.write(docker_host.sidecar.run_id + "\\n" + folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for name in os.listdir(folder):
        if "key" in name:
            assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600
    print(repr(docker_host), docker_env)


def test_fails(docker_host, docker_client):
    print(repr(docker_host))
    assert docker_client.ping() == "not this", docker_host
"""


def test_client_material_is_private_removed_and_never_printed(
    tmp_path: Path, engine: Any, run_env: dict[str, str]
) -> None:
    folder = project(tmp_path / "proj", {"test_material.py": TESTS})
    paths = tmp_path / "paths"
    run_id = ""
    try:
        with Run(folder, {**run_env, "PATHS_FILE": str(paths)}, "-vv", "-rA", "-l") as run:
            output = run.finish(timeout=120)
        run_id, cert_dir = paths.read_text().split("\n")
        assert "1 failed, 1 passed" in output, output
        assert "docker: sidecar" in output, output
        for marker in KEY_MARKERS:
            assert marker not in output, f"{marker!r} printed:\n{output}"
        # The client certificates lived in the run's private folder; it is gone.
        assert cert_dir.startswith(os.path.realpath("/tmp")) or cert_dir.startswith("/tmp")
        assert not os.path.exists(cert_dir), cert_dir
        assert not os.path.exists(os.path.dirname(cert_dir)), os.path.dirname(cert_dir)
        assert not labelled(engine, run_id)
    finally:
        if run_id:
            remove_run_now(engine, run_id)


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, engine: Any) -> Any:
    with running_tls_daemon(tmp_path_factory.mktemp("faults-tlsd")) as daemon:
        yield daemon


def _broken(kind: str, good: Path, folder: Path) -> Path:
    if kind == "other-ca":
        make_tls_material(folder)  # a consistent set, from a CA the daemon does not know
        return folder
    folder.mkdir(parents=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).write_bytes((good / name).read_bytes())
    if kind == "garbage-key":
        (folder / "key.pem").write_text("not a key at all\n")
    elif kind == "missing-cert":
        (folder / "cert.pem").unlink()
    elif kind == "unreadable-ca":
        (folder / "ca.pem").write_text("-----garbage-----\n")
    if (folder / "key.pem").exists():
        os.chmod(folder / "key.pem", 0o600)
    return folder


@pytest.mark.parametrize("kind", ["other-ca", "garbage-key", "missing-cert", "unreadable-ca"])
def test_tls_verify_with_unusable_certs_never_talks_plain_text(
    tmp_path: Path, run_env: dict[str, str], tls_daemon: Any, kind: str
) -> None:
    certs = _broken(kind, tls_daemon.tls.folder, tmp_path / "certs")
    env = {k: v for k, v in run_env.items() if not k.startswith("PYTEST_DOCKER_")}
    env.update(DOCKER_HOST=tls_daemon.url, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(certs))
    folder = project(
        tmp_path / "proj",
        {"test_x.py": "def test_x(docker_client):\n    docker_client.ping()\n"},
        ini="[pytest]\n",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "dockerhost",
            "-p",
            "no:cacheprovider",
            "-vv",
            "--docker-required",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    no_traceback(output)
    for marker in KEY_MARKERS:
        assert marker not in output, f"{marker!r} printed:\n{output}"
    # The only attempts are TLS ones against the daemon's port, and none succeeded.
    tried = [line for line in output.splitlines() if line.startswith("docker: tried")]
    assert tried, output
    ours = [line for line in tried if tls_daemon.url in line]
    assert ours, output
    assert all(" -> failed in " in line for line in ours), output
    # dockerd answers a plain-HTTP request on a TLS port with this: it was never asked.
    assert "HTTPS server" not in output, output
    assert "http://" not in output.replace("https://", ""), output
    assert re.search(r"cert|TLS|tls|CA|key", "\n".join(ours)), output
    print("\n".join(ours))
