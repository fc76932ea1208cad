"""Scenario 3: examples/gitlab-ci.yml, its two jobs played the way a GitLab runner does.

No GitLab runner here, so the test does what the runner would: read the job's variables
(global ones first, the job's on top), start the ``docker:dind`` service (our stand-in)
with those variables and the service's ``command`` on a job network under its alias,
share ``/certs/client`` between service and job through a volume (the runner's
``volumes = ["/certs/client"]``), then run the job's pytest in the agent image.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ..conftest import DIND, ROOT
from .conftest import Labelled
from .engines import DIND28
from .helpers import LABEL, Agent, create_unprivileged_dind, load_yaml, remove_labelled, wait_until
from .plain import passed
from .project import PLAIN_PROJECT, PROJECT

pytestmark = pytest.mark.e2e


@dataclass
class GitLab:
    """What running a job of the example needs, on one docker:dind service image."""

    engine: Any
    labelled: Labelled
    make_agent: Callable[..., Agent]
    archive: bytes
    image: str

    def run(self, name: str, **kw: Any) -> Any:
        return run_job(
            name, self.engine, self.labelled, self.make_agent, self.archive, image=self.image, **kw
        )

    def remove_and_check(self) -> None:
        """Remove the job's containers, networks and volumes; fail if any stayed."""
        remove_labelled(self.engine, self.labelled.selector)
        self.labelled.assert_clean()


@pytest.fixture(params=[DIND, DIND28], ids=["docker-20.10", "docker-28"])
def gitlab(
    request: pytest.FixtureRequest,
    engine: Any,
    labelled: Labelled,
    make_agent: Callable[..., Agent],
    busybox_archive: bytes,
) -> GitLab:
    """The docker:dind service: bookworm's 20.10, or sid's 28 (API 1.51), same contract."""
    return GitLab(engine, labelled, make_agent, busybox_archive, str(request.param))


GITLAB = ROOT / "examples" / "gitlab-ci.yml"


def job(name: str) -> dict[str, Any]:
    """The job with ``extends`` applied and the variables GitLab gives it."""
    config = load_yaml(GITLAB)
    body = dict(config[name])
    base = config.get(body.pop("extends", ""), {}) if "extends" in body else {}
    merged = {**base, **body}
    merged["variables"] = {
        key: str(value)
        for key, value in {**config.get("variables", {}), **body.get("variables", {})}.items()
    }
    return merged


def run_job(
    name: str,
    engine: Any,
    labelled: Labelled,
    make_agent: Callable[..., Agent],
    archive: bytes,
    *,
    job_first: bool = False,
    project: dict[str, str] | None = None,
    image: str = DIND,
) -> Any:
    spec = job(name)
    (service,) = spec["services"]
    assert service["name"] == "docker:dind"
    variables = spec["variables"]
    tls = bool(variables.get("DOCKER_TLS_CERTDIR"))
    labels = {LABEL: labelled.value}
    network = engine.networks.create(f"pdh-e2e-gitlab-{labelled.value}", labels=labels)
    volumes = {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}}
    data = engine.volumes.create(labels=labels)
    volumes[data.name] = {"bind": "/var/lib/docker", "mode": "rw"}
    job_volumes = {}
    if tls:
        certs = engine.volumes.create(labels=labels)
        volumes[certs.name] = {"bind": "/certs/client", "mode": "rw"}
        job_volumes[certs.name] = {"bind": "/certs/client", "mode": "ro"}
    dind = create_unprivileged_dind(
        engine,
        image,
        command=service.get("command"),
        environment=variables,
        labels=labels,
        volumes=volumes,
    )
    network.connect(dind, aliases=[service["alias"]])
    engine.networks.get("bridge").disconnect(dind)
    if not job_first:
        dind.start()
        # GitLab starts the job once the service's port accepts connections (it does not
        # wait for the daemon to be ready: PYTEST_DOCKER_MODE=dind covers that part).
        port = 2376 if tls else 2375
        dind.reload()
        address = dind.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        wait_until(lambda: port_open(address, port), 120, f"the service's port {port}")
    agent = make_agent(
        files={"images/busybox.tar": archive},
        project=project or PROJECT,
        socket=None,
        environment=variables,
        volumes=job_volumes,
        network=network.name,
    )
    script = " && ".join(spec["script"])
    assert "python -m pytest -p dockerhost -v" in script
    if not job_first:
        return _on(image, agent.pytest("-p", "dockerhost", "-v", "-s"))
    # GitHub Actions and compose do not wait for the service: the job's pytest starts while
    # the service is not even running, and /certs/client is an empty volume.
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(agent.pytest("-p", "dockerhost", "-v", "-s"))
    )
    worker.start()
    time.sleep(2)
    dind.start()
    worker.join(240)
    assert result, "the job's pytest did not finish"
    return _on(image, result[0])


