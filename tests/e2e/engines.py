"""Today's engines, run here as nested daemons in containers of the host engine, each with
its unix socket on a volume, so that this machine reaches it the way a forwarded socket
is reached (Docker Desktop, Colima, ``ssh -L``):

- Debian sid's Docker 28 (API 1.51), with the official docker:dind contract (TLS on
  2376, certificates under /certs);
- Debian sid's Podman 5, serving its Docker-compatible API (``podman system service``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conftest import BUSYBOX, DIND28
from .helpers import (
    INNER_TIMEOUT,
    LABEL,
    PROJECT_DIR,
    Agent,
    Run,
    create_unprivileged_dind,
    started_images,
)

PODMAN = "pytest-dockerhost-test/podman:5"
__all__ = [
    "DIND28",
    "PODMAN",
    "REGISTRY",
    "LocalRegistry",
    "NestedEngine",
    "daemon_json_tar",
    "dood_agent",
    "local_registry",
    "nested_engine",
    "write_project",
]
SOCKET_DIR = "/run/outer"
RUN_LABEL = "org.pytest-dockerhost.run"  # on everything the plugin creates


@dataclass
class NestedEngine:
    """A daemon in a container: its socket here, its address, its client certificates."""

    container: Any
    socket: str  # a path on this machine (the volume's mount point)
    address: str  # the container's IP: where its TLS port and published ports answer
    certs: Path | None  # ca.pem, cert.pem, key.pem of its /certs/client (Docker only)
    client: Any
    socket_inside: str  # its socket's path in its own container, for agents to mount

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tls_url(self) -> str:
        return f"tcp://{self.address}:2376"

    def run_here(
        self, folder: Path, label: str, *args: str, in_its_network: bool = False, **env: str
    ) -> Run:
        """``python -m ARGS`` on this machine, with DOCKER_HOST at the forwarded socket;
        ``in_its_network``: in the daemon's network namespace (``nsenter --net``), where
        its loopback is ours, as on the daemon's own host."""
        enter: list[str] = []
        if in_its_network:
            self.container.reload()
            enter = ["nsenter", f"--net=/proc/{self.container.attrs['State']['Pid']}/ns/net"]
        done = subprocess.run(
            [*enter, sys.executable, "-m", *args],
            cwd=folder,
            env={
                **os.environ,
                "DOCKER_HOST": self.url,
                "TESTCONTAINERS_RYUK_DISABLED": "true",
                "E2E_LABEL": f"{LABEL}={label}",
                **env,
            },
            capture_output=True,
            text=True,
            timeout=INNER_TIMEOUT,
            check=False,
        )
        return Run(done.returncode, done.stdout + done.stderr)

    def as_the_machines_engine(self, *args: str) -> list[str]:
        """``ARGS`` to which this daemon is the machine's engine: its socket bound over
        /run/docker.sock (what /var/run/docker.sock resolves to) in a mount namespace of
        their own, and in the daemon's network and hostname namespaces, where its loopback,
        bridges, published ports and hostname (what ``--network host`` containers get) are
        theirs, as on the daemon's own host. Start it ``share_tmp``."""
        self.container.reload()
        ns = f"/proc/{self.container.attrs['State']['Pid']}/ns"
        bind = 'mount --bind "$1" /run/docker.sock && shift && exec "$@"'
        return [
            *("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", bind, "sh"),
            *(self.socket, "nsenter", f"--net={ns}/net", f"--uts={ns}/uts", "--", *args),
        ]

    def started_images(self, since: float, until: float) -> list[str]:
        """The images of containers started here in [since, until], by the names tests use:
        Podman reports ``localhost/NAME`` and stops reading its event file when the wall
        clock reaches ``until``, so it is asked up to a second from now at least."""
        started = started_images(self.client, since, until, asked_until=time.time() + 1)
        return [image.removeprefix("localhost/") for image in started]

    def assert_ran_in_one_sidecar(
        self, result: Any, sidecar_image: str, since: float, until: float
    ) -> None:
        """The suite (``result``, passed) ran in one sidecar started here: only the sidecar
        started on this engine, every client reached one daemon that is not this one, and
        nothing of the run is left."""
        started = self.started_images(since, until)
        assert sidecar_image in started, started
        assert BUSYBOX not in started, started
        assert len(result.daemons) == 1, result
        assert self.client.info()["ID"] not in result.daemons, result
        left = self.client.containers.list(all=True, filters={"label": RUN_LABEL})
        assert not left, [c.name for c in left]

    def load(self, engine: Any, images: Iterable[str]) -> None:
        """Host images into this daemon, by a streamed save and load: no registry."""
        api = self.client.api
        for image in images:
            # With its content type, which Podman needs (docker-py's load sends none).
            reply = api._post(
                api._url("/images/load"),
                data=engine.images.get(image).save(named=True),
                headers={"Content-Type": "application/x-tar"},
            )
            api._raise_for_status(reply)


