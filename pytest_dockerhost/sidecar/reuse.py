"""Kept sidecars (``--docker-sidecar-reuse``): their key, their certificates, reattaching."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from ..errors import SidecarError
from ..messages import sidecar as say_
from ..probe import probe
from ..transport import Failure
from ..url import parse_url
from .base import Started
from .janitor import L_CONFIG, L_CREATED, L_REUSE_KEY, remove_container, remove_labelled
from .payload import network_name
from .reach import Reach


def reuse_key(image: str, host: str) -> str:
    """Kept sidecars of one user, machine and image: a newer config replaces an older one."""
    data = f"{image}\0{os.getuid()}\0{host}"
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def reuse_cert_dir(config_hash: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pytest-dockerhost", "sidecars", config_hash[:16])


class Reuse(Reach):
    """Finds a kept sidecar of the same configuration and attaches to it, or removes it."""

    def _reuse_key(self) -> str:
        return reuse_key(self.spec.image, self.owner.host)

    def _reattach(self, config: str, t0: float) -> Started | None:
        """A kept sidecar with the same config that still answers, or None (stale ones go)."""
        api = self.client.api
        kept = api.containers(all=True, filters={"label": f"{L_REUSE_KEY}={self._reuse_key()}"})
        found: Started | None = None
        for entry in kept:
            labels = entry.get("Labels") or {}
            if found is None and labels.get(L_CONFIG) == config and entry.get("State") == "running":
                found = self._try_reattach(entry, t0)
                if found is not None:
                    continue
            self.say(say_.replacing_kept(entry["Names"][0].lstrip("/")))
            remove_container(api, entry["Id"])
            remove_labelled(self.client, entry.get("Labels") or {})
        return found

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
