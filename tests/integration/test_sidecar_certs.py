"""The sidecar's TLS material: names, key usages, strict verification and file modes."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

from cryptography import x509

from pytest_dockerhost.sidecar import certs


def test_server_certificate_names_and_usages() -> None:
    material = certs.make(["localhost", "127.0.0.1", "pytest-dockerhost-abc"])
    server = x509.load_pem_x509_certificate(material.server_cert)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "pytest-dockerhost-abc"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    ca = x509.load_pem_x509_certificate(material.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_a_strict_client_verifies_the_server_and_the_server_the_client(tmp_path: Path) -> None:
    # Python 3.13 turns on VERIFY_X509_STRICT by default; set it here on every version.
    material = certs.make(["localhost", "127.0.0.1"])
    (tmp_path / "server.pem").write_bytes(material.server_cert)
    (tmp_path / "server-key.pem").write_bytes(material.server_key)
    certs.write_client(
        str(tmp_path / "client"), material.ca_cert, material.client_cert, material.client_key
    )
    client_dir = tmp_path / "client"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server-key.pem")
    server_ctx.load_verify_locations(client_dir / "ca.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(client_dir / "ca.pem"))
    client_ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    client_ctx.load_cert_chain(client_dir / "cert.pem", client_dir / "key.pem")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.recv(2) == b"ok"
    finally:
        thread.join(5)
        listener.close()
    assert not errors


def test_client_files_are_private(tmp_path: Path) -> None:
    material = certs.make(["localhost"])
    folder = tmp_path / "client"
    certs.write_client(str(folder), material.ca_cert, material.client_cert, material.client_key)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
