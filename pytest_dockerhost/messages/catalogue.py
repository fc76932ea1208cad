"""Every failure the plugin explains, keyed by the error text users paste into a search box:
the probe's failures (``catalogue_transport``) and those met later in a run.

Each entry's text is rendered by the message function users see it from, with example
facts, so the troubleshooting page cannot drift from the plugin's words.
"""

from __future__ import annotations

from ..config import texts as settings_texts
from ..config.parsing import MODES
from ..config.settings import OPTIONS_BY_NAME
from . import details as D
from . import endpoint, kubedock, mtu, names, pool, remote, resolution, sidecar
from .catalogue_authz import authz_entries
from .catalogue_transport import HOST, TCP, CatalogueEntry, Fix, RunFailure, transport_entries
from .ci import CIKind, no_engine_fix
from .failures import explain
from .sources import bad_url
from .urls import URLProblem


def _run_entries() -> list[CatalogueEntry]:
    outer = "unix:///var/run/docker.sock"
    refused = D.REFUSED.format(host="docker", port=2376)
    lost_detail, lost_fix = explain("refused", refused, TCP, HOST)
    workspace = "/__w/app/app/tests/data"
    mode = OPTIONS_BY_NAME["mode"]
    url_what, url_fix = bad_url(
        "DOCKER_HOST", "http://docker:2375", *URLProblem.HTTP.say(rest="docker:2375")
    )
    return [
        CatalogueEntry(
            ("no-endpoint",),
            ("docker.errors.DockerException: Error while fetching server API version",),
            "no Docker endpoint answered: no socket, no DOCKER_HOST, no context",
            resolution.no_endpoint(
                "auto", "default", failures=(), skipped=(), absent=6, warnings=(), hints=()
            ),
        ),
        CatalogueEntry(
            ("endpoint-lost",),
            ("Max retries exceeded with url: /v1.41/containers/create",),
            "the endpoint worked at the start of the session and stopped answering later",
            endpoint.gone("tcp://docker:2376", "dind", "DOCKER_HOST", lost_detail, lost_fix),
        ),
        CatalogueEntry(
            ("bind-mount-unseen",),
            (
                "a bind-mounted folder is empty inside the container",
                "with_volume_mapping",
            ),
            "bind-mount sources are resolved on the daemon's host, not where pytest runs; a "
            "local file or folder is copied in instead, and any other path is warned about",
            endpoint.mapping_unseen(
                workspace, endpoint.only_in_this_container(workspace, "3f2a9c1b7d4e")
            ),
            (Fix(endpoint.daemon_elsewhere(workspace, "tcp://docker:2376"), "under dind"),),
        ),
        CatalogueEntry(
            ("copy-in-failed",),
            ("could not be copied into the container at",),
            "a folder the engine cannot see is copied into the container, and the copy failed",
            endpoint.copy_in_failed(workspace, "/data", "container rootfs is marked read-only"),
        ),
        CatalogueEntry(
            ("copy-not-back",),
            ("could not be copied back here",),
            "a read-write mapping the engine cannot see was copied in, and the container was "
            "gone before what it wrote could be copied back",
            endpoint.not_copied_back(workspace, "/data", "No such container: 3f2a9c1b7d4e"),
        ),
        CatalogueEntry(
            ("copy-auto-removed",),
            ("the engine removes the container as soon as it exits (auto_remove)",),
            "a read-write mapping the engine cannot see is copied in, and the engine removes "
            "the container on its own, so nothing is copied back",
            endpoint.auto_removed(workspace, "/data"),
        ),
        CatalogueEntry(
            ("sidecar-privileged-refused",),
            (
                "OCI runtime create failed: unable to apply caps: operation not permitted",
                "unable to apply caps: operation not permitted",
            ),
            "the engine cannot grant every capability --privileged asks for",
            sidecar.privileged_refused(
                outer, "unable to apply caps: operation not permitted", "default"
            ),
        ),
        CatalogueEntry(
            ("sidecar-capabilities-refused",),
            ('invalid CapAdd: unknown capability: "CAP_BPF"',),
            "the engine refused a capability of the sidecar's explicit set",
            sidecar.capabilities_refused(outer, 'unknown capability: "CAP_BPF"'),
        ),
        CatalogueEntry(
            ("sidecar-unreachable",),
            ("sidecar mode cannot reach a sidecar",),
            "the daemon that would host the sidecar runs where its ports cannot be reached",
            sidecar.unreachable("tcp://build-host:2376", "DOCKER_HOST"),
        ),
        CatalogueEntry(
            ("dind-not-ready",),
            ("not ready after 30.0 s", "Cannot connect to the Docker daemon at tcp://docker:2376"),
            "dind mode waited, up to its bound, for a daemon that never answered /_ping",
            resolution.NOT_READY_AFTER.format(seconds=30.0, detail=refused),
            (Fix(explain("refused", refused, TCP, HOST, waited=30.0)[1]),),
        ),
        CatalogueEntry(
            ("published-unverified",),
            ("published ports on 172.17.0.1 (unverified)",),
            "no published port answered where the plugin expects them: that host is a guess",
            resolution.ports_unverified("172.17.0.1", resolution.PORTS_OWN_GATEWAY),
        ),
        CatalogueEntry(
            ("remote-ports-unreachable",),
            ("published ports on build-host (unverified)", "Connection refused"),
            "the engine is on another machine, and its published ports do not answer here",
            remote.no_path(names.option("ssh")),
        ),
        CatalogueEntry(
            ("ssh-connection-closed",),
            ("the SSH connection to", "stopped answering during the session"),
            "the SSH connection that carries a remote engine (and its ports) dropped mid-run",
            endpoint.lost_through_ssh(
                "ssh://remote-docker",
                "ssh",
                "DOCKER_HOST",
                remote.connection_closed(
                    "remote-docker", "14:32:05", "Connection to 10.0.0.5 closed by remote host."
                ),
            ),
        ),
        CatalogueEntry(
            ("port-not-forwarded",),
            ("could not be forwarded to 127.0.0.1",),
            "a remote engine's published port is taken on this machine",
            remote.port_not_forwarded("redis-1", 6379, remote.port_in_use(6379)),
        ),
        CatalogueEntry(
            ("client-too-old",),
            ("client version 1.41 is too old. Minimum supported API version is 1.44",),
            "the engine's minimum API (Docker 29, DOCKER_MIN_API_VERSION) is above what a "
            "docker CLI, docker compose or docker-compose in PATH speaks",
            endpoint.tool_too_old("cli", "/usr/bin/docker", "1.41", "1.44", "1.40"),
        ),
        CatalogueEntry(
            ("compose-api-pinned",),
            ("docker-compose", "client version 1.41 is too old", "COMPOSE_API_VERSION"),
            "Compose v1 speaks the engine's own version unless COMPOSE_API_VERSION pins an "
            "older one, which an engine with a raised minimum API refuses",
            endpoint.compose_v1_pinned("/usr/bin/docker-compose", "1.41", "1.44", "1.40"),
        ),
        CatalogueEntry(
            ("docker-is-podman",),
            ("Emulate Docker CLI using podman",),
            "`docker` in PATH is Podman's command, which does not speak the Docker Engine API "
            "to the engine the tests use",
            endpoint.podman_as_docker("/usr/bin/docker", "5.8.6", "1.44"),
        ),
        CatalogueEntry(
            ("podman-ryuk",),
            ("Container did not emit logs containing '.* Started!'", "Could not connect to Ryuk"),
            "testcontainers' reaper (Ryuk) cannot start on Podman without privileges",
            resolution.podman_ryuk(),
        ),
        CatalogueEntry(
            ("mtu",),
            ("net/http: TLS handshake timeout",),
            "the daemon's bridge MTU is larger than the job's link, so big packets stall",
            mtu.bridge_too_large(1500, 1450, "eth0", "tcp://docker:2376", "GitLab CI"),
        ),
        CatalogueEntry(
            ("url-invalid",),
            ("is not a valid Docker URL",),
            "the endpoint's URL is malformed",
            url_what,
            (Fix(url_fix),),
        ),
        CatalogueEntry(
            ("setting-invalid",),
            ("is not valid: must be one of",),
            "a setting has a value the plugin does not take; the error names where it was set",
            settings_texts.invalid(mode.env or mode.flag, "dnd", settings_texts.one_of(MODES)),
        ),
        CatalogueEntry(
            ("tls-verify-zero",),
            ("DOCKER_TLS_VERIFY=0",),
            "DOCKER_TLS_VERIFY turns verification on whatever its value, 0 included",
            settings_texts.tls_verify_zero("0"),
        ),
        CatalogueEntry(
            ("docker-host-blank",),
            ("DOCKER_HOST is set but empty",),
            "DOCKER_HOST is set, but to nothing a client can connect to",
            settings_texts.docker_host_blank(settings_texts.BLANK_EMPTY),
        ),
        CatalogueEntry(
            ("pool-entry-invalid",),
            ("PYTEST_DOCKER_POOL", "--docker-pool", "is not an engine URL"),
            "an entry of the engine pool is neither an engine URL, a docker context name nor "
            "a sidecar entry; the run stops before it starts",
            settings_texts.invalid(
                "PYTEST_DOCKER_POOL",
                "http://build-2:2375",
                settings_texts.pool_scheme("http://build-2:2375", ("unix://", "tcp://", "ssh://")),
            ),
        ),
        CatalogueEntry(
            ("pool-sidecar-count",),
            ("sidecar*N", "N a whole number from 1 to"),
            "a sidecar entry of the engine pool asks for no sidecar, too many, or a count that "
            "is not a number; the run stops before it starts",
            settings_texts.invalid(
                "--docker-pool", None, settings_texts.pool_sidecar_count("sidecar*99", 8)
            ),
        ),
        CatalogueEntry(
            ("pool-sidecar-in-sidecar-mode",),
            ("while --docker-mode is sidecar", "Drop the sidecar entries"),
            "sidecar entries in the pool with sidecar mode: sidecar mode starts its one "
            "sidecar on the pool's first engine; the run stops before it starts",
            settings_texts.pool_sidecar_mode("--docker-pool", ["sidecar*2"], mode.flag),
        ),
        CatalogueEntry(
            ("pool-sidecar-left-out",),
            ("(sidecar #2) is left out", "no engine to start it on"),
            "a sidecar of the pool did not start (or no engine was found to start it on): "
            "the run goes on with the pool's other engines",
            pool.left_out(
                pool.entry_source(1, "--docker-pool"),
                pool.sidecar_entry(2),
                pool.no_outer_engine("no working Docker endpoint (mode auto, from default)."),
                "",
                spread=True,
            ),
        ),
        CatalogueEntry(
            ("pool-engine-left-out",),
            ("is left out", "its workers go to the others"),
            "an engine of the pool failed its probe at the start: the run goes on with the "
            "others, and the xdist workers it would have had are pinned to them",
            pool.left_out(
                pool.entry_source(2, "--docker-pool"),
                "tcp://build-2:2376",
                lost_detail,
                lost_fix,
                spread=True,
            ),
        ),
    ]


