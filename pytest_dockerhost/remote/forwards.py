"""Published ports of a remote engine, forwarded to this machine's 127.0.0.1 as containers
start: the engine's own events say when, so no test has to ask.

The local port is the one the engine reports, so ``get_exposed_port()``, ``docker port``
and ``container.ports`` stay true here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, final

from ..engine.transport import EngineConnection, Failure
from ..engine.url import DockerURL, TLSConfig
from ..labels import L_RUN, TC_SESSION
from ..messages import remote as say_

USER_AGENT = "pytest-dockerhost"
_EVENTS = "/events?filters=" + urllib.parse.quote(
    json.dumps({"type": ["container"], "event": ["start", "die"]})
)
# Addresses that mean "every address" or loopback: the remote reaches them on its loopback.
_ANY = frozenset({"", "0.0.0.0", "::", "127.0.0.1", "::1"})

Forward = Callable[[str, str], str]  # (local, remote) -> "" or what went wrong


@final
@dataclass(frozen=True)
class ForwardProblem:
    """A published port that could not be forwarded here, and why."""

    container: str
    name: str
    port: int
    why: str
    at: float  # wall-clock time


class _Connection(EngineConnection):
    """One kept connection to the engine (no timeout: the event stream waits for events)."""

    def inspect(self, ident: str) -> dict[str, Any]:
        """``GET /containers/ID/json`` on this kept connection: no new TLS handshake or
        socket per container, which would add to every forward's delay."""
        self.request("GET", f"/containers/{ident}/json", headers={"User-Agent": USER_AGENT})
        reply = self.getresponse()
        body = reply.read()
        return json.loads(body) if reply.status == 200 else {}


def published(inspect: dict[str, Any], ports_at: str = "") -> list[tuple[int, str]]:
    """(port, address on the remote to reach it) for each host port a container publishes;
    ``ports_at`` is where a port bound to every address is reached (default: loopback)."""
    ports = (inspect.get("NetworkSettings") or {}).get("Ports") or {}
    found: dict[int, str] = {}
    for bindings in ports.values():
        for binding in bindings or []:
            text = str(binding.get("HostPort") or "")
            if not text.isdigit():
                continue
            address = str(binding.get("HostIp") or "")
            found.setdefault(int(text), (ports_at or "127.0.0.1") if address in _ANY else address)
    return sorted(found.items())


class PortForwarder:
    """Follows container start and die events on the engine and keeps one forward per
    published port of the containers that are not another run's."""

    def __init__(
        self,
        url: DockerURL,
        tls: TLSConfig | None,
        forward: Forward,
        cancel: Forward,
        *,
        run_id: str = "",
        session: str = "",
        ports_at: str = "",
    ) -> None:
        self._url, self._tls = url, tls
        self._ports_at = ports_at
        self._forward, self._cancel = forward, cancel
        self.run_id, self.session = run_id, session
        self._lock = threading.Lock()
        self._active: dict[str, list[tuple[str, str]]] = {}  # container id -> its forwards
        self.problems: list[ForwardProblem] = []
        self.forwarded: dict[int, float] = {}  # port -> seconds from the start event
        self._stream: _Connection | None = None
        self._api: _Connection | None = None
        self._stopped = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 5.0) -> None:
        """Subscribe to the engine's events; returns once the subscription is in place."""
        self._thread = threading.Thread(
            target=self._follow, name="pytest-dockerhost-forwards", daemon=True
        )
        self._thread.start()
        self._listening.wait(timeout)

    def _follow(self) -> None:
        stream = _Connection(self._url, self._tls, None)
        self._stream = stream
        try:
            stream.request("GET", _EVENTS, headers={"User-Agent": USER_AGENT})
            reply = stream.getresponse()
            self._listening.set()
            for event in _events(reply):
                if self._stopped.is_set():
                    return
                self._on(event)
        except (OSError, Failure, http.client.HTTPException, ValueError):
            pass  # the connection ended: the tunnel's own watch tells why
        finally:
            self._listening.set()
            stream.close()

    def _on(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        ident = str(actor.get("ID") or event.get("id") or "")
        attributes = actor.get("Attributes") or {}
        if not ident or not self._ours(attributes):
            return
        if event.get("Action", event.get("status")) == "die":
            self._drop(ident)
            return
        began = _event_time(event)
        inspect = self._inspect(ident)
        if not inspect:
            return  # gone already
        name = str(attributes.get("name") or ident[:12])
        done: list[tuple[str, str]] = []
        for port, address in published(inspect, self._ports_at):
            local, remote = f"127.0.0.1:{port}", f"{address}:{port}"
            why = self._forward(local, remote)
            if why:
                why = _in_use(port) or why
                self.problems.append(ForwardProblem(ident, name, port, why, time.time()))
                continue
            done.append((local, remote))
            if began:
                self.forwarded[port] = max(0.0, time.time() - began)
        with self._lock:
            self._active[ident] = done

    def _inspect(self, ident: str) -> dict[str, Any]:
        for _ in range(2):  # a kept connection the engine closed is made anew, once
            if self._api is None:
                self._api = _Connection(self._url, self._tls, 10.0)
            try:
                return self._api.inspect(ident)
            except (OSError, Failure, http.client.HTTPException, ValueError):
                self._api.close()
                self._api = None
        return {}

    def _ours(self, labels: dict[str, Any]) -> bool:
        """Not another run's: unlabelled containers (docker-py, the CLI) are forwarded."""
        run = labels.get(L_RUN)
        session = labels.get(TC_SESSION)
        if run and self.run_id and run != self.run_id:
            return False
        return not (session and self.session and session != self.session)

    def _drop(self, ident: str) -> None:
        with self._lock:
            forwards = self._active.pop(ident, [])
        for local, remote in forwards:
            self._cancel(local, remote)

    def problems_since(self, since: float) -> list[ForwardProblem]:
        return [p for p in self.problems if p.at >= since]

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None and stream.sock is not None:
            with contextlib.suppress(OSError):
                stream.sock.shutdown(2)  # wakes the reader blocked on the stream
        if self._thread is not None:
            self._thread.join(2)
        if self._api is not None:
            self._api.close()
        with self._lock:
            self._active.clear()


def listening(port: int) -> bool:
    """Something listens on 127.0.0.1:``port`` here. Read from the kernel's table where
    there is one: a test bind would steal the port from a forward being set up, and a
    connection to a forward would reach the service behind it."""
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return _connects(port)
    wanted = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    return any(
        len(fields) > 3 and fields[1] in wanted and fields[3] == "0A"  # 0A: LISTEN
        for fields in (row.split() for row in rows)
    )


def _connects(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _in_use(port: int) -> str:
    """Why ssh could not listen on the port here, when that is the reason."""
    return say_.port_in_use(port) if listening(port) else ""


def _events(reply: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    while True:
        line = reply.readline()
        if not line:
            return
        if line.strip():
            yield json.loads(line)


def _event_time(event: dict[str, Any]) -> float:
    nanos = event.get("timeNano")
    if isinstance(nanos, int) and nanos:
        return nanos / 1e9
    seconds = event.get("time")
    return float(seconds) if isinstance(seconds, (int, float)) else 0.0
