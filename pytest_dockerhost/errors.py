"""Errors the plugin raises. Their messages are complete and meant for users."""

from __future__ import annotations

from collections.abc import Iterator


class DockerHostError(Exception):
    """Base class: something about Docker is not usable, and the message says how to fix it."""


class SettingError(DockerHostError):
    """A setting has a bad value. ``source`` names where it came from."""

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class NoEndpointError(DockerHostError):
    """No candidate endpoint answered. The message holds the whole trace."""


class BindMountError(DockerHostError):
    """A path here cannot be bind-mounted, because the daemon cannot see it."""


class EndpointLostError(DockerHostError):
    """The endpoint answered at session start and stopped answering later."""


class AuthorizationDeniedError(DockerHostError):
    """The engine's authorization plugin refused a request: which, what, and the fix."""


class SidecarError(DockerHostError):
    """The sidecar could not be started, reached or kept alive."""


class DockerHostWarning(UserWarning):
    """Something will likely go wrong with Docker in a test; the message says how to fix it."""


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc``, then what caused it, and so on (each once)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