# (CI, the variable that tells it, its kind of failure, what it means) for "no engine here".
_NO_ENGINE: tuple[tuple[CIKind, str, RunFailure, str], ...] = (
    (
        "azure",
        "TF_BUILD",
        "no-engine-azure",
        "an Azure Pipelines container job whose agent no longer maps the host's Docker socket",
    ),
    (
        "bitbucket",
        "BITBUCKET_BUILD_NUMBER",
        "no-engine-bitbucket",
        "a Bitbucket Pipelines step without the docker service has no engine",
    ),
    (
        "circleci",
        "CIRCLECI",
        "no-engine-circleci",
        "CircleCI's docker executor has no engine unless the job asks for one",
    ),
    (
        "arc-kubernetes",
        "ACTIONS_RUNNER_CONTAINER_HOOKS",
        "no-engine-arc-kubernetes",
        "GitHub's Actions Runner Controller in Kubernetes mode runs jobs as pods, with no "
        "Docker engine anywhere",
    ),
    (
        "gitlab",
        "GITLAB_CI",
        "no-engine-gitlab",
        "a GitLab CI job without a docker:dind service has no engine",
    ),
    (
        "github-job-container",
        "GITHUB_ACTIONS",
        "no-engine-github-job-container",
        "a GitHub Actions job container whose runner's host has no Docker socket to mount",
    ),
    (
        "github",
        "GITHUB_ACTIONS",
        "no-engine-github",
        "a GitHub Actions runner without a Docker engine (macOS, Windows, or a self-hosted "
        "machine without Docker)",
    ),
    (
        "jenkins",
        "JENKINS_URL",
        "no-engine-jenkins",
        "a Jenkins agent with neither the host's socket nor a dind service",
    ),
)


def _no_engine_entries() -> list[CatalogueEntry]:
    """One per CI: the last line of the no-endpoint paragraph when the CI gave no engine."""
    entries = []
    for ci, variable, kind, means in _NO_ENGINE:
        line = no_engine_fix(ci, variable)
        title = line.split(": ", 1)[0]  # "fix for <CI> (<VARIABLE> is set)"
        entries.append(CatalogueEntry((kind,), (title,), means, line))
    return entries


def catalogue() -> tuple[CatalogueEntry, ...]:
    """Every failure the plugin explains, transport kinds first."""
    return (
        *transport_entries(),
        *_run_entries(),
        *_no_engine_entries(),
        *kubedock.entries(),
        *authz_entries(),
    )
