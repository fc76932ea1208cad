"""The plugin against engines on another machine that only SSH reaches: suites written the
usual way (testcontainers, ``docker.from_env()``, no plugin fixture) pass unchanged, and
the engine's own events show where their containers ran.

Each inner pytest runs on this machine, as the user whose ~/.ssh reaches the remote
(``RemoteHost.as_user``); its services' published ports answer only through SSH.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, ROOT
from ..e2e.helpers import LABEL, Run, started_images
from ..e2e.plain import DAEMON, FETCHED
from ..e2e.project import PLAIN_PROJECT
from .hosts import RemoteHost

pytestmark = pytest.mark.e2e

INNER_TIMEOUT = 180
SSH_MASTER = "pytest-dockerhost-ssh-"  # in the command line of the run's ssh

# One connection, at once, after a start: no retry hides a forward that comes late.
FIRST_CONNECT = f'''\
import urllib.request

from testcontainers.core.container import DockerContainer

from helpers import labels


def test_first_connect_needs_no_retry():
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80).with_kwargs(labels=labels()) as c:
        url = f"http://{{c.get_container_host_ip()}}:{{c.get_exposed_port(80)}}/"
        body = urllib.request.urlopen(url, timeout=5).read().decode().strip()
        print(f"E2E first connect fetched {{body!r}} from {{url}}")
        assert body == "pytest-dockerhost-test ok"
'''
SUITE = {**PLAIN_PROJECT, "test_first_connect.py": FIRST_CONNECT}
SUITE_PASSED = "5 passed"


def passed(run: Run) -> set[str]:
    """The whole suite passed, each test reached what it started: where it reached them."""
    assert run.exit_code == 0, str(run)
    assert SUITE_PASSED in run.output, str(run)
    fetched = FETCHED.findall(run.output)
    assert {kind for kind, _ in fetched} == {"conftest fixture", "inline container"}, str(run)
    assert {kind for kind, _ in DAEMON.findall(run.output)} == {"sdk", "module client"}
    return {where for _, where in fetched}


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def run_pytest(
    host: RemoteHost, folder: Path, env: dict[str, str], *args: str, label: str
) -> tuple[Run, float, float]:
    """pytest in ``folder`` as the user who reaches ``host``: (run, began, ended)."""
    full = {**os.environ, **host.env(), **env, "E2E_LABEL": f"{LABEL}={label}"}
    full.pop("PYTEST_ADDOPTS", None)
    command = host.as_user(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args)
    began = time.time()
    done = subprocess.run(
        command,
        cwd=folder,
        env=full,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr), began, time.time()


def remote_starts(host: RemoteHost, began: float, ended: float) -> list[str]:
    """The image of each container the remote's engine started in [began, ended]."""
    images = []
    for event in host.events(began, ended, "type=container", "event=start"):
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        image = str(event.get("from") or attributes.get("image") or event.get("Image"))
        images.append(image.removeprefix("localhost/"))  # Podman names local images so
    return images


def logins(host: RemoteHost) -> int:
    """SSH logins the remote's sshd has accepted so far."""
    done = host.run("sh", "-c", "grep -c 'Accepted publickey' /var/log/sshd.log || true")
    return int(done.stdout.strip() or 0)


def ssh_left(tmp: str) -> list[str]:
    """The ssh processes of the run whose TMPDIR is ``tmp``."""
    done = subprocess.run(["pgrep", "-af", SSH_MASTER], check=False, capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if f"{tmp}/{SSH_MASTER}" in line]


def assert_ran_there(
    host: RemoteHost, engine: Any, began: float, ended: float, *, at_least: int
) -> None:
    """The remote engine started the suite's containers; this machine's engine none."""
    there = [image for image in remote_starts(host, began, ended) if image == BUSYBOX]
    assert len(there) >= at_least, there
    here = [image for image in started_images(engine, began, ended) if image == BUSYBOX]
    assert here == [], here


def test_a_plain_suite_passes_on_an_ssh_engine(
    remote_docker: RemoteHost, engine: Any, tmp_path: Path, private_tmp: str
) -> None:
    host = remote_docker
    folder = write(tmp_path / "suite", SUITE)
    before = logins(host)
    run, began, ended = run_pytest(
        host,
        folder,
        {"DOCKER_HOST": host.ssh_url, "TMPDIR": private_tmp},
        "-v",
        "-s",
        label=tmp_path.name,
    )
    assert passed(run) == {"127.0.0.1"}, str(run)
    assert "E2E first connect fetched 'pytest-dockerhost-test ok'" in run.output, str(run)
    (summary,) = [line for line in run.header() if line.startswith("docker: ssh ")]
    assert summary.startswith(f"docker: ssh {host.ssh_url} (engine 20.10"), summary
    assert summary.endswith("published ports on 127.0.0.1, forwarded through SSH to remote-docker")
    assert any("one SSH connection to remote-docker" in line for line in run.header()), str(run)
    assert_ran_there(host, engine, began, ended, at_least=3)
    assert logins(host) - before == 1, "one SSH connection carries the whole run"
    assert ssh_left(private_tmp) == [], "the run's ssh ends with it"


