"""What resolution says: why a candidate was passed over, where published ports are, and
the paragraph when no endpoint works."""

from __future__ import annotations

from collections.abc import Iterable

from .names import flag, option

TAKES_PRECEDENCE = "{source} takes precedence"
DOOD_UNIX_ONLY = "dood mode uses only unix sockets"
DIND_TCP_ONLY = "dind mode uses only TCP endpoints and configured sockets"
BUDGET_SPENT = "the discovery time budget was spent on earlier candidates"
NOT_READY_AFTER = "not ready after {seconds:.1f} s: {detail}"
ENGINE = "engine {version}, API {api}"

PORTS_SET = "published ports on {host} (from {source})"
PORTS_SAME_NAMESPACE = "the daemon's bridge address is one of this network namespace's"
PORTS_HOST_NETWORK = "this container uses the host's network"
PORTS_OWN_GATEWAY = "the gateway of this container's network"
PORTS_ROUTE = "the default gateway in /proc/net/route"
PORTS_NO_GATEWAY = "no gateway found; assuming localhost"
PORTS_VERIFIED = "published ports on {host}: {how}, verified"


def podman_ryuk() -> str:
    return (
        "Podman: testcontainers' Ryuk needs TESTCONTAINERS_RYUK_PRIVILEGED=true to start "
        "here (it mounts the API socket), which the plugin does not turn on for you; or turn "
        f"Ryuk off with TESTCONTAINERS_RYUK_DISABLED=true: {flag('reap')} removes what the "
        "tests leave, with nothing but the API"
    )


def waited_for_daemon(seconds: float, url: str) -> str:
    return (
        f"waited {seconds:.1f} s for {url} to answer /_ping: its daemon was still starting "
        f"(the wait is bounded by {option('timeout')})"
    )


def ports_unverified(host: str, how: str) -> str:
    return (
        f"published ports on {host}: {how}; no published port answered there yet, so this "
        f"is a guess: if tests cannot reach their containers, set {option('published_host')} "
        "to where the daemon's published ports answer"
    )


def passed_over(source: str, detail: str, fix: str) -> str:
    return f"{source} was passed over: {detail}" + (f"; fix: {fix}" if fix else "")


def x509_lenient(source: str) -> str:
    setting = flag("tls_x509_strict", "false")
    return (
        f"Python's strict X.509 checks are off for this endpoint ({setting}, from {source}): "
        "a CA or certificate without the key-usage extensions is accepted, so a certificate "
        "made for something else than TLS serving or signing could pass. The chain and the "
        "hostname are still verified. Regenerate the daemon's certificates (a current "
        "docker:dind makes compliant ones) and drop the option"
    )


def unverified_tls(url: str) -> str:
    return (
        f"TLS to {url} does not verify the daemon's certificate; set DOCKER_TLS_VERIFY=1 to "
        "verify it"
    )


def would_work(url: str, version: str, setting: str) -> str:
    return f"{url} answers (engine {version}); to use it, remove {setting}"


def no_endpoint(
    mode: str,
    source: str,
    *,
    failures: Iterable[tuple[str, str, str, str]],
    skipped: Iterable[tuple[str, str]],
    absent: int,
    warnings: Iterable[str],
    hints: Iterable[str],
    ci_fix: str = "",
) -> str:
    """The paragraph every test that needed Docker shows: each failure with its fix, and
    last, when the CI gave the job no engine at all, that CI's own fix."""
    lines = [f"no working Docker endpoint (mode {mode}, from {source})."]
    failed = list(failures)
    for where, url, detail, fix in failed:
        lines.append(f"  {where}: {url}")
        lines.append(f"    what happened: {detail}")
        if fix:
            lines.append(f"    fix: {fix}")
    if not failed and mode == "dind":
        lines.append(
            "  dind mode needs a TCP endpoint: set DOCKER_HOST=tcp://docker:2376 (TLS, with "
            "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH) or tcp://docker:2375 (TLS off), or "
            f"pass {flag('host')}; or the dind's shared socket, configured: "
            f"DOCKER_HOST=unix:///var/run/docker.sock or {flag('socket')}"
        )
    elif not failed:
        lines.append(
            "  no Docker socket or configuration was found: start Docker, mount the host's "
            "socket (-v /var/run/docker.sock:/var/run/docker.sock), or set DOCKER_HOST"
        )
    lines.extend(f"  skipped {where}: {detail}" for where, detail in skipped)
    if absent:
        lines.append(
            f"  also looked for {absent} other sockets (rootless, Docker Desktop, Colima, "
            "Rancher Desktop, OrbStack, Podman): none present"
        )
    lines.extend(f"  warning: {warning}" for warning in warnings)
    lines.extend(f"  note: {hint}" for hint in hints)
    lines.append("  run `python -m pytest_dockerhost` for the whole table")
    if ci_fix:
        lines.append(f"  {ci_fix}")
    return "\n".join(lines)


def in_pod(ci: str, *, shares_network: bool) -> str:
    where = f"a Kubernetes pod ({ci})" if ci else "a Kubernetes pod"
    if shares_network:
        return (
            f"in {where}, with the daemon in this pod's network namespace: published ports "
            "answer on 127.0.0.1"
        )
    return f"in {where}; the daemon is not in this pod's network namespace"
