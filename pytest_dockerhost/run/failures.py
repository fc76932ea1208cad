"""Why a test failed, as far as Docker is concerned: the engine could not be reached (and
whether the endpoint is lost for good), or its authorization plugin refused a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..errors import DockerHostError, EndpointLostError
from . import tunnels

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost


class Run(Protocol):
    """What a diagnosis reads of the run's lifecycle (run/lifecycle.py calls this module)."""

    @property
    def host(self) -> DockerHost | None: ...
    @property
    def outer(self) -> DockerHost | None: ...
    @property
    def error(self) -> DockerHostError | None: ...
    @property
    def lost(self) -> EndpointLostError | None: ...
    def mark_lost(self, lost: EndpointLostError) -> None: ...


def explain_failure(state: Run, exc: BaseException) -> DockerHostError | None:
    """The plugin's diagnosis when ``exc`` failed because Docker could not be reached (an
    ``EndpointLostError`` when the endpoint was lost), or because the engine's
    authorization plugin refused a request; None for any other failure."""
    from ..discovery import authz, health
    from ..errors import AuthorizationDeniedError

    refused = authz.denial(exc)
    if refused is not None:
        return AuthorizationDeniedError(refused.explain())
    if not health.unreachable(exc):
        return None
    if state.lost is not None:
        return state.lost
    if state.host is None:
        return state.error
    return check_lost(state, exc)


def check_lost(state: Run, exc: BaseException | None) -> EndpointLostError | None:
    """After a Docker test failed: if the endpoint is gone, say so (once) and why."""
    if state.lost is not None or state.host is None:
        return state.lost
    from ..discovery import health

    if not health.looks_like_lost_connection(exc):
        return None
    message = tunnels.lost(state.host, state.outer) or health.endpoint_gone(state.host)
    if message:
        state.mark_lost(EndpointLostError(message + health.sidecar_post_mortem(state.host)))
    return state.lost
