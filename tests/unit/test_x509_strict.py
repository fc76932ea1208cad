"""Python 3.13's strict X.509 checks: certificates as docker:dind made them before 2025
(no key-usage extensions) fail there with the diagnosis, and the documented opt-in
relaxes that one flag while the chain and the hostname stay checked. On older Pythons
the flag is off by default: there the same certificates pass either way."""

from __future__ import annotations

import datetime
import ssl
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pytest_dockerhost.discovery.resolution import resolve
from pytest_dockerhost.engine.probe import probe
from pytest_dockerhost.engine.transport import Failure
from pytest_dockerhost.engine.url import TLSConfig, parse_url

from ..helpers.servers import docker_api, over_tls, serving
from .conftest import MakeCtx

STRICT_BY_DEFAULT = sys.version_info >= (3, 13)


def _legacy_material(folder: Path, host: str = "127.0.0.1") -> Path:
    """A CA and server certificate without keyUsage/extendedKeyUsage, otherwise sound."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old docker:dind CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")]))
        .issuer_name(ca_name)
        .public_key(client_key.public_key())
        .serial_number(3)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(client.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(_pem(client_key))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server-key.pem").write_bytes(_pem(key))
    return folder


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _server(folder: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server-key.pem")
    return context


def _tls(folder: Path, *, strict: bool = True) -> TLSConfig:
    return TLSConfig(True, str(folder / "ca.pem"), None, None, "test", x509_strict=strict)


def test_legacy_certificates_under_strict_checks_get_the_diagnosis_and_the_opt_in(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    folder = _legacy_material(tmp_path)
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(folder)}
    with serving(over_tls(_server(folder), docker_api())) as server:
        ctx = make_ctx({**env, "DOCKER_HOST": server.url})
        strict = resolve(ctx.settings, ctx=ctx)
        if STRICT_BY_DEFAULT:
            assert strict.host is None
            assert "key usage" in str(strict.error).lower(), strict.error
            assert "--docker-tls-x509-strict=false relaxes that one check" in str(strict.error)
        else:
            assert strict.host is not None, strict.error
        assert probe(parse_url(server.url), _tls(folder, strict=False), timeout=5).version


def test_the_opt_in_keeps_the_hostname_check(tmp_path: Path) -> None:
    folder = _legacy_material(tmp_path, host="10.255.255.1")  # names another address
    with (
        serving(over_tls(_server(folder), docker_api())) as server,
        pytest.raises(Failure) as failed,
    ):
        probe(parse_url(server.url), _tls(folder, strict=False), timeout=5)
    assert "mismatch" in failed.value.detail.lower(), failed.value.detail


def test_the_opt_in_is_a_warning_in_the_header_that_names_the_risk(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    folder = _legacy_material(tmp_path)
    with serving(over_tls(_server(folder), docker_api())) as server:
        env = {
            "DOCKER_HOST": server.url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(folder),
            "PYTEST_DOCKER_TLS_X509_STRICT": "false",
        }
        ctx = make_ctx(env)
        result = resolve(ctx.settings, ctx=ctx)
    assert result.host is not None, result.error
    assert any(
        w.startswith(
            "Python's strict X.509 checks are off for this endpoint "
            "(--docker-tls-x509-strict=false, from PYTEST_DOCKER_TLS_X509_STRICT)"
        )
        and "The chain and the hostname are still verified" in w
        for w in result.host.warnings
    ), result.host.warnings
