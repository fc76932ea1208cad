"""Is the sidecar's daemon up? Poll it, or say why not, with its own log lines.

Each function takes the container it watches (``ContainerWatch``) and the deadline of the
start, and returns what it found or raises ``SidecarError`` with the container's last log
lines: it keeps no state between calls."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from ..engine.api import engine_errors
from ..engine.probe import EngineInfo, wait_for
from ..engine.transport import Failure, FailureKind
from ..engine.url import TLSConfig, parse_url
from ..errors import SidecarError
from ..messages import sidecar as say_
from . import certs
from .payload import CERTDIR
from .spec import Spec

if TYPE_CHECKING:
    from ..engine.api import EngineClient

POLL = 0.02  # seconds between probes of a starting sidecar
CHECK_EVERY = 0.2  # seconds between looks at whether its container still runs
LOG_LINES = 20


def raise_if_cancelled(cancelled: threading.Event | None) -> None:
    """Set: the run no longer needs the sidecar (an early start nobody waits for)."""
    if cancelled is not None and cancelled.is_set():
        raise SidecarError(say_.CANCELLED)


@final
@dataclass(frozen=True)
class ContainerWatch:
    """The sidecar's container as its start sees it: does it still run, what did it say."""

    client: EngineClient
    container_id: str
    spec: Spec
    cancelled: threading.Event | None = None

    def check_running(self) -> None:
        raise_if_cancelled(self.cancelled)
        state = self.client.api.inspect_container(self.container_id).get("State") or {}
        if not state.get("Running"):
            raise SidecarError(self.exited(state))

    def exited(self, state: dict[str, Any]) -> str:
        """Why it stopped, from its inspected ``State``, with its last log lines."""
        error = f" ({state['Error']})" if state.get("Error") else ""
        return say_.exited(
            self.spec.image,
            self.spec.image_source,
            status=str(state.get("Status", "exited")),
            code=str(state.get("ExitCode", "?")),
            error=error,
            logs=self.logs(),
        )

    def logs(self) -> str:
        try:
            raw = self.client.api.logs(self.container_id, tail=LOG_LINES)
        except engine_errors():
            return ""
        text = raw.decode("utf-8", "replace").rstrip() if isinstance(raw, bytes) else str(raw)
        if not text:
            return say_.NO_LOG_LINES
        lines = "\n".join("    " + line for line in text.splitlines()[-LOG_LINES:])
        return say_.log_lines(LOG_LINES, lines)


def fetch_client_certs(watch: ContainerWatch, cert_dir: str, deadline: float) -> None:
    """Without cryptography: wait for the image's entrypoint to write /certs/client, then
    copy it into ``cert_dir`` with get_archive (never a bind mount, which breaks under DooD)."""
    spec = watch.spec
    wanted = {"ca.pem", "cert.pem", "key.pem"}
    while True:
        found: dict[str, bytes] = {}
        with contextlib.suppress(Exception):
            stream, _ = watch.client.api.get_archive(watch.container_id, f"{CERTDIR}/client")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                for member in tar.getmembers():
                    base = os.path.basename(member.name)
                    handle = tar.extractfile(member) if member.isfile() else None
                    if base in wanted and handle is not None:
                        found[base] = handle.read()
        if set(found) == wanted:
            certs.write_client(cert_dir, found["ca.pem"], found["cert.pem"], found["key.pem"])
            return
        watch.check_running()
        if time.monotonic() > deadline:
            raise SidecarError(
                say_.certificates_late(CERTDIR, spec.timeout, spec.timeout_source, watch.logs())
            )
        time.sleep(0.1)


def wait_ready(
    watch: ContainerWatch, url: str, tls: TLSConfig, cert_dir: str, deadline: float
) -> EngineInfo:
    """The daemon's answer at ``url`` once it is ready; ``tls`` names files in ``cert_dir``,
    refetched once when the image made certificates of its own."""
    spec = watch.spec
    parsed = parse_url(url)
    refetched = False
    checked = 0.0
    while True:
        try:
            # A sidecar answers about 0.5 s after start: poll every 20 ms rather than
            # back off, or the last sleep alone can cost a fifth of that.
            return wait_for(
                parsed,
                tls,
                deadline=min(deadline, time.monotonic() + 0.5),
                timeout=1.0,
                max_delay=POLL,
            )
        except Failure as failure:
            if failure.kind is FailureKind.TLS_VERIFY and not refetched:
                # An image that makes its own certificates despite ours: use its client ones.
                refetched = True
                fetch_client_certs(watch, cert_dir, deadline)
                continue
            now = time.monotonic()
            if now - checked >= CHECK_EVERY:
                checked = now
                watch.check_running()
            # docker-proxy accepts on the published port before dockerd listens, then hangs
            # up: during start-up that looks like a refused client certificate.
            if not failure.retryable and failure.kind not in (
                FailureKind.TLS_EOF,
                FailureKind.TLS_RESET,
            ):
                raise SidecarError(say_.not_usable(url, failure.detail, watch.logs())) from None
            if not failure.retryable:
                # Those hang-ups come back at once: pace them as wait_for paces the rest,
                # or the loop keeps a core busy that the starting daemon needs.
                time.sleep(POLL)
            if time.monotonic() >= deadline:
                raise SidecarError(
                    say_.not_ready(
                        spec.image, spec.timeout, spec.timeout_source, failure.detail, watch.logs()
                    )
                ) from None
