"""Host images inside the sidecar: a streamed ``save`` -> ``load`` from the outer daemon."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..cleanup.janitor import api_text, is_not_found
from ..discovery.endpoint import DockerHost
from ..engine.api import APIError, EngineClientLike, engine_errors
from ..engine.url import version_at_least
from ..errors import SidecarError
from ..messages import sidecar as say_
from .spec import Say, Spec
from .started import Started

CHUNK = 1024 * 1024
READ_AHEAD = 16  # chunks held between the export and the load: 16 MB at most


def check_preloadable(outer_client: EngineClientLike, spec: Spec, outer: DockerHost) -> None:
    """Before anything is started: every image to preload must be on the outer daemon."""
    for image in spec.preload:
        try:
            outer_client.api.inspect_image(image)
        except engine_errors() as exc:
            raise SidecarError(preload_missing(image, spec.preload_source, outer, exc)) from None


def with_preloaded(
    outer_client: EngineClientLike, started: Started, spec: Spec, say: Say
) -> Started:
    """``started`` once the images ``spec`` names are in it (what was copied recorded)."""
    if not spec.preload:
        return started
    copied = preload(outer_client, started.host, spec.preload, source=spec.preload_source, say=say)
    return dataclasses.replace(started, preloaded=tuple(copied))


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
                outer_info = outer_client.api.inspect_image(image)
            except engine_errors() as exc:
                raise SidecarError(preload_missing(image, source, inner.outer, exc)) from None
            with contextlib.suppress(Exception):
                if same_image(outer_info, inner_client.api.inspect_image(image)):
                    continue
            t0 = time.monotonic()
            try:
                stream = _read_ahead(_export(outer_client, image, own_platform(inner.outer)))
                loaded = []
                for event in inner_client.api.load_image(stream):
                    if isinstance(event, dict) and event.get("error"):
                        raise APIError(500, str(event["error"]))
                    loaded += loaded_references(event)
                _name_as_asked(inner_client, image, loaded)
            except engine_errors() as exc:
                raise SidecarError(say_.preload_failed(image, api_text(exc))) from None
            say(say_.preloaded(image, time.monotonic() - t0))
            copied.append(image)
    finally:
        inner_client.close()
    return copied


def loaded_references(event: object) -> list[str]:
    """What a load event says it loaded: "Loaded image: NAME" or "Loaded image ID: ID"."""
    text = event.get("stream", "") if isinstance(event, dict) else ""
    for prefix in ("Loaded image ID: ", "Loaded image: "):
        if isinstance(text, str) and text.startswith(prefix):
            return [text[len(prefix) :].strip()]
    return []


def _name_as_asked(client: Any, image: str, loaded: list[str]) -> None:
    """``image`` answers by the name it was asked for in the sidecar. Podman names what it
    stores ``localhost/NAME`` and exports it so, which a Docker sidecar loads as that:
    the loaded image is then tagged ``image`` too."""
    from docker.utils import parse_repository_tag

    with contextlib.suppress(*engine_errors()):
        client.api.inspect_image(image)
        return
    repository, tag = parse_repository_tag(image)
    if not loaded or "@" in image:  # nothing to name, or a digest, which no tag can be
        raise APIError(404, say_.preload_unnamed(image, loaded))
    client.api.tag(loaded[0], repository, tag or "latest")


class _Ended:
    """The reader's last item: the stream ended, or why it broke."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _read_ahead(chunks: Iterator[bytes], depth: int = READ_AHEAD) -> Iterator[bytes]:
    """``chunks``, read on a thread up to ``depth`` ahead: the outer daemon's export goes on
    while the sidecar's load takes the last chunk, as in ``docker save | docker load``."""
    ahead: queue.Queue[bytes | _Ended] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    with contextlib.suppress(queue.Full):
                        ahead.put(chunk, timeout=0.1)
                        break
                if stop.is_set():
                    return
            ahead.put(_Ended())
        except Exception as exc:  # the export's error, raised where the load reads it
            ahead.put(_Ended(exc))

    reader = threading.Thread(target=read, name="pytest-dockerhost-preload", daemon=True)
    reader.start()
    try:
        while True:
            item = ahead.get()
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()  # the load stopped early: let the reader go
        reader.join(5)


def _export(client: EngineClientLike, image: str, platform: str | None) -> Iterator[bytes]:
    from ..engine.api import EngineAPI

    api = client.api
    if platform is not None and isinstance(api, EngineAPI):
        return api.get_image_for(image, platform, chunk_size=CHUNK)
    return api.get_image(image, chunk_size=CHUNK)  # docker-py's has no platform argument


def own_platform(outer: DockerHost | None) -> str | None:
    """The outer daemon's own platform, for an export of that one only (API 1.48+): a
    multi-platform image then neither fails to export nor sends foreign platforms."""
    if outer is None or not version_at_least(outer.api_version, "1.48"):
        return None
    os_name, arch = outer.engine.os, outer.engine.arch
    if not os_name or not arch:
        return None
    return json.dumps({"os": os_name, "architecture": arch})


def same_image(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same image on two daemons, whatever their stores: the graph driver's id is the
    config's digest and the containerd store's the manifest's, so when the ids differ the
    layers and the creation time decide."""
    if one.get("Id") == other.get("Id"):
        return True
    layers = (one.get("RootFS") or {}).get("Layers")
    return bool(layers) and (
        layers == (other.get("RootFS") or {}).get("Layers")
        and one.get("Created") == other.get("Created")
    )


def preload_missing(image: str, source: str, outer: DockerHost | None, exc: Exception) -> str:
    where = outer.shown_url if outer is not None else "the outer daemon"
    if is_not_found(exc):
        return say_.preload_missing(image, source, where)
    return say_.preload_unreadable(image, source, where, api_text(exc))
