"""The engine's profile: what kind of engine answered, decided once from what it says about
itself (``/version``, ``/info``) and the CI's variables, and the plugin's policy on it.

Every choice that depends on the kind of engine (Ryuk, the plugin's reaper, binds or
copies, whether a sidecar can run there, the request bodies it accepts, the host for
published ports) is read from the ``Policy`` that ``policy_for`` gives: one table, so a
new engine is one new row, not a search through the code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, final

from ..engine.probe import EngineDetails, EngineInfo, details_from
from ..messages import kubedock as say_kubedock
from ..messages import profile as say_

ProfileName = Literal[
    "docker",
    "rootless docker",
    "podman",
    "rootless podman",
    "docker with authorization",
    "bitbucket pipelines",
    "kubedock",
]
BodyStyle = Literal["any", "content-length"]

# Bitbucket's docker service: an authorization plugin of this name guards it.
BITBUCKET_PLUGIN = "pipelines"
# kubedock's /info Name and ID and its one API version (its internal/config/system.go). A
# dockerd's Name is its host's name, so the name alone is no proof: the API confirms it.
KUBEDOCK_NAME = "kubedock"
KUBEDOCK_ID = "com.joyrex2001.kubedock"
KUBEDOCK_API = "1.25"
LOOPBACK = "127.0.0.1"


@final
@dataclass(frozen=True)
class Policy:
    """What the plugin does on an engine of a profile."""

    ryuk: bool = True  # testcontainers' Ryuk may run; off: the wiring disables it
    reaper: bool = True  # the plugin's reaper removes what the run leaves; off: the engine does
    copies: bool = False  # every bind of a local folder becomes a copy
    bind_root: str = ""  # binds only under this folder reach the engine; others are copied
    sidecar: str = ""  # why no sidecar can run on it; "" when one can
    bodies: BodyStyle = "any"  # request bodies it accepts: chunked ones, or not
    published_host: str = ""  # the host for published ports, when the profile decides it
    # (ruled where a profile needs it: resolution's published-host choice)


@final
@dataclass(frozen=True)
class EngineProfile:
    """The kind of engine that answered, what told, and the policy that follows."""

    name: ProfileName = "docker"
    policy: Policy = field(default_factory=Policy)
    engine_name: str = ""  # /info's Name
    operating_system: str = ""  # /info's OperatingSystem
    authorization: tuple[str, ...] = ()  # /info's Plugins.Authorization
    ncpu: int = 0
    memory: int = 0  # bytes, /info's MemTotal
    ci: str = ""  # the CI its variables name (discovery/ci.py's kinds)
    # The rest of /info that the engine's line (-v, the diagnostic) shows: read once here.
    informed: bool = False  # /info answered
    release: str = ""  # /info's ServerVersion (kubedock's own release; /version has its API)
    image_store: str = ""
    cgroup: str = ""

    @property
    def plain(self) -> bool:
        """A profile the header need not explain: Docker or Podman, rootless or not."""
        return self.name in ("docker", "rootless docker", "podman", "rootless podman")

    @property
    def details(self) -> EngineDetails | None:
        """What /info said for the engine's line; None when it did not answer."""
        if not self.informed:
            return None
        rootless = self.name.startswith("rootless")
        return EngineDetails(rootless, self.image_store, self.cgroup)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineProfile:
        values = dict(data)
        values["policy"] = Policy(**values.get("policy") or {})
        values["authorization"] = tuple(values.get("authorization") or ())
        return cls(**values)


def _authorization(info: Mapping[str, object]) -> tuple[str, ...]:
    plugins = info.get("Plugins")
    names = plugins.get("Authorization") if isinstance(plugins, dict) else None
    return tuple(str(name) for name in names) if isinstance(names, list) else ()


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _rootless(info: Mapping[str, object]) -> bool:
    options = info.get("SecurityOptions")
    return isinstance(options, list) and any("name=rootless" in str(o) for o in options)


def _kubedock(engine: EngineInfo, info: Mapping[str, object]) -> bool:
    """kubedock's /info: its ID, or its Name with its API version."""
    if str(info.get("ID", "")) == KUBEDOCK_ID:
        return True
    named = str(info.get("Name", "")).lower() == KUBEDOCK_NAME
    return named and engine.api_version == KUBEDOCK_API


