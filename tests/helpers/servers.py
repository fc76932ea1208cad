"""Loopback servers that stand in for Docker (and for things that are not Docker).

Each one listens on 127.0.0.1 (or a unix socket) in daemon threads and handles a raw
connected socket, so a test can reproduce exactly what a client sees: a Docker API
over HTTP or TLS, dockerd's answer to plain HTTP on its TLS port, a web server, a
silent peer, a slow one.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

Handler = Callable[[socket.socket], None]

HTTPS_REFUSAL = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"


class LoopbackServer:
    """Accept connections on loopback (TCP or unix) and pass each to ``handler``."""

    def __init__(self, handler: Handler, *, unix_path: str | None = None, port: int = 0) -> None:
        self.handler = handler
        self.unix_path = unix_path
        if unix_path is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
        self.sock.listen(32)
        self._address = self.sock.getsockname()
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._address[1])

    @property
    def url(self) -> str:
        if self.unix_path is not None:
            return f"unix://{self.unix_path}"
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            self.handler(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.stopped.set()
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.connections:
            with suppress(OSError):
                conn.close()


@contextmanager
def serving(handler: Handler, *, unix_path: str | None = None) -> Iterator[LoopbackServer]:
    server = LoopbackServer(handler, unix_path=unix_path)
    try:
        yield server
    finally:
        server.close()


BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n400 Bad Request"
)


def read_request(conn: socket.socket) -> str:
    """The request line of one HTTP request ("GET /_ping HTTP/1.1"), or "" at EOF.

    A TLS ClientHello gets what Go's net/http (dockerd) sends to a request it cannot
    parse: a plain "400 Bad Request".
    """
    if not isinstance(conn, ssl.SSLSocket) and conn.recv(1, socket.MSG_PEEK) == b"\x16":
        conn.recv(4096)
        conn.sendall(BAD_REQUEST)
        return ""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return ""
        data += chunk
        if len(data) > 65536:
            return ""
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def reply(conn: socket.socket, status: str, body: bytes, headers: dict[str, str]) -> None:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def docker_api(
    *,
    version: str = "20.10.24",
    api_version: str = "1.41",
    delay: float = 0.0,
    min_api: str = "",
    components: tuple[str, ...] = (),
    version_delay: float = 0.0,
) -> Callable[[socket.socket], None]:
    """Answer like dockerd: /_ping with Api-Version, /version with its JSON; ``delay``
    before every answer, ``version_delay`` before /version's (Podman under load)."""

    def answer(conn: socket.socket) -> None:
        line = read_request(conn)
        if not line:
            return
        path = line.split()[1] if len(line.split()) > 1 else "/"
        if delay or version_delay:
            time.sleep(delay + (version_delay if path.endswith("/version") else 0.0))
        headers = {"Api-Version": api_version, "Server": f"Docker/{version} (linux)"}
        if path.endswith("/_ping"):
            reply(conn, "200 OK", b"OK", {**headers, "Content-Type": "text/plain"})
        elif path.endswith("/version"):
            data: dict[str, object] = {
                "Version": version,
                "ApiVersion": api_version,
                "Os": "linux",
                "Arch": "amd64",
            }
            if min_api:
                data["MinAPIVersion"] = min_api
            if components:
                data["Components"] = [{"Name": name, "Version": version} for name in components]
            body = json.dumps(data).encode()
            reply(conn, "200 OK", body, {**headers, "Content-Type": "application/json"})
        else:
            body = b'{"message":"page not found"}'
            reply(conn, "404 Not Found", body, {**headers, "Content-Type": "application/json"})

    return answer


def _drain(conn: socket.socket) -> None:
    with suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(1)
        while conn.recv(4096):
            pass


def web_server(conn: socket.socket) -> None:
    """Something that is not Docker: a web server answering every path with a page."""
    if read_request(conn):
        reply(conn, "200 OK", b"<html>hello</html>", {"Server": "nginx/1.25.3"})


def silent(conn: socket.socket) -> None:
    """Accept, then never answer (what a blackholed or wedged endpoint looks like)."""
    conn.settimeout(None)
    with suppress(OSError):
        while conn.recv(4096):
            pass


def over_tls(context: ssl.SSLContext, inner: Handler) -> Handler:
    """TLS as dockerd does it: plain HTTP gets a 400 that says so; TLS goes to ``inner``."""

    def answer(conn: socket.socket) -> None:
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first != b"\x16":
            read_request(conn)
            conn.sendall(HTTPS_REFUSAL)
            return
        try:
            tls = context.wrap_socket(conn, server_side=True)
        except ssl.SSLError:
            # The alert is sent; hang up gracefully so that the client reads it (a close
            # with unread data would reset the connection and lose the alert).
            _drain(conn)
            return
        try:
            inner(tls)
        finally:
            with suppress(OSError, ssl.SSLError):
                tls.close()

    return answer


