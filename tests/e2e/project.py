"""The small test project that runs *inside* the agent containers.

Kept as text (not as test_*.py files) so that the outer run does not collect it.
The containers it starts carry the label in ``E2E_LABEL`` (``key=value``), so the
outer test can prove they are gone afterwards.
"""

from __future__ import annotations

from ..conftest import BUSYBOX

PYTEST_INI = """\
[pytest]
addopts = -p dockerhost -ra
"""

FETCH = """\
import os
import time
import urllib.request


def labels():
    key, _, value = os.environ["E2E_LABEL"].partition("=")
    return {key: value}


def fetch(url, attempts=100):
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                return reply.read().decode().strip()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")
"""

# The test users write: testcontainers, a published port, an HTTP request.
TEST_SERVICE = f'''\
from testcontainers.core.container import DockerContainer

from helpers import fetch, labels


def test_service_through_testcontainers(docker_host):
    container = DockerContainer("{BUSYBOX}").with_exposed_ports(80).with_kwargs(labels=labels())
    with container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(80)
        assert host == docker_host.published_host
        body = fetch(f"http://{{host}}:{{port}}/")
        print(f"E2E fetched {{body!r}} from {{host}}:{{port}}")
        assert body == "pytest-dockerhost-test ok"
'''

# Scenario 5: bind mounts under DooD. WORKSPACE is a folder mounted into the agent.
TEST_BIND_MOUNTS = f'''\
import io
import os
import tarfile

import pytest
from pytest_dockerhost.errors import BindMountError

from helpers import labels

WORKSPACE = os.environ["E2E_WORKSPACE"]


def test_agent_only_path_is_refused_with_the_fix(docker_host, tmp_path):
    (tmp_path / "data.txt").write_text("only in the agent")
    with pytest.raises(BindMountError) as info:
        docker_host.daemon_path(tmp_path)
    print(f"E2E BindMountError: {{info.value}}")


def test_path_under_a_mounted_folder_is_translated(docker_host, docker_client):
    folder = os.path.join(WORKSPACE, "job-1")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.txt"), "w") as handle:
        handle.write("shared through the mount")
    source = docker_host.daemon_path(folder)
    print(f"E2E daemon_path({{folder}}) = {{source}}")
    container = docker_client.containers.run(
        "{BUSYBOX}", ["sleep", "60"], labels=labels(), detach=True,
        volumes={{source: {{"bind": "/data", "mode": "ro"}}}},
    )
    try:
        # exec, not the logs of a `cat` run: on 20.10 those can come back empty.
        read = container.exec_run(["cat", "/data/data.txt"])
    finally:
        container.remove(force=True)
    assert read.output.decode() == "shared through the mount"


def test_a_testcontainers_mapping_of_a_mounted_folder_is_translated():
    # No fixture, no daemon_path: the plugin hands the daemon its own path for the folder.
    from testcontainers.core.container import DockerContainer

    folder = os.path.join(WORKSPACE, "job-2")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.txt"), "w") as handle:
        handle.write("mapped by testcontainers")
    container = (
        DockerContainer("{BUSYBOX}")
        .with_command(["sleep", "60"])
        .with_volume_mapping(folder, "/data", "ro")
        .with_kwargs(labels=labels())
    )
    with container:
        read = container.exec(["cat", "/data/data.txt"])
    print(f"E2E testcontainers read {{read.output.decode()!r}}")
    assert read.output == b"mapped by testcontainers"


def test_a_docker_py_bind_of_a_mounted_folder_is_translated(docker_client):
    # No daemon_path: the plugin hands the daemon its own path for the folder.
    folder = os.path.join(WORKSPACE, "job-3")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.txt"), "w") as handle:
        handle.write("bound by docker-py")
    container = docker_client.containers.run(
        "{BUSYBOX}", ["sleep", "60"], labels=labels(), detach=True,
        volumes={{folder: {{"bind": "/data", "mode": "ro"}}}},
    )
    try:
        read = container.exec_run(["cat", "/data/data.txt"])
        print(f"E2E docker-py bound {{container.attrs['HostConfig']['Binds']}}")
    finally:
        container.remove(force=True)
    assert read.output.decode() == "bound by docker-py"


def test_a_folder_only_in_the_agent_is_copied_in_and_back(tmp_path):
    import docker

    (tmp_path / "data.txt").write_text("only in the agent")
    docker.from_env().containers.run(
        "{BUSYBOX}", ["sh", "-c", "cat /data/data.txt > /data/out.txt"], labels=labels(),
        remove=True, volumes={{str(tmp_path): {{"bind": "/data", "mode": "rw"}}}},
    )
    print(f"E2E copied back {{(tmp_path / 'out.txt').read_text()!r}}")


def test_put_archive_works_everywhere(docker_client):
    # The portable way: create, copy the files in, start. No path on any host involved.
    payload = b"copied in with put_archive"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo("data")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
        info = tarfile.TarInfo("data/data.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    container = docker_client.containers.create(
        "{BUSYBOX}", ["cat", "/data/data.txt"], labels=labels()
    )
    try:
        assert container.put_archive("/", buffer.getvalue())
        container.start()
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert container.logs() == payload
    finally:
        container.remove(force=True)
'''

