"""Kept sidecars (``--docker-sidecar-reuse``): their key, their certificates, reattaching."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from ..cleanup.janitor import expired, reuse_cert_dir
from ..cleanup.lease import record_use
from ..engine.probe import probe
from ..engine.transport import Failure
from ..engine.url import parse_url
from ..errors import SidecarError
from ..labels import L_CONFIG, L_CREATED, L_REUSE_KEY
from ..messages import sidecar as say_
from .base import Started
from .payload import network_name
from .reach import Reach

# Seconds before its age at which a kept sidecar is no longer reattached to (clocks of
# this machine and the daemon's may differ a little).
EXPIRY_MARGIN = 300.0


def reuse_key(image: str) -> str:
    """Kept sidecars of one user and image, on any machine or container that shares the
    daemon: which one a run reattaches to is decided by its config and its certificates."""
    data = f"{image}\0{os.getuid()}"
    return hashlib.sha256(data.encode()).hexdigest()[:24]


class Reuse(Reach):
    """Finds a kept sidecar of the same configuration whose certificates are here, and
    attaches to it. Never removes one: kept sidecars age out in the sweep."""

    def _reuse_key(self) -> str:
        return reuse_key(self.spec.image)

    def _reattach(self, config: str, t0: float) -> Started | None:
        """A running kept sidecar with the same config that answers us, or None."""
        api = self.client.api
        flt = {"label": [f"{L_REUSE_KEY}={self._reuse_key()}", f"{L_CONFIG}={config}"]}
        # Not one near its age: the sweep (on another thread, or another run's) may take it.
        soon = time.time() + EXPIRY_MARGIN
        for entry in api.containers(filters=flt):  # running ones only
            if expired(entry, dict(entry.get("Labels") or {}), soon):
                continue
            name = str(entry["Names"][0]).lstrip("/")
            self.cert_dir = reuse_cert_dir(name)
            record_use(self.client, self.owner, name)  # before a sweep elsewhere could take it
            found = self._try_reattach(entry, t0)
            if found is not None:
                return found
        return None

    def _try_reattach(self, entry: dict[str, Any], t0: float) -> Started | None:
        name = entry["Names"][0].lstrip("/")
        self.container_id = str(entry["Id"])
        tls = self._client_tls("the kept sidecar's")
        if not all(p and os.path.exists(p) for p in (tls.ca_cert, tls.client_cert, tls.client_key)):
            self.container_id = None
            return None
        topology = self._topology()
        if topology == "network":
            self.network = network_name(name)
            self._connect_self()
        try:
            url, reach_host = self._address(name, topology)
            info = probe(parse_url(url), tls, timeout=2.0)
        except (Failure, SidecarError):
            self.container_id = None
            return None
        published, verified = self._published_host(reach_host)
        labels = entry.get("Labels") or {}
        notes = [say_.reattached(name, time.monotonic() - t0, labels.get(L_CREATED, "?"))]
        host = self._host(
            url, tls=tls, info=info, published=published, verified=verified, name=name, notes=notes
        )
        return Started(
            host=host,
            container_id=self.container_id,
            name=name,
            volume=None,
            network=self.network,
            reused=True,
            elapsed=time.monotonic() - t0,
            cert_dir=self.cert_dir,
            notes=tuple(notes),
        )