def closed_port() -> int:
    """A loopback port on which nothing listens (connections are refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


# --- a fake Engine API with state: what cleanup lists and removes -----------------------------

Entry = dict[str, Any]
KINDS = ("containers", "images", "networks", "volumes")
# The key each kind is listed and removed by, as dockerd's answers name it.
_KEY = {"containers": "Id", "images": "Id", "networks": "Name", "volumes": "Name"}
_LISTS = {
    "/containers/json": "containers",
    "/images/json": "images",
    "/networks": "networks",
    "/volumes": "volumes",
}


@dataclass(frozen=True)
class Request:
    """One request the fake engine received (``path`` without its /vX.Y prefix)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes


def _matches(labels: dict[str, str], wanted: list[str]) -> bool:
    for one in wanted:
        key, _, value = one.partition("=")
        if key not in labels or ("=" in one and labels[key] != value):
            return False
    return True


class FakeEngine:
    """An Engine API on loopback that keeps containers, images, networks and volumes in
    memory: it lists them with label filters, creates volumes stamped by its own clock
    (``advance`` moves it), removes what a DELETE names, and records every request.
    ``refuse`` makes one request ("DELETE /volumes/NAME") answer an error instead."""

    def __init__(self, api_version: str = "1.41") -> None:
        self.api_version = api_version
        self.objects: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self.requests: list[Request] = []
        self.refuse: dict[str, tuple[int, str]] = {}  # "POST /volumes/create" -> status, message
        self._offset = 0.0
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._answer)

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def stamp(self, at: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))

    def add(self, kind: str, key: str, labels: dict[str, str], **fields: Any) -> Entry:
        """Something that exists on the engine; ``fields`` override the defaults."""
        entry: Entry = {_KEY[kind]: key, "Labels": dict(labels)}
        if kind == "containers":
            entry.update(Names=[f"/{key}"], State="running", Created=int(self.now()))
        elif kind == "networks":
            entry.update(Id=key, Containers={})
        elif kind == "volumes":
            entry.update(Driver="local", CreatedAt=self.stamp(self.now()))
        entry.update(fields)
        with self._lock:
            self.objects[kind][key] = entry
        return entry

    def names(self, kind: str) -> set[str]:
        with self._lock:
            return set(self.objects[kind])

    def deletes(self) -> list[str]:
        """Every DELETE received (refused ones too), in order: "volumes/NAME" and so on."""
        return [r.path.lstrip("/") for r in self.requests if r.method == "DELETE"]

    def made(self) -> list[str]:
        """The names of the volumes created, in order."""
        return [
            str(json.loads(r.body)["Name"]) for r in self.requests if r.path == "/volumes/create"
        ]

    def _answer(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        head, _, body = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split()[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        split = urllib.parse.urlsplit(target)
        path = re.sub(r"^/v[\d.]+", "", urllib.parse.unquote(split.path))
        query = dict(urllib.parse.parse_qsl(split.query))
        with self._lock:
            self.requests.append(Request(method, path, query, body))
            if f"{method} {path}" in self.refuse:
                code, message = self.refuse[f"{method} {path}"]
                status, answer = f"{code} Refused", {"message": message}
            else:
                status, answer = self._route(method, path, query, body)
        data = b"" if answer is None else json.dumps(answer).encode()
        headers = {"Api-Version": self.api_version, "Content-Type": "application/json"}
        reply(conn, status, data, headers)

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[str, Any]:
        if path == "/_ping":
            return "200 OK", "OK"
        if path == "/version":
            return "200 OK", {"Version": "20.10.24", "ApiVersion": self.api_version}
        if method == "GET" and path in _LISTS:
            try:
                return "200 OK", self._list(_LISTS[path], query)
            except ValueError as exc:
                return "400 Bad Request", {"message": str(exc)}
        if method == "POST" and path == "/volumes/create":
            asked = json.loads(body)
            made: Entry = {"Driver": "local", "CreatedAt": self.stamp(self.now())}
            made.update(Name=str(asked["Name"]), Labels=dict(asked.get("Labels") or {}))
            # An existing name gives the existing volume, as dockerd does.
            return "201 Created", self.objects["volumes"].setdefault(made["Name"], made)
        kind, _, key = path.strip("/").partition("/")
        if kind in KINDS and key:
            if key not in self.objects[kind]:
                return "404 Not Found", {"message": f"no such {kind[:-1]}: {key}"}
            if method == "DELETE":
                del self.objects[kind][key]
                return "204 No Content", None
            if method == "GET" and kind == "networks":
                return "200 OK", self.objects[kind][key]
        return "404 Not Found", {"message": "page not found"}

    def _list(self, kind: str, query: dict[str, str]) -> Any:
        filters = json.loads(query.get("filters") or "{}")
        if set(filters) - {"label"}:
            raise ValueError(f"the fake engine knows no filter but label: {filters}")
        found = [
            entry
            for entry in self.objects[kind].values()
            if _matches(entry["Labels"], filters.get("label", []))
            and (kind != "containers" or query.get("all") == "1" or entry["State"] == "running")
        ]
        return {"Volumes": found, "Warnings": None} if kind == "volumes" else found


@contextmanager
def fake_engine() -> Iterator[FakeEngine]:
    engine = FakeEngine()
    try:
        yield engine
    finally:
        engine.close()
