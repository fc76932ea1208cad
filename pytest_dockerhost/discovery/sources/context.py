"""``DOCKER_CONTEXT`` or ``currentContext`` in ``$DOCKER_CONFIG/config.json``, with its TLS files.

Contexts live in ``contexts/meta/<sha256(name)>/meta.json`` (``Endpoints.docker.Host``,
``SkipTLSVerify``) and ``contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ...engine.url import TLSConfig, URLError, parse_url
from ...messages import sources as say_
from .base import Candidate, SourceContext


def config_dir(ctx: SourceContext) -> Path:
    configured = ctx.env.get("DOCKER_CONFIG", "").strip()
    return Path(configured) if configured else ctx.home / ".docker"


def docker_context(ctx: SourceContext) -> list[Candidate]:
    folder = config_dir(ctx)
    named = ctx.env.get("DOCKER_CONTEXT", "").strip()
    if named:
        name, source, pinned_by = named, f"DOCKER_CONTEXT={named}", "DOCKER_CONTEXT"
    else:
        config_file = folder / "config.json"
        try:
            text = config_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            what, fix = say_.unreadable_config(ctx.show(config_file), exc.strerror or exc)
            return [Candidate.broken(ctx.show(config_file), "", what, fix, pinned_by=None)]
        try:
            config: Any = json.loads(text) if text.strip() else {}
            if not isinstance(config, dict):
                raise ValueError(say_.NOT_AN_OBJECT)
        except ValueError as exc:
            what, fix = say_.config_not_json(ctx.show(config_file), exc)
            return [Candidate.broken(ctx.show(config_file), "", what, fix, pinned_by=None)]
        name = str(config.get("currentContext") or "").strip()
        source, pinned_by = say_.current_context(name, ctx.show(config_file)), None
    if not name or name == "default":
        return []
    return [_context_candidate(ctx, folder, name, source, pinned_by)]


def _context_candidate(
    ctx: SourceContext, folder: Path, name: str, source: str, pinned_by: str | None
) -> Candidate:
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_file = folder / "contexts" / "meta" / digest / "meta.json"
    try:
        meta: Any = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        what, fix = say_.context_missing(name, ctx.show(meta_file), pinned=pinned_by is not None)
        return Candidate.broken(source, "", what, fix, pinned_by=pinned_by)
    except (OSError, ValueError) as exc:
        what, fix = say_.context_unreadable(name, exc)
        return Candidate.broken(source, "", what, fix, pinned_by=pinned_by)
    try:
        endpoint = meta["Endpoints"]["docker"]
        host = str(endpoint["Host"])
        skip_verify = bool(endpoint.get("SkipTLSVerify", False))
    except (KeyError, TypeError):
        what, fix = say_.context_no_endpoint(name)
        return Candidate.broken(source, "", what, fix, pinned_by=pinned_by)
    tls_dir = folder / "contexts" / "tls" / digest / "docker"
    tls: TLSConfig | None = None
    notes: tuple[str, ...] = ()
    if tls_dir.is_dir():
        ca = tls_dir / "ca.pem"
        tls = TLSConfig(
            verify=not skip_verify,
            ca_cert=str(ca) if ca.exists() or not skip_verify else None,
            client_cert=_if_exists(tls_dir / "cert.pem"),
            client_key=_if_exists(tls_dir / "key.pem"),
            source=f"context {name}",
        )
        notes = (say_.context_tls(ctx.show(tls_dir)),)
    try:
        url = parse_url(host, tls=tls is not None)
    except URLError as exc:
        what, fix = say_.context_bad_host(name, host, exc, exc.fix)
        return Candidate.broken(source, host, what, fix, pinned_by=pinned_by)
    if not url.is_tcp:
        tls = None
    return Candidate(source=source, url=url, tls=tls, pinned_by=pinned_by, raw=host, notes=notes)


def _if_exists(path: Path) -> str | None:
    return str(path) if os.path.exists(path) else None
