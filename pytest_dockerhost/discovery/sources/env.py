"""``DOCKER_HOST`` with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``, as the CLI reads them."""

from __future__ import annotations

from .base import Candidate, SourceContext, url_candidate


def docker_host_env(ctx: SourceContext) -> list[Candidate]:
    s = ctx.settings
    if not s.host.from_variable("DOCKER_HOST") or s.host.value is None:
        return []
    return [
        url_candidate(
            "DOCKER_HOST",
            s.host.value,
            ctx=ctx,
            pinned_by="DOCKER_HOST",
            tls_verify=s.tls_verify.value,
            tls_verify_source=s.tls_verify.source,
            cert_path=s.cert_path.value,
            cert_path_source=s.cert_path.source,
        )
    ]
