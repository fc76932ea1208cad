"""What a fresh start looks up and decides on the outer engine before it makes anything:
the image (pulled when missing), the registries passed on, a cache volume nobody uses,
and the sidecar's name and labels. Nothing here creates a resource of the run's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cleanup.janitor import Owner, api_text, is_not_found
from ..discovery.endpoint import DockerHost
from ..engine.api import APIError, EngineClientLike, engine_errors
from ..errors import SidecarError
from ..labels import (
    L_CACHE,
    L_CONFIG,
    L_KEEP_FOR,
    L_OWNER_HOST,
    L_OWNER_PID,
    L_REUSE,
    L_REUSE_KEY,
    L_RUN,
)
from ..messages import sidecar as say_
from .payload import Registries
from .reuse import reuse_key
from .spec import Say, Spec

if TYPE_CHECKING:
    from ..engine.api import EngineClient


def ensure_image(client: EngineClient, spec: Spec, outer: DockerHost, say: Say) -> dict[str, Any]:
    """The image's inspect data, pulling it only when it is missing (with its progress)."""
    api = client.api
    image = spec.image
    try:
        return dict(api.inspect_image(image))
    except engine_errors() as exc:
        if not is_not_found(exc):
            raise SidecarError(
                say_.api_failed(say_.inspect_image(image), outer.shown_url, api_text(exc))
            ) from None
    say(say_.pulling(image, outer.shown_url))
    last = ""
    try:
        for event in api.pull(image, stream=True, decode=True):
            if "error" in event:
                raise APIError(500, str(event.get("error")))
            status = str(event.get("status", ""))
            if status and status != last and "Downloading" not in status:
                last = status
                say(f"docker:   {event.get('id', '')} {status}".rstrip())
        return dict(api.inspect_image(image))
    except engine_errors() as exc:
        raise SidecarError(
            say_.pull_failed(image, spec.image_source, outer.shown_url, api_text(exc))
        ) from None


def outer_registries(client: EngineClientLike) -> Registries:
    """Where the outer daemon pulls from (its /info); nothing when it will not say."""
    try:
        return Registries.from_info(client.api.info())
    except engine_errors():
        return Registries()


def check_cache_free(client: EngineClientLike, spec: Spec) -> None:
    """Two dockerds on one /var/lib/docker corrupt it: refuse a cache volume in use."""
    if not spec.cache:
        return
    users = client.api.containers(filters={"label": f"{L_CACHE}={spec.cache}"})
    if users:
        labels = users[0].get("Labels") or {}
        raise SidecarError(
            say_.cache_in_use(
                spec.cache,
                users[0]["Names"][0].lstrip("/"),
                labels.get(L_RUN, "?"),
                labels.get(L_OWNER_PID, "?"),
                labels.get(L_OWNER_HOST, "?"),
            )
        )


def sidecar_name(spec: Spec, run_id: str, config: str, number: int = 0) -> str:
    """``number``: a pool's sidecar (1, 2, ...), so that one run's sidecars differ."""
    suffix = f"-{number}" if number else ""
    if spec.reuse:
        # The run's id too: runs on other machines keep sidecars of the same config.
        return f"pytest-dockerhost-reuse-{config[:12]}-{run_id[:8]}{suffix}"
    return f"pytest-dockerhost-{run_id}{suffix}"


def sidecar_labels(owner: Owner, spec: Spec, config: str) -> dict[str, str]:
    labels = owner.labels("sidecar")
    labels[L_CONFIG] = config
    if spec.reuse:
        labels[L_REUSE] = "true"
        labels[L_REUSE_KEY] = reuse_key(spec.image)
        labels[L_KEEP_FOR] = f"{spec.keep_for:g}"
    if spec.cache:
        labels[L_CACHE] = spec.cache
    return labels
