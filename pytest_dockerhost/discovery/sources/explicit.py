"""``--docker-host`` / ini ``docker_host`` and ``--docker-socket``: what the user named."""

from __future__ import annotations

from .base import Candidate, SourceContext, url_candidate


def explicit_options(ctx: SourceContext) -> list[Candidate]:
    s = ctx.settings
    found: list[Candidate] = []
    if s.socket.value is not None:
        path = s.socket.value
        raw = path if "://" in path else f"unix://{path}"
        found.append(_from_url(ctx, s.socket.source, raw))
    if s.host.value is not None and not s.host.from_variable("DOCKER_HOST"):
        found.append(_from_url(ctx, s.host.source, s.host.value))
    return found


def _from_url(ctx: SourceContext, source: str, raw: str) -> Candidate:
    s = ctx.settings
    return url_candidate(
        source,
        raw,
        ctx=ctx,
        pinned_by=source,
        tls_verify=s.tls_verify.value,
        tls_verify_source=s.tls_verify.source,
        cert_path=s.cert_path.value,
        cert_path_source=s.cert_path.source,
    )
