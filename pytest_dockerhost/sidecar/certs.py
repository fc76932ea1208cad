"""TLS material for a sidecar, made here so that the dind entrypoint generates nothing.

The official ``docker:dind`` entrypoint makes three 4096-bit RSA keys with
``openssl`` for every fresh ``/certs`` (seconds on a small CI machine), but it
uses ``server/{ca,cert,key}.pem`` as they are when they exist and there is no
``ca/key.pem``. Measured on the CI machine: importing ``cryptography`` takes
about 70 ms and three ECDSA P-256 keys about 2 ms, so a fresh CA per sidecar
costs nothing worth caching, and no CA key outlives the run. The CA key is
never written anywhere: only the server key goes into the sidecar (by
``put_archive``) and only the client key is written here (0600, in a 0700
folder).

``cryptography`` is optional: without it ``available()`` is False and the
sidecar lets the image generate its own certificates, then fetches them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from ..engine.url import TLSConfig
from ..errors import SidecarError
from ..messages import sidecar as say_

if TYPE_CHECKING:
    from cryptography import x509

VALID_DAYS = 30  # a sidecar lives for one run; reused ones are replaced long before this


@final
@dataclass(frozen=True)
class Material:
    """PEM bytes for the daemon's side and the client's side of one sidecar."""

    ca_cert: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes


def available() -> bool:
    try:
        import cryptography.x509  # noqa: F401
    except ImportError:
        return False
    return True


def make(names: Iterable[str]) -> Material:
    """A fresh CA, a server certificate for ``names`` (DNS names or IPs) and a client one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=VALID_DAYS)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def usage(*, sign: bool, encipher: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=encipher,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=sign,
            crl_sign=sign,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("pytest-dockerhost sidecar CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    # Key usage and key identifiers: Python 3.13's strict verification rejects CAs without them.
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign=True, encipher=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)

    def leaf(
        common: str, eku: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(sign=False, encipher=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(aki, critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    server_cert, server_key = leaf(
        "pytest-dockerhost sidecar", ExtendedKeyUsageOID.SERVER_AUTH, _sans(names)
    )
    client_cert, client_key = leaf("pytest-dockerhost client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return Material(
        ca_cert=ca.public_bytes(serialization.Encoding.PEM),
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
    )


def _sans(names: Iterable[str]) -> list[x509.GeneralName]:
    from cryptography import x509

    sans: list[x509.GeneralName] = []
    for entry in dict.fromkeys(names):  # unique, in order
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            sans.append(x509.DNSName(entry))
    return sans


def write_client(folder: str, ca_cert: bytes, client_cert: bytes, client_key: bytes) -> None:
    """ca.pem, cert.pem and key.pem as DOCKER_CERT_PATH expects: folder 0700, key 0600."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    for filename, data, mode in (
        ("ca.pem", ca_cert, 0o644),
        ("cert.pem", client_cert, 0o644),
        ("key.pem", client_key, 0o600),
    ):
        path = os.path.join(folder, filename)
        # Created with its final mode, so the key is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)


def client_tls(folder: str, whose: str) -> TLSConfig:
    """Verified TLS with the client files in our private cert ``folder``."""
    return TLSConfig(
        verify=True,
        ca_cert=os.path.join(folder, "ca.pem"),
        client_cert=os.path.join(folder, "cert.pem"),
        client_key=os.path.join(folder, "key.pem"),
        source=f"{whose} certificates in {folder}",
    )


@final
class CertMaker:
    """Makes the sidecar's certificates on a thread while the engine creates the container."""

    def __init__(self, sans: list[str]) -> None:
        self._made: list[Material | None] = []
        self._failed: list[BaseException] = []
        self.delivered = False
        self._thread = threading.Thread(
            target=self._make, args=(sans,), name="pytest-dockerhost-certs", daemon=True
        )
        self._thread.start()

    def _make(self, sans: list[str]) -> None:
        try:
            self._made.append(make(sans) if available() else None)
        except Exception as exc:  # handed to the main thread by deliver()
            self._failed.append(exc)

    def deliver(self, cert_dir: str) -> Material | None:
        """The certificates (None: the image makes its own), the client half in ``cert_dir``."""
        self._thread.join()
        self.delivered = True
        if self._failed or not self._made:
            raise SidecarError(say_.no_certificates(f": {self._failed[0]}" if self._failed else ""))
        material = self._made[0]
        if material is not None:
            write_client(cert_dir, material.ca_cert, material.client_cert, material.client_key)
        return material