def write_project(folder: Path, files: dict[str, str]) -> Path:
    """A project folder on this machine, for ``run_here``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def daemon_json_tar(config: dict[str, Any]) -> bytes:
    """etc/docker/daemon.json in a tar, for put_archive into a created container."""
    data = json.dumps(config).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("etc/docker/daemon.json")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@contextlib.contextmanager
def dood_agent(nested: NestedEngine, wheel: Path, files: dict[str, str]) -> Iterator[Agent]:
    """A CI agent on the nested engine, its socket mounted, project and plugin installed."""
    agent = Agent.create(nested.client, f"{os.getpid()}", socket=nested.socket_inside)
    try:
        agent.start()
        agent.put(PROJECT_DIR, files)
        agent.install(wheel)
        yield agent
    finally:
        agent.remove()


def _certs(container: Any, dest: Path) -> Path:
    stream, _ = container.get_archive("/certs/client")
    data = io.BytesIO(b"".join(stream))
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=data) as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if member.isfile() and name in ("ca.pem", "cert.pem", "key.pem"):
                handle = tar.extractfile(member)
                assert handle is not None
                (dest / name).write_bytes(handle.read())
    dest.chmod(0o700)
    (dest / "key.pem").chmod(0o600)
    return dest


@contextlib.contextmanager
def nested_engine(
    engine: Any,
    run_id: str,
    workdir: Path,
    image: str = DIND28,
    daemon_json: dict[str, Any] | None = None,
    *,
    share_tmp: bool = False,
    environment: dict[str, str] | None = None,
) -> Iterator[NestedEngine]:
    """Docker 28 (or Podman 5) in a container of ``engine``, removed with all it holds;
    ``daemon_json`` becomes its /etc/docker/daemon.json; ``share_tmp``: this machine's /tmp
    is its /tmp (dind keeps a /tmp that is a mount point), so that it sees what tests here
    bind from there; ``environment``: more of the daemon's environment."""
    import docker

    podman = image == PODMAN
    socket_volume = engine.volumes.create(f"pdh-nested-sock-{run_id}", labels={LABEL: run_id})
    data_volume = engine.volumes.create(f"pdh-nested-data-{run_id}", labels={LABEL: run_id})
    store = "/var/lib/containers" if podman else "/var/lib/docker"
    container = create_unprivileged_dind(
        engine,
        image,
        # Docker: its socket on the volume (seen from here) and at the usual path inside
        # (for agents it runs with the socket mounted). Podman: the image's own command.
        command=None if podman else ["--host=unix:///var/run/docker.sock"],
        labels={LABEL: run_id},
        environment={
            **({} if podman else {"DOCKER_HOST": f"unix://{SOCKET_DIR}/docker.sock"}),
            **(environment or {}),
        },
        volumes={
            socket_volume.name: {"bind": SOCKET_DIR, "mode": "rw"},
            data_volume.name: {"bind": store, "mode": "rw"},
            "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
            **({"/tmp": {"bind": "/tmp", "mode": "rw"}} if share_tmp else {}),
        },
    )
    if daemon_json is not None:
        assert container.put_archive("/", daemon_json_tar(daemon_json))
    container.start()
    client = None
    try:
        name = "podman.sock" if podman else "docker.sock"
        socket = os.path.join(socket_volume.attrs["Mountpoint"], name)
        # At least the daemon's minimum, where the test raised it.
        api = (environment or {}).get("DOCKER_MIN_API_VERSION", "1.41")
        client = docker.DockerClient(base_url=f"unix://{socket}", version=api, timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                if os.path.exists(socket) and client.ping():
                    break
            except docker.errors.DockerException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{image} never answered:\n{container.logs()[-2000:]!r}")
            time.sleep(0.2)
        container.reload()
        address = container.attrs["NetworkSettings"]["IPAddress"]
        certs = None if podman else _certs(container, workdir / "certs")
        inside = f"{SOCKET_DIR}/{name}" if podman else "/var/run/docker.sock"
        yield NestedEngine(container, socket, address, certs, client, inside)
    finally:
        if client is not None:
            client.close()
        container.remove(force=True, v=True)
        for volume in (socket_volume, data_volume):
            with contextlib.suppress(Exception):
                volume.remove(force=True)


# --- a registry of our own --------------------------------------------------------------

REGISTRY = "pytest-dockerhost-test/registry:local"
REGISTRY_PORT = 5000
# Where the registry's network may go: /16s that Docker's default pools hand out last, so
# that neither a nested engine's bridges (172.17, 172.18, ...) nor a sidecar's own docker0
# inside it (172.17 or 172.18) can shadow the registry's address.
_REGISTRY_SUBNETS = [f"172.{n}.0.0/16" for n in range(31, 23, -1)]


@dataclass
class LocalRegistry:
    """The distribution registry in a container of the host engine, on a network of its own
    (join a nested engine to it: ``registry.network.connect(nested.container)``)."""

    container: Any
    network: Any
    address: str  # its IP on that network
    digests: dict[str, str]  # "repository:tag" pushed -> manifest digest

    @property
    def url(self) -> str:
        return f"http://{self.address}:{REGISTRY_PORT}"

    def access_log(self) -> list[str]:
        """The access log so far: one line per request (Apache combined format, stdout)."""
        raw: bytes = self.container.logs(stdout=True, stderr=False)
        return raw.decode("utf-8", "replace").splitlines()


def _free_subnets(engine: Any) -> Iterator[str]:
    """Candidates in _REGISTRY_SUBNETS that no route here and no network of ``engine`` use."""
    import ipaddress

    taken = []
    with open("/proc/net/route", encoding="ascii") as handle:
        for row in list(handle)[1:]:
            fields = row.split()
            # destination and mask: hex of the address bytes in this (little-endian) host's order
            dest, mask = (ipaddress.IPv4Address(bytes.fromhex(fields[i])[::-1]) for i in (1, 7))
            if int(mask):  # not the default route
                taken.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    for network in engine.networks.list():
        for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(KeyError, ValueError):
                taken.append(ipaddress.ip_network(pool["Subnet"], strict=False))
    for candidate in _REGISTRY_SUBNETS:
        net = ipaddress.ip_network(candidate)
        if not any(net.overlaps(other) for other in taken if other.version == 4):
            yield candidate


@contextlib.contextmanager
def local_registry(engine: Any, run_id: str, images: dict[str, str]) -> Iterator[LocalRegistry]:
    """``REGISTRY`` on ``engine``, holding ``images`` ({host image: "repository:tag"}), pushed
    through its port published on 127.0.0.1 (insecure by default for every daemon); removed
    with its network afterwards."""
    import urllib.request

    import docker

    labels = {LABEL: run_id}
    network = container = None
    try:
        for subnet in _free_subnets(engine):
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
            try:
                network = engine.networks.create(f"pdh-registry-{run_id}", labels=labels, ipam=ipam)
                break
            except docker.errors.APIError as exc:  # taken meanwhile, by a run beside us
                if "overlap" not in str(exc):
                    raise
        assert network is not None, f"no free subnet among {_REGISTRY_SUBNETS}"
        container = engine.containers.run(
            REGISTRY,
            name=f"pdh-registry-{run_id}",
            labels=labels,
            network=network.name,
            ports={f"{REGISTRY_PORT}/tcp": ("127.0.0.1", None)},
            detach=True,
        )
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        port = container.attrs["NetworkSettings"]["Ports"][f"{REGISTRY_PORT}/tcp"][0]["HostPort"]
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no *_proxy
        deadline = time.monotonic() + 30
        while True:
            try:
                with direct.open(f"http://127.0.0.1:{port}/v2/", timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    logs = container.logs()[-2000:]
                    raise AssertionError(f"{REGISTRY} never answered:\n{logs!r}") from exc
                time.sleep(0.2)
        digests: dict[str, str] = {}
        for image, target in images.items():
            repository, tag = target.rsplit(":", 1)
            local = f"127.0.0.1:{port}/{repository}"
            engine.images.get(image).tag(local, tag)
            try:
                for event in engine.images.push(local, tag=tag, stream=True, decode=True):
                    assert "error" not in event, f"push of {image} as {target}: {event}"
                    if "Digest" in event.get("aux", {}):
                        digests[target] = str(event["aux"]["Digest"])
            finally:
                engine.images.remove(f"{local}:{tag}")  # only our tag
            assert digests.get(target), f"push of {image} as {target} named no digest"
        yield LocalRegistry(container, network, address, digests)
    finally:
        if container is not None:
            container.remove(force=True, v=True)
        if network is not None:
            with contextlib.suppress(Exception):
                network.remove()
