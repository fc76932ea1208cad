"""The plugin's state for one pytest run, independent of pytest's hook machinery."""

from __future__ import annotations

import contextlib
from typing import Any

from .endpoint import DockerHost
from .errors import DockerHostError, NoEndpointError
from .resolve import Resolution, resolve
from .settings import Settings
from .testcontainers import Wiring


class DockerSession:
    """Resolves once, hands the endpoint to tests, and puts everything back at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.resolution: Resolution | None = None
        self.host: DockerHost | None = None
        self.error: str = ""
        self.wiring = Wiring()
        self._closers: list[Any] = []

    @property
    def mode(self) -> str:
        return self.settings.mode.value

    def start(self) -> None:
        """Resolve the endpoint (cheap and bounded) and wire the environment to it."""
        self.resolution = resolve(self.settings)
        if self.resolution.host is None:
            self.error = self.resolution.error
            return
        self._use(self.resolution.host)

    def adopt(self, data: dict[str, Any]) -> None:
        """Take the endpoint the controller resolved (pytest-xdist workers)."""
        if data.get("host"):
            self._use(DockerHost.from_dict(data["host"]))
        else:
            self.error = str(data.get("error") or "no endpoint was resolved")

    def export(self) -> dict[str, Any]:
        """What a pytest-xdist worker needs to adopt this session's endpoint."""
        return {"host": self.host.to_dict() if self.host else None, "error": self.error}

    def _use(self, host: DockerHost) -> None:
        self.host = host
        self.error = ""
        self.wiring.apply(host, disable_ryuk=host.outer is not None)

    def require(self) -> DockerHost:
        """The endpoint for a test that needs Docker, or an error saying why there is none."""
        if self.host is not None:
            # testcontainers may have been imported since the session started.
            self.wiring.patch_config(self.host, disable_ryuk=self.host.outer is not None)
            return self.host
        raise NoEndpointError(self.error or "Docker endpoint not resolved")

    def on_close(self, closer: Any) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(DockerHostError, OSError):
                closer()
        self.wiring.restore()

    def header_lines(self, verbose: int) -> list[str]:
        lines: list[str] = []
        if self.host is not None:
            lines.append(self.host.summary())
            lines.extend(f"docker: note: {note}" for note in self.host.notes)
            lines.extend(f"docker: warning: {warning}" for warning in self.host.warnings)
        else:
            action = "fail" if self.settings.fail_without_docker else "be skipped"
            lines.append(
                f"docker: no working endpoint (mode {self.mode}); tests that need Docker "
                f"will {action}"
            )
            if verbose <= 0:
                lines.extend("docker: " + line.strip() for line in self.error.splitlines()[1:4])
        if verbose > 0:
            trace = (
                self.host.trace
                if self.host is not None
                else (self.resolution.trace if self.resolution is not None else ())
            )
            for name, value, source in self.settings.describe():
                if source != "default":
                    lines.append(f"docker: setting {name} = {value} (from {source})")
            for entry in trace:
                text = f"docker: tried {entry.source}: {entry.url} -> {entry.outcome}"
                text += f" in {entry.elapsed * 1000:.0f} ms"
                if entry.detail:
                    text += f" ({entry.detail})"
                lines.append(text)
                if entry.fix and verbose > 1:
                    lines.append(f"docker:   fix: {entry.fix}")
        return lines
