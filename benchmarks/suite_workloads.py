"""The "realistic suite" of the time-to-first-test row: what users' suites look like.

Twenty tests share a session fixture (in ``conftest.py``) that starts two busybox httpd
services with testcontainers' ``DockerContainer`` and waits until each answers HTTP on its
mapped port; every test GETs one of them. No test asks for a plugin fixture. Two
conftests: one for runs with the plugin (sidecar or DooD: the plugin wires testcontainers),
and the hand-rolled dind recipe that teams write without it (``-p no:dockerhost``).

Every process (the xdist controller and each worker) writes the ``time.time()`` stamps
it saw to ``$PDH_BENCH_DIR/<role>-<pid>.json`` at ``pytest_unconfigure``:

- ``conftest_start`` / ``conftest_done``: around the conftest's imports (with the plugin,
  ``import testcontainers`` is where its import watch resolves, and starts the sidecar);
- ``sessionstart`` / ``sessionstart_done``: around ``pytest_sessionstart`` (in the
  controller, pytest-xdist starts the workers there);
- ``setup_hook``: the first test's setup, after the plugin's own (tryfirst) setup hook
  made sure of the endpoint, before the fixtures;
- ``fixture_start`` / ``services_up``: the services fixture's start and its ``yield``;
- ``call``: the start of the first test's call phase;
- hand-rolled only: ``dind_answers`` (the dind answered ``version`` over TLS) and
  ``dind_loaded`` (the busybox image is loaded into it), as the worker that started the
  dind recorded them in the shared file, and ``dind_here`` (this worker has the endpoint).
"""

from __future__ import annotations

from typing import Any

from benchmarks.workloads import PYTEST_INI

TESTS = 20

SUITE_TEST = '''\
"""A users' suite: every test needs the services, none names a plugin fixture."""

import urllib.request

import pytest


@pytest.mark.parametrize("n", range({count}))
def test_service_answers(services, n):
    with urllib.request.urlopen(services[n % len(services)], timeout=5) as reply:
        assert b"ok" in reply.read()
'''

# The head of both conftests. SETTINGS is filled in by the benchmark.
HEAD = """\
import time

_TIMES = {"conftest_start": time.time()}

import contextlib
import json
import os
import urllib.request

import pytest
from testcontainers.core.container import DockerContainer
"""

HOOKS = '''
_TIMES["conftest_done"] = time.time()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionstart(session):
    _TIMES["sessionstart"] = time.time()
    yield
    _TIMES["sessionstart_done"] = time.time()


def pytest_runtest_setup(item):
    # Normal priority: after the plugin's tryfirst setup hook (where it makes sure of the
    # endpoint), before pytest's own, which sets up the fixtures.
    _TIMES.setdefault("setup_hook", time.time())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    _TIMES.setdefault("call", time.time())


def pytest_unconfigure(config):
    out = os.environ.get("PDH_BENCH_DIR")
    if out:
        role = os.environ.get("PYTEST_XDIST_WORKER", "controller")
        with open(os.path.join(out, f"{role}-{os.getpid()}.json"), "w") as fh:
            json.dump(_TIMES, fh)


def _wait_http(url, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if b"ok" in reply.read():
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _start_services(stack, host_of, count=2):
    """Start the services one after the other, each waited for on its mapped port."""
    urls = []
    for _ in range(count):
        container = DockerContainer(SETTINGS["image"], labels=SETTINGS["labels"])
        container.with_exposed_ports(80)
        stack.enter_context(container)
        url = f"http://{host_of(container)}:{container.get_exposed_port(80)}/"
        _wait_http(url)
        urls.append(url)
    return urls
'''

# With the plugin: testcontainers is already pointed at the endpoint (the sidecar or the
# host's engine) and knows where published ports answer.
WITH_PLUGIN = """

@pytest.fixture(scope="session")
def services():
    _TIMES.setdefault("fixture_start", time.time())
    with contextlib.ExitStack() as stack:
        urls = _start_services(stack, lambda c: c.get_container_host_ip())
        _TIMES.setdefault("services_up", time.time())
        yield urls
"""

