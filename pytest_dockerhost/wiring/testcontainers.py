"""Point testcontainers-python (and docker-py's ``from_env``) at the resolved endpoint.

testcontainers reads some values at import time (``TESTCONTAINERS_HOST_OVERRIDE``,
``~/.testcontainers.properties``), so the environment is set before test modules
are imported and, when it was imported already, its config object is patched
too. docker-py's containers get the daemon's path for each local bind, or a copy where
it cannot see one (``copies``). Everything is put back at the end of the session;
nothing is written to the user's home.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..tempdirs import private_dir, remove_private_dir
from .copies import Copies
from .forward_wait import ForwardWait
from .mount_guard import MountGuard

if TYPE_CHECKING:
    from ..discovery.endpoint import DockerHost

_MISSING = object()
_CONFIG_MODULE = "testcontainers.core.config"
_LABELS_MODULE = "testcontainers.core.labels"
# Modules that copy SESSION_ID at import (``from ...labels import SESSION_ID``).
_SESSION_COPIES = ("testcontainers.core.container", "testcontainers.core.docker_client")
# requests lets these override docker-py's own CA (psf/requests#3829), which breaks TLS
# verification of the daemon for every docker.from_env() client, testcontainers' included.
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class Wiring:
    """Sets and later restores the environment and testcontainers' config."""

    def __init__(self) -> None:
        self._env: dict[str, str | None] = {}
        self._config: dict[str, Any] = {}
        self._bundle_dir: str | None = None
        self._session = ""
        self._sessions: dict[str, Any] = {}  # module -> its SESSION_ID before ours
        self._watch: Any = None
        self._held: Callable[[], None] | None = None  # what docker.from_env() waits for
        self._gates: list[tuple[Any, Any]] = []  # (module, its own from_env)
        self._gate_watch: Any = None
        self._mounts = MountGuard()
        self._forwards = ForwardWait()
        self._copies = Copies()

    @property
    def applied(self) -> bool:
        return bool(self._env)

    def hold(self, wait: Callable[[], None]) -> None:
        """Until the endpoint is known, ``docker.from_env()`` (testcontainers' way to a
        client too) first calls ``wait``, which wires it: the sidecar keeps starting
        while pytest collects, and the first client gets it, not another daemon."""
        if self._held is not None:
            return
        self._held = wait
        if "docker" in sys.modules:
            self._gate()
            return
        from .usage import ImportWatch

        self._gate_watch = ImportWatch(self._gate, names=("docker",))
        self._gate_watch.install()

    def _gate(self) -> None:
        for name in ("docker", "docker.client"):
            module = sys.modules.get(name)
            original = getattr(module, "from_env", None)
            if module is None or original is None:
                continue

            def from_env(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                wait = self._held
                if wait is not None:
                    wait()
                return _original(*args, **kwargs)

            self._gates.append((module, original))
            setattr(module, "from_env", from_env)  # noqa: B010 (a module global)

    def release(self) -> None:
        """docker.from_env() is docker-py's own again."""
        self._held = None
        if self._gate_watch is not None:
            self._gate_watch.uninstall()
            self._gate_watch = None
        while self._gates:
            module, original = self._gates.pop()
            setattr(module, "from_env", original)  # noqa: B010

    def apply(self, host: DockerHost, *, disable_ryuk: bool = False) -> None:
        self.release()
        values = dict(host.environment())
        values["TESTCONTAINERS_HOST_OVERRIDE"] = host.published_host
        values["TC_HOST"] = host.published_host
        if host.daemon_socket:
            values["TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE"] = host.daemon_socket
        if "TESTCONTAINERS_CONNECTION_MODE" not in os.environ:
            # Mapped ports on the host we chose; otherwise testcontainers guesses a gateway
            # whenever it finds /.dockerenv.
            values["TESTCONTAINERS_CONNECTION_MODE"] = "docker_host"
        if disable_ryuk and "TESTCONTAINERS_RYUK_DISABLED" not in os.environ:
            # The sidecar is removed with everything in it, and Ryuk inside it would need a pull.
            values["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        values.update(self._ca_bundles(host))
        self._set(values)
        self.patch_config(host, disable_ryuk=values.get("TESTCONTAINERS_RYUK_DISABLED") == "true")
        self._mounts.install(host)
        if host.remote is not None:
            self._forwards.install()  # published ports come through the run's SSH forwards
        self._copies.install(host)

    def set_session(self, session: str) -> None:
        """testcontainers' session label, the same in every process of the run: the reaper
        finds the whole run by it. Set right after ``testcontainers.core.labels`` runs, so
        the modules that copy it at import (the reaper, the client) copy ours."""
        if self._session == session:
            return
        self._session = session
        if _LABELS_MODULE in sys.modules:
            self._apply_session()
            return
        from .usage import ImportWatch

        self._watch = ImportWatch(self._apply_session, names=(_LABELS_MODULE,))
        self._watch.install()

    def _apply_session(self) -> None:
        for name in (_LABELS_MODULE, *_SESSION_COPIES):
            module = sys.modules.get(name)
            if module is not None and hasattr(module, "SESSION_ID"):
                if name not in self._sessions:
                    self._sessions[name] = module.SESSION_ID
                setattr(module, "SESSION_ID", self._session)  # noqa: B010 (a module global)

    def block(self) -> None:
        """Point docker-py at a socket that cannot exist, so nothing reaches another daemon."""
        self.release()
        if self._bundle_dir is None:
            self._bundle_dir = private_dir("pytest-dockerhost-ca-")
        values: dict[str, str | None] = {
            "DOCKER_HOST": "unix://" + os.path.join(self._bundle_dir, "no-sidecar.sock"),
            "DOCKER_CONTEXT": None,
            "DOCKER_TLS_VERIFY": None,
            "DOCKER_CERT_PATH": None,
            "DOCKER_TLS": None,
        }
        self._set(values)

    def _set(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            if key not in self._env:
                self._env[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _ca_bundles(self, host: DockerHost) -> dict[str, str | None]:
        """Bundles that trust what they trusted before plus the daemon's CA."""
        tls = host.tls
        if tls is None or not tls.verify or not tls.ca_cert:
            return {}
        bundles: dict[str, str | None] = {}
        for name in _CA_BUNDLE_VARIABLES:
            # After an earlier apply, the user's own value is the saved one.
            original = self._env[name] if name in self._env else os.environ.get(name)
            if not original:
                continue
            if self._bundle_dir is None:
                self._bundle_dir = private_dir("pytest-dockerhost-ca-")
            target = os.path.join(self._bundle_dir, f"{name.lower()}.pem")
            try:
                with open(original, "rb") as src:
                    trusted = src.read()
                with open(tls.ca_cert, "rb") as ca:
                    extra = ca.read()
            except OSError:
                continue
            with open(target, "wb") as out:
                out.write(trusted.rstrip(b"\n") + b"\n" + extra)
            bundles[name] = target
        return bundles

    def patch_config(self, host: DockerHost, *, disable_ryuk: bool) -> None:
        """Update testcontainers' import-time config, if it is imported."""
        module = sys.modules.get(_CONFIG_MODULE)
        config = getattr(module, "testcontainers_config", None)
        if config is None:
            return
        wanted: dict[str, Any] = {"tc_host_override": host.published_host}
        mode_enum = getattr(module, "ConnectionMode", None)
        if mode_enum is not None and os.environ.get("TESTCONTAINERS_CONNECTION_MODE") == (
            "docker_host"
        ):
            wanted["connection_mode_override"] = mode_enum("docker_host")
        if host.daemon_socket:
            wanted["_ryuk_docker_socket"] = host.daemon_socket
        if disable_ryuk:
            wanted["_ryuk_disabled"] = True
        props = getattr(config, "tc_properties", None)
        if isinstance(props, dict) and "tc.host" in props:
            # tc.host would beat DOCKER_HOST inside testcontainers.
            wanted["tc_properties"] = {k: v for k, v in props.items() if k != "tc.host"}
        for name, value in wanted.items():
            if name not in self._config:
                self._config[name] = getattr(config, name, _MISSING)
            setattr(config, name, value)

    def restore(self) -> None:
        self.release()
        self._mounts.uninstall()
        self._forwards.uninstall()
        self._copies.uninstall()
        if self._watch is not None:
            self._watch.uninstall()
            self._watch = None
        for name, value in self._sessions.items():
            module = sys.modules.get(name)
            if module is not None:
                setattr(module, "SESSION_ID", value)  # noqa: B010
        self._sessions.clear()
        self._session = ""
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._env.clear()
        module = sys.modules.get(_CONFIG_MODULE)
        config = getattr(module, "testcontainers_config", None)
        if config is not None:
            for name, value in self._config.items():
                if value is _MISSING:
                    continue
                setattr(config, name, value)
        self._config.clear()
        if self._bundle_dir is not None:
            remove_private_dir(self._bundle_dir)
            self._bundle_dir = None
