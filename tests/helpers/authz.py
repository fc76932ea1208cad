"""A real Docker authorization plugin with Bitbucket Pipelines' rules, for tests.

dockerd started with ``--authorization-plugin=pipelines`` finds it at
``/run/docker/plugins/pipelines.sock`` and asks it about every request (Docker's AuthZ
protocol: ``/Plugin.Activate``, then ``/AuthZPlugin.AuthZReq`` and ``/AuthZPlugin.AuthZRes``
with the request's method, URI, headers and, for JSON bodies with a Content-Length, the body
in base64). It denies what Bitbucket's docker service denies:

- privileged containers;
- binds of the docker socket;
- binds outside the clone dir, and any ``HostConfig.Mounts`` of type bind;
- request bodies it cannot read: dockerd hands a plugin a body only when it came with a
  Content-Length, so a POST or PUT without one (chunked) is refused.

Run it as ``python authz.py SOCKET CLONE_DIR LOG``: every decision is appended to LOG as a
JSON line (method, URI, allowed, message), which tests read to prove whose request was
denied. Standard library only: it runs beside any dockerd.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

NAME = "pipelines"
SOCKET = f"/run/docker/plugins/{NAME}.sock"
CLONE_ONLY = "-v only supports $BITBUCKET_CLONE_DIR and its subdirectories"
NO_MOUNTS = "--mounts is not allowed"
NO_PRIVILEGED = "--privileged=true is not allowed"
NO_SOCKET = "binding the docker socket is not allowed"
UNREADABLE = "Invalid content length: the request body cannot be read"
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def decide(request: dict[str, Any], clone_dir: str) -> str:
    """'' to allow ``request`` (an AuthZReq document), else the denial's message."""
    method = str(request.get("RequestMethod", ""))
    path = urlsplit(uri(request)).path
    headers = request.get("RequestHeaders") or {}
    if method in ("POST", "PUT") and not _has_length(headers):
        return UNREADABLE
    if method == "POST" and path.endswith("/containers/create"):
        raw = request.get("RequestBody")
        if not raw:
            return UNREADABLE  # a JSON body too large, or none: nothing to check it by
        return _container(json.loads(base64.b64decode(raw)), clone_dir)
    return ""


def uri(request: dict[str, Any]) -> str:
    """The request's URI: dockerd's JSON names it ``RequestUri``."""
    return str(request.get("RequestUri") or request.get("RequestURI") or "")


def _has_length(headers: dict[str, Any]) -> bool:
    for key, value in headers.items():
        if key.lower() == "content-length":
            return str(value).strip().isdigit()
    return False


def _container(body: dict[str, Any], clone_dir: str) -> str:
    host = body.get("HostConfig") or {}
    if host.get("Privileged"):
        return NO_PRIVILEGED
    for mount in host.get("Mounts") or ():
        if str(mount.get("Type", "")).lower() == "bind":
            return NO_MOUNTS
    for bind in host.get("Binds") or ():
        source = str(bind).split(":", 1)[0]
        if not source.startswith("/"):
            continue  # a named volume
        normal = posixpath.normpath(source)
        if normal in DOCKER_SOCKETS:
            return NO_SOCKET
        root = posixpath.normpath(clone_dir)
        if normal != root and not normal.startswith(root + "/"):
            return CLONE_ONLY
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/Plugin.Activate":
            answer: dict[str, Any] = {"Implements": ["authz"]}
        elif self.path == "/AuthZPlugin.AuthZReq":
            denied = decide(request, self.server.clone_dir)
            self.server.record(request, denied)
            answer = {"Allow": not denied, "Msg": denied}
        else:  # AuthZRes: answers pass as they are
            answer = {"Allow": True}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "dockerd"  # a unix socket's peer has no address

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, socket_path: str, clone_dir: str, log: str) -> None:
        super().__init__(socket_path, _Handler)
        self.clone_dir = clone_dir
        self.log = log
        self.lock = threading.Lock()

    def record(self, request: dict[str, Any], denied: str) -> None:
        line = {
            "method": request.get("RequestMethod"),
            "uri": uri(request),
            "headers": sorted(request.get("RequestHeaders") or {}),
            "allowed": not denied,
            "msg": denied,
        }
        with self.lock, open(self.log, "a") as out:
            out.write(json.dumps(line) + "\n")


def serve(socket_path: str, clone_dir: str, log: str) -> None:
    os.makedirs(os.path.dirname(socket_path), exist_ok=True)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    with _Server(socket_path, clone_dir, log) as server:
        server.serve_forever()


def decisions(log: str) -> list[dict[str, Any]]:
    """What the plugin decided, in order (its log's lines)."""
    try:
        with open(log) as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        return []


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3])
