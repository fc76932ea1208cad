"""What is said about MTU: the sidecar's, and a CI daemon's bridge larger than our link."""

from __future__ import annotations

# How each CI starts its dind with extra dockerd arguments; {flags} is filled in.
CI_FIXES = {
    "GitHub Actions": (
        "in the runner scale set's values, give the dind container "
        '`args: ["dockerd", "--host=unix:///var/run/docker.sock", "--group=123", {flags}]` '
        "(template.spec.containers, name: dind)"
    ),
    "GitLab CI": 'on the service: `services: [{{name: "docker:dind", command: [{flags}]}}]`',
    "Jenkins": "in the pod template's dind container: `args: [{flags}]`",
    "Tekton": "on the task's dind sidecar: `args: [{flags}]`",
}
GENERIC_FIX = "start that dockerd with `{cli}`"


def sidecar_mtu(mtu: int, interface: str, per_network: bool) -> str:
    where = (
        "its bridge and every network created in it (--default-network-opt)"
        if per_network
        else "its bridge; networks that tests create in it keep 1500 unless they set "
        "com.docker.network.driver.mtu, as its engine is older than 24 or its image does "
        "not say its version (DOCKER_VERSION)"
    )
    return (
        f"the sidecar's daemon uses MTU {mtu}, this machine's {interface}'s, for {where}: "
        "a larger one stalls big packets (TLS handshakes, pulls)"
    )


def bridge_too_large(bridge: int, mtu: int, interface: str, url: str, ci: str) -> str:
    both = (f"--mtu={mtu}", f"--default-network-opt=bridge=com.docker.network.driver.mtu={mtu}")
    flags = ", ".join(f'"{flag}"' for flag in both)
    fix = CI_FIXES.get(ci, GENERIC_FIX).format(flags=flags, cli=" ".join(both))
    return (
        f"the daemon at {url} gives its bridge MTU {bridge}, larger than this job's "
        f"{interface} ({mtu}): packets larger than {mtu} from test containers can stall "
        "silently (TLS handshakes, pulls, big responses). Fix: "
        f"{fix}; the second flag (engines 24+) covers the networks testcontainers creates"
    )
