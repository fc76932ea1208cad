"""Real TLS material from trustme, laid out as the docker CLI expects it."""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Material:
    """A CA, a server certificate for loopback, and a client folder holding the three PEMs."""

    ca: trustme.CA
    server: trustme.LeafCert
    client_dir: Path

    def server_context(self, *, require_client_cert: bool = True) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.configure_cert(context)
        if require_client_cert:
            self.ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def write_client_dir(folder: Path, ca: trustme.CA, client: trustme.LeafCert) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    client.private_key_pem.write_to_path(str(folder / "key.pem"))
    return folder


def make_material(
    folder: Path, *, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> Material:
    """A good set: the server cert names loopback, the client cert is signed by the same CA."""
    ca = trustme.CA()
    server = ca.issue_cert(*server_names)
    client = ca.issue_cert("client")
    return Material(ca, server, write_client_dir(folder, ca, client))


def other_ca_dir(folder: Path) -> Path:
    """ca.pem, cert.pem and key.pem from a CA the server has never seen."""
    ca = trustme.CA()
    return write_client_dir(folder, ca, ca.issue_cert("client"))


def expired_server(ca: trustme.CA) -> trustme.LeafCert:
    now = _now()
    return ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


def future_server(ca: trustme.CA) -> trustme.LeafCert:
    now = _now()
    return ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now + datetime.timedelta(days=1),
        not_after=now + datetime.timedelta(days=30),
    )


def expired_client(ca: trustme.CA) -> trustme.LeafCert:
    now = _now()
    return ca.issue_cert(
        "client",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


def server_context_for(leaf: trustme.LeafCert, trust: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    if trust is not None:
        trust.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
