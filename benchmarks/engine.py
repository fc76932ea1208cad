"""The real engine: a labelled docker-py client, dind containers, test images, cleanup."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import harness

if TYPE_CHECKING:
    import docker
    import docker.models.containers

DIND_IMAGE = "pytest-dockerhost-test/dind:local"
BUSYBOX_IMAGE = "pytest-dockerhost-test/busybox:local"
BIG_IMAGE = "pytest-dockerhost-bench/big:local"
BIG_MB = 50


def unprivileged_profile() -> dict[str, Any]:
    """Raw HostConfig fields for a nested dockerd without --privileged (docker-on-ci.md §3).

    The capability list comes from the package's sidecar code (every capability this
    machine's bounding set has), so the baselines and the sidecar run under the same
    profile; the rest mirrors its ``_create_config``.
    """
    from pytest_dockerhost.config.settings import Settings
    from pytest_dockerhost.sidecar.spec import Spec

    caps, _ = Spec.from_settings(Settings.from_sources({}, {}, {})).capabilities(True)
    return {
        "CapAdd": caps,
        "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
        "MaskedPaths": [],  # --security-opt systempaths=unconfined
        "ReadonlyPaths": [],
        "DeviceCgroupRules": ["a *:* rwm"],
        "CgroupnsMode": "host",
        "Binds": ["/sys/fs/cgroup:/sys/fs/cgroup:rw"],
    }


_clients: dict[str, docker.DockerClient] = {}


def client() -> docker.DockerClient:
    """The outer engine (the local socket), where every baseline runs."""
    if "outer" not in _clients:
        import docker

        _clients["outer"] = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=120)
    return _clients["outer"]


def version_text() -> str:
    info = client().version()
    return f"{info['Version']} (API {info['ApiVersion']})"


def sweep(run_id: str | None = harness.RUN_ID) -> None:
    """Remove containers, volumes and networks of this run (or of dead earlier runs)."""
    api = client()

    def mine(item_labels: dict[str, str] | None) -> bool:
        item_labels = item_labels or {}
        owner = item_labels.get(harness.LABEL)
        if owner is None:
            return False
        if owner == run_id:
            return True
        pid = item_labels.get(harness.LABEL_PID, "")
        return pid.isdigit() and not Path(f"/proc/{pid}").exists()  # a crashed earlier run

    _sweep_plugin_children(api)
    for container in api.containers.list(all=True, filters={"label": harness.LABEL}):
        if mine(container.labels):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
    for volume in api.volumes.list(filters={"label": harness.LABEL}):
        if mine(volume.attrs.get("Labels")):
            with contextlib.suppress(Exception):
                volume.remove(force=True)
    for network in api.networks.list(filters={"label": harness.LABEL}):
        if mine(network.attrs.get("Labels")):
            with contextlib.suppress(Exception):
                network.remove()


PLUGIN_OWNER_PID = "org.pytest-dockerhost.owner-pid"


def _sweep_plugin_children(api: docker.DockerClient) -> None:
    """Sidecars (kept for reuse, or left by a pytest we had to stop), their volumes and
    networks, that the plugin made in pytest processes this run started."""
    if not harness.CHILD_PIDS:
        return
    pids = {str(pid) for pid in harness.CHILD_PIDS}

    def ours(item_labels: dict[str, str] | None) -> bool:
        return (item_labels or {}).get(PLUGIN_OWNER_PID) in pids

    for container in api.containers.list(all=True, filters={"label": PLUGIN_OWNER_PID}):
        if ours(container.labels):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
    for network in api.networks.list(filters={"label": PLUGIN_OWNER_PID}):
        if ours(network.attrs.get("Labels")):
            with contextlib.suppress(Exception):
                network.remove()
    for volume in api.volumes.list(filters={"label": PLUGIN_OWNER_PID}):
        if ours(volume.attrs.get("Labels")):
            with contextlib.suppress(Exception):
                volume.remove(force=True)


def remove(container: docker.models.containers.Container, volume: str | None = None) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True, v=True)
    if volume:
        with contextlib.suppress(Exception):
            client().volumes.get(volume).remove(force=True)


# --- certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class CertSet:
    root: Path  # holds server/{ca,cert,key}.pem and client/{ca,cert,key}.pem

    @property
    def client_dir(self) -> Path:
        return self.root / "client"

    def server_tar(self, prefix: str = "certs") -> bytes:
        """server/*.pem under ``prefix``, for put_archive into the container's /."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name in ("ca.pem", "cert.pem", "key.pem"):
                data = (self.root / "server" / name).read_bytes()
                info = tarfile.TarInfo(f"{prefix}/server/{name}")
                info.size = len(data)
                info.mode = 0o600 if name == "key.pem" else 0o644
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


def make_certs(directory: Path) -> CertSet:
    """A CA, a server certificate for 127.0.0.1/localhost/docker and a client certificate:
    the package's own ``certs.make``, laid out as docker:dind's server/ and client/."""
    from pytest_dockerhost.sidecar import certs

    material = certs.make(["localhost", "docker", "127.0.0.1"])
    for role, cert, key in (
        ("server", material.server_cert, material.server_key),
        ("client", material.client_cert, material.client_key),
    ):
        folder = directory / role
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ca.pem").write_bytes(material.ca_cert)
        (folder / "cert.pem").write_bytes(cert)
        (folder / "key.pem").write_bytes(key)
        (folder / "key.pem").chmod(0o600)
    return CertSet(directory)


# --- dind ------------------------------------------------------------------------------


def _tls_client(port: int, cert_dir: Path) -> Any:
    import docker

    tls = docker.tls.TLSConfig(
        client_cert=(str(cert_dir / "cert.pem"), str(cert_dir / "key.pem")),
        ca_cert=str(cert_dir / "ca.pem"),
        verify=True,
    )
    api = docker.APIClient(base_url=f"https://127.0.0.1:{port}", tls=tls, version="1.41", timeout=2)
    api.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace our CA
    return api


def poll_version(port: int, cert_dir: Path, *, deadline: float, interval: float = 0.02) -> str:
    """Poll ``version`` over TLS until the daemon answers (what users wait for)."""
    api = _tls_client(port, cert_dir)
    try:
        while True:
            try:
                return str(api.version()["Version"])
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(interval)
    finally:
        api.close()


def _create_dind(volume: str, *, env: dict[str, str] | None = None) -> Any:
    api = client()
    api.volumes.create(volume, labels=harness.labels())
    host_config = api.api.create_host_config(
        port_bindings={2376: ("127.0.0.1", None)},
        binds=[f"{volume}:/var/lib/docker:rw"],
    )
    for key, value in unprivileged_profile().items():
        if key == "Binds":
            host_config["Binds"] = [*host_config.get("Binds", []), *value]
        else:
            host_config[key] = value
    created = api.api.create_container(
        DIND_IMAGE,
        detach=True,
        environment=env or {},
        labels=harness.labels(role="dind-baseline"),
        ports=[2376],
        host_config=host_config,
    )
    return api.containers.get(created["Id"])


def _host_port(container: Any) -> int:
    container.reload()
    return int(container.ports["2376/tcp"][0]["HostPort"])


def _unique(stem: str) -> str:
    return f"pdh-bench-{stem}-{harness.RUN_ID}-{time.monotonic_ns() % 10**9}"


def dind_usual(timeout: float = 120.0, poll: float = 0.1) -> float:
    """The hand-rolled way: run with DOCKER_TLS_CERTDIR=/certs, wait for /certs/client,
    copy it out, poll until ``version`` answers. Returns the seconds it took."""
    volume = _unique("usual")
    container = None
    with tempfile.TemporaryDirectory(prefix="pdh-bench-certs-") as tmp:
        try:
            start = time.perf_counter()
            deadline = time.monotonic() + timeout
            container = _create_dind(volume, env={"DOCKER_TLS_CERTDIR": "/certs"})
            container.start()
            while True:  # the entrypoint copies ca.pem into client/ last
                try:
                    stream, _ = container.get_archive("/certs/client/ca.pem")
                    b"".join(stream)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(poll)
            stream, _ = container.get_archive("/certs/client")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                # Regular files only, by name (extractall's filter= needs Python 3.11.4+).
                for member in tar.getmembers():
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        target = Path(tmp) / "client" / Path(member.name).name
                        target.parent.mkdir(exist_ok=True)
                        target.write_bytes(handle.read())
            port = _host_port(container)
            poll_version(port, Path(tmp) / "client", deadline=deadline, interval=poll)
            return time.perf_counter() - start
        finally:
            if container is not None:
                remove(container, volume)
            else:
                remove_volume(volume)


def dind_floor(certs: CertSet, timeout: float = 60.0) -> float:
    """The same image with its certificates already in place (put_archive before start),
    polled until ``version`` answers: the daemon's own start time."""
    volume = _unique("floor")
    container = None
    try:
        start = time.perf_counter()
        deadline = time.monotonic() + timeout
        container = _create_dind(volume, env={"DOCKER_TLS_CERTDIR": "/certs"})
        container.put_archive("/", certs.server_tar())
        container.start()
        port = _host_port(container)
        poll_version(port, certs.client_dir, deadline=deadline)
        return time.perf_counter() - start
    finally:
        if container is not None:
            remove(container, volume)
        else:
            remove_volume(volume)


@contextlib.contextmanager
def running_floor_dind(certs: CertSet) -> Any:
    """A ready dind (certs pre-placed) for rows that need a daemon: yields its port."""
    volume = _unique("daemon")
    container = _create_dind(volume, env={"DOCKER_TLS_CERTDIR": "/certs"})
    try:
        container.put_archive("/", certs.server_tar())
        container.start()
        port = _host_port(container)
        poll_version(port, certs.client_dir, deadline=time.monotonic() + 60)
        yield port
    finally:
        remove(container, volume)


def remove_volume(volume: str) -> None:
    with contextlib.suppress(Exception):
        client().volumes.get(volume).remove(force=True)


# --- images ---------------------------------------------------------------------------


def ensure_images() -> None:
    """The repo's cached test images (busybox, dind), built once by tests/images/build.sh."""
    api = client()
    missing = []
    for tag in (BUSYBOX_IMAGE, DIND_IMAGE):
        try:
            api.images.get(tag)
        except Exception:
            missing.append(tag.split("/")[1].split(":")[0])
    if missing:
        harness.run(["bash", str(harness.REPO / "tests/images/build.sh"), *missing], timeout=900)


def ensure_big_image() -> int:
    """A ~50 MB image: busybox plus a layer of random data. Cached by tag. Returns bytes."""
    api = client()
    try:
        image = api.images.get(BIG_IMAGE)
        return int(image.attrs["Size"])
    except Exception:
        pass
    with tempfile.TemporaryDirectory(prefix="pdh-bench-big-") as tmp:
        root = Path(tmp)
        (root / "Dockerfile").write_text(
            f"FROM {BUSYBOX_IMAGE}\nCOPY blob /blob\n"
            f'LABEL {harness.CACHE_LABEL}="{BIG_MB} MB of random data on busybox"\n'
        )
        with (root / "blob").open("wb") as fh:
            for _ in range(BIG_MB):
                fh.write(os.urandom(1024 * 1024))
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        subprocess.run(
            ["docker", "build", "-q", "-t", BIG_IMAGE, str(root)],
            env=env,
            check=True,
            capture_output=True,
        )
    return int(api.images.get(BIG_IMAGE).attrs["Size"])
