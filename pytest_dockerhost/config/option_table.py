"""Every option, described once: the CLI flag, its ini twin, its environment variable, its
help text and how a raw value is parsed. Settings, the pytest command line and the
diagnostic command are all generated from ``OPTIONS``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, final

from .parsing import (
    CI_VARIABLES,
    DEFAULT_KEEP_FOR,
    DEFAULT_LEASE,
    DEFAULT_SIDECAR_IMAGE,
    DEFAULT_TIMEOUT,
    MODES,
    RESOLVE_WHEN,
    parse_bool,
    parse_capabilities,
    parse_duration,
    parse_lines,
    parse_mode,
    parse_resolve,
    parse_ssh_target,
    parse_text,
    parse_timeout,
    parse_tls_verify_env,
)
from .pool import parse_pool

# How the CLI and ini take an option's value.
OptionKind = Literal["string", "bool", "lines", "choice"]


@final
@dataclass(frozen=True, eq=False)  # compared by identity: one per option
class OptionSpec:
    """One option, described once for the CLI, the ini file and the environment."""

    name: str
    flag: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    ini: str | None = None
    env: str | None = None
    kind: OptionKind = "string"
    env_parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "mode",
        "--docker-mode",
        "how to reach Docker: auto (discover and verify), dood (a local "
        "unix socket), dind (a daemon over TCP, waiting for it to start), sidecar (start our own "
        "TLS dind container). Default: auto.",
        parse_mode,
        "auto",
        ini="docker_mode",
        env="PYTEST_DOCKER_MODE",
        kind="choice",
        choices=MODES,
    ),
    OptionSpec(
        "resolve",
        "--docker-resolve",
        "when to find the endpoint and wire docker-py and testcontainers to it: auto (when the "
        "run may use Docker: a docker marker, a plugin fixture, or the first import of docker "
        "or testcontainers), always (at start-up, before any conftest is imported), marked "
        "(only for tests with the docker marker or a plugin fixture). Default: auto.",
        parse_resolve,
        "auto",
        ini="docker_resolve",
        env="PYTEST_DOCKER_RESOLVE",
        kind="choice",
        choices=RESOLVE_WHEN,
    ),
    OptionSpec(
        "host",
        "--docker-host",
        "explicit Docker endpoint URL (unix:///path, tcp://host:port, "
        "ssh://user@host); wins over discovery. The environment twin is the usual DOCKER_HOST.",
        parse_text,
        None,
        ini="docker_host",
        env="DOCKER_HOST",
    ),
    OptionSpec(
        "socket",
        "--docker-socket",
        "unix socket path for dood mode (default: DOCKER_HOST, then the well-known socket paths).",
        parse_text,
        None,
        ini="docker_socket",
    ),
    OptionSpec(
        "cert_path",
        "--docker-cert-path",
        "folder holding ca.pem, cert.pem and key.pem for a TLS "
        "daemon (environment: DOCKER_CERT_PATH).",
        parse_text,
        None,
        ini="docker_cert_path",
        env="DOCKER_CERT_PATH",
    ),
    OptionSpec(
        "tls_verify",
        "--docker-tls-verify",
        "verify the daemon's TLS certificate against ca.pem "
        "(environment: DOCKER_TLS_VERIFY; as in the docker CLI, any non-empty value turns it on).",
        parse_bool,
        None,
        ini="docker_tls_verify",
        env="DOCKER_TLS_VERIFY",
        kind="bool",
        env_parse=parse_tls_verify_env,
    ),
    OptionSpec(
        "tls_x509_strict",
        "--docker-tls-x509-strict",
        "Python's strict X.509 checks for the Docker endpoint (default true; on by default "
        "since Python 3.13). false accepts certificates without the key-usage extensions, "
        "as docker:dind made them before 2025; the chain and the hostname are still "
        "verified.",
        parse_bool,
        True,
        ini="docker_tls_x509_strict",
        env="PYTEST_DOCKER_TLS_X509_STRICT",
        kind="bool",
    ),
    OptionSpec(
        "timeout",
        "--docker-timeout",
        "seconds to wait for a daemon that is still starting (dind "
        "and sidecar modes). Default: 30.",
        parse_timeout,
        DEFAULT_TIMEOUT,
        ini="docker_timeout",
        env="PYTEST_DOCKER_TIMEOUT",
    ),
    OptionSpec(
        "required",
        "--docker-required",
        "fail, rather than skip, Docker tests when no endpoint "
        f"works. On by default on CI ({', '.join(CI_VARIABLES)}).",
        parse_bool,
        False,
        ini="docker_required",
        env="PYTEST_DOCKER_REQUIRED",
        kind="bool",
    ),
    OptionSpec(
        "reap",
        "--docker-reap",
        "remove what this run's tests created (testcontainers' containers, networks and "
        "volumes, found by its session label) at the end of the run, and what killed runs "
        "left behind at the start of the next; needs nothing but the API (default true).",
        parse_bool,
        True,
        ini="docker_reap",
        env="PYTEST_DOCKER_REAP",
        kind="bool",
    ),
    OptionSpec(
        "lease",
        "--docker-lease",
        "how long this run's claim on what it created lasts unless renewed; the run renews it "
        "every quarter of that. A run in another container or on another machine whose claim "
        "has lapsed counts as dead, and the next run removes what it left (default 60s; "
        "seconds, or with a unit: 90s, 5m).",
        parse_duration,
        DEFAULT_LEASE,
        ini="docker_lease",
        env="PYTEST_DOCKER_LEASE",
    ),
    OptionSpec(
        "published_host",
        "--docker-published-host",
        "host or IP where ports published by test "
        "containers are reached (default: worked out and verified; environment: "
        "PYTEST_DOCKER_PUBLISHED_HOST).",
        parse_text,
        None,
        ini="docker_published_host",
        env="PYTEST_DOCKER_PUBLISHED_HOST",
    ),
    OptionSpec(
        "ssh",
        "--docker-ssh",
        "an SSH target (host, user@host[:port] or an alias of ~/.ssh/config) on the engine's "
        "machine, for an engine elsewhere: every port a test container publishes is forwarded "
        "through one SSH connection to 127.0.0.1 here. An ssh:// endpoint needs none; on "
        "CircleCI remote-docker is used when it is configured (environment: PYTEST_DOCKER_SSH).",
        parse_ssh_target,
        None,
        ini="docker_ssh",
        env="PYTEST_DOCKER_SSH",
        metavar="TARGET",
    ),
    OptionSpec(
        "report",
        "--docker-report",
        "write what resolution tried, the endpoint, the sidecar's lifecycle and the cleanup "
        "to FILE as JSON at the end of the run, for CI to keep (schema: the docs' \"JSON "
        'report" page; environment: PYTEST_DOCKER_REPORT).',
        parse_text,
        None,
        ini="docker_report",
        env="PYTEST_DOCKER_REPORT",
        metavar="FILE",
    ),
    OptionSpec(
        "sidecar_image",
        "--docker-sidecar-image",
        "image for sidecar mode; any image that "
        "follows the docker:dind contract. Default: docker:dind.",
        parse_text,
        DEFAULT_SIDECAR_IMAGE,
        ini="docker_sidecar_image",
        env="PYTEST_DOCKER_SIDECAR_IMAGE",
    ),
    OptionSpec(
        "sidecar_privileged",
        "--docker-sidecar-privileged",
        "run the sidecar with --privileged "
        "(default true); false uses an explicit capability set instead.",
        parse_bool,
        True,
        ini="docker_sidecar_privileged",
        env="PYTEST_DOCKER_SIDECAR_PRIVILEGED",
        kind="bool",
    ),
    OptionSpec(
        "sidecar_runtime",
        "--docker-sidecar-runtime",
        "container runtime for the sidecar, such as sysbox-runc.",
        parse_text,
        None,
        ini="docker_sidecar_runtime",
        env="PYTEST_DOCKER_SIDECAR_RUNTIME",
    ),
    OptionSpec(
        "sidecar_cache",
        "--docker-sidecar-cache",
        "named volume for the sidecar's /var/lib/docker, "
        "kept between runs so images pulled inside survive.",
        parse_text,
        None,
        ini="docker_sidecar_cache",
        env="PYTEST_DOCKER_SIDECAR_CACHE",
    ),
    OptionSpec(
        "sidecar_reuse",
        "--docker-sidecar-reuse",
        "keep the sidecar after the run and reattach to it next time.",
        parse_bool,
        False,
        ini="docker_sidecar_reuse",
        env="PYTEST_DOCKER_SIDECAR_REUSE",
        kind="bool",
    ),
    OptionSpec(
        "sidecar_keep_for",
        "--docker-sidecar-keep-for",
        "how long a sidecar kept by --docker-sidecar-reuse lives after it was made; older "
        "ones that no live run uses are removed by the next run or by cleanup (default 24h; "
        "seconds, or with a unit: 30m, 24h, 7d).",
        parse_duration,
        DEFAULT_KEEP_FOR,
        ini="docker_sidecar_keep_for",
        env="PYTEST_DOCKER_SIDECAR_KEEP_FOR",
    ),
    OptionSpec(
        "preload",
        "--docker-preload",
        "image to copy from the outer daemon into the sidecar (repeatable; ini: one per line).",
        parse_lines,
        (),
        ini="docker_preload",
        env="PYTEST_DOCKER_PRELOAD",
        kind="lines",
        metavar="IMAGE",
    ),
    OptionSpec(
        "sidecar_cap_drop",
        "--docker-sidecar-cap-drop",
        "capabilities to leave out of an unprivileged sidecar, for runtimes that lack them "
        "(repeatable or comma-separated, e.g. SYS_RESOURCE,SYS_MODULE).",
        parse_capabilities,
        (),
        ini="docker_sidecar_cap_drop",
        env="PYTEST_DOCKER_SIDECAR_CAP_DROP",
        kind="lines",
        metavar="CAP",
    ),
    OptionSpec(
        "pool",
        "--docker-pool",
        "engines for one run, one a line or between commas (repeatable): engine URLs "
        "(unix://, tcp:// with the usual TLS variables, ssh://), docker context names, or "
        "sidecar / sidecar*N (N of the plugin's own TLS dind sidecars, 8 in all at most). "
        "pytest-xdist's local workers are spread over those that answer, each worker pinned "
        "to one, weighted by the engines' CPUs and memory; without workers the run uses "
        "the first that answers.",
        parse_pool,
        (),
        ini="docker_pool",
        env="PYTEST_DOCKER_POOL",
        kind="lines",
        metavar="ENGINE",
    ),
)

OPTIONS_BY_NAME: Mapping[str, OptionSpec] = {spec.name: spec for spec in OPTIONS}


def dest(spec: OptionSpec) -> str:
    """Where argparse keeps an option's raw value."""
    return "dockerhost_" + spec.name
