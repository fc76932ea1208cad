"""What the header and the sidecar say about the engine's profile and its policy."""

from __future__ import annotations

from .names import flag

# How each profile is told, as the engine profiles page says it (docs/gen/profiles.py).
RECOGNISED_BY = {
    "docker": "any other engine that answers as Docker does",
    "rootless docker": "the socket of a rootless daemon, or `name=rootless` in /info's "
    "SecurityOptions",
    "podman": "a Podman component in /version",
    "rootless podman": "Podman, with `name=rootless` in /info's SecurityOptions",
    "docker with authorization": "an authorization plugin in /info's Plugins.Authorization",
    "bitbucket pipelines": "the authorization plugin `pipelines`, or any authorization plugin "
    "with BITBUCKET_BUILD_NUMBER set",
    "kubedock": "/info's Name `kubedock` with API 1.25, or its ID `com.joyrex2001.kubedock`",
}

SIDECAR_DENIED_BY_POLICY = (
    "this engine's authorization plugin '{plugin}' denies privileged containers and binds of "
    "the docker socket, which a sidecar needs. Use the engine as it is (leave out "
    + flag("mode", "sidecar")
    + "): it is already a daemon of this job alone; or, on Bitbucket Pipelines, runtime v3 "
    "(options: runtimes: v3), which allows privileged containers and your own dind image"
)


def profile_line(label: str, policy: list[str]) -> str:
    """The header's line for an engine that is not plain Docker or Podman."""
    return f"docker: profile {label}: " + "; ".join(policy)


def label(name: str, authorization: tuple[str, ...]) -> str:
    if authorization:
        plugins = ", ".join(authorization)
        return f"{name} (authorization plugin {plugins})"
    return name


def ryuk_off(*, by_engine: bool) -> str:
    if by_engine:
        return "Ryuk and the plugin's reaper off: the engine removes what it ran itself"
    return "Ryuk off (the engine's policy refuses it); the plugin's reaper removes what tests leave"


COPIES = "folders reach containers by copy, not by bind"


def binds_under(root: str) -> str:
    return f"binds only under {root}; other folders are copied"


BODIES = "request bodies sent with a Content-Length (the policy cannot read chunked ones)"
NO_SIDECAR = "no sidecar"


def not_bound(profile: str, bind_root: str) -> str:
    """Why a folder is copied rather than bound, on an engine whose profile rules it."""
    if bind_root:
        return f"the engine's policy ({profile}) allows binds only under {bind_root}"
    return f"an engine of profile {profile} shares no folder with this machine"


def sidecar_refused(profile: str, reason: str) -> str:
    return f"{flag('mode', 'sidecar')} cannot run on this engine ({profile}): {reason}"
