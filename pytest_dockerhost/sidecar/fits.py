"""Whether the outer engine's profile lets a sidecar run on it at all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SidecarError
from ..messages import profile as say_

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost


def refuse_unfit(outer: DockerHost) -> None:
    """Fail at once, saying why and what to do, where the profile rules a sidecar out:
    trying would only meet the engine's refusal after a wait."""
    reason = outer.profile.policy.sidecar
    if reason:
        raise SidecarError(say_.sidecar_refused(outer.profile.name, reason))
