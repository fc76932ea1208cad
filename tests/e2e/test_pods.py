"""Kubernetes pods, simulated for real: a pod is one network namespace.

The dind container starts first, with docker-on-ci.md's unprivileged profile; the job
container (the agent image, the project's wheel installed) joins its namespace with
``network_mode="container:<dind id>"``, and folders the pod shares (an ``emptyDir``) are
volumes mounted in both. Four setups, each as its documentation writes it and as
examples/kubernetes/ has it (tests/e2e/test_pod_recipes.py holds the two to the same
settings):

- ARC (actions-runner-controller, ``containerMode: dind``): ``dockerd
  --host=unix:///var/run/docker.sock --group=123``, ``/var/run`` shared, the job runs as a
  user in group 123 with ``DOCKER_HOST=unix:///var/run/docker.sock``;
- Jenkins' Kubernetes plugin, a dind pod template: ``DOCKER_TLS_CERTDIR=""``, dockerd on
  the pod's loopback only with ``--tls=false`` (examples/kubernetes/jenkins-pod.yaml), the
  job has ``DOCKER_HOST=tcp://localhost:2375``;
- GitLab Runner's Kubernetes executor with ``services: docker:dind``: the alias ``docker``
  is a ``hostAliases`` line (127.0.0.1) in the pod's /etc/hosts, /certs/client is shared,
  ``DOCKER_HOST=tcp://docker:2376`` and no DOCKER_TLS_VERIFY / DOCKER_CERT_PATH (a
  service's entrypoint does not run in the job's container);
- Tekton, a docker:dind sidecar: ``DOCKER_HOST=tcp://localhost:2376``,
  ``DOCKER_CERT_PATH=/certs/client``, ``DOCKER_TLS_VERIFY=1``.

Each pod runs twice: with bookworm's Docker 20.10 as its dind, and with sid's Docker 28
(API 1.51), as a current docker:dind. In each pod the job runs a suite that asks for no
plugin fixture (a conftest session fixture starts busybox httpd with testcontainers, a
test fetches its mapped port at ``get_container_host_ip()``, another uses
``docker.from_env()``) and a module that uses ``docker_host``. Published ports must
answer on loopback inside the pod. One pod per setup serves the module's tests, and
nothing it made outlives it.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BUSYBOX, DIND, DIND28
from .conftest import Labelled
from .helpers import LABEL, PROJECT_DIR, Agent, Run, create_unprivileged_dind, remove_labelled
from .project import FETCH, PYTEST_INI

pytestmark = pytest.mark.e2e

OK = "pytest-dockerhost-test ok"
ARC_GID = 123  # ARC's DOCKER_GROUP_GID, the runner image's docker group
JOB_USER = "1000:1000"  # the agent image's jenkins, with ARC_GID added for ARC

# --- the suite the job runs -------------------------------------------------------------

POD_CONFTEST = f'''\
import pytest
from testcontainers.core.container import DockerContainer

from helpers import labels


@pytest.fixture(scope="session")
def web():
    with DockerContainer("{BUSYBOX}").with_exposed_ports(80).with_kwargs(labels=labels()) as c:
        yield c
'''

# No plugin fixture in this module.
POD_PLAIN = f'''\
import socket

import docker

from helpers import fetch, labels


def test_service_from_a_conftest_fixture(web):
    host, port = web.get_container_host_ip(), web.get_exposed_port(80)
    address = socket.gethostbyname(host)
    body = fetch(f"http://{{host}}:{{port}}/")
    print(f"E2E testcontainers fetched {{body!r}} from {{host}}:{{port}} ({{address}})")
    assert body == "{OK}"


def test_sdk_in_the_test_body():
    client = docker.from_env()
    try:
        out = client.containers.run("{BUSYBOX}", ["echo", "sdk ok"], labels=labels(), remove=True)
        print(f"E2E sdk daemon {{client.info()['ID']}} said {{out.decode().strip()!r}}")
        assert out == b"sdk ok\\n"
    finally:
        client.close()
'''

POD_FIXTURE = f'''\
import os
import socket

from helpers import fetch, labels


def test_published_host_answers(docker_host, docker_client):
    container = docker_client.containers.run(
        "{BUSYBOX}", detach=True, labels=labels(), ports={{"80/tcp": None}}
    )
    try:
        container.reload()
        port = container.ports["80/tcp"][0]["HostPort"]
        host = docker_host.published_host
        address = socket.gethostbyname(host)
        body = fetch(f"http://{{host}}:{{port}}/")
        print(f"E2E docker_host fetched {{body!r}} from {{host}}:{{port}} ({{address}})")
        assert host == os.environ["E2E_PUBLISHED_HOST"]
        assert address == "127.0.0.1"
        assert body == "{OK}"
    finally:
        container.remove(force=True)
'''

POD_PROJECT = {
    "pytest.ini": PYTEST_INI,
    "helpers.py": FETCH,
    "conftest.py": POD_CONFTEST,
    "test_plain.py": POD_PLAIN,
    "test_fixture.py": POD_FIXTURE,
}
# With -s, a print follows the test's name on its line (-v).
FETCHED = re.compile(rf"E2E (testcontainers|docker_host) fetched '{OK}' from (\S+):\d+ \((\S+)\)")
SDK = re.compile(r"E2E sdk daemon (\S+) said 'sdk ok'")

# --- the four pods ----------------------------------------------------------------------


def _summary(url: str, tls: str, published: str) -> re.Pattern[str]:
    """The plugin's endpoint line: mode, URL, engine, TLS, source, where ports answer
    (``published`` is a regular expression)."""
    mode = "dood" if url.startswith("unix://") else "dind"
    tls_part = f", {tls}" if tls else ""
    return re.compile(
        rf"docker: {mode} {re.escape(url)} \(engine [^,]+, API [\d.]+{tls_part}\) "
        rf"via DOCKER_HOST; published ports on {published}"
    )


@dataclass(frozen=True)
class Setup:
    """One pod as its CI system builds it."""

    name: str
    dind_command: list[str]
    dind_env: dict[str, str]
    shared: tuple[str, ...]  # folders the pod shares (emptyDir): volumes in both containers
    job_env: dict[str, str]
    published: str  # where published ports answer in the pod, as the plugin should say
    header: re.Pattern[str]
    notes: tuple[str, ...] = ()  # header lines the run must show as well
    aliases: tuple[str, ...] = ()  # hostAliases: names for 127.0.0.1 in the pod's /etc/hosts
    job_user: str = "jenkins"
    group_add: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


# What the kubelet gives every container of a pod: the API service's address.
KUBERNETES = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def _pod_note(ci: str) -> str:
    return (
        f"docker: note: in a Kubernetes pod ({ci}), with the daemon in this pod's network "
        "namespace: published ports answer on 127.0.0.1"
    )


SETUPS = [
    Setup(
        "arc-dind",
        ["dockerd", "--host=unix:///var/run/docker.sock", f"--group={ARC_GID}"],
        {},
        ("/var/run",),
        {**KUBERNETES, "GITHUB_ACTIONS": "true", "DOCKER_HOST": "unix:///var/run/docker.sock"},
        "localhost",
        # Nothing is published when the run starts, so nothing proves it yet.
        _summary("unix:///var/run/docker.sock", "", r"localhost( \(unverified\))?"),
        notes=(_pod_note("GitHub Actions"),),
        job_user=JOB_USER,
        group_add=(ARC_GID,),
        extra={"user": JOB_USER},
    ),
    Setup(
        "jenkins-kubernetes",
        [
            "dockerd",
            "--host=unix:///var/run/docker.sock",
            "--host=tcp://127.0.0.1:2375",
            "--tls=false",
        ],
        {"DOCKER_TLS_CERTDIR": ""},
        (),
        {
            **KUBERNETES,
            "JENKINS_URL": "http://jenkins:8080/",
            "DOCKER_HOST": "tcp://localhost:2375",
        },
        "localhost",
        _summary("tcp://localhost:2375", "TLS off", "localhost"),
        notes=(_pod_note("Jenkins"),),
    ),
    Setup(
        "gitlab-kubernetes",
        [],
        {"DOCKER_TLS_CERTDIR": "/certs"},
        ("/certs/client",),
        # GitLab hands the job its variables; no entrypoint of the service runs there.
        {
            **KUBERNETES,
            "GITLAB_CI": "true",
            "DOCKER_HOST": "tcp://docker:2376",
            "DOCKER_TLS_CERTDIR": "/certs",
        },
        "docker",  # the alias: 127.0.0.1 in the pod
        _summary("tcp://docker:2376", "TLS verified", "docker"),
        notes=(
            "docker: note: TLS from /certs/client (found; DOCKER_CERT_PATH is not set)",
            _pod_note("GitLab CI"),
        ),
        aliases=("docker",),
    ),
    Setup(
        "tekton-sidecar",
        [],
        {"DOCKER_TLS_CERTDIR": "/certs"},
        # Tekton sets no variable of its own, but mounts /tekton in every step.
        ("/certs/client", "/tekton/results"),
        {
            **KUBERNETES,
            "JENKINS_URL": "",  # the agent image's is for Jenkins jobs; a Tekton step has none
            "DOCKER_HOST": "tcp://localhost:2376",
            "DOCKER_CERT_PATH": "/certs/client",
            "DOCKER_TLS_VERIFY": "1",
        },
        "localhost",
        _summary("tcp://localhost:2376", "TLS verified", "localhost"),
        notes=(
            "docker: note: TLS verified with DOCKER_CERT_PATH=/certs/client (DOCKER_TLS_VERIFY)",
            _pod_note("Tekton"),
        ),
    ),
]


@dataclass
class Pod:
    setup: Setup
    labelled: Labelled
    dind: Any
    agent: Agent
    inner: Any  # a client of the pod's daemon, through its socket on a volume
    inner_id: str
    image: str = DIND  # the dind's: bookworm's Docker 20.10, or sid's 28

    def run(self) -> Run:
        return self.agent.pytest(
            "-v",
            "-s",
            "-rA",
            environment={"E2E_PUBLISHED_HOST": self.setup.published},
            user=self.setup.job_user,
        )

    def remove(self) -> None:
        """The job, then the dind, then their volumes: all that carries the label."""
        with contextlib.suppress(Exception):
            self.inner.close()
        self.agent.remove()
        with contextlib.suppress(Exception):
            self.dind.remove(force=True, v=True)
        remove_labelled(self.labelled.engine, self.labelled.selector)


def _wait_for_daemon(client: Any, socket: str, dind: Any) -> None:
    import docker

    deadline = time.monotonic() + 90
    while True:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            if os.path.exists(socket) and client.ping():
                return
        if time.monotonic() > deadline:
            logs = dind.logs()[-3000:].decode("utf-8", "replace")
            raise AssertionError(f"the pod's dockerd never answered:\n{logs}")
        time.sleep(0.2)


Binds = dict[str, dict[str, str]]


def dind_binds(run_volume: Any, data: Any) -> Binds:
    """A dind's own: its /var/run (the socket), its /var/lib/docker, the host's cgroups."""
    return {
        run_volume.name: {"bind": "/var/run", "mode": "rw"},
        data.name: {"bind": "/var/lib/docker", "mode": "rw"},
        "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
    }


def pod_volumes(
    engine: Any, setup: Setup, labels: dict[str, str], run_volume: Any, data: Any
) -> tuple[Binds, Binds]:
    """(the dind's binds, the job's): each folder the pod shares, an emptyDir, is a volume
    mounted in both at the same path (/var/run is the dind's own)."""
    dind_volumes, job_volumes = dind_binds(run_volume, data), {}
    for folder in setup.shared:
        volume = run_volume if folder == "/var/run" else engine.volumes.create(labels=labels)
        dind_volumes[volume.name] = {"bind": folder, "mode": "rw"}
        job_volumes[volume.name] = {"bind": folder, "mode": "rw"}
    return dind_volumes, job_volumes


def start_pod(
    engine: Any,
    setup: Setup,
    labelled: Labelled,
    wheel: Path,
    busybox: bytes,
    *,
    image: str = DIND,
) -> Pod:
    import docker

    labels = {LABEL: labelled.value}
    run_volume = engine.volumes.create(labels=labels)  # the dind's /var/run: its socket here
    data = engine.volumes.create(labels=labels)
    dind_volumes, job_volumes = pod_volumes(engine, setup, labels, run_volume, data)
    dind = create_unprivileged_dind(
        engine,
        image,
        command=setup.dind_command or None,
        environment=setup.dind_env,
        labels=labels,
        volumes=dind_volumes,
    )
    dind.start()
    socket = os.path.join(run_volume.attrs["Mountpoint"], "docker.sock")
    inner = docker.DockerClient(base_url=f"unix://{socket}", version="1.41", timeout=120)
    try:
        _wait_for_daemon(inner, socket, dind)
        inner.images.load(busybox)  # no registry: the image comes from the host engine
        for alias in setup.aliases:  # what the kubelet writes for hostAliases
            done = dind.exec_run(["sh", "-c", f"echo '127.0.0.1\t{alias}' >> /etc/hosts"])
            assert done.exit_code == 0, done.output
        agent = Agent.create(
            engine,
            labelled.value,
            socket=None,
            group_add=setup.group_add,
            environment={"E2E_LABEL": labelled.selector, **setup.job_env},
            volumes=job_volumes,
            network_mode=f"container:{dind.id}",
            **setup.extra,
        )
        agent.start()
        agent.put(PROJECT_DIR, POD_PROJECT)
        agent.install(wheel)
        return Pod(setup, labelled, dind, agent, inner, str(inner.info()["ID"]), image)
    except BaseException:
        inner.close()  # the fixture removes the containers and volumes by their label
        raise


# Each pod with the dind of Debian bookworm (Docker 20.10) and of sid (Docker 28, what a
# current docker:dind runs).
PODS = [(setup, image) for image in (DIND, DIND28) for setup in SETUPS]
POD_IDS = [setup.name + ("-docker28" if image == DIND28 else "") for setup, image in PODS]


@pytest.fixture(scope="module", params=PODS, ids=POD_IDS)
def pod(
    request: pytest.FixtureRequest,
    engine: Any,
    test_images: None,
    agent_wheel: Path,
    busybox_archive: bytes,
) -> Iterator[Pod]:
    setup, image = request.param
    labelled = Labelled(engine, f"{os.getpid()}-pod-{uuid.uuid4().hex[:8]}")
    try:
        started = start_pod(engine, setup, labelled, agent_wheel, busybox_archive, image=image)
        yield started
        started.remove()
    finally:
        remove_labelled(engine, labelled.selector)


@pytest.fixture(scope="module")
def job(pod: Pod) -> Run:
    """The job's pytest in the pod, once per pod."""
    return pod.run()


def test_the_jobs_suite_passes(job: Run) -> None:
    assert job.exit_code == 0, str(job)
    assert re.search(r"^=+ 3 passed in ", job.output, re.M), str(job)


def test_the_header_names_the_pods_endpoint(pod: Pod, job: Run) -> None:
    lines = [line for line in job.header() if pod.setup.header.fullmatch(line)]
    assert lines, str(job)
    version = pod.inner.version()["Version"]  # the pod's daemon's own word
    assert f"(engine {version}, " in lines[0], (version, str(job))
    assert version.startswith("28." if pod.image == DIND28 else "20.10."), version
    for note in pod.setup.notes:
        assert note in job.lines(), str(job)


def test_published_ports_answer_on_loopback_in_the_pod(pod: Pod, job: Run) -> None:
    fetched = {kind: (host, address) for kind, host, address in _matches(FETCHED, job)}
    # testcontainers (no fixture asked for) and docker_host agree, and the name they use
    # is loopback in the pod: the job fetched the page there.
    assert fetched == {
        "testcontainers": (pod.setup.published, "127.0.0.1"),
        "docker_host": (pod.setup.published, "127.0.0.1"),
    }, str(job)
    # docker.from_env() in a test body reached the pod's daemon.
    assert [daemon for (daemon,) in _matches(SDK, job)] == [pod.inner_id], str(job)


def test_on_arc_a_job_without_group_123_gets_arcs_own_fix(pod: Pod) -> None:
    """ARC's hard-coded socket group (actions-runner-controller#3537): a job image whose
    user lacks gid 123 is told the generic --group-add and ARC's pod-spec fix."""
    if pod.setup.name != "arc-dind":
        pytest.skip("ARC's socket group only")
    # As the job's user with its own group alone: what a job image without 123 runs as.
    run = pod.agent.exec(
        [
            "setpriv",
            "--reuid=1000",
            "--regid=1000",
            "--groups=1000",
            "timeout",
            "120",
            "python",
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rA",
            "test_fixture.py",
        ],
        user="root",
        environment={"E2E_PUBLISHED_HOST": pod.setup.published, "HOME": "/tmp"},
        workdir=PROJECT_DIR,
    )
    out = run.output
    assert run.exit_code != 0, out  # on CI (GITHUB_ACTIONS): failed, not skipped
    assert "permission denied on /var/run/docker.sock" in out, out
    assert "gid 123" in out, out
    assert "--group-add 123" in out, out
    assert "supplementalGroups: [123]" in out, out
    assert "groupadd -g 123 docker" in out, out


def test_nothing_is_left_behind(pod: Pod, job: Run) -> None:
    assert job.exit_code == 0, str(job)
    # In the pod's daemon: no container and no volume the suite made.
    assert pod.inner.containers.list(all=True) == []
    assert pod.inner.volumes.list() == []
    assert {n.name for n in pod.inner.networks.list()} == {"bridge", "host", "none"}
    # On the host's engine, once the pod is gone: nothing with its label.
    pod.remove()
    pod.labelled.assert_clean()


def _matches(pattern: re.Pattern[str], run: Run) -> list[tuple[str, ...]]:
    found = []
    for line in run.lines():
        match = pattern.search(line)
        if match:
            found.append(match.groups())
    return found
