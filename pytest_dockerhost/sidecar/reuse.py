"""Kept sidecars (``--docker-sidecar-reuse``): their key, their certificates, reattaching."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from ..cleanup.janitor import Owner, expired, reuse_cert_dir
from ..cleanup.lease import record_use
from ..discovery.endpoint import DockerHost
from ..engine.probe import probe
from ..engine.transport import Failure
from ..engine.url import parse_url
from ..errors import SidecarError
from ..labels import L_CONFIG, L_CREATED, L_REUSE_KEY
from ..messages import sidecar as say_
from .certs import client_tls
from .payload import network_name
from .reach import choose_topology, join_network, locate, prove
from .readiness import ContainerWatch
from .spec import Spec
from .started import Started, sidecar_host

if TYPE_CHECKING:
    from ..engine.api import EngineClient

# Seconds before its age at which a kept sidecar is no longer reattached to (clocks of
# this machine and the daemon's may differ a little).
EXPIRY_MARGIN = 300.0


def reuse_key(image: str) -> str:
    """Kept sidecars of one user and image, on any machine or container that shares the
    daemon: which one a run reattaches to is decided by its config and its certificates."""
    if sys.platform == "win32":
        import getpass

        user = getpass.getuser()  # no uids there
    else:
        user = str(os.getuid())
    data = f"{image}\0{user}"
    return hashlib.sha256(data.encode()).hexdigest()[:24]


@final
@dataclass(frozen=True)
class Reattached:
    """A kept sidecar this run now uses, and whether our container joined its network."""

    started: Started
    joined: bool


@final
class KeptSidecars:
    """Finds a kept sidecar of the same configuration whose certificates are here, and
    attaches to it. Never removes one: kept sidecars age out in the sweep."""

    def __init__(self, client: EngineClient, outer: DockerHost, spec: Spec, owner: Owner) -> None:
        self._client = client
        self._outer = outer
        self._spec = spec
        self._owner = owner

    def reattach(self, config: str, t0: float) -> Reattached | None:
        """A running kept sidecar with the same config that answers us, or None."""
        key = reuse_key(self._spec.image)
        flt = {"label": [f"{L_REUSE_KEY}={key}", f"{L_CONFIG}={config}"]}
        # Not one near its age: the sweep (on another thread, or another run's) may take it.
        soon = time.time() + EXPIRY_MARGIN
        for entry in self._client.api.containers(filters=flt):  # running ones only
            if expired(entry, dict(entry.get("Labels") or {}), soon):
                continue
            name = str(entry["Names"][0]).lstrip("/")
            # Before a sweep elsewhere could take it.
            record_use(self._client, self._owner, name)
            found = self._try(entry, name, t0)
            if found is not None:
                return found
        return None

    def _try(self, entry: dict[str, Any], name: str, t0: float) -> Reattached | None:
        """This kept sidecar, if its client certificates are here and its daemon answers."""
        cert_dir = reuse_cert_dir(name)
        tls = client_tls(cert_dir, "the kept sidecar's")
        if not all(p and os.path.exists(p) for p in (tls.ca_cert, tls.client_cert, tls.client_key)):
            return None
        watch = ContainerWatch(self._client, str(entry["Id"]), self._spec)
        topology = choose_topology(self._client, self._outer)
        net = None
        joined = False
        if topology == "network":
            net = network_name(name)
            joined = join_network(self._client, self._outer, net)
        try:
            located = locate(watch, name, topology, net)
            info = probe(parse_url(located.url), tls, timeout=2.0)
        except (Failure, SidecarError):
            return None
        reached = prove(located, remote=self._outer.remote is not None)
        labels = entry.get("Labels") or {}
        notes = [say_.reattached(name, time.monotonic() - t0, labels.get(L_CREATED, "?"))]
        host = sidecar_host(
            self._outer,
            self._spec,
            run_id=self._owner.run_id,
            container_id=watch.container_id,
            name=name,
            privileged=self._spec.privileged,
            reached=reached,
            tls=tls,
            info=info,
            notes=notes,
        )
        started = Started(
            host=host,
            container_id=watch.container_id,
            name=name,
            volume=None,
            network=net,
            reused=True,
            elapsed=time.monotonic() - t0,
            cert_dir=cert_dir,
            notes=tuple(notes),
        )
        return Reattached(started, joined)
