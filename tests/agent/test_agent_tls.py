"""TLS to the appliance: verification on by default, --ca-file trusts an on-site CA, --insecure skips it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from microdc.agent.config import AgentConfig
from microdc.agent.sample import iso_timestamp, new_batch
from microdc.agent.sender import Outcome, tls_context


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """An on-site CA and a server certificate for 127.0.0.1 (strict-X.509 clean)."""
    d = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(_name("microdc test CA")).issuer_name(_name("microdc test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("appliance")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return d


@pytest.fixture
def tls_server(pki, make_telemetry_server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    return make_telemetry_server(ssl_context=ctx)


def payload() -> str:
    return json.dumps(new_batch("n1", [{"ts": iso_timestamp(1.8e9), "devices": [], "sensors": []}]))


def test_unknown_ca_is_refused_by_default(tls_server, make_uploader):
    result = make_uploader(AgentConfig(url=tls_server.url, token=tls_server.token)).post(payload())
    assert result.outcome is Outcome.RETRY and "CERTIFICATE_VERIFY_FAILED" in result.detail
    assert tls_server.batches == {}


def test_ca_file_trusts_the_on_site_ca(tls_server, pki, make_uploader):
    cfg = AgentConfig(url=tls_server.url, token=tls_server.token, ca_file=str(pki / "ca.pem"))
    assert make_uploader(cfg).post(payload()).outcome is Outcome.SENT
    assert len(tls_server.batches) == 1


def test_insecure_skips_verification(tls_server, make_uploader):
    cfg = AgentConfig(url=tls_server.url, token=tls_server.token, insecure=True)
    assert make_uploader(cfg).post(payload()).outcome is Outcome.SENT


def test_unreadable_ca_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot load CA file .*missing.pem"):
        tls_context(AgentConfig(url="https://x", ca_file=str(tmp_path / "missing.pem")))