# Images a dind daemon cannot pull here (nor in an air-gapped CI) are copied into the
# project as `docker save` archives and loaded through the resolved endpoint.
CONFTEST = """\
import pathlib

import pytest

IMAGES = sorted((pathlib.Path(__file__).parent / "images").glob("*.tar"))


@pytest.fixture(scope="session", autouse=True)
def preload_images(request):
    if IMAGES:
        client = request.getfixturevalue("docker_client")
        for archive in IMAGES:
            client.images.load(archive.read_bytes())
"""

PROJECT = {
    "conftest.py": CONFTEST,
    "pytest.ini": PYTEST_INI,
    "helpers.py": FETCH,
    "test_service.py": TEST_SERVICE,
}

# --- a suite the way most users write it: no plugin fixture anywhere -----------------------
# A conftest session fixture that starts a service, an inline DockerContainer, docker.from_env()
# in a test body, and a module-level client made while pytest collects. Each prints which
# daemon it reached, so the outer test can tell the outer engine from a dind or a sidecar.

PLAIN_CONFTEST = f'''\
import pathlib

import docker
import pytest
from testcontainers.core.container import DockerContainer

from helpers import labels

IMAGES = sorted((pathlib.Path(__file__).parent / "images").glob("*.tar"))


@pytest.fixture(scope="session", autouse=True)
def preload_images():
    # A dind daemon cannot pull here: load the archives the way a user would.
    if IMAGES:
        client = docker.from_env()
        for archive in IMAGES:
            client.images.load(archive.read_bytes())
        client.close()


@pytest.fixture(scope="session")
def web():
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80).with_kwargs(labels=labels()) as c:
        yield c
'''

PLAIN_TESTS = f'''\
import docker
from testcontainers.core.container import DockerContainer

from helpers import fetch, labels


def test_service_from_a_conftest_fixture(web):
    host, port = web.get_container_host_ip(), web.get_exposed_port(80)
    body = fetch(f"http://{{host}}:{{port}}/")
    print(f"E2E conftest fixture fetched {{body!r}} from {{host}}:{{port}}")
    assert body == "pytest-dockerhost-test ok"


def test_inline_container():
    container = DockerContainer("{BUSYBOX}").with_exposed_ports(80).with_kwargs(labels=labels())
    with container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(80)
        body = fetch(f"http://{{host}}:{{port}}/")
        print(f"E2E inline container fetched {{body!r}} from {{host}}:{{port}}")
        assert body == "pytest-dockerhost-test ok"


def test_sdk_in_the_test_body():
    client = docker.from_env()
    try:
        out = client.containers.run("{BUSYBOX}", ["echo", "sdk ok"], labels=labels(), remove=True)
        print(f"E2E sdk daemon {{client.info()['ID']}} said {{out.decode().strip()!r}}")
        assert out == b"sdk ok\\n"
    finally:
        client.close()
'''

PLAIN_MODULE_CLIENT = """\
import docker

CLIENT = docker.from_env()  # at import time, while pytest collects


def test_module_level_client():
    print(f"E2E module client daemon {CLIENT.info()['ID']} at {CLIENT.api.base_url}")
    assert CLIENT.ping()
"""

PLAIN_PROJECT = {
    "conftest.py": PLAIN_CONFTEST,
    "pytest.ini": PYTEST_INI,
    "helpers.py": FETCH,
    "test_plain.py": PLAIN_TESTS,
    "test_module_client.py": PLAIN_MODULE_CLIENT,
}
PLAIN_PASSED = "4 passed"
