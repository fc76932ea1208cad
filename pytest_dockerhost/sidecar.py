"""The dind sidecar: a TLS-secured ``docker:dind`` container this run starts, uses and removes.

Lifecycle: sweep leftovers of dead runs -> (reuse a kept sidecar) -> make TLS material
-> create the container with labels -> copy the certificates in with ``put_archive``
-> start -> wait for ``/_ping`` + ``/version`` -> check where published ports answer
-> preload images -> hand out a ``DockerHost``. ``stop`` removes the container, its
volume and its network; everything is labelled so that a later run (or
``python -m pytest_dockerhost cleanup``) can find what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, final

from . import certs, network
from .endpoint import DockerHost, TLSConfig, parse_url
from .errors import SidecarError
from .probe import EngineInfo, probe, wait_for
from .settings import Settings
from .transport import Failure

LABEL = "org.pytest-dockerhost"
L_RUN = f"{LABEL}.run"
L_ROLE = f"{LABEL}.role"  # sidecar, volume, network, cache
L_OWNER_PID = f"{LABEL}.owner-pid"
L_OWNER_START = f"{LABEL}.owner-start"  # the pid's start time, so a recycled pid is not "alive"
L_OWNER_HOST = f"{LABEL}.owner-host"
L_OWNER_CONTAINER = f"{LABEL}.owner-container"
L_CREATED = f"{LABEL}.created"
L_CONFIG = f"{LABEL}.config-hash"
L_REUSE = f"{LABEL}.reuse"
L_REUSE_KEY = f"{LABEL}.reuse-key"
L_CACHE = f"{LABEL}.cache"

CERTDIR = "/certs"  # DOCKER_TLS_CERTDIR, as in docker:dind
INNER_PORT = 2376
# Every capability Docker 20.10 knows: the measured unprivileged profile for a
# nested dockerd (docker-on-ci.md section 3). BPF, PERFMON and CHECKPOINT_RESTORE are left out
# because 20.10 refuses their names.
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
)
# Linux capability numbers, to compare with this process's bounding set.
_CAP_NUMBERS = dict(zip(CAPABILITIES, range(38), strict=True))
PRIVILEGED_REFUSED = "unable to apply caps"
UNKNOWN_CAPABILITY = "unknown capability"
# Not needed by a nested dockerd, and the first an engine lacks (moby#42906): what the last
# fallback leaves out when the engine refuses the explicit capability set.
OFTEN_MISSING = ("SYS_RESOURCE", "SYS_MODULE", "SYS_BOOT", "SYS_TIME", "WAKE_ALARM")
LOG_LINES = 20

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# --- who owns what -------------------------------------------------------------------------


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot ("" when unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


@final
@dataclass(frozen=True)
class Owner:
    """The process that owns a run's resources: it alone removes them at the end."""

    run_id: str
    pid: int
    start: str
    host: str
    container: str  # our container's id when we run in one, else ""

    @classmethod
    def current(cls, run_id: str, container: str | None) -> Owner:
        pid = os.getpid()
        return cls(run_id, pid, process_start(pid), socket.gethostname(), container or "")

    def labels(self, role: str) -> dict[str, str]:
        return {
            L_RUN: self.run_id,
            L_ROLE: role,
            L_OWNER_PID: str(self.pid),
            L_OWNER_START: self.start,
            L_OWNER_HOST: self.host,
            L_OWNER_CONTAINER: self.container,
            L_CREATED: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pid": self.pid,
            "start": self.start,
            "host": self.host,
            "container": self.container,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        return cls(
            str(data["run_id"]),
            int(data["pid"]),
            str(data["start"]),
            str(data["host"]),
            str(data["container"]),
        )


def owner_alive(labels: dict[str, str], client: Any, here: Owner) -> bool:
    """Is the run that made a resource still alive? Unknown counts as alive: never remove
    what might be in use."""
    container = labels.get(L_OWNER_CONTAINER, "")
    same_place = container == here.container and labels.get(L_OWNER_HOST) == here.host
    if container and not same_place:
        # The owner ran in another container on this daemon: alive while that one runs.
        try:
            other = client.api.inspect_container(container)
        except Exception as exc:  # docker.errors.NotFound, or the daemon is gone
            return not _is_not_found(exc)
        return bool((other.get("State") or {}).get("Running"))
    if not same_place:
        return True  # another machine, or the host while we are in a container: cannot tell
    try:
        pid = int(labels.get(L_OWNER_PID, ""))
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    started = labels.get(L_OWNER_START, "")
    return not started or process_start(pid) in ("", started)


def _is_not_found(exc: Exception) -> bool:
    from .engine_api import NotFound

    if isinstance(exc, NotFound):
        return True
    import docker.errors

    return isinstance(exc, docker.errors.NotFound)


# --- what to start --------------------------------------------------------------------------


@final
@dataclass(frozen=True)
class Spec:
    """The sidecar the settings ask for, each value with where it came from."""

    image: str
    image_source: str
    privileged: bool
    privileged_source: str
    runtime: str | None
    cache: str | None
    reuse: bool
    preload: tuple[str, ...]
    preload_source: str
    timeout: float
    timeout_source: str
    cap_drop: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Spec:
        drop = settings.sidecar_cap_drop.value
        unknown = [name for name in drop if name not in _CAP_NUMBERS]
        if unknown:
            raise SidecarError(
                f"{settings.sidecar_cap_drop.source} names unknown capabilities: "
                f"{', '.join(unknown)}. Use names such as SYS_RESOURCE or SYS_MODULE (known: "
                f"{' '.join(CAPABILITIES)})."
            )
        return cls(
            image=settings.sidecar_image.value,
            image_source=settings.sidecar_image.source,
            privileged=settings.sidecar_privileged.value,
            privileged_source=settings.sidecar_privileged.source,
            runtime=settings.sidecar_runtime.value,
            cache=settings.sidecar_cache.value,
            reuse=settings.sidecar_reuse.value,
            preload=settings.preload.value,
            preload_source=settings.preload.source,
            timeout=settings.timeout.value,
            timeout_source=settings.timeout.source,
            cap_drop=drop,
        )

    def capabilities(self, same_machine: bool) -> tuple[list[str], list[str]]:
        """(capabilities to add, ones left out and why) for an unprivileged sidecar."""
        missing = _missing_from_bounding_set() if same_machine else set()
        skipped = [f"{name} (not in this machine's bounding set)" for name in sorted(missing)]
        skipped += [f"{name} (from --docker-sidecar-cap-drop)" for name in self.cap_drop]
        caps = [c for c in CAPABILITIES if c not in missing and c not in self.cap_drop]
        return caps, skipped

    def profiles(self, same_machine: bool) -> list[Profile]:
        """The attempts, in order. Each later one has less privilege than the one before; a
        setting that was given explicitly is honoured exactly, with no fallback past it."""
        caps, skipped = self.capabilities(same_machine)
        unprivileged = Profile(False, tuple(caps), tuple(skipped))
        if self.privileged and self.privileged_source != "default":
            return [Profile(True)]
        attempts = [Profile(True)] if self.privileged else []
        if self.privileged:
            attempts.append(
                dataclasses.replace(
                    unprivileged,
                    fallback="the engine refused --privileged (moby#42906), so the sidecar "
                    "runs with an explicit capability set instead",
                )
            )
        else:
            attempts.append(unprivileged)
        if not self.privileged or self.cap_drop:
            return attempts  # --docker-sidecar-privileged=false or a cap-drop: exactly that
        fewer = [name for name in caps if name not in OFTEN_MISSING]
        if len(fewer) < len(caps):
            dropped = [name for name in OFTEN_MISSING if name in caps]
            attempts.append(
                Profile(
                    False,
                    tuple(fewer),
                    tuple(skipped)
                    + tuple(f"{name} (after the engine refused the full set)" for name in dropped),
                    fallback="the engine refused a capability of that set, so the sidecar runs "
                    "without " + ", ".join(dropped),
                )
            )
        return attempts

    def config_hash(self, image_id: str, topology: str, caps: list[str]) -> str:
        """Same hash, same sidecar: what --docker-sidecar-reuse matches on."""
        data = {
            "image": self.image,
            "image_id": image_id,
            "privileged": self.privileged,
            "runtime": self.runtime,
            "cache": self.cache,
            "topology": topology,
            "caps": caps if not self.privileged else [],
            "layout": 1,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@final
@dataclass(frozen=True)
class Profile:
    """How one attempt runs the sidecar: privileged, or with an explicit capability set."""

    privileged: bool
    caps: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()  # capabilities left out, each with why
    fallback: str = ""  # why this attempt follows a refused one ("" for the first)

    @property
    def label(self) -> str:
        return "privileged" if self.privileged else "unprivileged"


def _refused_capabilities(text: str) -> bool:
    """The engine's own words for a capability it cannot grant (moby#42906) or does not know."""
    return PRIVILEGED_REFUSED in text or UNKNOWN_CAPABILITY in text


def _missing_from_bounding_set() -> set[str]:
    """Capabilities this process's bounding set lacks. When the daemon is on our machine (we
    reach it on loopback) it was most likely started in the same environment, and asking for
    a capability it lacks fails the start (moby#42906)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            line = next((ln for ln in handle if ln.startswith("CapBnd:")), "")
        mask = int(line.split()[1], 16)
    except (OSError, IndexError, ValueError):
        return set()
    return {name for name, bit in _CAP_NUMBERS.items() if not mask & (1 << bit)}


# --- what was started -----------------------------------------------------------------------


@final
@dataclass(frozen=True)
class Started:
    """A running, verified sidecar, and what stop() must remove."""

    host: DockerHost
    container_id: str
    name: str
    volume: str | None  # our anonymous-like data volume, removed with the sidecar
    network: str | None  # the network we created to reach it from our container
    reused: bool
    elapsed: float  # seconds from create (or reattach) to a verified daemon
    cert_dir: str
    preloaded: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host.to_dict(),
            "container_id": self.container_id,
            "name": self.name,
            "volume": self.volume,
            "network": self.network,
            "reused": self.reused,
            "elapsed": self.elapsed,
            "cert_dir": self.cert_dir,
            "preloaded": list(self.preloaded),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Started:
        return cls(
            host=DockerHost.from_dict(data["host"]),
            container_id=str(data["container_id"]),
            name=str(data["name"]),
            volume=data.get("volume"),
            network=data.get("network"),
            reused=bool(data.get("reused")),
            elapsed=float(data.get("elapsed") or 0.0),
            cert_dir=str(data["cert_dir"]),
            preloaded=tuple(data.get("preloaded") or ()),
            notes=tuple(data.get("notes") or ()),
        )


# --- the sidecar itself ---------------------------------------------------------------------


class Sidecar:
    """Starts one sidecar and remembers every resource it made, so stop() can remove them
    even when start() failed half-way (Ctrl-C, a refused image, a daemon that never came up)."""

    def __init__(
        self,
        outer: DockerHost,
        spec: Spec,
        owner: Owner,
        cert_dir: str,
        *,
        say: Say = _quiet,
    ) -> None:
        self.outer = outer
        self.spec = spec
        self.owner = owner
        self.cert_dir = cert_dir
        self.say = say
        self.container_id: str | None = None
        self.volume: str | None = None
        self.network: str | None = None
        self.started: Started | None = None
        self._client: Any = None
        self._connected_self = False
        self.profile = Profile(spec.privileged)  # the attempt that started, once one did
        self.fallbacks: list[str] = []  # why each refused attempt was followed by another

    @property
    def client(self) -> Any:
        if self._client is None:
            from .engine_api import EngineClient

            # The hot path's calls go over the stdlib transport; docker-py is imported only
            # for the rest (pulls, logs, preloads, removal).
            self._client = EngineClient(self.outer, timeout=max(60.0, self.spec.timeout))
        return self._client

    def start(self) -> Started:
        t0 = time.monotonic()
        client = self.client
        topology = self._topology()
        sweep(client, here=self.owner)
        image_id = self._ensure_image()
        self._check_preload()
        caps, _ = self.spec.capabilities(topology == "host")
        config = self.spec.config_hash(image_id, topology, caps)
        if self.spec.reuse:
            # Kept sidecars keep their client certificates in a private per-config folder.
            self.cert_dir = reuse_cert_dir(config)
            found = self._reattach(config, t0)
            if found is not None:
                self.started = self._preload(found)
                return self.started
        self._check_cache_free()
        name = self._name(config)
        sans = ["localhost", "127.0.0.1", "::1", "docker", name]
        # Importing cryptography and making keys is CPU work; creating the volume and the
        # container is waiting on the engine. Overlap them: the certificates are needed
        # only for put_archive.
        made: list[certs.Material | None] = []
        failed: list[BaseException] = []

        def make_certs() -> None:
            try:
                made.append(certs.make(sans) if certs.available() else None)
            except Exception as exc:  # handed to the main thread below
                failed.append(exc)

        maker = threading.Thread(target=make_certs, name="pytest-dockerhost-certs", daemon=True)
        maker.start()
        labels = self.owner.labels("sidecar")
        labels[L_CONFIG] = config
        if self.spec.reuse:
            labels[L_REUSE] = "true"
            labels[L_REUSE_KEY] = self._reuse_key()
        if self.spec.cache:
            labels[L_CACHE] = self.spec.cache
        profiles = self.spec.profiles(topology == "host")
        material: certs.Material | None = None
        awaiting = True  # the maker thread's certificates, needed by the first container
        for index, profile in enumerate(profiles):
            # The next, less privileged attempt, when the engine refuses this one's privilege.
            fallback = profiles[index + 1] if index + 1 < len(profiles) else None
            body = self._create_config(name, labels, topology, profile)
            try:
                container = client.api.create_container_from(body, name)
            except Exception as exc:
                if fallback is not None and _refused_capabilities(_api_text(exc)):
                    self.fallbacks.append(fallback.fallback)
                    continue
                raise SidecarError(self._api_error("create the sidecar container", exc)) from None
            self.container_id = str(container["Id"])
            if topology == "network":
                self._connect_self()
            if awaiting:
                material = self._await_material(maker, made, failed)
                awaiting = False
            if material is not None:
                client.api.put_archive(self.container_id, "/", _server_tar(material))
            try:
                client.api.start(self.container_id)
            except Exception as exc:
                if fallback is not None and _refused_capabilities(_api_text(exc)):
                    _remove_container(client.api, self.container_id)
                    self.container_id = None
                    self.fallbacks.append(fallback.fallback)
                    continue
                raise SidecarError(self._start_error(exc, profile)) from None
            self.profile = profile
            break
        assert self.container_id is not None  # the last attempt either started or raised
        url, reach_host = self._address(name, topology)
        tls = self._client_tls("the sidecar's")
        if material is None:
            self._fetch_client_certs(t0)
        info = self._wait_ready(url, tls, t0)
        published, verified = self._published_host(reach_host)
        notes = [
            f"sidecar {name} from {self.spec.image} started in "
            f"{time.monotonic() - t0:.2f} s on {self.outer.url}"
        ]
        if material is None:
            notes.append("TLS material generated by the image (cryptography is not installed)")
        notes.extend(f"sidecar fallback: {why}" for why in self.fallbacks)
        if self.profile.left_out and not self.profile.privileged:
            notes.append("capabilities left out: " + ", ".join(self.profile.left_out))
        host = self._host(
            url, tls=tls, info=info, published=published, verified=verified, name=name, notes=notes
        )
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

    # -- steps -------------------------------------------------------------------------------

    def _await_material(
        self,
        maker: threading.Thread,
        made: list[certs.Material | None],
        failed: list[BaseException],
    ) -> certs.Material | None:
        """The certificates from the maker thread, with the client half written to our folder."""
        maker.join()
        if failed or not made:
            reason = f": {failed[0]}" if failed else ""
            raise SidecarError(f"could not make the sidecar's TLS certificates{reason}")
        material = made[0]
        if material is not None:
            certs.write_client(
                self.cert_dir, material.ca_cert, material.client_cert, material.client_key
            )
        return material

    def _client_tls(self, whose: str) -> TLSConfig:
        """Verified TLS with the client files in our private cert folder."""
        return TLSConfig(
            verify=True,
            ca_cert=os.path.join(self.cert_dir, "ca.pem"),
            client_cert=os.path.join(self.cert_dir, "cert.pem"),
            client_key=os.path.join(self.cert_dir, "key.pem"),
            source=f"{whose} certificates in {self.cert_dir}",
        )

    def _topology(self) -> str:
        """host: publish 2376 on the daemon host's loopback; network: share a network with
        our own container (DooD)."""
        parsed = self.outer.parsed
        if self.outer.in_container and parsed.is_unix and self.outer.container_id:
            try:
                me = self.client.api.inspect_container(self.outer.container_id)
            except Exception:
                me = None  # not a container of this daemon
            if me is not None:
                mode = str((me.get("HostConfig") or {}).get("NetworkMode") or "")
                return "host" if mode == "host" else "network"
        local = parsed.is_unix or parsed.host in ("127.0.0.1", "localhost", "::1")
        if local and not self.outer.in_container:
            return "host"
        # A daemon inside our own container (its bridge is one of our interfaces) is on our
        # loopback too.
        if local and network.shares_daemon_network(parsed, self.outer.tls, 2.0):
            return "host"
        raise SidecarError(
            f"sidecar mode cannot reach a sidecar started on {self.outer.url} "
            f"(via {self.outer.source}): that daemon runs on another machine or container, "
            "so a port published on its loopback is out of reach, and this process is not a "
            "container on it that could share a network. If that daemon is a dind service, "
            "use it directly with --docker-mode=dind; otherwise run pytest on the daemon's "
            "host, or in a container with its socket mounted "
            "(-v /var/run/docker.sock:/var/run/docker.sock)."
        )

    def _ensure_image(self) -> str:
        """The image id, pulling the image only when it is missing (with its progress)."""
        api = self.client.api
        image = self.spec.image
        try:
            return str(api.inspect_image(image)["Id"])
        except Exception as exc:
            if not _is_not_found(exc):
                raise SidecarError(self._api_error(f"inspect the image {image}", exc)) from None
        self.say(f"docker: pulling sidecar image {image} (not on {self.outer.url} yet)")
        last = ""
        try:
            for event in api.pull(image, stream=True, decode=True):
                if "error" in event:
                    raise RuntimeError(event.get("error"))
                status = str(event.get("status", ""))
                if status and status != last and "Downloading" not in status:
                    last = status
                    self.say(f"docker:   {event.get('id', '')} {status}".rstrip())
            return str(api.inspect_image(image)["Id"])
        except Exception as exc:
            raise SidecarError(
                f"the sidecar image {image} (from {self.spec.image_source}) is not on "
                f"{self.outer.url} and pulling it failed: {_api_text(exc)}. Pull or build it "
                "there first, check the name, or choose another image with "
                "--docker-sidecar-image (ini docker_sidecar_image, env "
                "PYTEST_DOCKER_SIDECAR_IMAGE); any image that follows the docker:dind contract "
                "works."
            ) from None

    def _check_preload(self) -> None:
        """Before anything is started: every image to preload must be on the outer daemon."""
        for image in self.spec.preload:
            try:
                self.client.api.inspect_image(image)
            except Exception as exc:
                raise SidecarError(
                    _preload_missing(image, self.spec.preload_source, self.outer, exc)
                ) from None

    def _reuse_key(self) -> str:
        return reuse_key(self.spec.image, self.owner.host)

    def _name(self, config: str) -> str:
        if self.spec.reuse:
            return f"pytest-dockerhost-reuse-{config[:12]}"
        return f"pytest-dockerhost-{self.owner.run_id}"

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
            self.say(f"docker: replacing kept sidecar {entry['Names'][0].lstrip('/')}")
            _remove_container(api, entry["Id"])
            _remove_labelled(self.client, entry.get("Labels") or {})
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
            self.network = f"pytest-dockerhost-net-{name.rsplit('-', 1)[-1]}"
            self._connect_self()
        try:
            url, reach_host = self._address(name, topology)
            info = probe(parse_url(url), tls, timeout=2.0)
        except (Failure, SidecarError):
            self.container_id = None
            return None
        published, verified = self._published_host(reach_host)
        labels = entry.get("Labels") or {}
        notes = [
            f"reattached to kept sidecar {name} in {time.monotonic() - t0:.2f} s "
            f"(created {labels.get(L_CREATED, '?')})"
        ]
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

    def _check_cache_free(self) -> None:
        """Two dockerds on one /var/lib/docker corrupt it: refuse a cache volume in use."""
        if not self.spec.cache:
            return
        users = self.client.api.containers(filters={"label": f"{L_CACHE}={self.spec.cache}"})
        if users:
            labels = users[0].get("Labels") or {}
            raise SidecarError(
                f"the sidecar cache volume {self.spec.cache} is in use by "
                f"{users[0]['Names'][0].lstrip('/')} (run {labels.get(L_RUN, '?')}, pid "
                f"{labels.get(L_OWNER_PID, '?')} on {labels.get(L_OWNER_HOST, '?')}); two "
                "daemons must not share one /var/lib/docker. Give each concurrent run its own "
                "--docker-sidecar-cache, or wait for that run to end."
            )

    def _create_config(
        self, name: str, labels: dict[str, str], topology: str, profile: Profile
    ) -> dict[str, Any]:
        """The Engine API body of POST /containers/create for the sidecar."""
        api = self.client.api
        if self.spec.cache:
            volume = self.spec.cache
            existing = api.volumes(filters={"name": volume}).get("Volumes") or []
            if not any(v.get("Name") == volume for v in existing):
                cache_labels = {L_ROLE: "cache", L_CREATED: labels[L_CREATED], L_CACHE: volume}
                api.create_volume(volume, labels=cache_labels)
        else:
            # Our own labelled volume rather than the image's anonymous one, so a sweep finds it;
            # a volume (not the container's layer) gives the inner daemon overlay2 instead of vfs.
            volume = f"{name}-data"
            api.create_volume(volume, labels={**self.owner.labels("volume"), **_config(labels)})
            self.volume = volume
        mounts: list[dict[str, Any]] = [
            {"Target": "/var/lib/docker", "Source": volume, "Type": "volume", "ReadOnly": False}
        ]
        host_config: dict[str, Any] = {
            "Mounts": mounts,
            "Privileged": profile.privileged,
        }
        if self.spec.runtime:
            host_config["Runtime"] = self.spec.runtime
        if not profile.privileged:
            host_config.update(
                CapAdd=list(profile.caps),
                SecurityOpt=["seccomp=unconfined", "apparmor=unconfined"],
                DeviceCgroupRules=["a *:* rwm"],
                # The CLI's --security-opt systempaths=unconfined: nothing masked or read-only
                # in /proc and /sys, which the nested daemon needs.
                MaskedPaths=[],
                ReadonlyPaths=[],
            )
            if self._cgroup_version() == "1":
                # Nested containers need their own cgroups: the host's hierarchy, writable.
                host_config["CgroupnsMode"] = "host"
                mounts.append(
                    {
                        "Target": "/sys/fs/cgroup",
                        "Source": "/sys/fs/cgroup",
                        "Type": "bind",
                        "ReadOnly": False,
                    }
                )
            else:
                host_config["CgroupnsMode"] = "private"
        networking: dict[str, Any] | None = None
        if topology == "host":
            host_config["PortBindings"] = {
                f"{INNER_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]
            }
        else:
            self.network = f"pytest-dockerhost-net-{name.rsplit('-', 1)[-1]}"
            # The name filter matches substrings; compare exactly.
            existing_nets = api.networks(names=[self.network])
            if not any(n.get("Name") == self.network for n in existing_nets):
                api.create_network(
                    self.network,
                    driver="bridge",
                    labels={**self.owner.labels("network"), **_config(labels)},
                )
            networking = {"EndpointsConfig": {self.network: {"Aliases": [name]}}}
            host_config["NetworkMode"] = self.network
        san = ",".join(["DNS:localhost", "IP:127.0.0.1", "DNS:docker", f"DNS:{name}"])
        config: dict[str, Any] = {
            "Image": self.spec.image,
            "Hostname": name,
            "Labels": labels,
            "Env": [f"DOCKER_TLS_CERTDIR={CERTDIR}", f"DOCKER_TLS_SAN={san}"],
            "ExposedPorts": {f"{INNER_PORT}/tcp": {}},
            "HostConfig": host_config,
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
        }
        if networking is not None:
            config["NetworkingConfig"] = networking
        return config

    def _cgroup_version(self) -> str:
        try:
            return str(self.client.api.info().get("CgroupVersion") or "1")
        except Exception:
            return "1"

    def _connect_self(self) -> None:
        """Join our own container to the sidecar's network, so we reach it by name."""
        me = self.outer.container_id
        if not me or not self.network or self._connected_self:
            return
        api = self.client.api
        info = api.inspect_container(me)
        if self.network in ((info.get("NetworkSettings") or {}).get("Networks") or {}):
            return
        try:
            api.connect_container_to_network(me, self.network)
        except Exception as exc:
            raise SidecarError(
                self._api_error(f"connect this container ({me[:12]}) to {self.network}", exc)
            ) from None
        self._connected_self = True

    def _address(self, name: str, topology: str) -> tuple[str, str]:
        """(API URL, address of the sidecar where its published ports answer)."""
        assert self.container_id is not None
        info = self.client.api.inspect_container(self.container_id)
        settings = info.get("NetworkSettings") or {}
        networks = settings.get("Networks") or {}
        if topology == "host":
            bound = (settings.get("Ports") or {}).get(f"{INNER_PORT}/tcp") or []
            port = next((b.get("HostPort") for b in bound if b.get("HostIp") == "127.0.0.1"), None)
            if not port:
                state = info.get("State") or {}
                if not state.get("Running"):
                    raise SidecarError(self._exited_message(state))
                raise SidecarError(f"the sidecar {name} has no published port for {INNER_PORT}")
            ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
            return f"tcp://127.0.0.1:{port}", str(ip or "127.0.0.1")
        net = networks.get(self.network or "") or {}
        return f"tcp://{name}:{INNER_PORT}", str(net.get("IPAddress") or name)

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
                    f"the sidecar did not write {CERTDIR}/client/{{ca,cert,key}}.pem within "
                    f"{self.spec.timeout:.0f} s (--docker-timeout, from "
                    f"{self.spec.timeout_source}).{self._logs()}"
                )
            time.sleep(0.1)

    def _wait_ready(self, url: str, tls: TLSConfig, t0: float) -> EngineInfo:
        deadline = t0 + self.spec.timeout
        parsed = parse_url(url)
        refetched = False
        while True:
            try:
                # A sidecar answers about 0.5 s after start: poll every 25 ms rather than
                # back off, or the last sleep alone can cost a fifth of that.
                return wait_for(
                    parsed,
                    tls,
                    deadline=min(deadline, time.monotonic() + 0.5),
                    timeout=1.0,
                    max_delay=0.025,
                )
            except Failure as failure:
                if failure.kind == "tls-verify" and not refetched:
                    # An image that makes its own certificates despite ours: use its client ones.
                    refetched = True
                    self._fetch_client_certs(t0)
                    continue
                self._check_running()
                # docker-proxy accepts on the published port before dockerd listens, then hangs
                # up: during start-up that looks like a refused client certificate.
                if not failure.retryable and failure.kind not in ("tls-eof", "tls-reset"):
                    raise SidecarError(
                        f"the sidecar's daemon at {url} answered, but not usably: "
                        f"{failure.detail}.{self._logs()}"
                    ) from None
                if time.monotonic() >= deadline:
                    raise SidecarError(
                        f"the sidecar's daemon ({self.spec.image}) was not ready within "
                        f"{self.spec.timeout:.0f} s (--docker-timeout, from "
                        f"{self.spec.timeout_source}); last attempt: {failure.detail}. Raise "
                        "--docker-timeout if the image is slow to start, or check that it "
                        f"follows the docker:dind contract.{self._logs()}"
                    ) from None

    def _check_running(self) -> None:
        assert self.container_id is not None
        state = self.client.api.inspect_container(self.container_id).get("State") or {}
        if not state.get("Running"):
            raise SidecarError(self._exited_message(state))

    def _exited_message(self, state: dict[str, Any]) -> str:
        error = f" ({state['Error']})" if state.get("Error") else ""
        return (
            f"the sidecar ({self.spec.image}, from {self.spec.image_source}) stopped before its "
            f"daemon was ready: {state.get('Status', 'exited')} with exit status "
            f"{state.get('ExitCode', '?')}{error}. Check that the image follows the "
            f"docker:dind contract.{self._logs()}"
        )

    def _logs(self) -> str:
        if self.container_id is None:
            return ""
        try:
            raw = self.client.api.logs(self.container_id, tail=LOG_LINES)
        except Exception:
            return ""
        text = raw.decode("utf-8", "replace").rstrip() if isinstance(raw, bytes) else str(raw)
        if not text:
            return " The sidecar wrote no log lines."
        lines = "\n".join("    " + line for line in text.splitlines()[-LOG_LINES:])
        return f"\n  last {LOG_LINES} log lines of the sidecar:\n{lines}"

    def _published_host(self, reach_host: str) -> tuple[str, bool]:
        """Containers inside the sidecar publish on the sidecar's addresses: prove that the
        one we chose answers from here, with a real connection to the sidecar's own port."""
        for _ in range(10):
            try:
                with socket.create_connection((reach_host, INNER_PORT), timeout=0.5):
                    return reach_host, True
            except OSError:
                time.sleep(0.05)
        return reach_host, False

    def _host(
        self,
        url: str,
        *,
        tls: TLSConfig,
        info: EngineInfo,
        published: str,
        verified: bool,
        name: str,
        notes: list[str],
    ) -> DockerHost:
        warnings = list(self.outer.warnings)
        if not verified:
            warnings.append(
                f"ports published inside the sidecar should answer on {published}, but a test "
                f"connection to {published}:{INNER_PORT} failed from here; set "
                "--docker-published-host if you know a better address"
            )
        return DockerHost(
            url=url,
            mode="sidecar",
            source=f"sidecar {name} ({self.spec.image})",
            tls=tls,
            published_host=published,
            published_host_verified=verified,
            daemon_socket="/var/run/docker.sock",  # the inner daemon's own socket, for Ryuk
            in_container=self.outer.in_container,
            engine_version=info.version,
            api_version=info.api_version,
            warnings=tuple(warnings),
            notes=tuple(notes),
            trace=self.outer.trace,
            container_id=self.outer.container_id,
            outer=self.outer,
            sidecar_id=self.container_id,
            privileged=self.profile.privileged,
            extras={"run_id": self.owner.run_id, "sidecar_name": name},
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

    # -- errors ------------------------------------------------------------------------------

    def _api_error(self, what: str, exc: Exception) -> str:
        return f"could not {what} on {self.outer.url}: {_api_text(exc)}"

    def _start_error(self, exc: Exception, profile: Profile) -> str:
        text = _api_text(exc)
        if self.fallbacks:
            text += " (after: " + "; ".join(self.fallbacks) + ")"
        if PRIVILEGED_REFUSED in text and profile.privileged:
            return (
                f"the engine at {self.outer.url} refused to start the privileged sidecar: "
                f"{text}. This engine cannot grant every capability that --privileged asks "
                "for (moby#42906: Docker 20.10 on hardened or nested hosts, Talos). Run the "
                "sidecar with an explicit capability set instead: --docker-sidecar-privileged="
                "false (ini docker_sidecar_privileged = false, env "
                f"PYTEST_DOCKER_SIDECAR_PRIVILEGED=0; privileged is now on from "
                f"{self.spec.privileged_source}), or use --docker-sidecar-runtime=sysbox-runc, "
                "or upgrade the engine (23.0 and later grant only what they have)."
            )
        if PRIVILEGED_REFUSED in text:
            return (
                f"the engine at {self.outer.url} refused the sidecar's capabilities: {text}. "
                "Leave out the ones this engine lacks with --docker-sidecar-cap-drop="
                "SYS_RESOURCE,... (ini docker_sidecar_cap_drop, env "
                "PYTEST_DOCKER_SIDECAR_CAP_DROP; names as in docker run --cap-add)."
            )
        return f"could not start the sidecar ({self.spec.image}) on {self.outer.url}: {text}"

    # -- the end -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Remove what this sidecar made (a kept one stays). Safe to call twice."""
        if self.spec.reuse and self.started is not None:
            self.close_client()
            return
        with contextlib.suppress(Exception):
            api = self.client.api
            if self.container_id is not None:
                _remove_container(api, self.container_id)
                self.container_id = None
            if self._connected_self and self.network and self.outer.container_id:
                with contextlib.suppress(Exception):
                    api.disconnect_container_from_network(
                        self.outer.container_id, self.network, force=True
                    )
                self._connected_self = False
            if self.network is not None:
                _remove_network(api, self.network)
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


def reuse_key(image: str, host: str) -> str:
    """Kept sidecars of one user, machine and image: a newer config replaces an older one."""
    data = f"{image}\0{os.getuid()}\0{host}"
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def _config(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k in (L_CONFIG, L_REUSE, L_REUSE_KEY)}


def _server_tar(material: certs.Material) -> bytes:
    """certs/ca/cert.pem and certs/server/{ca,cert,key}.pem, without ca/key.pem: the
    docker:dind entrypoint then uses them as they are and generates nothing."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, data, mode in (
            ("certs/ca/cert.pem", material.ca_cert, 0o644),
            ("certs/server/ca.pem", material.ca_cert, 0o644),
            ("certs/server/cert.pem", material.server_cert, 0o644),
            ("certs/server/key.pem", material.server_key, 0o600),
        ):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _api_text(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return text if len(text) <= 600 else text[:597] + "..."


def _remove_container(api: Any, container_id: str) -> None:
    # Anonymous volumes the image declares (VOLUME ...) go with it: v=True.
    with contextlib.suppress(Exception):
        api.remove_container(container_id, force=True, v=True)


def _remove_network(api: Any, name: str) -> None:
    with contextlib.suppress(Exception):
        info = api.inspect_network(name)
        for endpoint in info.get("Containers") or {}:
            with contextlib.suppress(Exception):
                api.disconnect_container_from_network(endpoint, name, force=True)
        api.remove_network(name)


def _remove_labelled(client: Any, labels: dict[str, str]) -> None:
    """The volume and network that belong with a sidecar's labels (its run)."""
    run = labels.get(L_RUN)
    if run:
        remove_run(client, run)


# --- preload --------------------------------------------------------------------------------


def preload(
    outer_client: Any, inner: DockerHost, images: tuple[str, ...], *, source: str, say: Say
) -> list[str]:
    """Copy ``images`` from the outer daemon into the sidecar: a streamed save -> load, so
    nothing is buffered whole; images the sidecar already has (same id) are skipped."""
    inner_client = inner.client(timeout=600)
    copied: list[str] = []
    try:
        for image in images:
            try:
                outer_id = str(outer_client.api.inspect_image(image)["Id"])
            except Exception as exc:
                raise SidecarError(_preload_missing(image, source, inner.outer, exc)) from None
            with contextlib.suppress(Exception):
                if str(inner_client.api.inspect_image(image)["Id"]) == outer_id:
                    continue
            t0 = time.monotonic()
            try:
                stream = outer_client.api.get_image(image, chunk_size=1024 * 1024)
                for event in inner_client.api.load_image(stream):
                    if isinstance(event, dict) and event.get("error"):
                        raise RuntimeError(event["error"])
            except Exception as exc:
                raise SidecarError(
                    f"copying {image} into the sidecar failed: {_api_text(exc)}"
                ) from None
            say(f"docker: preloaded {image} into the sidecar in {time.monotonic() - t0:.2f} s")
            copied.append(image)
    finally:
        inner_client.close()
    return copied


def _preload_missing(image: str, source: str, outer: DockerHost | None, exc: Exception) -> str:
    where = outer.url if outer is not None else "the outer daemon"
    if _is_not_found(exc):
        return (
            f"cannot preload {image} (from {source}): it is not on the outer daemon {where}. "
            "Pull or build it there first, or remove it from --docker-preload (ini "
            "docker_preload, env PYTEST_DOCKER_PRELOAD)."
        )
    return f"cannot preload {image} (from {source}) from {where}: {_api_text(exc)}"


# --- sweeping and cleanup -------------------------------------------------------------------


def _labelled(client: Any, label: str = L_RUN) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(kind, id or name, labels) of every container, network and volume with ``label``."""
    api = client.api
    for entry in api.containers(all=True, filters={"label": label}):
        yield "container", str(entry["Id"]), dict(entry.get("Labels") or {})
    for entry in api.networks(filters={"label": label}):
        yield "network", str(entry["Name"]), dict(entry.get("Labels") or {})
    for entry in api.volumes(filters={"label": label}).get("Volumes") or []:
        yield "volume", str(entry["Name"]), dict(entry.get("Labels") or {})


def _remove(api: Any, kind: str, ident: str) -> None:
    if kind == "container":
        _remove_container(api, ident)
    elif kind == "network":
        _remove_network(api, ident)
    else:
        with contextlib.suppress(Exception):
            api.remove_volume(ident, force=True)


def sweep(client: Any, *, here: Owner) -> list[str]:
    """Remove what runs whose owner is gone left behind (kill -9, a crashed CI job). Never a
    live run's resources, never a kept (reused) sidecar, never a cache volume."""
    removed: list[str] = []
    found = list(_labelled(client))
    # Containers first: a volume or network in use cannot be removed.
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_REUSE) == "true" or labels.get(L_ROLE) == "cache":
            continue
        if labels.get(L_RUN) == here.run_id or owner_alive(labels, client, here):
            continue
        _remove(client.api, kind, ident)
        removed.append(f"{kind} {ident[:24]}")
    return removed


def remove_run(client: Any, run_id: str) -> list[str]:
    """Remove every container, network and volume of one run (its owner's final cleanup)."""
    removed: list[str] = []
    found = list(_labelled(client, f"{L_RUN}={run_id}"))
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_ROLE) == "cache":
            continue
        _remove(client.api, kind, ident)
        removed.append(f"{kind} {ident[:24]}")
    return removed