def name_for(
    engine: EngineInfo, info: Mapping[str, object], environ: Mapping[str, str], *, rootless: bool
) -> ProfileName:
    """Which profile the engine's own words and the CI's variables point to."""
    authorization = _authorization(info)
    if _kubedock(engine, info):
        return "kubedock"
    if BITBUCKET_PLUGIN in authorization or (
        authorization and environ.get("BITBUCKET_BUILD_NUMBER", "").strip()
    ):
        return "bitbucket pipelines"
    if authorization:
        return "docker with authorization"
    rootless = rootless or _rootless(info)
    if engine.kind == "Podman":
        return "rootless podman" if rootless else "podman"
    return "rootless docker" if rootless else "docker"


def policy_for(name: ProfileName, info: Mapping[str, object], environ: Mapping[str, str]) -> Policy:
    """The one table: each profile's policy."""
    if name == "bitbucket pipelines":
        # Its plugin denies privileged containers, the socket's bind and binds outside the
        # clone dir, and any body it cannot read: Ryuk mounts the socket.
        clone_dir = environ.get("BITBUCKET_CLONE_DIR", "").strip()
        return Policy(
            ryuk=False,
            bind_root=clone_dir,
            copies=not clone_dir,
            sidecar=say_.SIDECAR_DENIED_BY_POLICY.format(plugin=BITBUCKET_PLUGIN),
            bodies="content-length",
        )
    if name == "docker with authorization":
        # Unknown rules: ask as plainly as an authorization plugin can read.
        return Policy(bodies="content-length")
    if name == "kubedock":
        # Containers are pods: no socket to bind for Ryuk or a sidecar, no shared folders,
        # no volumes API for the reaper's claim, and kubedock reaps what it runs itself.
        # Its --port-forward and --reverse-proxy serve published ports on the loopback of
        # kubedock's host; whether either is on, its API never says (``settle`` warns).
        return Policy(
            ryuk=False,
            reaper=False,
            copies=True,
            sidecar=say_kubedock.NO_SIDECAR,
            published_host=LOOPBACK,
        )
    return Policy()


def decide(
    engine: EngineInfo,
    info: Mapping[str, object] | None,
    environ: Mapping[str, str],
    *,
    rootless: bool = False,
    ci: str = "",
) -> EngineProfile:
    """The engine's profile, from its ``/version`` (``engine``), its ``/info`` (``info``;
    None when it did not answer) and the environment. ``rootless``: the socket told;
    ``ci``: the CI its variables name."""
    facts: Mapping[str, object] = info or {}
    name = name_for(engine, facts, environ, rootless=rootless)
    details = details_from(facts)
    return EngineProfile(
        name=name,
        policy=policy_for(name, facts, environ),
        engine_name=str(facts.get("Name", "")),
        operating_system=str(facts.get("OperatingSystem", "")),
        authorization=_authorization(facts),
        ncpu=_number(facts.get("NCPU")),
        memory=_number(facts.get("MemTotal")),
        ci=ci,
        informed=bool(facts),
        release=str(facts.get("ServerVersion", "")),
        image_store=details.image_store,
        cgroup=details.cgroup,
    )


def named(engine: EngineInfo, profile: EngineProfile) -> EngineInfo:
    """The engine as the header names it: kubedock's /version gives its API version as its
    Version, so it is named by its own release, from /info."""
    if profile.name != "kubedock":
        return engine
    return dataclasses.replace(engine, kind="kubedock", version=profile.release or engine.version)


@final
@dataclass(frozen=True)
class Ruled:
    """What a profile changes once the endpoint is known: the host for published ports
    (host, verified, how), and the header's notes and warnings on what the engine cannot
    tell."""

    published: tuple[str, bool, str]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def settle(profile: EngineProfile, local: bool, chosen: str, found: tuple[str, bool, str]) -> Ruled:
    """The profile's host for published ports holds for an engine beside us (``local``: a
    unix socket or loopback, not through SSH); a host the user set (``chosen``) wins, and
    then nothing is warned. Unverified: the engine cannot say."""
    forced = profile.policy.published_host
    published = (forced, False, "") if forced and local and not chosen else found
    if profile.name != "kubedock":
        return Ruled(published)
    warnings: tuple[str, ...] = ()
    if not chosen:
        ports = say_kubedock.ports_assumed if local else say_kubedock.ports_elsewhere
        warnings = (ports(published[0]),)
    return Ruled(published, (say_kubedock.REAPING,), warnings)
