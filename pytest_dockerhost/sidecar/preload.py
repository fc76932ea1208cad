"""Host images inside the sidecar: a streamed ``save`` -> ``load`` from the outer daemon."""

from __future__ import annotations

import contextlib
import time

from ..endpoint import DockerHost
from ..engine_api import APIError, EngineClientLike, engine_errors
from ..errors import SidecarError
from ..messages import sidecar as say_
from .janitor import api_text, is_not_found
from .spec import Say


def preload(
    outer_client: EngineClientLike,
    inner: DockerHost,
    images: tuple[str, ...],
    *,
    source: str,
    say: Say,
) -> list[str]:
    """Copy ``images`` from the outer daemon into the sidecar: a streamed save -> load, so
    nothing is buffered whole; images the sidecar already has (same id) are skipped."""
    inner_client = inner.client(timeout=600)
    copied: list[str] = []
    try:
        for image in images:
            try:
                outer_id = str(outer_client.api.inspect_image(image)["Id"])
            except engine_errors() as exc:
                raise SidecarError(preload_missing(image, source, inner.outer, exc)) from None
            with contextlib.suppress(Exception):
                if str(inner_client.api.inspect_image(image)["Id"]) == outer_id:
                    continue
            t0 = time.monotonic()
            try:
                stream = outer_client.api.get_image(image, chunk_size=1024 * 1024)
                for event in inner_client.api.load_image(stream):
                    if isinstance(event, dict) and event.get("error"):
                        raise APIError(500, str(event["error"]))
            except engine_errors() as exc:
                raise SidecarError(say_.preload_failed(image, api_text(exc))) from None
            say(say_.preloaded(image, time.monotonic() - t0))
            copied.append(image)
    finally:
        inner_client.close()
    return copied


def preload_missing(image: str, source: str, outer: DockerHost | None, exc: Exception) -> str:
    where = outer.url if outer is not None else "the outer daemon"
    if is_not_found(exc):
        return say_.preload_missing(image, source, where)
    return say_.preload_unreadable(image, source, where, api_text(exc))
