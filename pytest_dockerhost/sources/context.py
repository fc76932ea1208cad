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

from ..url import TLSConfig, URLError, parse_url
from .base import Candidate, SourceContext


def config_dir(ctx: SourceContext) -> Path:
    configured = ctx.env.get("DOCKER_CONFIG", "").strip()
    return Path(configured) if configured else ctx.home / ".docker"


def docker_context(ctx: SourceContext) -> list[Candidate]:
    folder = config_dir(ctx)
    named = ctx.env.get("DOCKER_CONTEXT", "").strip()
    if named:
        name, source, pinned = named, f"DOCKER_CONTEXT={named}", True
    else:
        config_file = folder / "config.json"
        try:
            text = config_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            return [
                Candidate.broken(
                    ctx.show(config_file),
                    "",
                    f"{ctx.show(config_file)} cannot be read: {exc.strerror or exc}",
                    "make it readable, or set DOCKER_CONFIG to another folder",
                    pinned=False,
                )
            ]
        try:
            config: Any = json.loads(text) if text.strip() else {}
            if not isinstance(config, dict):
                raise ValueError("the top level is not a JSON object")
        except ValueError as exc:
            return [
                Candidate.broken(
                    ctx.show(config_file),
                    "",
                    f"{ctx.show(config_file)} is not valid JSON ({exc})",
                    f"repair or remove {ctx.show(config_file)}; docker login rewrites it",
                    pinned=False,
                )
            ]
        name = str(config.get("currentContext") or "").strip()
        source, pinned = f"context {name} (currentContext in {ctx.show(config_file)})", False
    if not name or name == "default":
        return []
    return [_context_candidate(ctx, folder, name, source, pinned)]


def _context_candidate(
    ctx: SourceContext, folder: Path, name: str, source: str, pinned: bool
) -> Candidate:
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_file = folder / "contexts" / "meta" / digest / "meta.json"
    fix_missing = "run `docker context ls` to see the contexts that exist; " + (
        "unset DOCKER_CONTEXT" if pinned else "run `docker context use default`"
    )
    try:
        meta: Any = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Candidate.broken(
            source,
            "",
            f"the docker context {name!r} does not exist (no {ctx.show(meta_file)})",
            fix_missing,
            pinned=pinned,
        )
    except (OSError, ValueError) as exc:
        return Candidate.broken(
            source,
            "",
            f"the docker context {name!r} has an unreadable meta.json ({exc})",
            f"recreate it with `docker context rm {name}` and `docker context create {name} ...`",
            pinned=pinned,
        )
    try:
        endpoint = meta["Endpoints"]["docker"]
        host = str(endpoint["Host"])
        skip_verify = bool(endpoint.get("SkipTLSVerify", False))
    except (KeyError, TypeError):
        return Candidate.broken(
            source,
            "",
            f"the docker context {name!r} has no docker endpoint in its meta.json",
            f"recreate it: docker context create {name} --docker host=...",
            pinned=pinned,
        )
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
        notes = (f"TLS material from the context's {ctx.show(tls_dir)}",)
    try:
        url = parse_url(host, tls=tls is not None)
    except URLError as exc:
        return Candidate.broken(
            source,
            host,
            f"the docker context {name!r} has a bad host {host!r}: {exc}",
            f"{exc.fix}: docker context update {name} --docker host=...",
            pinned=pinned,
        )
    if not url.is_tcp:
        tls = None
    return Candidate(source=source, url=url, tls=tls, pinned=pinned, raw=host, notes=notes)


def _if_exists(path: Path) -> str | None:
    return str(path) if os.path.exists(path) else None
