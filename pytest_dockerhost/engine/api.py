"""The few Engine API calls on the sidecar's hot path, over the stdlib transport.

Starting a sidecar, or reattaching to a kept one, must not wait for ``import docker``
(about 0.2 s, more than the inner daemon needs to start). ``EngineClient`` looks like a
``docker.DockerClient`` to the sidecar code: ``client.api`` answers the calls below
itself and hands every other one to a real docker-py client, made on first use.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast, final

from .transport import Failure, request
from .url import DockerURL, TLSConfig

# The Engine API's answers: JSON objects, as docker-py's low-level client returns them.
JSON = dict[str, Any]


class EngineAPILike(Protocol):
    """What the janitor, the reaper and preloads call on ``client.api``: docker-py's
    ``APIClient`` and ``EngineAPI`` alike."""

    def containers(
        self, all: bool = ..., filters: Mapping[str, Any] | None = ...
    ) -> list[JSON]: ...
    def networks(
        self, names: list[str] | None = ..., filters: Mapping[str, Any] | None = ...
    ) -> list[JSON]: ...
    def volumes(self, filters: Mapping[str, Any] | None = ...) -> JSON: ...
    def images(self, filters: Mapping[str, Any] | None = ...) -> list[JSON]: ...
    def info(self) -> JSON: ...
    def inspect_container(self, container: str) -> JSON: ...
    def inspect_image(self, image: str) -> JSON: ...
    def inspect_network(self, net_id: str) -> JSON: ...
    def create_volume(self, name: str, labels: Mapping[str, str] | None = ...) -> JSON: ...
    def remove_container(self, container: str, force: bool = ..., v: bool = ...) -> None: ...
    def kill(self, container: str) -> None: ...
    def remove_network(self, net_id: str) -> None: ...
    def remove_volume(self, name: str, force: bool = ...) -> None: ...
    def remove_image(self, image: str, force: bool = ...) -> None: ...
    def disconnect_container_from_network(
        self, container: str, net_id: str, force: bool = ...
    ) -> None: ...
    def get_image(self, image: str, chunk_size: int = ...) -> Iterator[bytes]: ...
    def load_image(self, data: Iterable[bytes]) -> Iterator[JSON]: ...


class EngineClientLike(Protocol):
    """A docker-py ``DockerClient``, or ``EngineClient``: what has an ``api``."""

    @property
    def api(self) -> EngineAPILike: ...
    def close(self) -> None: ...


class APIError(Exception):
    """The engine answered with an error; ``explanation`` is its message."""

    def __init__(self, status: int, explanation: str) -> None:
        super().__init__(f"{status}: {explanation}")
        self.status_code = status
        self.explanation = explanation


class NotFound(APIError):
    """404: no such container, image, network or volume."""


def engine_errors() -> tuple[type[Exception], ...]:
    """What an Engine API call can raise here, as one family: our transport's errors and
    ``APIError``, OS errors, and docker-py's and requests' own. Those two are named only
    when imported (their classes defined): if not, none of their errors can have been
    raised."""
    found: list[type[Exception]] = [APIError, Failure, OSError]
    for module, name in (
        ("docker.errors", "DockerException"),
        ("requests.exceptions", "RequestException"),
    ):
        # Another thread may be importing it right now: a module not yet run to its class
        # has raised none of them.
        error = getattr(sys.modules.get(module), name, None)
        if error is not None:
            found.append(error)
    return tuple(found)


def _filters(filters: Mapping[str, Any] | None) -> str:
    # docker-py's convention: every value a list of strings.
    converted: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        values = value if isinstance(value, list) else [value]
        converted[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return json.dumps(converted)


@final
@dataclass(frozen=True)
class EngineAddress:
    """Where an engine answers, and in which API version we speak to it."""

    url: DockerURL
    tls: TLSConfig | None
    api_version: str


# A docker-py ``DockerClient`` for the same engine, made with a timeout: everything the
# stdlib client here does not answer itself (and every ssh:// call) goes to it.
DockerPy = Callable[[float], Any]


class EngineAPI:
    """A subset of ``docker.APIClient``, by the same names and return shapes."""

    def __init__(self, address: EngineAddress, timeout: float, fallback: Callable[[], Any]) -> None:
        self._address = address
        self._url = address.url
        self._timeout = timeout
        self._fallback = fallback
        self._prefix = f"/v{address.api_version}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        target = self._prefix + path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        try:
            reply = request(
                self._url,
                self._address.tls,
                target,
                timeout=self._timeout,
                method=method,
                body=body,
                content_type=content_type,
            )
        except Failure as failure:
            raise APIError(0, f"{self._url}: {failure.detail}") from None
        if reply.status >= 400:
            try:
                message = str(reply.json().get("message") or "")
            except (ValueError, AttributeError):
                message = reply.body.decode("utf-8", "replace").strip()
            error = NotFound if reply.status == 404 else APIError
            raise error(reply.status, message or f"HTTP {reply.status}")
        if not reply.body:
            return None
        try:
            return reply.json()
        except ValueError:
            return reply.body

    def containers(self, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        query = {"all": "1" if all else "0", "filters": _filters(filters)}
        return cast("list[JSON]", self._call("GET", "/containers/json", query=query) or [])

    def networks(
        self, names: list[str] | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[JSON]:
        wanted = dict(filters or {})
        if names:
            wanted["name"] = names
        found = self._call("GET", "/networks", query={"filters": _filters(wanted)})
        return cast("list[JSON]", found or [])

    def volumes(self, filters: Mapping[str, Any] | None = None) -> JSON:
        return cast(JSON, self._call("GET", "/volumes", query={"filters": _filters(filters)}) or {})

    def images(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        found = self._call("GET", "/images/json", query={"filters": _filters(filters)})
        return cast("list[JSON]", found or [])

    def info(self) -> JSON:
        return dict(self._call("GET", "/info") or {})

    def inspect_image(self, image: str) -> JSON:
        return cast(
            JSON, self._call("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json")
        )

    def inspect_container(self, container: str) -> JSON:
        return cast(JSON, self._call("GET", f"/containers/{urllib.parse.quote(container)}/json"))

    def create_volume(self, name: str, labels: Mapping[str, str] | None = None) -> JSON:
        body = json.dumps({"Name": name, "Labels": dict(labels or {})}).encode()
        made = self._call("POST", "/volumes/create", body=body, content_type="application/json")
        return cast(JSON, made)

    def create_container_from(self, config: Mapping[str, Any], name: str) -> JSON:
        """POST /containers/create with an Engine API body (not docker-py's keywords)."""
        body = json.dumps(config).encode()
        made = self._call(
            "POST",
            "/containers/create",
            query={"name": name},
            body=body,
            content_type="application/json",
        )
        return cast(JSON, made)

    def put_archive(self, container: str, path: str, data: bytes) -> bool:
        self._call(
            "PUT",
            f"/containers/{urllib.parse.quote(container)}/archive",
            query={"path": path},
            body=data,
            content_type="application/x-tar",
        )
        return True

    def start(self, container: str) -> None:
        self._call("POST", f"/containers/{urllib.parse.quote(container)}/start")

    def inspect_network(self, net_id: str) -> JSON:
        return cast(JSON, self._call("GET", f"/networks/{urllib.parse.quote(net_id)}"))

    def remove_container(self, container: str, force: bool = False, v: bool = False) -> None:
        query = {"force": "1" if force else "0", "v": "1" if v else "0"}
        self._call("DELETE", f"/containers/{urllib.parse.quote(container)}", query=query)

    def kill(self, container: str) -> None:
        self._call("POST", f"/containers/{urllib.parse.quote(container)}/kill")

    def remove_network(self, net_id: str) -> None:
        self._call("DELETE", f"/networks/{urllib.parse.quote(net_id)}")

    def remove_volume(self, name: str, force: bool = False) -> None:
        query = {"force": "1" if force else "0"}
        self._call("DELETE", f"/volumes/{urllib.parse.quote(name)}", query=query)

    def remove_image(self, image: str, force: bool = False) -> None:
        query = {"force": "1" if force else "0"}
        self._call("DELETE", f"/images/{urllib.parse.quote(image, safe='/:@')}", query=query)

    # The rest of what the janitor and preloads use: docker-py's own calls.
    def disconnect_container_from_network(
        self, container: str, net_id: str, force: bool = False
    ) -> None:
        self._fallback().api.disconnect_container_from_network(container, net_id, force=force)

    def get_image(self, image: str, chunk_size: int = 2097152) -> Iterator[bytes]:
        return iter(self._fallback().api.get_image(image, chunk_size=chunk_size))

    def get_image_for(
        self, image: str, platform: str, chunk_size: int = 2097152
    ) -> Iterator[bytes]:
        """``docker save`` of one platform of ``image`` (API 1.48+), as a stream."""
        real = self._fallback().api
        # docker-py speaks an older API than 1.48 and has no platform argument: its
        # session, at the engine's API version.
        path = urllib.parse.quote(image, safe="/:")
        url = f"{real.base_url}/v{self._address.api_version}/images/{path}/get"
        reply = real._get(url, params={"platform": platform}, stream=True)
        real._raise_for_status(reply)
        return iter(real._stream_raw_result(reply, chunk_size, False))

    def load_image(self, data: Iterable[bytes]) -> Iterator[JSON]:
        return iter(self._fallback().api.load_image(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback().api, name)


class EngineClient:
    """``.api`` is an ``EngineAPI``; anything else goes to docker-py, imported on first use."""

    def __init__(self, address: EngineAddress, timeout: float, docker_py: DockerPy) -> None:
        self._docker_py = docker_py
        self._timeout = timeout
        self._real: Any = None
        self.api = EngineAPI(address, timeout, self.real)

    def real(self) -> Any:
        if self._real is None:
            self._real = self._docker_py(self._timeout)
        return self._real

    def close(self) -> None:
        if self._real is not None:
            self._real.close()
            self._real = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


def open_client(address: EngineAddress, timeout: float, docker_py: DockerPy) -> EngineClientLike:
    """A client for the few calls above without importing docker-py (ssh:// needs it)."""
    if address.url.scheme == "ssh":
        client: EngineClientLike = docker_py(timeout)
        return client
    return EngineClient(address, timeout, docker_py)
