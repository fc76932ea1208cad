"""The dind sidecar: a TLS-secured ``docker:dind`` container this run starts, uses and removes.

Lifecycle: (reuse a kept sidecar) -> make TLS material
-> create the container with labels -> copy the certificates in with ``put_archive``
-> start -> wait for ``/_ping`` + ``/version`` -> check where published ports answer
-> preload images -> hand out a ``DockerHost``. ``stop`` removes the container, its
volume and its network; everything is labelled so that a later run (or
``python -m pytest_dockerhost cleanup``) can find what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from typing import Any

from ..cleanup.janitor import (
    api_text,
    is_not_found,
    remove_container,
    remove_network,
    reuse_cert_dir,
)
from ..cleanup.lease import record_use
from ..discovery.mtu import DaemonMtu, engine_version_of_image, own_mtu
from ..engine.api import APIError, EngineClientLike, engine_errors
from ..errors import SidecarError
from ..labels import (
    L_CACHE,
    L_CONFIG,
    L_CREATED,
    L_KEEP_FOR,
    L_OWNER_HOST,
    L_OWNER_PID,
    L_REUSE,
    L_REUSE_KEY,
    L_ROLE,
    L_RUN,
)
from ..messages import mtu as say_mtu
from ..messages import sidecar as say_
from . import certs
from .base import Started
from .payload import (
    Registries,
    Topology,
    config_labels,
    container_config,
    network_name,
    server_tar,
    tls_sans,
)
from .preload import preload, preload_missing
from .readiness import Readiness
from .reuse import Reuse
from .spec import PRIVILEGED_REFUSED, Profile, refused_capabilities


class Sidecar(Reuse, Readiness):
    """One sidecar: start (or reattach), verify, preload, and remove."""

    def start(self) -> Started:
        t0 = time.monotonic()
        client = self.client
        # The outer's registries (/info, slow on a busy daemon) while the rest is looked up.
        fetched: list[Registries] = []
        fetch = threading.Thread(
            target=lambda: fetched.append(outer_registries(client)), daemon=True
        )
        fetch.start()
        topology = self._topology()
        image = self._ensure_image()
        image_id = str(image["Id"])
        image_config = image.get("Config") or {}
        self.image_cmd = [str(arg) for arg in image_config.get("Cmd") or ()]
        self.mtu = DaemonMtu.matching(own_mtu(), engine_version_of_image(image_config.get("Env")))
        self._check_preload()
        caps, _ = self.spec.capabilities(topology == "host")
        fetch.join()
        self.registries = fetched[0] if fetched else Registries()
        config = self.spec.config_hash(image_id, topology, caps, self._daemon_flags())
        if self.spec.reuse:
            self._hold_lease()
            found = self._reattach(config, t0)
            if found is not None:
                self.started = self._preload(found)
                return self.started
        self._check_cache_free()
        name = self._name(config)
        # Importing cryptography and making keys is CPU work; taking the lease, creating the
        # volume and the container is waiting on the engine. Overlap them: the certificates
        # are needed only for put_archive.
        maker = _CertMaker(tls_sans(name))
        self._hold_lease()
        if self.spec.reuse:
            # A kept sidecar keeps its client certificates in a private folder of its own.
            self.cert_dir = reuse_cert_dir(name)
            record_use(client, self.owner, name)
        labels = self._labels(config)
        self._stop_if_cancelled()
        volume = self._prepare(name, labels, topology)
        material = self._create_and_start(name, labels, topology, volume, maker)
        url, reach_host = self._address(name, topology)
        tls = self._client_tls("the sidecar's")
        if material is None:
            self._fetch_client_certs(t0)
        info = self._wait_ready(url, tls, t0)
        published, verified = self._published_host(reach_host)
        notes = [say_.started(name, self.spec.image, time.monotonic() - t0, self.outer.url)]
        if material is None:
            notes.append(say_.TLS_BY_IMAGE)
        if self.registries.flags():
            registries = self.registries
            notes.append(
                say_.registries_passed_on(registries.mirrors, registries.insecure, self.outer.url)
            )
        mtu = self.mtu
        if mtu.mtu is not None:
            notes.append(say_mtu.sidecar_mtu(mtu.mtu, mtu.interface, mtu.per_network))
        notes.extend(say_.fallback_note(why) for why in self.fallbacks)
        if self.profile.left_out and not self.profile.privileged:
            notes.append(say_.left_out(self.profile.left_out))
        host = self._host(
            url, tls=tls, info=info, published=published, verified=verified, name=name, notes=notes
        )
        assert self.container_id is not None
        self.started = Started(
            host=host,
            container_id=self.container_id,
            name=name,
            volume=self.volume,
            network=self.network,
            reused=False,
            elapsed=time.monotonic() - t0,
            cert_dir=self.cert_dir,
            notes=tuple(notes),
        )
        self.started = self._preload(self.started)
        return self.started

    def _labels(self, config: str) -> dict[str, str]:
        labels = self.owner.labels("sidecar")
        labels[L_CONFIG] = config
        if self.spec.reuse:
            labels[L_REUSE] = "true"
            labels[L_REUSE_KEY] = self._reuse_key()
            labels[L_KEEP_FOR] = f"{self.spec.keep_for:g}"
        if self.spec.cache:
            labels[L_CACHE] = self.spec.cache
        return labels

    def _create_and_start(
        self,
        name: str,
        labels: dict[str, str],
        topology: Topology,
        volume: str,
        maker: _CertMaker,
    ) -> certs.Material | None:
        """Each profile in turn until the engine starts one; the certificates go into each."""
        client = self.client
        profiles = self.spec.profiles(topology == "host")
        material: certs.Material | None = None
        for index, profile in enumerate(profiles):
            # The next, less privileged attempt, when the engine refuses this one's privilege.
            fallback = profiles[index + 1] if index + 1 < len(profiles) else None
            body = container_config(
                image=self.spec.image,
                name=name,
                labels=labels,
                topology=topology,
                profile=profile,
                volume=volume,
                network=self.network,
                runtime=self.spec.runtime,
                daemon_flags=self._daemon_command(),
            )
            try:
                container = client.api.create_container_from(body, name)
            except engine_errors() as exc:
                if fallback is not None and refused_capabilities(api_text(exc)):
                    self.fallbacks.append(fallback.fallback)
                    continue
                raise SidecarError(self._api_error(say_.CREATE, exc)) from None
            self.container_id = str(container["Id"])
            if topology == "network":
                self._connect_self()
            if not maker.delivered:
                material = maker.deliver(self.cert_dir)
            if material is not None:
                client.api.put_archive(self.container_id, "/", server_tar(material))
            try:
                client.api.start(self.container_id)
            except engine_errors() as exc:
                if fallback is not None and refused_capabilities(api_text(exc)):
                    remove_container(client.api, self.container_id)
                    self.container_id = None
                    self.fallbacks.append(fallback.fallback)
                    continue
                raise SidecarError(self._start_error(exc, profile)) from None
            self.profile = profile
            return material
        raise AssertionError("the last profile has no fallback: it started or raised")

    def _prepare(self, name: str, labels: dict[str, str], topology: Topology) -> str:
        """The data volume (ours, or the named cache) and, under DooD, the shared network."""
        api = self.client.api
        if self.spec.cache:
            volume = self.spec.cache
            existing = api.volumes(filters={"name": volume}).get("Volumes") or []
            if not any(v.get("Name") == volume for v in existing):
                cache_labels = {L_ROLE: "cache", L_CREATED: labels[L_CREATED], L_CACHE: volume}
                api.create_volume(volume, labels=cache_labels)
        else:
            # Our own labelled volume rather than the image's anonymous one, so a sweep finds
            # it; a volume (not the container's layer) gives the inner daemon overlay2, not vfs.
            volume = f"{name}-data"
            labels_here = {**self.owner.labels("volume"), **config_labels(labels)}
            api.create_volume(volume, labels=labels_here)
            self.volume = volume
        if topology == "network":
            self.network = network_name(name)
            # The name filter matches substrings; compare exactly.
            existing_nets = api.networks(names=[self.network])
            if not any(n.get("Name") == self.network for n in existing_nets):
                api.create_network(
                    self.network,
                    driver="bridge",
                    options=self.mtu.network_options() or None,
                    labels={**self.owner.labels("network"), **config_labels(labels)},
                )
        return volume

    def _daemon_flags(self) -> list[str]:
        """The sidecar's dockerd arguments: the outer's registries, and our MTU."""
        return self.registries.flags() + self.mtu.flags()

    def _daemon_command(self) -> list[str]:
        """The container's command: the image's own (a Cmd replaces it), then our flags;
        nothing to override when there are none."""
        flags = self._daemon_flags()
        return [*self.image_cmd, *flags] if flags else []

    def _ensure_image(self) -> dict[str, Any]:
        """The image's inspect data, pulling it only when it is missing (with its progress)."""
        api = self.client.api
        image = self.spec.image
        try:
            return dict(api.inspect_image(image))
        except engine_errors() as exc:
            if not is_not_found(exc):
                raise SidecarError(self._api_error(say_.inspect_image(image), exc)) from None
        self.say(say_.pulling(image, self.outer.url))
        last = ""
        try:
            for event in api.pull(image, stream=True, decode=True):
                if "error" in event:
                    raise APIError(500, str(event.get("error")))
                status = str(event.get("status", ""))
                if status and status != last and "Downloading" not in status:
                    last = status
                    self.say(f"docker:   {event.get('id', '')} {status}".rstrip())
            return dict(api.inspect_image(image))
        except engine_errors() as exc:
            raise SidecarError(
                say_.pull_failed(image, self.spec.image_source, self.outer.url, api_text(exc))
            ) from None

    def _check_preload(self) -> None:
        """Before anything is started: every image to preload must be on the outer daemon."""
        for image in self.spec.preload:
            try:
                self.client.api.inspect_image(image)
            except engine_errors() as exc:
                raise SidecarError(
                    preload_missing(image, self.spec.preload_source, self.outer, exc)
                ) from None

    def _check_cache_free(self) -> None:
        """Two dockerds on one /var/lib/docker corrupt it: refuse a cache volume in use."""
        if not self.spec.cache:
            return
        users = self.client.api.containers(filters={"label": f"{L_CACHE}={self.spec.cache}"})
        if users:
            labels = users[0].get("Labels") or {}
            raise SidecarError(
                say_.cache_in_use(
                    self.spec.cache,
                    users[0]["Names"][0].lstrip("/"),
                    labels.get(L_RUN, "?"),
                    labels.get(L_OWNER_PID, "?"),
                    labels.get(L_OWNER_HOST, "?"),
                )
            )

    def _preload(self, started: Started) -> Started:
        if not self.spec.preload:
            return started
        copied = preload(
            self.client,
            started.host,
            self.spec.preload,
            source=self.spec.preload_source,
            say=self.say,
        )
        return dataclasses.replace(started, preloaded=tuple(copied))

    def _start_error(self, exc: Exception, profile: Profile) -> str:
        text = say_.after_fallbacks(api_text(exc), self.fallbacks)
        if PRIVILEGED_REFUSED in text and profile.privileged:
            return say_.privileged_refused(self.outer.url, text, self.spec.privileged_source)
        if PRIVILEGED_REFUSED in text:
            return say_.capabilities_refused(self.outer.url, text)
        return say_.start_failed(self.spec.image, self.outer.url, text)

    def stop(self) -> None:
        """Remove what this sidecar made (a kept one stays). Safe to call twice."""
        if self.spec.reuse and self.started is not None:
            self.close_client()
            return
        with contextlib.suppress(Exception):
            api = self.client.api
            if self.container_id is not None:
                remove_container(api, self.container_id)
                self.container_id = None
            if self._connected_self and self.network and self.outer.container_id:
                with contextlib.suppress(Exception):
                    api.disconnect_container_from_network(
                        self.outer.container_id, self.network, force=True
                    )
                self._connected_self = False
            if self.network is not None:
                remove_network(api, self.network)
                self.network = None
            if self.volume is not None:
                with contextlib.suppress(Exception):
                    api.remove_volume(self.volume, force=True)
                self.volume = None
        self.close_client()


