"""What every source produces and what it may look at."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import final

from ...config.settings import Settings
from ...engine.url import DockerURL, TLSConfig, URLError, parse_url
from ...messages import sources as say_

DIND_CERT_DIR = "/certs/client"


@final
@dataclass(frozen=True)
class SourceContext:
    """Everything sources read, in one place, so tests can point it at a fake home."""

    settings: Settings
    env: Mapping[str, str]
    home: Path
    uid: int
    dind_cert_dir: str = DIND_CERT_DIR
    system_sockets: tuple[str, ...] = ("/var/run/docker.sock",)
    podman_system_socket: str = "/run/podman/podman.sock"
    platform: str = sys.platform  # Windows' engines listen on named pipes, not sockets

    @classmethod
    def current(cls, settings: Settings, env: Mapping[str, str] | None = None) -> SourceContext:
        env = os.environ if env is None else env
        home = Path(env.get("HOME") or os.path.expanduser("~"))
        if sys.platform == "win32":
            uid = -1  # Windows has no uids; the rootless sockets are not looked for there
        else:
            uid = os.getuid()
        return cls(settings=settings, env=env, home=home, uid=uid)

    def show(self, path: str | Path) -> str:
        """A path as users think of it: under ~ when it is in the home folder."""
        text = str(path)
        home = str(self.home).rstrip("/")
        if home and text.startswith(home + "/"):
            return "~" + text[len(home) :]
        return text


@final
@dataclass(frozen=True)
class Candidate:
    """An endpoint to try, or a source's complaint about its own input."""

    source: str
    url: DockerURL | None
    tls: TLSConfig | None = None
    # The setting that configured it, as a hint names it ("remove DOCKER_HOST"); None for
    # a discovered one. A configured candidate is used alone, never silently replaced.
    pinned_by: str | None = None
    raw: str = ""
    error: str = ""
    fix: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    ssh_identity: str = ""  # ssh://: the key its source names (Podman's CONTAINER_SSHKEY)

    @property
    def pinned(self) -> bool:
        return self.pinned_by is not None

    @property
    def shown_url(self) -> str:
        return str(self.url) if self.url is not None else self.raw

    @classmethod
    def broken(
        cls, source: str, raw: str, error: str, fix: str, *, pinned_by: str | None
    ) -> Candidate:
        return cls(
            source=source,
            url=None,
            raw=_clip(raw, 100) if raw else "",
            error=error,
            fix=fix,
            pinned_by=pinned_by,
        )


def url_candidate(
    source: str,
    raw: str,
    *,
    ctx: SourceContext,
    pinned_by: str | None,
    tls_verify: bool | None,
    tls_verify_source: str,
    cert_path: str | None,
    cert_path_source: str,
) -> Candidate:
    """A candidate from a DOCKER_HOST-style URL, with TLS settled the docker CLI's way."""
    tls_on = bool(tls_verify) or bool(cert_path) or bool(ctx.env.get("DOCKER_TLS", "").strip())
    try:
        url = parse_url(raw, tls=tls_on)
    except URLError as exc:
        what, fix = say_.bad_url(source, _clip(raw), str(exc), exc.fix)
        return Candidate.broken(source, raw, what, fix, pinned_by=pinned_by)
    if not url.is_tcp:
        return Candidate(source=source, url=url, pinned_by=pinned_by, raw=raw)
    tls, notes = tls_for_tcp(
        url,
        ctx,
        tls_on=tls_on,
        verify=bool(tls_verify),
        verify_source=tls_verify_source,
        cert_path=cert_path,
        cert_path_source=cert_path_source,
    )
    return Candidate(source=source, url=url, tls=tls, pinned_by=pinned_by, raw=raw, notes=notes)


def tls_for_tcp(
    url: DockerURL,
    ctx: SourceContext,
    *,
    tls_on: bool,
    verify: bool,
    verify_source: str,
    cert_path: str | None,
    cert_path_source: str,
) -> tuple[TLSConfig | None, tuple[str, ...]]:
    """Client TLS for a TCP endpoint, or None for plain TCP."""
    found = _has_cert_files(ctx.dind_cert_dir)
    if not tls_on:
        if url.port == 2376 and found:
            # The docker:dind / GitLab convention: a shared certs volume at /certs.
            note = say_.dind_certs_found(ctx.dind_cert_dir)
            return _tls_in(ctx.dind_cert_dir, True, note), (note,)
        if url.port == 2376 and os.path.isdir(ctx.dind_cert_dir):
            # The volume is there but dind has not written into it yet: a job that starts
            # before its service. Plain HTTP would only meet "Client sent an HTTP request".
            note = say_.dind_certs_pending(ctx.dind_cert_dir)
            tls = dataclasses.replace(_tls_in(ctx.dind_cert_dir, True, note), pending=True)
            return tls, (note,)
        return None, ()
    if cert_path:
        folder, where = cert_path, f"{cert_path_source}={cert_path}"
    elif _has_cert_files(str(ctx.home / ".docker")):
        folder, where = (
            str(ctx.home / ".docker"),
            say_.certs_default(ctx.show(ctx.home / ".docker")),
        )
    elif found:
        folder, where = ctx.dind_cert_dir, say_.certs_found(ctx.dind_cert_dir)
    else:
        folder = str(ctx.home / ".docker")
        where = say_.certs_implied(ctx.show(folder))
    notes: list[str] = []
    if verify:
        notes.append(say_.tls_verified(where, verify_source))
    else:
        notes.append(say_.tls_unverified(where))
    return _tls_in(folder, verify, where), tuple(notes)


def _tls_in(folder: str, verify: bool, source: str) -> TLSConfig:
    ca = os.path.join(folder, "ca.pem")
    return TLSConfig(
        verify=verify,
        ca_cert=ca if verify or os.path.exists(ca) else None,
        client_cert=os.path.join(folder, "cert.pem"),
        client_key=os.path.join(folder, "key.pem"),
        source=source,
    )


def _has_cert_files(folder: str) -> bool:
    return all(
        os.path.isfile(os.path.join(folder, name)) for name in ("ca.pem", "cert.pem", "key.pem")
    )


def _clip(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(shown) if not shown.isprintable() or " " in shown or not shown else shown
