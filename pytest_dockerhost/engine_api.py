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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .transport import Failure, request

if TYPE_CHECKING:
    from .endpoint import DockerHost


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
    when imported: if they are not, none of their errors can have been raised."""
    found: list[type[Exception]] = [APIError, Failure, OSError]
    docker_errors = sys.modules.get("docker.errors")
    if docker_errors is not None:
        found.append(docker_errors.DockerException)
    requests_errors = sys.modules.get("requests.exceptions")
    if requests_errors is not None:
        found.append(requests_errors.RequestException)
    return tuple(found)


def _filters(filters: Mapping[str, Any] | None) -> str:
    # docker-py's convention: every value a list of strings.
    converted: dict[str, list[str]] = {}
    for key, value in (filters or {}).items():
        values = value if isinstance(value, list) else [value]
        converted[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return json.dumps(converted)


class EngineAPI:
    """A subset of ``docker.APIClient``, by the same names and return shapes."""

    def __init__(self, host: DockerHost, timeout: float, fallback: Callable[[], Any]) -> None:
        self._host = host
        self._url = host.parsed
        self._timeout = timeout
        self._fallback = fallback
        self._prefix = f"/v{host.api_version}"

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
                self._host.tls,
                target,
                timeout=self._timeout,
                method=method,
                body=body,
                content_type=content_type,
            )
        except Failure as failure:
            raise APIError(0, f"{self._host.url}: {failure.detail}") from None
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

    def containers(self, all: bool = False, filters: Mapping[str, Any] | None = None) -> Any:
        query = {"all": "1" if all else "0", "filters": _filters(filters)}
        return self._call("GET", "/containers/json", query=query) or []

    def networks(
        self, names: list[str] | None = None, filters: Mapping[str, Any] | None = None
    ) -> Any:
        wanted = dict(filters or {})
        if names:
            wanted["name"] = names
        return self._call("GET", "/networks", query={"filters": _filters(wanted)}) or []

    def volumes(self, filters: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", "/volumes", query={"filters": _filters(filters)}) or {}

    def inspect_image(self, image: str) -> Any:
        return self._call("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json")

    def inspect_container(self, container: str) -> Any:
        return self._call("GET", f"/containers/{urllib.parse.quote(container)}/json")

    def info(self) -> Any:
        return self._call("GET", "/info")

    def create_volume(self, name: str, labels: Mapping[str, str] | None = None) -> Any:
        body = json.dumps({"Name": name, "Labels": dict(labels or {})}).encode()
        return self._call("POST", "/volumes/create", body=body, content_type="application/json")

    def create_container_from(self, config: Mapping[str, Any], name: str) -> Any:
        """POST /containers/create with an Engine API body (not docker-py's keywords)."""
        body = json.dumps(config).encode()
        return self._call(
            "POST",
            "/containers/create",
            query={"name": name},
            body=body,
            content_type="application/json",
        )

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback().api, name)


class EngineClient:
    """``.api`` is an ``EngineAPI``; anything else goes to docker-py, imported on first use."""

    def __init__(self, host: DockerHost, timeout: float) -> None:
        self._host = host
        self._timeout = timeout
        self._real: Any = None
        self.api = EngineAPI(host, timeout, self.real)

    def real(self) -> Any:
        if self._real is None:
            self._real = self._host.client(timeout=self._timeout)
        return self._real

    def close(self) -> None:
        if self._real is not None:
            self._real.close()
            self._real = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)
