"""The Kubernetes recipes in examples/kubernetes/ against the pods test_pods.py simulates:
the dind container's arguments and variables, the job's variables, and the folders the
two share are the same in the recipe and in the simulation, so what runs green there is
what the recipe sets up. No cluster runs here; the simulation is the pod. The recipes' page
in docs/ names each file; a missing or empty folder or page fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tomllib

from ..conftest import ROOT
from .helpers import load_yaml
from .test_pods import SETUPS, Setup
from .test_recipes import check_variables

pytestmark = pytest.mark.e2e

RECIPES = ROOT / "examples" / "kubernetes"
PAGE = ROOT / "docs" / "recipes" / "kubernetes.md"
SETUP = {setup.name: setup for setup in SETUPS}
# What the pod's platform sets in the job, not the recipe: the kubelet and the runners.
PLATFORM = {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "GITHUB_ACTIONS", "GITLAB_CI"}
PLATFORM |= {"JENKINS_URL"}
# Folders the platform mounts by itself: Tekton's results.
PLATFORM_FOLDERS = {"/tekton/results"}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: str(item.get("value", "")) for item in container.get("env") or ()}


def _substituted(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion in args, from the container's own env."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in args]


def _shared(pod_spec: dict[str, Any], *names: str) -> set[str]:
    """Folders mounted from the same emptyDir volume at the same path in all ``names``."""
    empty = {v["name"] for v in pod_spec.get("volumes") or () if "emptyDir" in v}
    by_container = [
        {(m["name"], m["mountPath"]) for m in c.get("volumeMounts") or () if m["name"] in empty}
        for c in pod_spec["containers"] + pod_spec.get("sidecars", [])
        if c["name"] in names
    ]
    assert len(by_container) == len(names), names
    return {path for _, path in set.intersection(*by_container)}


def _job_env(setup: Setup) -> dict[str, str]:
    return {k: v for k, v in setup.job_env.items() if k not in PLATFORM and v}


def _assert_dind(container: dict[str, Any], setup: Setup) -> None:
    assert container["image"] == "docker:dind"
    assert container.get("securityContext", {}).get("privileged") is True
    env = _env(container)
    args = _substituted(container.get("args") or container.get("command") or [], env)
    assert args == setup.dind_command, (args, setup.dind_command)
    for name, value in setup.dind_env.items():
        assert env.get(name) == value, (name, env)


def test_arc_values_are_the_simulated_arc_pod() -> None:
    setup = SETUP["arc-dind"]
    spec = load_yaml(RECIPES / "arc-values.yaml")["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    _assert_dind(containers["dind"], setup)
    runner = _env(containers["runner"])
    check_variables("arc-values.yaml runner", runner)
    assert {k: v for k, v in runner.items() if k in setup.job_env} == _job_env(setup)
    assert set(setup.shared) <= _shared(spec, "runner", "dind")
    # The gid the job's user needs for dind's socket (ARC's fix for actions-runner-controller#3537).
    assert spec["securityContext"]["supplementalGroups"] == list(setup.group_add)


def test_jenkins_pod_template_is_the_simulated_jenkins_pod() -> None:
    setup = SETUP["jenkins-kubernetes"]
    spec = load_yaml(RECIPES / "jenkins-pod.yaml")["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    _assert_dind(containers["dind"], setup)
    # TLS off: dockerd must listen on the pod's loopback only.
    assert "--host=tcp://127.0.0.1:2375" in containers["dind"]["args"]
    job = _env(containers["python"])
    check_variables("jenkins-pod.yaml python", job)
    assert job == _job_env(setup)
    assert "examples/kubernetes/jenkins-pod.yaml" in (RECIPES / "Jenkinsfile").read_text()


def test_gitlab_kubernetes_job_is_the_simulated_gitlab_pod() -> None:
    setup = SETUP["gitlab-kubernetes"]
    job = load_yaml(RECIPES / "gitlab-ci.yml")["test"]
    (service,) = job["services"]
    assert (service["name"], service["alias"]) == ("docker:dind", "docker")
    assert setup.aliases == ("docker",)
    assert service.get("command", []) == setup.dind_command
    variables = {k: str(v) for k, v in job["variables"].items()}
    check_variables("gitlab-ci.yml test", variables)
    assert variables == _job_env(setup)
    # The service gets the job's variables: dind sees DOCKER_TLS_CERTDIR as the simulation's.
    for name, value in setup.dind_env.items():
        assert variables[name] == value
    runner = tomllib.loads((RECIPES / "gitlab-runner-config.toml").read_text())
    kubernetes = runner["runners"][0]["kubernetes"]
    assert runner["runners"][0]["executor"] == "kubernetes"
    assert kubernetes["privileged"] is True
    shared = {d["mount_path"] for d in kubernetes["volumes"]["empty_dir"]}
    assert set(setup.shared) == shared


def test_tekton_task_is_the_simulated_tekton_pod() -> None:
    setup = SETUP["tekton-sidecar"]
    spec = load_yaml(RECIPES / "tekton-task.yaml")["spec"]
    (sidecar,) = spec["sidecars"]
    _assert_dind(sidecar, setup)
    (step,) = spec["steps"]
    job = _env(step)
    check_variables("tekton-task.yaml test", job)
    assert job == _job_env(setup)
    pod_like = {"containers": spec["steps"], "sidecars": spec["sidecars"], **spec}
    assert set(setup.shared) - PLATFORM_FOLDERS <= _shared(pod_like, step["name"], "dind")


# ARC's values set up the runner; the workflow's steps, not the values, run the job.
JOBS = ["gitlab-ci.yml", "Jenkinsfile", "tekton-task.yaml"]


@pytest.mark.parametrize("recipe", JOBS)
def test_every_job_runs_the_plain_pytest_command(recipe: str) -> None:
    """`python -m pytest`: no plugin fixture and no flag are needed for Docker."""
    assert "python -m pytest" in (RECIPES / recipe).read_text(), recipe


def _recipe_files() -> list[Path]:
    assert RECIPES.is_dir(), f"{RECIPES} is missing"
    files = sorted(path for path in RECIPES.iterdir() if path.is_file())
    assert files, f"{RECIPES} holds no recipe"
    return files


def test_the_recipes_page_names_each_file() -> None:
    assert PAGE.is_file(), f"{PAGE} is missing"
    page = PAGE.read_text()
    assert page.strip(), f"{PAGE} is empty"
    files = _recipe_files()
    missing = [path.name for path in files if f"examples/kubernetes/{path.name}" not in page]
    assert not missing, f"{PAGE} does not name {missing}"
    # The tests above read these four recipes (and the files beside them): none is skipped.
    assert {"arc-values.yaml", "jenkins-pod.yaml", "gitlab-ci.yml", "tekton-task.yaml"} <= {
        path.name for path in files
    }
