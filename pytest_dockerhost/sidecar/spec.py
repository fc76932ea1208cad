"""What to start: the image, the privilege profiles tried in order, the capabilities."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import final

from ..config.settings import Settings
from ..errors import SidecarError
from ..messages import sidecar as say_

Say = Callable[[str], None]

# Every capability Docker 20.10 knows: the measured unprivileged profile for a
# nested dockerd (docker-on-ci.md section 3). BPF, PERFMON and CHECKPOINT_RESTORE are left out
# because 20.10 refuses their names.
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
)
# Linux capability numbers, to compare with this process's bounding set.
_CAP_NUMBERS = dict(zip(CAPABILITIES, range(38), strict=True))
PRIVILEGED_REFUSED = "unable to apply caps"
UNKNOWN_CAPABILITY = "unknown capability"
# Newer engines refuse a capability outside their own set at create, in these words.
UNAVAILABLE_CAPABILITY = "not available in the current environment"
# Not needed by a nested dockerd, and the first an engine lacks (moby#42906): what the last
# fallback leaves out when the engine refuses the explicit capability set.
OFTEN_MISSING = ("SYS_RESOURCE", "SYS_MODULE", "SYS_BOOT", "SYS_TIME", "WAKE_ALARM")


# --- what to start --------------------------------------------------------------------------


@final
@dataclass(frozen=True)
class Spec:
    """The sidecar the settings ask for, each value with where it came from."""

    image: str
    image_source: str
    privileged: bool
    privileged_source: str
    privileged_given: bool  # set explicitly, not left at its default
    runtime: str | None
    cache: str | None
    reuse: bool
    preload: tuple[str, ...]
    preload_source: str
    timeout: float
    timeout_source: str
    cap_drop: tuple[str, ...] = ()
    keep_for: float = 24 * 3600.0  # seconds a kept sidecar lives after it was made

    @classmethod
    def from_settings(cls, settings: Settings) -> Spec:
        drop = settings.sidecar_cap_drop.value
        unknown = [name for name in drop if name not in _CAP_NUMBERS]
        if unknown:
            raise SidecarError(
                say_.unknown_capabilities(settings.sidecar_cap_drop.source, unknown, CAPABILITIES)
            )
        return cls(
            image=settings.sidecar_image.value,
            image_source=settings.sidecar_image.source,
            privileged=settings.sidecar_privileged.value,
            privileged_source=settings.sidecar_privileged.source,
            privileged_given=not settings.sidecar_privileged.is_default,
            runtime=settings.sidecar_runtime.value,
            cache=settings.sidecar_cache.value,
            reuse=settings.sidecar_reuse.value,
            preload=settings.preload.value,
            preload_source=settings.preload.source,
            timeout=settings.timeout.value,
            timeout_source=settings.timeout.source,
            cap_drop=drop,
            keep_for=settings.sidecar_keep_for.value,
        )

    def capabilities(self, same_machine: bool) -> tuple[list[str], list[str]]:
        """(capabilities to add, ones left out and why) for an unprivileged sidecar."""
        missing = _missing_from_bounding_set() if same_machine else set()
        skipped = [say_.left_out_missing(name) for name in sorted(missing)]
        skipped += [say_.left_out_asked(name) for name in self.cap_drop]
        caps = [c for c in CAPABILITIES if c not in missing and c not in self.cap_drop]
        return caps, skipped

    def profiles(self, same_machine: bool) -> list[Profile]:
        """The attempts, in order. Each later one has less privilege than the one before.
        An explicit --docker-sidecar-privileged=true and an explicit cap-drop are honoured
        exactly; the unprivileged set is lowered the same way whether it was asked for or
        reached by falling back (privilege is lowered, never raised)."""
        caps, skipped = self.capabilities(same_machine)
        unprivileged = Profile(False, tuple(caps), tuple(skipped))
        if self.privileged and self.privileged_given:
            return [Profile(True)]
        attempts = [Profile(True)] if self.privileged else []
        if self.privileged:
            attempts.append(
                dataclasses.replace(
                    unprivileged,
                    fallback=say_.FALLBACK_PRIVILEGED,
                )
            )
        else:
            attempts.append(unprivileged)
        if self.cap_drop:
            return attempts  # the capabilities were named: exactly that set
        fewer = [name for name in caps if name not in OFTEN_MISSING]
        if len(fewer) < len(caps):
            dropped = [name for name in OFTEN_MISSING if name in caps]
            attempts.append(
                Profile(
                    False,
                    tuple(fewer),
                    tuple(skipped) + tuple(say_.left_out_refused(name) for name in dropped),
                    fallback=say_.fallback_fewer(dropped),
                )
            )
        return attempts

    def config_hash(
        self, image_id: str, topology: str, caps: list[str], daemon_flags: Sequence[str] = ()
    ) -> str:
        """Same hash, same sidecar: what --docker-sidecar-reuse matches on."""
        data = {
            "image": self.image,
            "image_id": image_id,
            "privileged": self.privileged,
            "runtime": self.runtime,
            "cache": self.cache,
            "topology": topology,
            "caps": caps if not self.privileged else [],
            "daemon_flags": list(daemon_flags),
            "layout": 1,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@final
@dataclass(frozen=True)
class Profile:
    """How one attempt runs the sidecar: privileged, or with an explicit capability set."""

    privileged: bool
    caps: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()  # capabilities left out, each with why
    fallback: str = ""  # why this attempt follows a refused one ("" for the first)

    @property
    def label(self) -> str:
        return "privileged" if self.privileged else "unprivileged"


def refused_capabilities(text: str) -> bool:
    """The engine's own words for a capability it cannot grant (moby#42906 at start; at
    create on newer engines) or does not know."""
    return any(
        words in text for words in (PRIVILEGED_REFUSED, UNKNOWN_CAPABILITY, UNAVAILABLE_CAPABILITY)
    )


def _missing_from_bounding_set() -> set[str]:
    """Capabilities this process's bounding set lacks. When the daemon is on our machine (we
    reach it on loopback) it was most likely started in the same environment, and asking for
    a capability it lacks fails the start (moby#42906)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            line = next((ln for ln in handle if ln.startswith("CapBnd:")), "")
        mask = int(line.split()[1], 16)
    except (OSError, IndexError, ValueError):
        return set()
    return {name for name, bit in _CAP_NUMBERS.items() if not mask & (1 << bit)}
