"""Podman's own ways to name an engine: ``CONTAINER_HOST`` (with ``CONTAINER_SSHKEY``), and
the default of ``podman system connection``, often on another machine over ``ssh://``.

Podman 5 keeps connections in ``$XDG_CONFIG_HOME/containers/podman-connections.json``
(``Connection.Default`` and ``Connection.Connections.NAME.URI``/``Identity``); older ones
in ``containers.conf`` (``[engine] active_service``, ``[engine.service_destinations.NAME]``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from .base import Candidate, SourceContext, url_candidate


def container_host_env(ctx: SourceContext) -> list[Candidate]:
    raw = ctx.env.get("CONTAINER_HOST", "").strip()
    if not raw:
        return []
    found = _candidate("CONTAINER_HOST", raw, ctx, pinned_by="CONTAINER_HOST")
    return [_with_key(found, ctx.env.get("CONTAINER_SSHKEY", "").strip())]


def podman_connection(ctx: SourceContext) -> list[Candidate]:
    found = _connections_json(ctx) or _containers_conf(ctx)
    if found is None:
        return []
    name, uri, identity = found
    return [_with_key(_candidate(f"podman connection {name}", uri, ctx, pinned_by=None), identity)]


def _candidate(source: str, raw: str, ctx: SourceContext, *, pinned_by: str | None) -> Candidate:
    return url_candidate(
        source,
        raw,
        ctx=ctx,
        pinned_by=pinned_by,
        tls_verify=None,
        tls_verify_source="",
        cert_path=None,
        cert_path_source="",
    )


def _with_key(candidate: Candidate, identity: str) -> Candidate:
    if not identity or candidate.url is None or candidate.url.scheme != "ssh":
        return candidate
    return dataclasses.replace(candidate, ssh_identity=identity)


def _config_home(ctx: SourceContext) -> Path:
    configured = ctx.env.get("XDG_CONFIG_HOME", "").strip()
    return Path(configured) if configured else ctx.home / ".config"


def _connections_json(ctx: SourceContext) -> tuple[str, str, str] | None:
    try:
        path = _config_home(ctx) / "containers" / "podman-connections.json"
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        table = data["Connection"]
        name = str(table["Default"])
        entry = table["Connections"][name]
        return name, str(entry["URI"]), str(entry.get("Identity") or "")
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no connection: Podman's own tools say what is wrong with the file


def _containers_conf(ctx: SourceContext) -> tuple[str, str, str] | None:
    try:
        text = (_config_home(ctx) / "containers" / "containers.conf").read_text(encoding="utf-8")
    except OSError:
        return None
    active = re.search(r'^\s*active_service\s*=\s*"([^"]+)"', text, re.M)
    if active is None:
        return None
    name = active.group(1)
    section = re.search(
        rf"^\s*\[engine\.service_destinations\.{re.escape(name)}\]\s*$(.*?)(?=^\s*\[|\Z)",
        text,
        re.M | re.S,
    )
    if section is None:
        return None
    uri = re.search(r'^\s*uri\s*=\s*"([^"]+)"', section.group(1), re.M)
    identity = re.search(r'^\s*identity\s*=\s*"([^"]*)"', section.group(1), re.M)
    if uri is None:
        return None
    return name, uri.group(1), identity.group(1) if identity else ""
