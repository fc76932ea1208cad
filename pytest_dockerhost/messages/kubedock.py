"""What the plugin says on kubedock: a Docker API that runs each container as a Kubernetes
pod (github.com/joyrex2001/kubedock). Its ``/_ping``, ``/version`` and ``/info`` tell nothing
of its flags (``--port-forward``, ``--reverse-proxy``, ``--pre-archive``, ``--reapmax``), so
these texts say what the plugin assumes and which flag makes it true."""

from __future__ import annotations

from . import names
from .catalogue_transport import CatalogueEntry
from .profile import sidecar_refused

ENGINE = "kubedock"
LISTENS = "tcp://127.0.0.1:2475"  # its default listen address, seen from its own pod
REAP_DEFAULT = "60 min"  # kubedock's --reapmax default

# Policy.sidecar: why the plugin's dind sidecar cannot run on kubedock, and the way on.
NO_SIDECAR = (
    "kubedock runs each container as a Kubernetes pod: it ignores --privileged and answers "
    "501 to the volumes API, so no dind sidecar can run on it. Fix: use kubedock itself "
    f"({names.flag('mode', 'auto')}, the default, finds it at DOCKER_HOST={LISTENS} "
    "beside the job), or a docker:dind container in the job's pod for sidecar mode"
)


def ports_assumed(host: str) -> str:
    """Published ports on kubedock: where the plugin takes them, and why it cannot be sure."""
    return (
        f"kubedock's API does not say whether it runs with --port-forward or --reverse-proxy: "
        f"published ports are taken on {host}, where they answer only with one of them; "
        "without either, they answer only inside the cluster, at each pod's service. "
        "Fix: start kubedock with `kubedock server --port-forward` (or `--reverse-proxy`); "
        f"where it runs so, {names.flag('published_host', host)} says it and ends this warning"
    )


def ports_elsewhere(host: str) -> str:
    """kubedock on another host: its --port-forward listens on that host's 127.0.0.1."""
    return (
        f"kubedock's API does not say whether it runs with --reverse-proxy: published ports "
        f"are taken on {host}, where they answer only with it (--port-forward listens on "
        "kubedock's own 127.0.0.1, which this machine cannot reach). Fix: start kubedock with "
        "`kubedock server --reverse-proxy`, or run it in the job's pod with `--port-forward`; "
        f"where it runs so, {names.flag('published_host', host)} says it and ends this warning"
    )


REAPING = (
    "kubedock removes what the run leaves: it deletes its pods after its --reapmax "
    f"({REAP_DEFAULT} by default), and all of them when it exits"
)


def entries() -> list[CatalogueEntry]:
    """kubedock's lines in the troubleshooting catalogue."""
    return [
        CatalogueEntry(
            ("kubedock-no-sidecar",),
            ("cannot run on this engine (kubedock)",),
            "sidecar mode on kubedock, which runs containers as pods with no privilege and "
            "no volumes API",
            sidecar_refused(ENGINE, NO_SIDECAR),
        ),
        CatalogueEntry(
            ("kubedock-ports",),
            ("kubedock's API does not say whether it runs with --port-forward",),
            "a test cannot reach a container's published port on kubedock: its ports answer "
            "on 127.0.0.1 only with --port-forward or --reverse-proxy",
            ports_assumed("127.0.0.1"),
        ),
    ]
