"""A tiny HTTP client for the Docker API over unix sockets, TCP and TLS.

Resolution must be fast, bounded and precise about what went wrong, so it does
not go through docker-py (slow to import, and its errors bury the cause).
Every low-level failure becomes a ``Failure`` with a ``kind`` that
``diagnose`` turns into a message and a fix.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
import ssl
import stat
import sys
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any, final

from ..messages import details as D
from ..messages import platforms as P
from .url import DockerURL, TLSConfig

MAX_BODY = 4 * 1024 * 1024


class FailureKind(str, Enum):
    """Why a request failed; ``messages.failures`` has the sentence and the fix for each."""

    API_TOO_OLD = "api-too-old"
    CERT_GARBAGE = "cert-garbage"
    CERT_MISMATCH = "cert-mismatch"
    CERT_MISSING = "cert-missing"
    CERT_UNREADABLE = "cert-unreadable"
    CONNECT_ERROR = "connect-error"
    DNS = "dns"
    EMPTY_REPLY = "empty-reply"
    HTTP_TO_HTTPS = "http-to-https"
    HTTPS_TO_HTTP = "https-to-http"
    NOT_DOCKER = "not-docker"
    NOT_HTTP = "not-http"
    NOT_READY = "not-ready"
    NO_UNIX_SOCKETS = "no-unix-sockets"
    REFUSED = "refused"
    SCHEME = "scheme"
    SILENT = "silent"
    SOCKET_DANGLING = "socket-dangling"
    SOCKET_EACCES = "socket-eacces"
    SOCKET_ERROR = "socket-error"
    SOCKET_MISSING = "socket-missing"
    SOCKET_NOT_SOCKET = "socket-not-socket"
    SOCKET_STALE = "socket-stale"
    SSH_AUTH = "ssh-auth"
    SSH_ERROR = "ssh-error"
    SSH_HOST_KEY = "ssh-host-key"
    SSH_MISSING = "ssh-missing"
    SSH_UNREACHABLE = "ssh-unreachable"
    TIMEOUT = "timeout"
    TLS_CLIENT_REJECTED = "tls-client-rejected"
    TLS_EOF = "tls-eof"
    TLS_ERROR = "tls-error"
    TLS_RESET = "tls-reset"
    TLS_TIMEOUT = "tls-timeout"
    TLS_VERIFY = "tls-verify"
    UNREACHABLE = "unreachable"

    def __str__(self) -> str:  # the plain value, as before, in messages and -v traces
        return str(self.value)


class Failure(Exception):
    """Why a request failed: its kind, what happened, and whether a starting daemon may
    still answer (dind mode retries those)."""

    def __init__(self, kind: FailureKind, detail: str, retryable: bool = False) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


@final
@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8", "replace"))


class EngineConnection(http.client.HTTPConnection):
    """An HTTP connection to a Docker endpoint over its own transport; ``timeout`` None
    waits for ever (an event stream)."""

    def __init__(self, url: DockerURL, tls: TLSConfig | None, timeout: float | None) -> None:
        host = url.host if url.is_tcp else "docker"
        super().__init__(host, url.port, timeout=timeout)
        self._url = url
        self._tls = tls

    def connect(self) -> None:
        self.sock = open_socket(self._url, self._tls, self.timeout)


def open_socket(url: DockerURL, tls: TLSConfig | None, timeout: float | None) -> socket.socket:
    """Connect (and handshake) to a Docker endpoint, raising a classified Failure."""
    if url.is_unix:
        return _open_unix(url.path, timeout)
    if not url.is_tcp:
        raise Failure(FailureKind.SCHEME, D.NOT_PROBED.format(scheme=url.scheme))
    if tls is None:
        return _open_tcp(url.host, url.port or 0, timeout)
    # The files first: without them no connection can succeed, whatever answers there.
    context = _cached_context(tls)
    raw = _open_tcp(url.host, url.port or 0, timeout)
    try:
        return context.wrap_socket(raw, server_hostname=url.host)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        raise Failure(FailureKind.TLS_VERIFY, exc.verify_message or str(exc)) from None
    except ssl.SSLError as exc:
        raw.close()
        raise _classify_ssl(exc) from None
    except (ConnectionResetError, BrokenPipeError) as exc:
        raw.close()
        raise Failure(
            FailureKind.TLS_RESET,
            str(exc) or D.TLS_RESET,
            retryable=True,
        ) from None
    except TimeoutError:
        raw.close()
        raise Failure(FailureKind.TLS_TIMEOUT, D.TLS_SILENT, retryable=True) from None
    except OSError as exc:
        raw.close()
        raise Failure(FailureKind.TLS_RESET, str(exc)) from None


# Contexts by their material: a starting daemon is polled every 20 ms, and loading the
# files anew for each probe costs milliseconds of CPU that the daemon needs.
_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def _cached_context(tls: TLSConfig) -> ssl.SSLContext:
    key: list[object] = [tls]
    for path in (tls.ca_cert, tls.client_cert, tls.client_key):
        try:
            st = os.stat(path) if path else None
        except OSError:
            return make_ssl_context(tls)  # says which file is missing
        key.append((st.st_mtime_ns, st.st_size, st.st_ino) if st else None)
    with _CONTEXTS_LOCK:
        found = _CONTEXTS.get(tuple(key))
    if found is not None:
        return found
    context = make_ssl_context(tls)
    with _CONTEXTS_LOCK:
        if len(_CONTEXTS) > 32:
            _CONTEXTS.clear()
        _CONTEXTS[tuple(key)] = context
    return context


def make_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """An SSL context for ``tls``, or a 'cert-files' Failure naming the bad file."""
    for label, path in (
        ("CA", tls.ca_cert),
        ("client cert", tls.client_cert),
        ("client key", tls.client_key),
    ):
        if path is None:
            continue
        if not os.path.exists(path):
            raise Failure(
                FailureKind.CERT_MISSING,
                D.FILE_MISSING.format(label=label, path=path),
                retryable=tls.pending,
            )
        if not os.access(path, os.R_OK):
            raise Failure(
                FailureKind.CERT_UNREADABLE, D.FILE_UNREADABLE.format(label=label, path=path)
            )
    if tls.verify:
        if not tls.ca_cert:
            raise Failure(FailureKind.CERT_MISSING, D.NO_CA)
        try:
            context = ssl.create_default_context(cafile=tls.ca_cert)
        except ssl.SSLError as exc:
            raise Failure(
                FailureKind.CERT_GARBAGE,
                D.CA_GARBAGE.format(path=tls.ca_cert, why=exc.reason or exc),
            ) from None
        if not tls.x509_strict:
            # Only the key-usage strictness; the chain and the hostname are still checked.
            context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client_cert and tls.client_key:
        try:
            context.load_cert_chain(tls.client_cert, tls.client_key)
        except ssl.SSLError as exc:
            reason = str(exc.reason or exc)
            if "KEY_VALUES_MISMATCH" in reason.upper() or "key values mismatch" in str(exc):
                raise Failure(
                    FailureKind.CERT_MISMATCH,
                    D.KEY_MISMATCH.format(key=tls.client_key, cert=tls.client_cert),
                ) from None
            raise Failure(
                FailureKind.CERT_GARBAGE,
                D.PAIR_GARBAGE.format(cert=tls.client_cert, key=tls.client_key, why=reason),
            ) from None
    return context


def _classify_ssl(exc: ssl.SSLError) -> Failure:
    reason = (getattr(exc, "reason", None) or "").upper()
    text = str(exc)
    # A hang-up inside TLS: an unclean EOF, or (OpenSSL 3.0 as Debian ships it) a clean
    # close_notify, "TLS/SSL connection has been closed (EOF)".
    hung_up = isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))
    if hung_up or "UNEXPECTED_EOF" in reason or "EOF occurred" in text:
        return Failure(FailureKind.TLS_EOF, D.TLS_HUNG_UP)
    if (
        reason
        in (
            "WRONG_VERSION_NUMBER",
            "RECORD_LAYER_FAILURE",
            "PACKET_LENGTH_TOO_LONG",
            "HTTP_REQUEST",
        )
        or "wrong version number" in text
    ):
        return Failure(FailureKind.HTTPS_TO_HTTP, text)
    if "CERTIFICATE_REQUIRED" in reason or "BAD_CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
        return Failure(FailureKind.TLS_CLIENT_REJECTED, text)
    if "EXPIRED" in reason:
        return Failure(FailureKind.TLS_CLIENT_REJECTED, text)
    return Failure(FailureKind.TLS_ERROR, text)


def _open_unix(path: str, timeout: float | None) -> socket.socket:
    if sys.platform == "win32":
        raise Failure(FailureKind.NO_UNIX_SOCKETS, P.NO_UNIX_SOCKETS.format(path=path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise Failure(
                FailureKind.SOCKET_DANGLING, D.SOCKET_DANGLING.format(path=path)
            ) from None
        raise Failure(FailureKind.SOCKET_MISSING, D.SOCKET_MISSING.format(path=path)) from None
    except PermissionError:
        raise Failure(
            FailureKind.SOCKET_EACCES,
            D.SOCKET_UNSEARCHABLE.format(path=path),
        ) from None
    except OSError as exc:
        raise Failure(
            FailureKind.SOCKET_ERROR, D.SOCKET_OS_ERROR.format(path=path, why=exc.strerror or exc)
        ) from None
    if stat.S_ISDIR(mode):
        raise Failure(FailureKind.SOCKET_NOT_SOCKET, D.SOCKET_IS_DIRECTORY.format(path=path))
    if not stat.S_ISSOCK(mode):
        raise Failure(FailureKind.SOCKET_NOT_SOCKET, D.SOCKET_IS_FILE.format(path=path))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except PermissionError:
        sock.close()
        raise Failure(FailureKind.SOCKET_EACCES, D.SOCKET_DENIED.format(path=path)) from None
    except ConnectionRefusedError:
        sock.close()
        raise Failure(
            FailureKind.SOCKET_STALE, D.SOCKET_STALE.format(path=path), retryable=True
        ) from None
    except TimeoutError:
        sock.close()
        raise Failure(
            FailureKind.TIMEOUT, D.SOCKET_SILENT.format(path=path, timeout=timeout)
        ) from None
    except OSError as exc:
        sock.close()
        raise Failure(
            FailureKind.SOCKET_ERROR, D.SOCKET_OS_ERROR.format(path=path, why=exc.strerror or exc)
        ) from None
    return sock


def _open_tcp(host: str, port: int, timeout: float | None) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Failure(
            FailureKind.DNS, D.DNS.format(host=host, why=exc.strerror), retryable=True
        ) from None
    last: Failure | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except ConnectionRefusedError:
            last = Failure(
                FailureKind.REFUSED, D.REFUSED.format(host=host, port=port), retryable=True
            )
        except TimeoutError:
            last = Failure(
                FailureKind.TIMEOUT,
                D.TCP_SILENT.format(host=host, port=port, timeout=timeout),
                retryable=True,
            )
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                last = Failure(
                    FailureKind.UNREACHABLE,
                    D.TCP_ERROR.format(host=host, port=port, why=exc.strerror),
                    retryable=True,
                )
            else:
                last = Failure(
                    FailureKind.CONNECT_ERROR,
                    D.TCP_ERROR.format(host=host, port=port, why=exc.strerror or exc),
                    retryable=True,
                )
        sock.close()
    raise last or Failure(FailureKind.DNS, D.NO_ADDRESS.format(host=host), retryable=True)


def request(
    url: DockerURL,
    tls: TLSConfig | None,
    path: str,
    *,
    timeout: float,
    method: str = "GET",
    body: bytes | None = None,
    content_type: str | None = None,
) -> Response:
    """One HTTP request to a Docker endpoint, bounded by ``timeout`` per socket operation."""
    conn = EngineConnection(url, tls, timeout)
    headers = {"User-Agent": "pytest-dockerhost"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        body = reply.read(MAX_BODY)
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, body)
    except Failure:
        raise
    except ssl.SSLError as exc:
        # With TLS 1.3 a refused client certificate surfaces on the first read.
        raise _classify_ssl(exc) from None
    except TimeoutError:
        raise Failure(
            FailureKind.SILENT,
            D.SILENT.format(timeout=timeout),
            retryable=True,
        ) from None
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        if tls is not None:
            # After a completed handshake, a TLS daemon that refuses our client certificate
            # may just hang up (TLS 1.3 sends its alert late, and it can be lost).
            raise Failure(
                FailureKind.TLS_EOF,
                D.TLS_HUNG_UP,
                retryable=True,
            ) from None
        raise Failure(
            FailureKind.EMPTY_REPLY,
            D.NO_ANSWER,
            retryable=True,
        ) from None
    except (http.client.HTTPException, UnicodeError, ValueError) as exc:
        raise Failure(FailureKind.NOT_HTTP, D.NOT_HTTP.format(why=type(exc).__name__)) from None
    except OSError as exc:
        raise Failure(FailureKind.CONNECT_ERROR, str(exc.strerror or exc), retryable=True) from None
    finally:
        conn.close()