def cleanup(client: Any, *, everything: bool, kept: bool, cache: bool) -> list[str]:
    """``python -m pytest_dockerhost cleanup``: what dead runs left behind; with ``kept`` also
    sidecars kept by --docker-sidecar-reuse, with ``everything`` also live runs', with
    ``cache`` also named cache volumes."""
    here = Owner.current("", None)
    removed: list[str] = []
    found = list(_labelled(client, L_ROLE))
    for kind, ident, labels in sorted(found, key=lambda item: item[0] != "container"):
        if labels.get(L_ROLE) == "cache":
            if cache:
                _remove(client.api, kind, ident)
                removed.append(f"{kind} {ident[:24]} (cache)")
            continue
        is_kept = labels.get(L_REUSE) == "true"
        if is_kept and not (kept or everything):
            continue
        if not is_kept and not everything and owner_alive(labels, client, here):
            continue
        _remove(client.api, kind, ident)
        removed.append(f"{kind} {ident[:24]}" + (" (kept sidecar)" if is_kept else ""))
    return removed


def private_dir(prefix: str = "pytest-dockerhost-") -> str:
    """A fresh 0700 folder for client certificates."""
    return tempfile.mkdtemp(prefix=prefix)


def reuse_cert_dir(config_hash: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pytest-dockerhost", "sidecars", config_hash[:16])
