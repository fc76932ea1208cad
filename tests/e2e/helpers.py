"""Run pytest inside a CI-agent container, the way a Jenkins or GitLab job would.

Files reach containers by ``put_archive`` only (never a bind mount: under DooD a
bind-mount source is resolved on the daemon's host). Everything created here
carries the run's label, so that each test can prove it left nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_dockerhost.sidecar.spec import CAPABILITIES

from ..conftest import AGENT, ROOT
from ..helpers import engine_events

LABEL = "pytest-dockerhost-e2e"
SOCKET = "/var/run/docker.sock"
PROJECT_DIR = "/home/jenkins/project"
JENKINS_UID = 1000
# What every inner run needs: no registry here, so no Ryuk; a Jenkins-like CI marker so
# that "no endpoint" fails the run instead of skipping (skip locally, fail in CI).
AGENT_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true", "JENKINS_URL": "http://jenkins.invalid/"}
INNER_TIMEOUT = 240  # seconds for one inner pytest run; coreutils `timeout` ends a hang


def socket_gid() -> int:
    """The host socket's group, read now: it differs between machines."""
    return os.stat(SOCKET).st_gid


def build_wheel(dest: Path) -> Path:
    """The project's wheel, built from a copy of this checkout (no build/ litter in it)."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "pytest_dockerhost",
        src / "pytest_dockerhost",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    out = dest / "wheel"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    if _setuptools_major() >= 77:  # PEP 639 license metadata, as pyproject.toml uses
        command.insert(4, "--no-build-isolation")  # else pip fetches setuptools as configured
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    (wheel,) = out.glob("pytest_dockerhost-*.whl")
    return wheel


def _setuptools_major() -> int:
    from importlib import metadata

    try:
        return int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


def tar_of(files: Mapping[str, bytes | str], *, uid: int = JENKINS_UID, mode: int = 0o644) -> bytes:
    """A tar archive of ``{relative path: content}`` owned by ``uid`` (so jenkins may write)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs: set[str] = set()
        for name, content in files.items():
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folder = "/".join(parts[:depth])
                if folder not in dirs:
                    dirs.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.uid = info.gid = uid
                    tar.addfile(info)
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.uid = info.gid = uid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass(repr=False)
class Run:
    """One pytest run inside an agent: its exit code and combined output."""

    exit_code: int
    output: str

    def lines(self) -> list[str]:
        return self.output.splitlines()

    def header(self, prefix: str = "docker: ") -> list[str]:
        return [line for line in self.lines() if line.startswith(prefix)]

    def __str__(self) -> str:  # for assertion messages: the whole inner output
        return f"inner pytest exit code {self.exit_code}; output:\n{self.output}"


class Agent:
    """A CI-agent container on some engine: project copied in, plugin installed from a wheel."""

    def __init__(self, container: Any) -> None:
        self.container = container

    @classmethod
    def create(
        cls,
        client: Any,
        run_id: str,
        *,
        image: str = AGENT,
        socket: str | None = SOCKET,
        group_add: Iterable[int] = (),
        environment: Mapping[str, str] | None = None,
        volumes: Mapping[str, Mapping[str, str]] | None = None,
        network: str | None = None,
        **create: Any,
    ) -> Agent:
        binds: dict[str, Any] = dict(volumes or {})
        if socket is not None:
            # The one bind mount DooD is about: the daemon's socket (``socket``, a path on
            # its side), at /run, which /var/run links to in the image: Docker 28 refuses
            # archive copies into a container with a mount below a symlink ("path escapes
            # from parent").
            binds[socket] = {"bind": "/run/docker.sock", "mode": "rw"}
        container = client.containers.create(
            image,
            command=["sleep", "infinity"],
            labels={LABEL: run_id},
            environment={**AGENT_ENV, **(environment or {})},
            group_add=[str(gid) for gid in group_add] or None,
            volumes=binds or None,
            network=network,
            detach=True,
            **create,
        )
        return cls(container)

    def put(self, folder: str, files: Mapping[str, bytes | str], **kw: Any) -> None:
        self.exec(["mkdir", "-p", folder], user="root")
        self.exec(["chown", f"{JENKINS_UID}:{JENKINS_UID}", folder], user="root")
        assert self.container.put_archive(folder, tar_of(files, **kw))

    def start(self) -> Agent:
        self.container.start()
        return self

    def install(self, wheel: Path) -> None:
        """Install the plugin from the wheel built on the host: offline, as root, no deps."""
        self.put("/tmp/wheel", {wheel.name: wheel.read_bytes()}, uid=0)
        run = self.exec(
            ["pip", "install", "-q", "--no-deps", "--no-index", f"/tmp/wheel/{wheel.name}"],
            user="root",
        )
        assert run.exit_code == 0, f"installing the wheel failed: {run}"

    def exec(
        self,
        command: list[str],
        *,
        user: str = "jenkins",
        environment: Mapping[str, str] | None = None,
        workdir: str | None = None,
    ) -> Run:
        code, output = self.container.exec_run(
            command, user=user, environment=dict(environment or {}), workdir=workdir
        )
        return Run(code, output.decode("utf-8", "replace"))

    def pytest(
        self,
        *args: str,
        environment: Mapping[str, str] | None = None,
        user: str = "jenkins",
        workdir: str = PROJECT_DIR,
    ) -> Run:
        """``pytest ARGS`` as jenkins in the project folder, bounded by INNER_TIMEOUT."""
        return self.exec(
            ["timeout", str(INNER_TIMEOUT), "python", "-m", "pytest", *args],
            environment=environment,
            user=user,
            workdir=workdir,
        )

    def gateway(self) -> str:
        self.container.reload()
        networks = self.container.attrs["NetworkSettings"]["Networks"]
        return str(next(iter(networks.values()))["Gateway"])

    def remove(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.container.remove(force=True, v=True)


@contextlib.contextmanager
def socket_sharing_agent(
    engine: Any, name: str, wheel_dir: Path, files: Mapping[str, str]
) -> Iterator[Agent]:
    """A Jenkins-like agent on ``engine`` that shares its socket (in the socket's group),
    with ``files`` in its project and the plugin installed from a fresh wheel; removed
    afterwards."""
    wheel = build_wheel(wheel_dir)
    created = Agent.create(engine, name, group_add=[socket_gid()])
    try:
        created.start()
        created.put(PROJECT_DIR, dict(files))
        created.install(wheel)
        yield created
    finally:
        created.remove()


def leftovers(client: Any, label: str) -> dict[str, list[str]]:
    """Containers (running or not), volumes and networks that carry ``label``."""
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters={"label": label})],
        "volumes": [v.name for v in client.volumes.list(filters={"label": label})],
        "networks": [n.name for n in client.networks.list(filters={"label": label})],
    }


