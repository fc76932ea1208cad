"""A loopback server that answers as kubedock does (github.com/joyrex2001/kubedock).

No Kubernetes, so no kubedock, can run on these machines. This stands in for what a client
sees of it, read from its source (internal/server/routes, internal/config/system.go):

- ``/_ping`` (GET and HEAD): 200 ``OK``, text/plain, with ``API-Version: 1.25`` and no
  ``Server`` header (gin sets none);
- ``/version``: ``Version``, ``ApiVersion`` and ``MinAPIVersion`` all ``1.25``, Go's
  ``Os``/``Arch``, the build's commit and time;
- ``/info``: six fields only, ``ID`` ``com.joyrex2001.kubedock``, ``Name`` ``kubedock``,
  ``ServerVersion`` (its release), ``OperatingSystem`` ``kubernetes``, ``MemTotal`` 0 and
  ``Labels``; nothing in it tells ``--port-forward``, ``--reverse-proxy``, ``--pre-archive``
  or ``--reapmax``;
- any ``/v1.NN`` (or ``/vN.N.N``) prefix is stripped before routing;
- what it lists as not supported (volumes but ``prune``, ``build``, ``images/load``, image
  tags, ``pause``, ``stats``, ``top``, ...) answers 501 with an empty body; a route it does
  not know answers gin's 404 ``404 page not found``;
- containers are kept in memory, as kubedock's own database keeps them before a pod exists:
  create answers 201, start marks them running, inspect and list show their ports the way
  kubedock does (``HostIp`` ``0.0.0.0`` under ``--port-forward``, the pod's address
  otherwise). No container really runs: kubedock would run it as a pod.

Not served: ``/events`` (kubedock streams its own events; the plugin asks them only of
engines on another machine) and the libpod API. Every request is logged (method and path
without the version prefix) for tests to read.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

API_VERSION = "1.25"  # kubedock's config.DockerAPIVersion (and DockerVersion, MinAPIVersion)
RELEASE = "0.18.2"  # what its build injects as config.Version: /info's ServerVersion
PodPorts = Literal["port-forward", "reverse-proxy", "none"]

_VERSION_PREFIX = re.compile(r"^/v(1\.[0-9]+|[1-9]+\.[0-9]+\.[0-9]+)(?=/)")

# kubedock's routes.RegisterDockerRoutes: httputil.NotImplemented, a 501 with no body.
_NOT_IMPLEMENTED = [
    ("GET", r"/containers/[^/]+/(top|changes|export|stats|attach/ws)"),
    ("POST", r"/containers/[^/]+/(update|pause|unpause)"),
    ("POST", r"/containers/prune"),
    ("POST", r"/build"),
    ("GET", r"/volumes"),
    ("GET", r"/volumes/[^/]+"),
    ("DELETE", r"/volumes/[^/]+"),
    ("POST", r"/volumes/create"),
    ("POST", r"/images/load"),
    ("POST", r"/images/[^/]+/.+"),
]


@dataclass
class Container:
    ident: str
    name: str
    image: str
    labels: dict[str, str]
    ports: list[int]
    binds: list[str]
    running: bool = False
    archives: list[tuple[str, int]] = field(default_factory=list)  # (path, bytes) copied in


@dataclass
class FakeKubedock:
    """The server's state: its flags as kubedock was started, its containers, the log."""

    ports: PodPorts = "none"
    pod_ip: str = "10.42.0.17"  # a pod address: never connected to, only shown
    requests: list[tuple[str, str]] = field(default_factory=list)
    containers: dict[str, Container] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def paths(self, method: str = "") -> list[str]:
        with self.lock:
            return [p for m, p in self.requests if not method or m == method]

    # --- the documents -------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "ID": "com.joyrex2001.kubedock",
            "Name": "kubedock",
            "ServerVersion": RELEASE,
            "OperatingSystem": "kubernetes",
            "MemTotal": 0,
            "Labels": [],
        }

    def version(self) -> dict[str, Any]:
        return {
            "Version": API_VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": API_VERSION,
            "GitCommit": "4f2a9c1",
            "BuildTime": "2026-10-02T09:12:44Z",
            "GoVersion": "go1.24.7",
            "Os": "linux",
            "Arch": "amd64",
        }

    # --- containers, as kubedock's database shows them -----------------------------------

    def create(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        host = body.get("HostConfig") or {}
        exposed = [int(str(p).split("/")[0]) for p in body.get("ExposedPorts") or {}]
        bound = [int(str(p).split("/")[0]) for p in host.get("PortBindings") or {}]
        ident = secrets.token_hex(32)  # kubedock's stringid: 64 random hex digits
        self.containers[ident] = Container(
            ident=ident,
            name=str(body.get("name") or name or ""),
            image=str(body.get("Image") or body.get("image") or ""),
            labels=dict(body.get("Labels") or {}),
            ports=sorted(set(exposed + bound)),
            binds=list(host.get("Binds") or []),
        )
        return {"Id": ident, "Warnings": []}

    def find(self, key: str) -> Container | None:
        for c in self.containers.values():
            if key in (c.ident, c.ident[:12], c.name, "/" + c.name):
                return c
        return None

    def _host_ip(self, c: Container) -> str:
        if not c.running:
            return ""
        return "0.0.0.0" if self.ports == "port-forward" else self.pod_ip

    def _port_map(self, c: Container) -> dict[str, list[dict[str, str]]]:
        host_ip = self._host_ip(c)
        if not host_ip:
            return {}
        # Forwards and proxies take a local port of their own; a service keeps the port.
        local = 30000 if self.ports != "none" else 0
        return {
            f"{p}/tcp": [{"HostIp": host_ip, "HostPort": str(local + p if local else p)}]
            for p in c.ports
        }

    def inspect(self, c: Container) -> dict[str, Any]:
        return {
            "Id": c.ident,
            "Name": "/" + (c.name or c.ident),
            "Image": c.image,
            "NetworkSettings": {"IPAddress": "127.0.0.1", "Ports": self._port_map(c)},
            "HostConfig": {"NetworkMode": "bridge"},
            "State": {"Running": c.running, "Status": "running" if c.running else "created"},
            "Config": {"Image": c.image, "Labels": c.labels, "Hostname": "localhost"},
        }

    def listed(self, c: Container) -> dict[str, Any]:
        return {
            "Id": c.ident,
            "Names": ["/" + (c.name or c.ident)],
            "Image": c.image,
            "Labels": c.labels,
            "State": "running" if c.running else "created",
            "Ports": [
                {"IP": b[0]["HostIp"], "PrivatePort": int(k.split("/")[0]), "Type": "tcp"}
                for k, b in self._port_map(c).items()
            ],
        }


def _network(name: str) -> dict[str, Any]:
    """kubedock's two networks, flat: no IPAM, no gateway (every pod is in one namespace)."""
    return {
        "Name": name,
        "ID": name,
        "Driver": "bridge",
        "Scope": "local",
        "Attachable": True,
        "Containers": {},
        "Labels": {},
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = ""  # gin sends no Server header: see end_headers
    protocol_version = "HTTP/1.1"
    fake: FakeKubedock

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        # Go's net/http sends a Date line and, under gin, no Server line.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _send(self, status: int, body: bytes = b"", ctype: str = "") -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"message": message})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if not size:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _dispatch(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = _VERSION_PREFIX.sub("", parsed.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        body = self._body()
        fake = self.fake
        with fake.lock:
            fake.requests.append((self.command, path))
        method = self.command
        if path == "/_ping" and method in ("GET", "HEAD"):
            self.send_response(200)
            self.send_header("API-Version", API_VERSION)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "2")
            self.end_headers()
            if method == "GET":
                self.wfile.write(b"OK")
            return
        for verb, pattern in _NOT_IMPLEMENTED:
            if method == verb and re.fullmatch(pattern, path):
                self._send(501)
                return
        with fake.lock:
            if self._route(method, path, query, body):
                return
        self._send(404, b"404 page not found", "text/plain")

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> bool:
        fake = self.fake
        if (method, path) == ("GET", "/version"):
            self._json(200, fake.version())
        elif (method, path) == ("GET", "/info"):
            self._json(200, fake.info())
        elif (method, path) == ("GET", "/containers/json"):
            self._json(200, [fake.listed(c) for c in fake.containers.values()])
        elif (method, path) == ("POST", "/containers/create"):
            self._json(201, fake.create(json.loads(body or b"{}"), query.get("name", "")))
        elif (method, path) == ("GET", "/networks"):
            self._json(200, [_network(n) for n in ("host", "bridge")])
        elif method == "GET" and path in ("/networks/host", "/networks/bridge"):
            self._json(200, _network(path.rsplit("/", 1)[1]))
        elif (method, path) == ("POST", "/volumes/prune"):
            self._json(201, {"VolumesDeleted": [], "SpaceReclaimed": 0})
        elif (method, path) == ("POST", "/images/create"):
            # kubedock pulls nothing: it records the name for its pods' pull policy.
            name = query.get("fromImage", "") + (f":{query['tag']}" if query.get("tag") else "")
            fake.images.add(name)
            self._json(200, {"status": "Download complete"})
        elif (method, path) == ("GET", "/images/json"):
            self._json(200, [{"Id": n, "Size": 0, "RepoTags": [n]} for n in sorted(fake.images)])
        elif method == "GET" and path.startswith("/images/") and path.endswith("/json"):
            # Any name is an image to kubedock: the cluster pulls it when a pod starts.
            name = path[len("/images/") : -len("/json")]
            fake.images.add(name)
            self._json(200, {"Id": name, "Size": 0, "Config": {"Env": []}})
        elif (method, path) == ("POST", "/images/prune"):
            self._json(201, {"ImagesDeleted": [], "SpaceReclaimed": 0})
        else:
            return self._container(method, path, query, body)
        return True

    def _container(self, method: str, path: str, query: dict[str, str], body: bytes) -> bool:
        match = re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", path)
        if match is None:
            return False
        found = self.fake.find(match.group(1))
        action = (method, match.group(2) or "")
        if action not in {("GET", "/json"), ("POST", "/start"), ("POST", "/stop"),
                          ("POST", "/kill"), ("DELETE", ""), ("PUT", "/archive")}:  # fmt: skip
            return False
        if found is None:
            self._error(404, f"container {match.group(1)} not found")
        elif action == ("PUT", "/archive"):
            # kubedock's PutArchive, as started by default (no --pre-archive): a copy into
            # a container that does not run yet starts it first, its pod must receive it.
            if not query.get("path"):
                self._error(400, "missing required path parameter")
                return True
            found.running = True
            found.archives.append((query["path"], len(body)))
            self._send(200)
        elif action == ("GET", "/json"):
            self._json(200, self.fake.inspect(found))
        elif action == ("DELETE", ""):
            del self.fake.containers[found.ident]
            self._send(204)
        else:
            found.running = action == ("POST", "/start")
            self._send(204)
        return True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch


@contextmanager
def running_kubedock(ports: PodPorts = "none") -> Iterator[FakeKubedock]:
    """kubedock's API on 127.0.0.1 (a free port, where kubedock itself takes 2475)."""
    fake = FakeKubedock(ports=ports)
    handler = type("KubedockHandler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
