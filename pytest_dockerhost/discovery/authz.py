"""A request the engine's authorization plugin refused, told from the error users' code got.

Docker answers 403 ``authorization denied by plugin NAME: MSG`` to what its authorization
plugin refuses (Bitbucket Pipelines' ``pipelines`` plugin, a hardened host's policy). That
is no unreachable engine and no missing folder: the failing test is told which request was
refused, by which plugin, what it refused, and the fix (``messages.authz``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import final

from ..errors import exception_chain
from ..messages import authz as say_

# Docker's own words (moby pkg/authorization), then the plugin's message.
_DENIED = re.compile(r"authorization denied by plugin ([^\s:]+): ?(.*)", re.DOTALL)


@final
@dataclass(frozen=True)
class Denial:
    """What an authorization plugin refused."""

    plugin: str
    message: str
    method: str = ""  # the request's, when the error still holds it
    path: str = ""

    def explain(self) -> str:
        return say_.denied(self.method, self.path, self.plugin, self.message)


def denial(exc: BaseException | None) -> Denial | None:
    """The refusal ``exc`` (or an error in its chain) reports, if it reports one."""
    for link in exception_chain(exc):
        explanation = getattr(link, "explanation", None)
        found = _DENIED.search(str(explanation or link))
        if found is None:
            continue
        message = found.group(2).strip().removesuffix('")').strip()
        method, path = _request_of(link)
        return Denial(found.group(1), message, method, path)
    return None


# docker-py's APIError text: "403 Client Error for http://HOST/v1.41/PATH: Forbidden (...)".
_FOR_URL = re.compile(r"Client Error for \S+?://[^/\s]+(/[^\s?]*?)(?:\?\S*)?: ")


def denial_in_text(text: str) -> Denial | None:
    """The refusal a report's text tells (a collection error keeps no exception): the path
    from docker-py's error line when it is there; no method."""
    found = _DENIED.search(text)
    if found is None:
        return None
    message = found.group(2).strip().splitlines()[0].strip().removesuffix('")').strip()
    url = _FOR_URL.search(text)
    path = re.sub(r"^/v\d+\.\d+(?=/)", "", url.group(1)) if url else ""
    return Denial(found.group(1), message, "", path)


def _request_of(exc: BaseException) -> tuple[str, str]:
    """(method, path) of the request a docker-py APIError answered, without the API's
    version prefix: ("POST", "/containers/create")."""
    request = getattr(getattr(exc, "response", None), "request", None)
    method = str(getattr(request, "method", "") or "")
    path = str(getattr(request, "path_url", "") or "").partition("?")[0]
    return method, re.sub(r"^/v\d+\.\d+(?=/)", "", path)
