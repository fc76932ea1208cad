"""The recipes in examples/ that no runner here can execute: checked for syntax, and for
the variables they set against what the plugin (and docker:dind) actually read; the
unprivileged compose override is checked against what the engine itself grants.

The Jenkins DooD Dockerfile, the Jenkins DinD compose file and the GitLab jobs are also
*run* by the other e2e modules; these checks keep the rest of each file honest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_dockerhost.config.settings import OPTIONS, Settings

from ..conftest import BUSYBOX, ROOT
from .helpers import load_yaml

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "examples"
# Read by the plugin (its options' variables), by docker:dind, or by testcontainers.
PLUGIN_VARIABLES = {spec.env for spec in OPTIONS if spec.env} | {"DOCKER_TLS_VERIFY"}
OTHER_READERS = {
    "DOCKER_TLS_CERTDIR": "docker:dind",
    "TESTCONTAINERS_RYUK_DISABLED": "testcontainers",
    "TZ": "the Jenkins container",
}


def check_variables(where: str, variables: dict[str, Any]) -> None:
    unknown = set(variables) - PLUGIN_VARIABLES - set(OTHER_READERS)
    assert not unknown, f"{where} sets variables nobody reads: {sorted(unknown)}"
    env = {key: str(value) for key, value in variables.items()}
    settings = Settings.from_sources(env=env)  # raises SettingError for a bad value
    for key, value in env.items():
        if key.startswith("PYTEST_DOCKER_") or key == "DOCKER_HOST":
            assert any(
                setting.source == key
                for setting in vars(settings).values()
                if hasattr(setting, "source")
            ), f"{where}: {key}={value} is not what the plugin used"


def test_gitlab_jobs_set_what_the_plugin_and_dind_read() -> None:
    config = load_yaml(EXAMPLES / "gitlab-ci.yml")
    assert config["variables"]["DOCKER_TLS_CERTDIR"] == "/certs"
    jobs = {
        name: body
        for name, body in config.items()
        if not name.startswith(".") and name != "variables"
    }
    assert set(jobs) == {"test", "test-tls-off"}
    for name, body in jobs.items():
        variables = {**config["variables"], **body["variables"]}
        check_variables(f"gitlab-ci.yml job {name}", variables)
        host = variables["DOCKER_HOST"]
        (service,) = body["services"]
        assert host.startswith(f"tcp://{service['alias']}:")
        tls = bool(variables["DOCKER_TLS_CERTDIR"])
        # dind listens on 2376 with TLS and on 2375 without; the plugin's /certs/client
        # convention needs 2376 and no DOCKER_CERT_PATH.
        assert host.endswith(":2376" if tls else ":2375")
        assert "DOCKER_CERT_PATH" not in variables
        assert variables["PYTEST_DOCKER_MODE"] == "dind"
        script = config[body["extends"]]["script"]
        assert any(line.startswith("python -m pytest -p dockerhost") for line in script)
    assert jobs["test-tls-off"]["services"][0]["command"] == ["--tls=false"]


def test_github_actions_jobs_set_what_the_plugin_reads() -> None:
    config = load_yaml(EXAMPLES / "github-actions.yml")
    assert set(config["jobs"]) == {"on-the-runner", "in-a-container"}
    for name, body in config["jobs"].items():
        variables = {**config.get("env", {}), **body.get("env", {})}
        check_variables(f"github-actions.yml job {name}", variables)
        runs = [step["run"] for step in body["steps"] if "run" in step]
        assert any(run.startswith("python -m pytest -p dockerhost") for run in runs)
    # A container job gets the VM's socket from the runner: DooD, no DOCKER_HOST needed.
    assert "container" in config["jobs"]["in-a-container"]
    assert config["jobs"]["in-a-container"]["env"]["PYTEST_DOCKER_MODE"] == "dood"


def test_jenkins_dind_compose_wires_the_agent_to_the_dind_service() -> None:
    config = load_yaml(EXAMPLES / "jenkins-dind" / "docker-compose.yml")
    dind, jenkins = config["services"]["docker"], config["services"]["jenkins"]
    # What real hosts need; the e2e test adds tests/e2e/compose.unprivileged.yml.
    assert dind["privileged"] is True
    assert dind["image"] == "${DIND_IMAGE:-docker:dind}"
    env = jenkins["environment"]
    check_variables("jenkins-dind/docker-compose.yml", env)
    assert env["DOCKER_HOST"] == "tcp://docker:2376"
    assert env["DOCKER_TLS_VERIFY"] == "1"
    # The agent reads the client certificates from the volume dind writes them into.
    certs_dir = dind["environment"]["DOCKER_TLS_CERTDIR"] + "/client"
    assert env["DOCKER_CERT_PATH"] == certs_dir
    shared = [v for v in dind["volumes"] if v.split(":")[1] == certs_dir]
    assert shared, dind["volumes"]
    volume = shared[0].split(":")[0]
    assert f"{volume}:{certs_dir}:ro" in jenkins["volumes"]
    assert jenkins["depends_on"] == ["docker"]


def test_the_unprivileged_override_is_a_profile_this_engine_grants(
    engine: Any, test_images: None
) -> None:
    """The override's capabilities, taken from the file, against the engine itself: the set
    starts a container, and the same set plus SYS_RESOURCE (what --privileged would also
    ask for here) is refused, which is why the override exists."""
    override = load_yaml(Path(__file__).with_name("compose.unprivileged.yml"))
    docker = override["services"]["docker"]
    assert docker["privileged"] is False
    caps = list(docker["cap_add"])
    assert "SYS_ADMIN" in caps  # a nested dockerd mounts and makes namespaces
    granted = _start_with(engine, caps)
    assert granted == "", granted
    refused = _start_with(engine, [*caps, "SYS_RESOURCE"])
    if not refused:
        pytest.skip("this engine grants SYS_RESOURCE: nothing to prove about the override")
    assert "unable to apply caps" in refused


def _start_with(engine: Any, caps: list[str]) -> str:
    """'' when a busybox container with exactly ``caps`` starts, else the engine's error."""
    container = engine.containers.create(
        BUSYBOX, ["true"], cap_add=caps, labels={"pytest-dockerhost-e2e": "recipe-caps"}
    )
    try:
        container.start()
        return ""
    except Exception as exc:
        return str(exc)
    finally:
        container.remove(force=True)


def test_jenkinsfile_runs_the_agent_with_the_socket_and_its_gid() -> None:
    text = (EXAMPLES / "jenkins-dood" / "Jenkinsfile").read_text()
    args = re.search(r"^\s*args\s+\"(.*)\"\s*$", text, re.M)
    assert args, "the docker agent needs args"
    assert "-v /var/run/docker.sock:/var/run/docker.sock" in args.group(1)
    assert "--group-add ${params.DOCKER_GID}" in args.group(1)
    assert re.search(r"string\(name: 'DOCKER_GID'", text)
    assert "chmod" not in re.sub(r"//.*", "", text)
    environment = dict(re.findall(r"^\s*([A-Z][A-Z0-9_]+)\s*=\s*'([^']*)'", text, re.M))
    check_variables("Jenkinsfile", environment)
    assert re.search(r"sh 'python -m pytest -p dockerhost --docker-mode=dood", text)


def test_dood_dockerfile_takes_the_gid_as_a_build_argument() -> None:
    text = (EXAMPLES / "jenkins-dood" / "Dockerfile").read_text()
    assert re.search(r"^ARG DOCKER_GID$", text, re.M)
    assert 'groupmod -o -g "${DOCKER_GID}" docker' in text
    assert "usermod -aG docker" in text
