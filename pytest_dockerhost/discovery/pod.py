"""Whether we run in a Kubernetes pod next to its daemon, and under which CI (``ci``).

In a pod (ARC's dind mode, Jenkins' Kubernetes plugin, GitLab's Kubernetes executor,
Tekton) the dind container shares the job's network namespace: published ports answer on
127.0.0.1, where testcontainers often guesses a gateway. The header says what was seen.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

from ..engine.url import DockerURL, TLSConfig
from .ci import ci_name


@final
@dataclass(frozen=True)
class Pod:
    """What was recognised: the CI (or ""), and whether the daemon shares our namespace."""

    ci: str
    shares_network: bool


def in_kubernetes(env: Mapping[str, str]) -> bool:
    """The kubelet gives every container of a pod the API service's address."""
    return bool(env.get("KUBERNETES_SERVICE_HOST", "").strip())


def recognise(
    env: Mapping[str, str], url: DockerURL, tls: TLSConfig | None, timeout: float
) -> Pod | None:
    """None outside Kubernetes. Inside: the CI, and whether the daemon listens in this
    network namespace (a loopback endpoint, or its bridge address is one of ours)."""
    if not in_kubernetes(env):
        return None
    if url.is_unix:
        from .network import shares_daemon_network

        shares = shares_daemon_network(url, tls, timeout)
    else:
        shares = is_loopback(url.host)
    return Pod(ci_name(env), shares)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.1, ::1, or a name (GitLab's ``docker`` alias) that resolves
    to loopback only."""
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(a.startswith("127.") or a == "::1" for a in found)
