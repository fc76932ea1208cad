"""The dind sidecar: a TLS-secured ``docker:dind`` container this run starts, uses and removes.

Lifecycle: (reuse a kept sidecar) -> make TLS material
-> create the container with labels -> copy the certificates in with ``put_archive``
-> start -> wait for ``/_ping`` + ``/version`` -> check where published ports answer
-> preload images -> hand out a ``DockerHost``. ``stop`` removes the container, its
volume and its network; everything is labelled so that a later run (or
``python -m pytest_dockerhost cleanup``) can find what a killed run left behind.

``Sidecar`` composes the steps (``reach``, ``readiness``, ``reuse``, ``preload``), each
called with what it needs and returning a result; it keeps only what ``stop`` removes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from ..cleanup.janitor import Owner, api_text, remove_container, remove_network, reuse_cert_dir
from ..cleanup.lease import record_use
from ..discovery.endpoint import DockerHost
from ..discovery.mtu import DaemonMtu, engine_version_of_image, own_mtu
from ..engine.api import engine_errors
from ..errors import SidecarError
from ..labels import L_CACHE, L_CREATED, L_ROLE
from ..messages import mtu as say_mtu
from ..messages import sidecar as say_
from . import certs
from .payload import (
    Registries,
    Topology,
    config_labels,
    container_config,
    network_name,
    server_tar,
    tls_sans,
)
from .preflight import (
    check_cache_free,
    ensure_image,
    outer_registries,
    sidecar_labels,
    sidecar_name,
)
from .preload import check_preloadable, with_preloaded
from .reach import choose_topology, join_network, locate, prove
from .readiness import ContainerWatch, fetch_client_certs, raise_if_cancelled, wait_ready
from .reuse import KeptSidecars
from .spec import PRIVILEGED_REFUSED, Profile, Say, Spec, refused_capabilities
from .started import Started, sidecar_host

if TYPE_CHECKING:
    from ..engine.api import EngineClient


def _quiet(_: str) -> None:
    pass


@final
@dataclass(frozen=True)
class Created:
    """A started container: the certificates it got (None: the image makes its own), the
    profile the engine accepted, and why each refused one was followed by another."""

    material: certs.Material | None
    profile: Profile
    fallbacks: tuple[str, ...]


@final
class Sidecar:
    """One sidecar: start (or reattach), verify, preload, and remove. It remembers every
    resource it made, so stop() can remove them even when start() failed half-way (Ctrl-C,
    a refused image, a daemon that never came up)."""

    def __init__(
        self,
        outer: DockerHost,
        spec: Spec,
        owner: Owner,
        cert_dir: str,
        *,
        say: Say = _quiet,
        cancelled: threading.Event | None = None,
        leased: Callable[[], Owner] | None = None,
        number: int = 0,
    ) -> None:
        self.outer = outer
        self.number = number  # a pool's sidecar: its name's suffix (0: sidecar mode's one)
        self.spec = spec
        self.owner = owner
        self.cert_dir = cert_dir
        self.say = say
        self._cancelled = cancelled  # set: the run no longer needs it
        # Waits for the run's lease (taken on another thread) and returns the owner to
        # label with; nothing of ours may exist before it is held.
        self._leased = leased
        # What this start made (or attached to), for stop().
        self.container_id: str | None = None
        self.volume: str | None = None
        self.network: str | None = None
        self._joined = False  # our own container joined self.network
        self.started: Started | None = None
        self._client: EngineClient | None = None

    @property
    def client(self) -> EngineClient:
        if self._client is None:
            from ..engine.api import EngineClient

            # The hot path's calls go over the stdlib transport; docker-py is imported only
            # for the rest (pulls, logs, preloads, removal).
            outer = self.outer
            self._client = EngineClient(
                outer.address, max(60.0, self.spec.timeout), lambda t: outer.client(timeout=t)
            )
        return self._client

    def _lease(self) -> Owner:
        """The owner to label with, once the run's lease is held."""
        if self._leased is not None:
            self.owner = self._leased()
            self._leased = None
        return self.owner

    def start(self) -> Started:
        t0 = time.monotonic()
        spec, outer, client = self.spec, self.outer, self.client
        # The outer's registries (/info, slow on a busy daemon) while the rest is looked up.
        fetched: list[Registries] = []
        fetch = threading.Thread(
            target=lambda: fetched.append(outer_registries(client)), daemon=True
        )
        fetch.start()
        topology = choose_topology(client, outer)
        image = ensure_image(client, spec, outer, self.say)
        image_config = image.get("Config") or {}
        image_cmd = [str(arg) for arg in image_config.get("Cmd") or ()]
        mtu = DaemonMtu.matching(own_mtu(), engine_version_of_image(image_config.get("Env")))
        check_preloadable(client, spec, outer)
        caps, _ = spec.capabilities(topology == "host")
        fetch.join()
        registries = fetched[0] if fetched else Registries()
        # The sidecar's dockerd arguments: the outer's registries, and our MTU.
        flags = registries.flags() + mtu.flags()
        config = spec.config_hash(str(image["Id"]), topology, caps, flags)
        if spec.reuse:
            found = KeptSidecars(client, outer, spec, self._lease()).reattach(config, t0)
            if found is not None:
                kept = found.started
                self.container_id, self.network = kept.container_id, kept.network
                self._joined = found.joined
                self.started = with_preloaded(client, kept, spec, self.say)
                return self.started
        check_cache_free(client, spec)
        name = sidecar_name(spec, self.owner.run_id, config, self.number)
        # Importing cryptography and making keys is CPU work; taking the lease, creating the
        # volume and the container is waiting on the engine. Overlap them: the certificates
        # are needed only for put_archive.
        maker = certs.CertMaker(tls_sans(name))
        owner = self._lease()
        cert_dir = self.cert_dir
        if spec.reuse:
            # A kept sidecar keeps its client certificates in a private folder of its own.
            cert_dir = reuse_cert_dir(name)
            record_use(client, owner, name)
        labels = sidecar_labels(owner, spec, config)
        raise_if_cancelled(self._cancelled)
        volume = self._prepare(name, labels, topology, mtu)
        # The container's command: the image's own (a Cmd replaces it), then our flags;
        # nothing to override when there are none.
        command = [*image_cmd, *flags] if flags else []
        created = self._create_and_start(
            name, labels, topology, volume=volume, command=command, maker=maker, cert_dir=cert_dir
        )
        assert self.container_id is not None
        watch = ContainerWatch(client, self.container_id, spec, self._cancelled)
        located = locate(watch, name, topology, self.network)
        tls = certs.client_tls(cert_dir, "the sidecar's")
        deadline = t0 + spec.timeout
        if created.material is None:
            fetch_client_certs(watch, cert_dir, deadline)
        info = wait_ready(watch, located.url, tls, cert_dir, deadline)
        reached = prove(located, remote=outer.remote is not None)
        notes = [say_.started(name, spec.image, time.monotonic() - t0, outer.shown_url)]
        if created.material is None:
            notes.append(say_.TLS_BY_IMAGE)
        if registries.flags():
            notes.append(
                say_.registries_passed_on(registries.mirrors, registries.insecure, outer.shown_url)
            )
        if mtu.mtu is not None:
            notes.append(say_mtu.sidecar_mtu(mtu.mtu, mtu.interface, mtu.per_network))
        notes.extend(say_.fallback_note(why) for why in created.fallbacks)
        profile = created.profile
        if profile.left_out and not profile.privileged:
            notes.append(say_.left_out(profile.left_out))
        host = sidecar_host(
            outer,
            spec,
            run_id=owner.run_id,
            container_id=self.container_id,
            name=name,
            privileged=profile.privileged,
            reached=reached,
            tls=tls,
            info=info,
            notes=notes,
        )
        self.started = Started(
            host=host,
            container_id=self.container_id,
            name=name,
            volume=self.volume,
            network=self.network,
            reused=False,
            elapsed=time.monotonic() - t0,
            cert_dir=cert_dir,
            notes=tuple(notes),
        )
        self.started = with_preloaded(client, self.started, spec, self.say)
        return self.started

    def _create_and_start(
        self,
        name: str,
        labels: dict[str, str],
        topology: Topology,
        *,
        volume: str,
        command: list[str],
        maker: certs.CertMaker,
        cert_dir: str,
    ) -> Created:
        """Each profile in turn until the engine starts one; the certificates go into each."""
        client = self.client
        profiles = self.spec.profiles(topology == "host")
        fallbacks: list[str] = []
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
                daemon_flags=command,
                ports_apart=self.outer.remote is not None,
            )
            try:
                container = client.api.create_container_from(body, name)
            except engine_errors() as exc:
                if fallback is not None and refused_capabilities(api_text(exc)):
                    fallbacks.append(fallback.fallback)
                    continue
                raise SidecarError(self._api_error(say_.CREATE, exc)) from None
            self.container_id = str(container["Id"])
            if topology == "network" and self.network and not self._joined:
                self._joined = join_network(client, self.outer, self.network)
            if not maker.delivered:
                material = maker.deliver(cert_dir)
            if material is not None:
                client.api.put_archive(self.container_id, "/", server_tar(material))
            try:
                client.api.start(self.container_id)
            except engine_errors() as exc:
                if fallback is not None and refused_capabilities(api_text(exc)):
                    remove_container(client.api, self.container_id)
                    self.container_id = None
                    fallbacks.append(fallback.fallback)
                    continue
                raise SidecarError(self._start_error(exc, profile, fallbacks)) from None
            return Created(material, profile, tuple(fallbacks))
        raise AssertionError("the last profile has no fallback: it started or raised")

    def _prepare(
        self, name: str, labels: dict[str, str], topology: Topology, mtu: DaemonMtu
    ) -> str:
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
                    options=mtu.network_options() or None,
                    labels={**self.owner.labels("network"), **config_labels(labels)},
                )
        return volume

    def _api_error(self, what: str, exc: Exception) -> str:
        return say_.api_failed(what, self.outer.shown_url, api_text(exc))

    def _start_error(self, exc: Exception, profile: Profile, fallbacks: list[str]) -> str:
        text = say_.after_fallbacks(api_text(exc), fallbacks)
        if PRIVILEGED_REFUSED in text and profile.privileged:
            return say_.privileged_refused(self.outer.shown_url, text, self.spec.privileged_source)
        if PRIVILEGED_REFUSED in text:
            return say_.capabilities_refused(self.outer.shown_url, text)
        return say_.start_failed(self.spec.image, self.outer.shown_url, text)

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
            if self._joined and self.network and self.outer.container_id:
                with contextlib.suppress(Exception):
                    api.disconnect_container_from_network(
                        self.outer.container_id, self.network, force=True
                    )
                self._joined = False
            if self.network is not None:
                remove_network(api, self.network)
                self.network = None
            if self.volume is not None:
                with contextlib.suppress(Exception):
                    api.remove_volume(self.volume, force=True)
                self.volume = None
        self.close_client()

    def close_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