def remove_labelled(client: Any, label: str) -> None:
    """Remove whatever carries ``label``: containers first, then networks and volumes."""
    for container in client.containers.list(all=True, filters={"label": label}):
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters={"label": label}):
        with contextlib.suppress(Exception):
            network.remove()
    for volume in client.volumes.list(filters={"label": label}):
        with contextlib.suppress(Exception):
            volume.remove(force=True)


def started_images(
    engine: Any, since: float, until: float, event: str = "start", *, asked_until: float = 0
) -> list[str]:
    """The image of every container the engine started (or another ``event``) in
    [since, until], from the engine's own events (``asked_until``: see engine_events)."""
    events = engine_events(
        engine, since, until, {"type": "container", "event": event}, asked_until=asked_until
    )
    return [str(found.get("from") or found["Actor"]["Attributes"].get("image")) for found in events]


def wait_until(predicate: Any, timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Compose:
    """docker-compose (the v1.29 Python tool from Debian) for one project name."""

    def __init__(self, project: str, files: Iterable[Path], env: Mapping[str, str]) -> None:
        binary = shutil.which("docker-compose")
        if binary is None:
            import pytest

            pytest.skip("needs docker-compose (.ci/run installs Debian's docker-compose)")
        self.binary = binary
        self.project = project
        self.files = list(files)
        self.env = {**os.environ, **env}
        self.selector = f"com.docker.compose.project={project}"

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        command = [self.binary, "--ansi", "never", "-p", self.project]
        for path in self.files:
            command += ["-f", str(path)]
        done = subprocess.run(
            [*command, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stderr}"
        return done

    def container(self, client: Any, service: str) -> Any:
        (found,) = client.containers.list(
            all=True,
            filters={"label": [self.selector, f"com.docker.compose.service={service}"]},
        )
        return found

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", "-t", "3")


def load_yaml(path: Path) -> Any:
    """Parse YAML with PyYAML, from this interpreter or from docker-compose's (python3-yaml)."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        return yaml.safe_load(path.read_text())
    compose = shutil.which("docker-compose")
    interpreter = ""
    if compose:
        with open(compose, encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
        interpreter = first[2:].strip().split()[0] if first.startswith("#!") else ""
    if not interpreter:
        import pytest

        pytest.skip("needs PyYAML (python3-yaml, which docker-compose brings)")
    done = subprocess.run(
        [
            interpreter,
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"{path} is not valid YAML:\n{done.stderr}"
    import json

    return json.loads(done.stdout)


# docker-on-ci.md section 3: what a nested dockerd needs when --privileged is refused.
# Every capability but SYS_RESOURCE, which this engine's bounding set lacks: the
# package's own list, so the recipes, the tests and the sidecar share one profile.
CAPS = [name for name in CAPABILITIES if name != "SYS_RESOURCE"]


def unprivileged_dind_kwargs() -> dict[str, Any]:
    """docker-py create() arguments for dind without --privileged (refused on this host)."""
    return {
        "cap_add": list(CAPS),
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "device_cgroup_rules": ["a *:* rwm"],
        "cgroupns": "host",
    }


def create_unprivileged_dind(
    engine: Any,
    image: str,
    *,
    command: Any = None,
    environment: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    volumes: Mapping[str, Mapping[str, str]] | None = None,
    network_mode: str | None = None,
    sysctls: Mapping[str, str] | None = None,
) -> Any:
    """A created (not started) dind container with ``unprivileged_dind_kwargs`` and the CLI's
    ``--security-opt systempaths=unconfined``, which docker-py's keywords cannot say: Docker
    28 writes per-interface sysctls under /proc/sys when it wires a container's network."""
    api = engine.api
    profile = unprivileged_dind_kwargs()
    host_config = api.create_host_config(
        binds=dict(volumes or {}),
        network_mode=network_mode,
        sysctls=dict(sysctls) if sysctls else None,
        **profile,
    )
    host_config["MaskedPaths"] = []
    host_config["ReadonlyPaths"] = []
    created = api.create_container(
        image,
        command=command,
        environment=dict(environment or {}),
        labels=dict(labels or {}),
        volumes=[spec["bind"] for spec in (volumes or {}).values()],
        host_config=host_config,
    )
    return engine.containers.get(created["Id"])
