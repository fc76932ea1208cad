"""Is the sidecar's daemon up? Poll it, or say why not, with its own log lines."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import time

from ..engine.probe import EngineInfo, wait_for
from ..engine.transport import Failure, FailureKind
from ..engine.url import TLSConfig, parse_url
from ..errors import SidecarError
from ..messages import sidecar as say_
from . import certs
from .base import SidecarBase
from .payload import CERTDIR

POLL = 0.02  # seconds between probes of a starting sidecar
CHECK_EVERY = 0.2  # seconds between looks at whether its container still runs


class Readiness(SidecarBase):
    def _fetch_client_certs(self, t0: float) -> None:
        """Without cryptography: wait for the image's entrypoint to write /certs/client, then
        copy it out with get_archive (never a bind mount, which breaks under DooD)."""
        deadline = t0 + self.spec.timeout
        wanted = {"ca.pem", "cert.pem", "key.pem"}
        while True:
            found: dict[str, bytes] = {}
            with contextlib.suppress(Exception):
                stream, _ = self.client.api.get_archive(self.container_id, f"{CERTDIR}/client")
                with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                    for member in tar.getmembers():
                        base = os.path.basename(member.name)
                        handle = tar.extractfile(member) if member.isfile() else None
                        if base in wanted and handle is not None:
                            found[base] = handle.read()
            if set(found) == wanted:
                certs.write_client(
                    self.cert_dir, found["ca.pem"], found["cert.pem"], found["key.pem"]
                )
                return
            self._check_running()
            if time.monotonic() > deadline:
                raise SidecarError(
                    say_.certificates_late(
                        CERTDIR, self.spec.timeout, self.spec.timeout_source, self._logs()
                    )
                )
            time.sleep(0.1)

    def _wait_ready(self, url: str, tls: TLSConfig, t0: float) -> EngineInfo:
        deadline = t0 + self.spec.timeout
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
                    self._fetch_client_certs(t0)
                    continue
                now = time.monotonic()
                if now - checked >= CHECK_EVERY:
                    checked = now
                    self._check_running()
                # docker-proxy accepts on the published port before dockerd listens, then hangs
                # up: during start-up that looks like a refused client certificate.
                if not failure.retryable and failure.kind not in (
                    FailureKind.TLS_EOF,
                    FailureKind.TLS_RESET,
                ):
                    raise SidecarError(say_.not_usable(url, failure.detail, self._logs())) from None
                if not failure.retryable:
                    # Those hang-ups come back at once: pace them as wait_for paces the rest,
                    # or the loop keeps a core busy that the starting daemon needs.
                    time.sleep(POLL)
                if time.monotonic() >= deadline:
                    raise SidecarError(
                        say_.not_ready(
                            self.spec.image,
                            self.spec.timeout,
                            self.spec.timeout_source,
                            failure.detail,
                            self._logs(),
                        )
                    ) from None

    def _check_running(self) -> None:
        self._stop_if_cancelled()
        assert self.container_id is not None
        state = self.client.api.inspect_container(self.container_id).get("State") or {}
        if not state.get("Running"):
            raise SidecarError(self._exited_message(state))