def outer_registries(client: EngineClientLike) -> Registries:
    """Where the outer daemon pulls from (its /info); nothing when it will not say."""
    try:
        return Registries.from_info(client.api.info())
    except engine_errors():
        return Registries()


class _CertMaker:
    """Makes the sidecar's certificates on a thread while the engine creates the container."""

    def __init__(self, sans: list[str]) -> None:
        self._made: list[certs.Material | None] = []
        self._failed: list[BaseException] = []
        self.delivered = False
        self._thread = threading.Thread(
            target=self._make, args=(sans,), name="pytest-dockerhost-certs", daemon=True
        )
        self._thread.start()

    def _make(self, sans: list[str]) -> None:
        try:
            self._made.append(certs.make(sans) if certs.available() else None)
        except Exception as exc:  # handed to the main thread by deliver()
            self._failed.append(exc)

    def deliver(self, cert_dir: str) -> certs.Material | None:
        """The certificates (None: the image makes its own), the client half in ``cert_dir``."""
        self._thread.join()
        self.delivered = True
        if self._failed or not self._made:
            raise SidecarError(say_.no_certificates(f": {self._failed[0]}" if self._failed else ""))
        material = self._made[0]
        if material is not None:
            certs.write_client(
                cert_dir, material.ca_cert, material.client_cert, material.client_key
            )
        return material
