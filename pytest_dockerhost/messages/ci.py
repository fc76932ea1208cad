"""What to change in a CI's own configuration when it gave the job no Docker engine at all.

Each CI has one well-known fix, written in the words of its configuration file; the plugin
recognises the CI from its variables (``discovery.ci``) and ends the no-endpoint paragraph
with that fix. Never ``chmod 666`` on a socket: that gives every local user root.
"""

from __future__ import annotations

from typing import Literal

from .names import flag

# The CIs whose "no engine here" has a fix of their own. A GitHub Actions job in a job
# container (``container:``) and one on the runner's machine have different fixes.
CIKind = Literal[
    "azure",
    "bitbucket",
    "circleci",
    "arc-kubernetes",
    "gitlab",
    "github-job-container",
    "github",
    "jenkins",
]

CI_NAMES: dict[CIKind, str] = {
    "azure": "Azure Pipelines",
    "bitbucket": "Bitbucket Pipelines",
    "circleci": "CircleCI",
    "arc-kubernetes": "GitHub ARC in Kubernetes mode",
    "gitlab": "GitLab CI",
    "github-job-container": "a GitHub Actions job container",
    "github": "GitHub Actions",
    "jenkins": "Jenkins",
}

AZURE = (
    "the agent maps the host's Docker socket into a container job only when the container "
    "resource asks for it (agents since 5.279.0): add `mapDockerSocket: true` to the "
    "container resource (under `resources: containers:`, or the job's `container:`)"
)
BITBUCKET = (
    "the step has no Docker service: add `services: [docker]` to the step (`services:` "
    "with `- docker` under `- step:`); Pipelines then runs an engine beside the build "
    "container at tcp://localhost:2375"
)
CIRCLECI = (
    "the docker executor's job container has no engine: add a `- setup_remote_docker` step "
    "before the tests (its engine is on another machine: published ports and bind mounts "
    "do not reach this container), or run the job on the machine executor (`machine:` "
    "with an `image:`), which has a local engine"
)
GITLAB = (
    "the job has no Docker service: add `services: [docker:dind]` and `variables: "
    '{DOCKER_HOST: "tcp://docker:2376", DOCKER_TLS_CERTDIR: "/certs"}` to the job (the '
    "runner must allow privileged services, as GitLab.com's hosted runners do); the plugin "
    "reads the client certificates from /certs/client"
)
GITHUB_JOB_CONTAINER = (
    "the runner mounts its host's /var/run/docker.sock into job containers, and this "
    "container has none, so the runner's host has no engine at that path: run the job on "
    "a runner with Docker (GitHub's hosted `runs-on: ubuntu-latest`), or start Docker on "
    "the self-hosted runner's host"
)
GITHUB = (
    "this runner has no Docker engine: GitHub's hosted Linux runners (`runs-on: "
    "ubuntu-latest`) have one, its macOS and Windows runners have no Linux engine; on a "
    "self-hosted runner, install Docker and add the runner's user to the docker group"
)
JENKINS = (
    "the agent has no engine: mount the host's socket into the agent's container "
    "(`-v /var/run/docker.sock:/var/run/docker.sock` plus `--group-add` with the socket's "
    "gid), or run a `docker:dind` container beside it and set DOCKER_HOST=tcp://docker:2376, "
    "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to its client certificates"
)


def _arc_kubernetes() -> str:
    return (
        "no Docker engine exists in this mode (the runner starts job containers as pods): "
        "set `containerMode.type: dind` in the runner scale set's values, which puts a "
        "docker:dind container in every runner pod; or run kubedock beside the job and set "
        f"DOCKER_HOST (or {flag('host')}) to its endpoint, tcp://127.0.0.1:2475"
    )


def _fixes() -> dict[CIKind, str]:
    return {
        "azure": AZURE,
        "bitbucket": BITBUCKET,
        "circleci": CIRCLECI,
        "arc-kubernetes": _arc_kubernetes(),
        "gitlab": GITLAB,
        "github-job-container": GITHUB_JOB_CONTAINER,
        "github": GITHUB,
        "jenkins": JENKINS,
    }


def no_engine_fix(kind: CIKind, variable: str) -> str:
    """The CI's own fix, one line: which CI (and the variable that says so), then what to
    change in its configuration."""
    return f"fix for {CI_NAMES[kind]} ({variable} is set): {_fixes()[kind]}"