# Without it: the dind recipe of a team that wants an isolated engine per run. One dind
# for all xdist workers, under a file lock in the run's shared temp folder (the recipe of
# pytest-xdist's docs); the controller removes it at the end of the session.
HAND_ROLLED = '''
import io
import subprocess
import tarfile

import docker
from filelock import FileLock

CREATED = "dind-created.json"  # written at create time: what the controller removes
READY = "dind.json"  # written once the dind answers and has the image


def _shared_root(tmp_path_factory, worker_id):
    root = tmp_path_factory.getbasetemp()
    return root if worker_id == "master" else root.parent


def _tls(cert_dir):
    return docker.tls.TLSConfig(
        client_cert=(os.path.join(cert_dir, "cert.pem"), os.path.join(cert_dir, "key.pem")),
        ca_cert=os.path.join(cert_dir, "ca.pem"),
        verify=True,
    )


def _start_dind(root):
    outer = docker.from_env()
    volume = outer.volumes.create(labels=SETTINGS["labels"])
    host_config = outer.api.create_host_config(
        port_bindings={2376: ("127.0.0.1", None)},
        binds=[f"{volume.name}:/var/lib/docker:rw"],
    )
    for key, value in SETTINGS["profile"].items():  # --privileged fails on this engine
        if key == "Binds":
            host_config["Binds"] = [*host_config.get("Binds", []), *value]
        else:
            host_config[key] = value
    created = outer.api.create_container(
        SETTINGS["dind_image"],
        detach=True,
        environment={"DOCKER_TLS_CERTDIR": "/certs"},
        labels={**SETTINGS["labels"], "role": "suite-dind"},
        ports=[2376],
        host_config=host_config,
    )
    (root / CREATED).write_text(json.dumps({"id": created["Id"], "volume": volume.name}))
    container = outer.containers.get(created["Id"])
    container.start()
    deadline = time.monotonic() + 120
    while True:  # the entrypoint writes client/ca.pem last
        try:
            stream, _ = container.get_archive("/certs/client/ca.pem")
            b"".join(stream)
            break
        except docker.errors.APIError:  # 404 until the entrypoint wrote it
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    cert_dir = root / "dind-certs"
    cert_dir.mkdir(exist_ok=True)
    stream, _ = container.get_archive("/certs/client")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                (cert_dir / os.path.basename(member.name)).write_bytes(handle.read())
    container.reload()
    port = int(container.ports["2376/tcp"][0]["HostPort"])
    address = container.attrs["NetworkSettings"]["IPAddress"]  # where its ports answer
    while True:
        try:
            inner = docker.DockerClient(
                base_url=f"tcp://127.0.0.1:{port}", tls=_tls(str(cert_dir)), timeout=5
            )
            inner.version()
            inner.close()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    answered = time.time()
    env = _dind_env(port, str(cert_dir))
    save = subprocess.Popen(["docker", "save", SETTINGS["image"]], stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "load", "-q"], stdin=save.stdout, env=env, capture_output=True, check=False
    )
    save.stdout.close()
    if save.wait() or load.returncode:
        raise RuntimeError(f"docker save | docker load failed: {load.stderr.decode()}")
    return {
        "port": port,
        "address": address,
        "cert_dir": str(cert_dir),
        "answered": answered,
        "loaded": time.time(),
    }


def _dind_env(port, cert_dir):
    return {
        **os.environ,
        "DOCKER_HOST": f"tcp://127.0.0.1:{port}",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": cert_dir,
    }


@pytest.fixture(scope="session")
def dind(tmp_path_factory, worker_id):
    """One dind for the run: the first worker starts it, the others wait and read it."""
    _TIMES.setdefault("fixture_start", time.time())
    # A TLS daemon with its own CA: requests' bundle variables would replace that CA.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(name, None)
    root = _shared_root(tmp_path_factory, worker_id)
    ready = root / READY
    with FileLock(str(ready) + ".lock"):
        if ready.is_file():
            info = json.loads(ready.read_text())
        else:
            info = _start_dind(root)
            ready.write_text(json.dumps(info))
    _TIMES["dind_answers"] = info["answered"]
    _TIMES["dind_loaded"] = info["loaded"]
    _TIMES["dind_here"] = time.time()
    env = _dind_env(info["port"], info["cert_dir"])
    os.environ.update({k: v for k, v in env.items() if k.startswith("DOCKER_")})
    return info


@pytest.fixture(scope="session")
def services(dind):
    with contextlib.ExitStack() as stack:
        urls = _start_services(stack, lambda c: dind["address"])
        _TIMES.setdefault("services_up", time.time())
        yield urls


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return  # workers only let go; the controller (or the only process) removes it
    created = session.config._tmp_path_factory.getbasetemp() / CREATED
    if not created.is_file():
        return
    info = json.loads(created.read_text())
    outer = docker.from_env()
    with contextlib.suppress(docker.errors.NotFound):
        outer.containers.get(info["id"]).remove(force=True, v=True)
    with contextlib.suppress(docker.errors.NotFound):
        outer.volumes.get(info["volume"]).remove(force=True)
    outer.close()
'''


def _conftest(settings: dict[str, Any], body: str) -> str:
    return HEAD + f"\nSETTINGS = {settings!r}\n" + HOOKS + body


def plugin_suite(image: str, labels: dict[str, str], count: int = TESTS) -> dict[str, str]:
    """The suite as users write it; the plugin (sidecar or DooD) wires testcontainers."""
    settings = {"image": image, "labels": labels}
    return {
        "pytest.ini": PYTEST_INI,
        "conftest.py": _conftest(settings, WITH_PLUGIN),
        "test_suite.py": SUITE_TEST.format(count=count),
    }


def hand_rolled_suite(
    image: str,
    dind_image: str,
    labels: dict[str, str],
    profile: dict[str, Any],
    count: int = TESTS,
) -> dict[str, str]:
    """The same tests; the conftest starts and shares its own dind (``-p no:dockerhost``)."""
    settings = {"image": image, "dind_image": dind_image, "labels": labels, "profile": profile}
    return {
        "pytest.ini": PYTEST_INI,
        "conftest.py": _conftest(settings, HAND_ROLLED),
        "test_suite.py": SUITE_TEST.format(count=count),
    }