def test_xdist_workers_share_the_owners_one_connection(
    remote_docker: RemoteHost, engine: Any, tmp_path: Path, private_tmp: str
) -> None:
    host = remote_docker
    folder = write(tmp_path / "suite", SUITE)
    before = logins(host)
    run, began, ended = run_pytest(
        host,
        folder,
        {"DOCKER_HOST": host.ssh_url, "TMPDIR": private_tmp},
        "-n",
        "2",
        "-v",
        label=tmp_path.name,
    )
    assert run.exit_code == 0, str(run)
    assert SUITE_PASSED in run.output, str(run)
    workers = set(re.findall(r"\[(gw\d)\] .*PASSED", run.output))
    assert workers == {"gw0", "gw1"}, str(run)
    assert_ran_there(host, engine, began, ended, at_least=3)
    assert logins(host) - before == 1, "the workers use the owner's connection"
    assert ssh_left(private_tmp) == []


def _recipe(text: str, language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


def test_the_readmes_circleci_recipe_needs_nothing_but_setup_remote_docker(
    remote_docker_tls: RemoteHost, engine: Any, tmp_path: Path, private_tmp: str
) -> None:
    """CircleCI's docker executor with setup_remote_docker: the engine over TCP with TLS,
    and the SSH alias remote-docker. The recipe sets nothing for the plugin."""
    host = remote_docker_tls
    recipe = _recipe((ROOT / "README.md").read_text(), "yaml", "setup_remote_docker")
    assert "- setup_remote_docker" in recipe
    assert not re.search(r"DOCKER|PYTEST_DOCKER|environment:", recipe), recipe
    assert recipe.rstrip().endswith("&& pytest"), recipe
    assert host.tls_url is not None
    assert host.certs is not None
    env = {  # what the job's environment has: CircleCI's engine variables
        "CIRCLECI": "true",
        "CI": "true",
        "DOCKER_HOST": host.tls_url,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(host.certs),
        "TMPDIR": private_tmp,
    }
    folder = write(tmp_path / "suite", SUITE)
    run, began, ended = run_pytest(host, folder, env, "-v", "-s", label=tmp_path.name)
    assert passed(run) == {"127.0.0.1"}, str(run)
    (summary,) = [line for line in run.header() if line.startswith("docker: dind ")]
    assert "TLS verified" in summary, summary
    assert summary.endswith("published ports on 127.0.0.1, forwarded through SSH to remote-docker")
    assert_ran_there(host, engine, began, ended, at_least=3)
    assert ssh_left(private_tmp) == []


def test_a_tcp_engine_elsewhere_is_unverified_until_an_ssh_target_is_named(
    remote_docker_tls: RemoteHost, tmp_path: Path
) -> None:
    host = remote_docker_tls
    assert host.tls_url is not None
    assert host.certs is not None
    started = host.inner("run", "-d", "--label", f"{LABEL}={tmp_path.name}", "-p", "80", BUSYBOX)
    assert started.returncode == 0, started.stderr
    try:
        env = {
            "DOCKER_HOST": host.tls_url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(host.certs),
        }
        folder = write(tmp_path / "suite", SUITE)
        run, _, _ = run_pytest(host, folder, env, "-v", "--co", label=tmp_path.name)
        (summary,) = [line for line in run.header() if line.startswith("docker: dind ")]
        assert summary.endswith(f"published ports on {host.address} (unverified)"), summary
        text = " ".join(run.header())
        assert "its published ports do not answer from here" in text, str(run)
        assert "Fix: name an SSH target" in text, str(run)
        assert "--docker-ssh" in text, str(run)

        run, _, _ = run_pytest(
            host, folder, {**env, "PYTEST_DOCKER_SSH": host.alias}, "-v", label=tmp_path.name
        )
        assert SUITE_PASSED in run.output, str(run)
        assert any("forwarded through SSH to remote-docker" in line for line in run.header())
    finally:
        host.inner("rm", "-f", started.stdout.strip())


def test_the_readmes_podman_recipe_reaches_a_host_without_docker(
    remote_podman: RemoteHost, engine: Any, tmp_path: Path, private_tmp: str
) -> None:
    """Podman remote: CONTAINER_HOST with the socket path, CONTAINER_SSHKEY; no docker CLI
    on the host, where docker-py's own ssh:// fails."""
    host = remote_podman
    recipe = _recipe((ROOT / "README.md").read_text(), "sh", "CONTAINER_HOST")
    variables = dict(re.findall(r"export (\w+)=(\S+)", recipe))
    assert set(variables) == {"CONTAINER_HOST", "CONTAINER_SSHKEY"}, recipe
    assert variables["CONTAINER_HOST"].endswith("/run/user/1000/podman/podman.sock")
    assert host.run("sh", "-c", "command -v docker").returncode != 0
    env = {
        "CONTAINER_HOST": host.ssh_url,
        "CONTAINER_SSHKEY": str(host.ssh_dir / "id_ed25519"),
        "TMPDIR": private_tmp,
    }
    folder = write(tmp_path / "suite", SUITE)
    run, began, ended = run_pytest(host, folder, env, "-v", "-s", label=tmp_path.name)
    assert passed(run) == {"127.0.0.1"}, str(run)
    (summary,) = [line for line in run.header() if line.startswith("docker: ssh ")]
    assert f"{host.ssh_url} (engine Podman 5." in summary, summary
    assert "via CONTAINER_HOST" in summary, summary
    assert_ran_there(host, engine, began, ended, at_least=3)
    assert ssh_left(private_tmp) == []


# A job folder mapped read-write, the way users write it: the remote cannot see it.
FOLDER_MAPPING = f'''\
import docker
from testcontainers.core.container import DockerContainer

from helpers import labels


def test_a_testcontainers_mapping_goes_in_and_comes_back(tmp_path):
    (tmp_path / "in.txt").write_text("from the job")
    container = (
        DockerContainer("{BUSYBOX}")
        .with_command(["sh", "-c", "cat /data/in.txt > /data/out.txt"])
        .with_volume_mapping(str(tmp_path), "/data", "rw")
        .with_kwargs(labels=labels())
    )
    with container:
        container.get_wrapped_container().wait(timeout=30)
    assert (tmp_path / "out.txt").read_text() == "from the job"


def test_a_docker_py_bind_goes_in_and_comes_back(tmp_path):
    (tmp_path / "in.txt").write_text("from docker-py")
    client = docker.from_env()
    made = client.containers.run(
        "{BUSYBOX}",
        ["sh", "-c", "cat /data/in.txt > /data/out.txt"],
        volumes={{str(tmp_path): {{"bind": "/data", "mode": "rw"}}}},
        labels=labels(),
        detach=True,
    )
    made.wait(timeout=30)
    made.remove()
    assert (tmp_path / "out.txt").read_text() == "from docker-py"
'''


def test_a_job_folder_mapped_read_write_reaches_the_remote_and_comes_back(
    remote_docker: RemoteHost, tmp_path: Path, private_tmp: str
) -> None:
    host = remote_docker
    files = {**PLAIN_PROJECT, "test_folders.py": FOLDER_MAPPING}
    folder = write(tmp_path / "suite", files)
    env = {"DOCKER_HOST": host.ssh_url, "TMPDIR": private_tmp}
    run, _, _ = run_pytest(host, folder, env, "-v", "-W", "error::UserWarning", label=tmp_path.name)
    for name in ("testcontainers_mapping", "docker_py_bind"):
        assert f"test_folders.py::test_a_{name}_goes_in_and_comes_back PASSED" in run.output
    assert run.exit_code == 0, str(run)


TAKEN_PORT = f'''\
import os

import docker

from helpers import labels


def test_a_fixed_port_taken_here():
    port = int(os.environ["E2E_TAKEN_PORT"])
    client = docker.from_env()
    made = client.containers.run(
        "{BUSYBOX}", detach=True, ports={{"80/tcp": port}}, labels=labels()
    )
    try:
        raise AssertionError(f"the service should answer on 127.0.0.1:{{port}}")
    finally:
        made.remove(force=True)
'''


def test_a_published_port_taken_here_is_named_in_the_failing_test(
    remote_docker: RemoteHost, tmp_path: Path, private_tmp: str
) -> None:
    host = remote_docker
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        folder = write(tmp_path / "suite", {**PLAIN_PROJECT, "test_taken.py": TAKEN_PORT})
        env = {"DOCKER_HOST": host.ssh_url, "TMPDIR": private_tmp, "E2E_TAKEN_PORT": str(port)}
        run, _, _ = run_pytest(host, folder, env, "test_taken.py", label=tmp_path.name)
    finally:
        holder.close()
    assert run.exit_code == 1, str(run)
    assert "docker: published ports" in run.output, str(run)
    assert re.search(
        rf"port {port} of container \S+ is published on the remote engine, and could not be "
        rf"forwarded to 127.0.0.1:{port} here: 127.0.0.1:{port} is already in use on this "
        r"machine\. Fix: free that port",
        run.output,
    ), str(run)
