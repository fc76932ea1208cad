"""One sidecar per run, shared by every pytest-xdist worker, stopped once by its owner.

The owner is the process that outlives the others: the xdist controller, or the only
pytest process. It makes a private run folder (0700) and hands its path to workers
through ``workerinput``. The owner starts the sidecar early, on a thread (or else the
first process whose test needs Docker does): it takes the lock (filelock) in that folder,
starts the sidecar and writes ``state.json`` (the endpoint and the certificate folder, or
the error); the others wait on the lock and read it. Everything
is labelled with the owner's run id and pid, so the owner alone removes it at the end,
whichever worker started it, and a later run can sweep it if the owner was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, final

from ..cleanup.janitor import Owner, labelled_resources, remove_run
from ..discovery.endpoint import DockerHost
from ..errors import DockerHostError, SidecarError
from ..labels import L_ROLE, L_RUN
from ..messages import sidecar as say_
from ..tempdirs import lock_fd, private_dir, remove_private_dir
from .lifecycle import Sidecar
from .spec import Say, Spec
from .started import Started

STATE = "state.json"
COLLECTED = "collected-"  # + the xdist worker's id: "docker" or "none"
LOCK = "sidecar.lock"


@final
@dataclass(frozen=True)
class Run:
    """What every process of one run shares: the owner and the private run folder."""

    owner: Owner
    folder: str

    @classmethod
    def new(cls, owner: Owner) -> Run:
        return cls(owner, private_dir(f"pytest-dockerhost-{owner.run_id}-"))

    def to_dict(self) -> dict[str, Any]:
        return {"owner": self.owner.to_dict(), "folder": self.folder}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(Owner.from_dict(data["owner"]), str(data["folder"]))


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """The run's lock (flock, LockFileEx: the OS lets go when its holder dies, however it dies)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        lock_fd(fd, wait=True)
        yield
    finally:
        os.close(fd)


class SharedSidecar:
    """This process's handle on the run's sidecar: started lazily, at most once per run."""

    def __init__(
        self, run: Run, outer: DockerHost, spec: Spec, *, owner: bool, say: Say | None = None
    ) -> None:
        self.run = run
        self.outer = outer
        self.spec = spec
        self.owner = owner
        self.say = say
        self.started: Started | None = None
        self.error = ""
        self._sidecar: Sidecar | None = None
        self._closed = False

    @property
    def _state_path(self) -> str:
        return os.path.join(self.run.folder, STATE)

    def record_collection(self, worker: str, needs_docker: bool) -> None:
        """A worker's verdict on what it collected, for the owner: written before
        pytest-xdist reports the collection, so it is there when the owner hears of it."""
        path = os.path.join(self.run.folder, f"{COLLECTED}{worker}")
        with open(path + ".new", "w", encoding="utf-8") as out:
            out.write("docker" if needs_docker else "none")
        os.replace(path + ".new", path)

    def no_worker_needs_docker(self, workers: int) -> bool:
        """All ``workers`` collected, and none selected a test that may use Docker."""
        try:
            names = [n for n in os.listdir(self.run.folder) if n.startswith(COLLECTED)]
            verdicts = []
            for name in names:
                with open(os.path.join(self.run.folder, name), encoding="utf-8") as found:
                    verdicts.append(found.read())
        except OSError:
            return False
        return len(verdicts) >= workers and "docker" not in verdicts

    def get(
        self,
        *,
        cancelled: threading.Event | None = None,
        leased: Callable[[], Owner] | None = None,
    ) -> Started:
        """The running sidecar, started here if no process of this run has started it yet.

        An early start passes its ``cancelled`` event (stop when set) and ``leased`` (the
        owner, once its lease on the daemon is held)."""
        if self.started is not None:
            return self.started
        if self.error:
            raise SidecarError(self.error)
        with _locked(os.path.join(self.run.folder, LOCK)):
            state = self._read()
            if state is None:
                state = self._start(cancelled, leased)
                self._write(state)
        if "error" in state:
            self.error = str(state["error"])
            raise SidecarError(self.error)
        self.started = Started.from_dict(state["started"])
        return self.started

    def peek(self) -> Started | None:
        """The sidecar some process of this run started, if any; starts nothing."""
        if self.started is not None:
            return self.started
        state = self._read() or {}
        return Started.from_dict(state["started"]) if "started" in state else None

    def _start(
        self, cancelled: threading.Event | None, leased: Callable[[], Owner] | None
    ) -> dict[str, Any]:
        sidecar = Sidecar(
            self.outer,
            self.spec,
            self.run.owner,
            os.path.join(self.run.folder, "client"),
            say=self.say or (lambda _: None),
            cancelled=cancelled,
            leased=leased,
        )
        self._sidecar = sidecar
        try:
            started = sidecar.start()
        except DockerHostError as exc:
            sidecar.stop()  # setup failed: remove what was made, now
            return {"error": str(exc)}
        except Exception as exc:  # docker-py and requests errors: no traceback for users
            sidecar.stop()
            return {"error": say_.start_crashed(self.outer.shown_url, type(exc).__name__, exc)}
        except BaseException:
            # Ctrl-C during the start: remove it here; the owner's end-of-run cleanup is the
            # second line for a worker that dies harder than this.
            sidecar.stop()
            raise
        return {"started": started.to_dict()}  # its notes go out with the endpoint's line

    def _read(self) -> dict[str, Any] | None:
        try:
            with open(self._state_path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self._state_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(tmp, self._state_path)

    def close(self) -> list[str]:
        """Workers only let go; the owner removes the sidecar (unless it is kept for reuse),
        anything a worker made for this run, and the run folder. Returns what would not go."""
        if self._closed:
            return []
        self._closed = True
        if not self.owner:
            if self._sidecar is not None:
                self._sidecar.close_client()
            return []
        attempted = os.path.exists(os.path.join(self.run.folder, LOCK))
        state = self._read() or {}
        if "started" in state and self.started is None:
            self.started = Started.from_dict(state["started"])  # for the terminal summary
        keep = self.spec.reuse and "started" in state
        failed: list[str] = []
        if self._sidecar is not None and not keep:
            self._sidecar.stop()  # best effort: what stays is found by its label below
        if attempted and not keep:
            failed.extend(self._remove_run())
        if self._sidecar is not None:
            self._sidecar.close_client()
        remove_private_dir(self.run.folder)
        return failed

    def _remove_run(self) -> list[str]:
        """What any process of this run made on the outer daemon; what stays is returned."""
        from ..engine.api import engine_errors

        try:
            client = self.outer.engine_client(30)
        except engine_errors() as exc:
            return [say_.not_removed_run(self.run.owner.run_id, exc)]
        try:
            remove_run(client, self.run.owner.run_id)
            left = [
                f"{kind} {ident[:24]}"
                for kind, ident, labels in labelled_resources(
                    client, f"{L_RUN}={self.run.owner.run_id}"
                )
                if labels.get(L_ROLE) not in ("cache", "lease")
            ]
        except engine_errors() as exc:
            return [say_.not_removed_run(self.run.owner.run_id, exc)]
        finally:
            client.close()
        return left