def _on(image: str, run: Any) -> Any:
    """The run, once its header shows it reached the service's engine."""
    version = "28." if image == DIND28 else "20.10."
    assert f"(engine {version}" in run.output, str(run)
    return run


def test_gitlab_service_with_tls_finds_certs_client_by_itself(
    gitlab: GitLab,
) -> None:
    assert "DOCKER_CERT_PATH" not in job("test")["variables"]
    run = gitlab.run("test")
    assert run.exit_code == 0, str(run)
    assert_tls_from_certs_client(run)
    assert "E2E fetched 'pytest-dockerhost-test ok' from docker:" in run.output
    gitlab.remove_and_check()


def test_a_job_that_starts_before_its_tls_service_waits_for_the_certificates(
    gitlab: GitLab,
) -> None:
    run = gitlab.run("test", job_first=True)
    assert run.exit_code == 0, str(run)
    assert "docker: dind tcp://docker:2376 (engine" in run.output, str(run)
    assert "TLS verified) via DOCKER_HOST; published ports on docker" in run.output, str(run)
    assert "Client sent an HTTP request" not in run.output, str(run)
    # It planned TLS from the still-empty volume and waited for dind to fill it.
    assert "certificates are not written yet" in run.output, str(run)
    assert "E2E fetched 'pytest-dockerhost-test ok' from docker:" in run.output
    gitlab.remove_and_check()


def test_a_suite_without_plugin_fixtures_gets_tls_from_certs_client(
    gitlab: GitLab,
) -> None:
    # Without the plugin, every one of these tests fails with docker-py's "400 Client Error:
    # Client sent an HTTP request to an HTTPS server": nobody set DOCKER_TLS_VERIFY.
    run = gitlab.run("test", project=PLAIN_PROJECT)
    result = passed(run)
    assert result.hosts == {"docker"}, str(run)
    assert "Client sent an HTTP request" not in run.output, str(run)
    assert_tls_from_certs_client(run)
    gitlab.remove_and_check()


def test_gitlab_service_with_tls_off_on_2375(
    gitlab: GitLab,
) -> None:
    spec = job("test-tls-off")
    assert spec["variables"]["DOCKER_TLS_CERTDIR"] == ""
    run = gitlab.run("test-tls-off")
    assert run.exit_code == 0, str(run)
    assert re.search(
        r"^docker: dind tcp://docker:2375 \(engine [^,]+, API [\d.]+, TLS off\) via DOCKER_HOST; "
        r"published ports on docker$",
        run.output,
        re.M,
    ), str(run)
    assert "E2E fetched 'pytest-dockerhost-test ok' from docker:" in run.output
    gitlab.remove_and_check()


def assert_tls_from_certs_client(run: Any) -> None:
    """The header of a job that found its TLS material at /certs/client by itself."""
    assert re.search(
        r"^docker: dind tcp://docker:2376 \(engine [^,]+, API [\d.]+, TLS verified\) via "
        r"DOCKER_HOST; published ports on docker$",
        run.output,
        re.M,
    ), str(run)
    assert (
        "docker: note: TLS from /certs/client (found; DOCKER_CERT_PATH is not set)" in run.output
    ), str(run)


def port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False
