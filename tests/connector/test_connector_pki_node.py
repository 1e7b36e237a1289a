"""Node identities on disk: key and CSR, installing the certificate and CRL, loading back."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tds.connector._pki import (
    CertificateAuthority,
    NodeIdentity,
    create_node,
    enroll_node,
    install_crl,
    install_node_certificate,
)
from tds.connector._trust import TrustStore
from tds.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotFoundError,
)

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", "Demo space", now=NOW)


def test_create_node_writes_a_private_key_and_a_request_for_the_name(tmp_path: Path) -> None:
    directory = tmp_path / "alice"
    csr_pem = create_node(directory, "alice", hosts=["node-a.example.org", "::1"])
    assert (directory / "node-csr.pem").read_bytes() == csr_pem
    assert stat.S_IMODE((directory / "node-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    request = x509.load_pem_x509_csr(csr_pem)
    assert request.is_signature_valid
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:tds:node:alice"]
    assert names.get_values_for_type(x509.DNSName) == ["node-a.example.org"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["::1"]
    key = serialization.load_pem_private_key((directory / "node-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key.public_key() == request.public_key()


def test_the_node_key_is_never_overwritten(tmp_path: Path) -> None:
    create_node(tmp_path, "alice")
    key_before = (tmp_path / "node-key.pem").read_bytes()
    with pytest.raises(AlreadyExistsError, match="never replaced"):
        create_node(tmp_path, "alice")
    assert (tmp_path / "node-key.pem").read_bytes() == key_before


@pytest.mark.parametrize("name", ["", "Alice", "-a", "a_b", "a.b", "a" * 64, None, "ünïcode"])
def test_bad_node_names_are_refused_before_anything_is_written(
    tmp_path: Path, name: object
) -> None:
    with pytest.raises(ConfigError, match="not a node name"):
        create_node(tmp_path / "node", name)  # type: ignore[arg-type]
    assert not (tmp_path / "node").exists()


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ("localhost", "not one string"),
        (["bob.tds.invalid"], "which the CA assigns"),
        (["*.example.org"], "not a host name"),
        (["0.0.0.0"], "connect to"),
        ([""], "not a host name"),
        ([42], "not a host name"),
        (["a", "a"], "given twice"),
    ],
)
def test_bad_hosts_are_refused_before_anything_is_written(
    tmp_path: Path, hosts: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_node(tmp_path / "node", "alice", hosts=hosts)  # type: ignore[arg-type]
    assert not (tmp_path / "node").exists()


def test_the_two_step_enrolment_round_trips(ca: CertificateAuthority, tmp_path: Path) -> None:
    directory = tmp_path / "alice"
    certificate_pem = ca.issue(create_node(directory, "alice"), now=NOW)
    identity = install_node_certificate(directory, certificate_pem, ca.certificate_pem, ca.crl_pem)
    assert identity.name == "alice"
    assert identity.uri == "urn:tds:node:alice"
    assert identity.tls_server_name == "alice.tds.invalid"
    assert identity.certificate_pem == certificate_pem
    assert identity.ca_certificate_pem == ca.certificate_pem
    assert identity.private_key_pem == (directory / "node-key.pem").read_bytes()
    assert identity.not_valid_after == NOW + dt.timedelta(days=365)
    assert NodeIdentity.load(directory) == identity
    assert TrustStore.load(directory).crl_pem == ca.crl_pem


def test_enroll_node_does_both_steps(ca: CertificateAuthority, tmp_path: Path) -> None:
    identity = enroll_node(tmp_path / "bob", "bob", ca, hosts=["localhost"], now=NOW)
    assert identity.name == "bob"
    assert [record.name for record in ca.issued()] == ["bob"]
    assert NodeIdentity.load(tmp_path / "bob") == identity
    assert {path.name for path in (tmp_path / "bob").iterdir()} == {
        "node-key.pem",
        "node-csr.pem",
        "node-cert.pem",
        "ca-cert.pem",
        "crl.pem",
    }


def test_enroll_node_writes_nothing_when_the_ca_refuses(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    enroll_node(tmp_path / "first", "alice", ca, now=NOW)
    with pytest.raises(AlreadyExistsError, match="already holds certificate"):
        enroll_node(tmp_path / "second", "alice", ca, now=NOW)
    assert not (tmp_path / "second").exists()


def test_enroll_node_refuses_an_existing_node_before_the_ca_issues(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    create_node(tmp_path / "alice", "alice")
    with pytest.raises(AlreadyExistsError, match="never replaced"):
        enroll_node(tmp_path / "alice", "alice", ca, now=NOW)
    assert ca.issued() == []


def test_nothing_secret_is_logged(
    ca: CertificateAuthority, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tds"):
        identity = enroll_node(tmp_path / "alice", "alice", ca, now=NOW)
    assert caplog.records
    assert all(record.name.startswith("tds.") for record in caplog.records)
    assert b"PRIVATE KEY" not in caplog.text.encode()
    assert identity.private_key_pem.decode().splitlines()[1] not in caplog.text
    assert "PRIVATE" not in repr(identity)


def test_loading_a_node_without_a_certificate_says_what_to_do(tmp_path: Path) -> None:
    create_node(tmp_path, "alice")
    with pytest.raises(NotFoundError, match=r"have the CA issue node-csr\.pem"):
        NodeIdentity.load(tmp_path)
    with pytest.raises(NotFoundError, match=r"node-key\.pem"):
        NodeIdentity.load(tmp_path / "nowhere")


def test_a_node_key_readable_by_others_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    enroll_node(tmp_path / "alice", "alice", ca, now=NOW)
    (tmp_path / "alice" / "node-key.pem").chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        NodeIdentity.load(tmp_path / "alice")


def test_installing_a_certificate_for_another_key_is_refused(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    create_node(tmp_path / "alice", "alice")
    other = ca.issue(create_node(tmp_path / "other", "alice"), now=NOW)
    with pytest.raises(AuthenticationError, match="not for this node's key"):
        install_node_certificate(tmp_path / "alice", other, ca.certificate_pem, ca.crl_pem)
    assert not (tmp_path / "alice" / "node-cert.pem").exists()
    assert not (tmp_path / "alice" / "ca-cert.pem").exists()


def test_installing_a_certificate_from_another_ca_is_refused(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    other_ca = CertificateAuthority.create(tmp_path / "other-ca", "Demo space", now=NOW)
    certificate = other_ca.issue(create_node(tmp_path / "alice", "alice"), now=NOW)
    with pytest.raises(AuthenticationError, match="issued by another CA"):
        install_node_certificate(tmp_path / "alice", certificate, ca.certificate_pem)
    with pytest.raises(AuthenticationError, match="another CA"):
        install_node_certificate(
            tmp_path / "alice", certificate, other_ca.certificate_pem, ca.crl_pem
        )
    assert not (tmp_path / "alice" / "node-cert.pem").exists()


def test_a_node_that_trusts_a_ca_refuses_another(ca: CertificateAuthority, tmp_path: Path) -> None:
    enroll_node(tmp_path / "alice", "alice", ca, now=NOW)
    other_ca = CertificateAuthority.create(tmp_path / "other-ca", "Other space", now=NOW)
    request = (tmp_path / "alice" / "node-csr.pem").read_bytes()
    certificate = other_ca.issue(request, now=NOW)
    with pytest.raises(AlreadyExistsError, match="already trusts another CA"):
        install_node_certificate(tmp_path / "alice", certificate, other_ca.certificate_pem)
    assert NodeIdentity.load(tmp_path / "alice").ca_certificate == ca.certificate


def test_a_renewed_certificate_replaces_the_old_one(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    first = enroll_node(tmp_path / "alice", "alice", ca, now=NOW)
    request = (tmp_path / "alice" / "node-csr.pem").read_bytes()
    later = NOW + dt.timedelta(days=300)
    renewed_pem = ca.issue(request, renew=True, now=later)
    renewed = install_node_certificate(tmp_path / "alice", renewed_pem, ca.certificate_pem)
    assert renewed.not_valid_after > first.not_valid_after
    assert NodeIdentity.load(tmp_path / "alice").certificate_pem == renewed_pem


def test_install_crl_takes_newer_lists_and_refuses_older_or_foreign_ones(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    directory = tmp_path / "alice"
    enroll_node(directory, "alice", ca, now=NOW)
    old = ca.crl_pem
    newer = ca.publish_crl(now=NOW + dt.timedelta(days=1))
    assert install_crl(directory, newer).crl_number == 2
    with pytest.raises(AuthenticationError, match="refusing to roll back"):
        install_crl(directory, old)
    other_ca = CertificateAuthority.create(tmp_path / "other-ca", "Demo space", now=NOW)
    with pytest.raises(AuthenticationError, match="another CA"):
        install_crl(directory, other_ca.publish_crl(now=NOW))
    with pytest.raises(DecodeError, match="revocation list"):
        install_crl(directory, b"garbage")
    assert TrustStore.load(directory).crl_pem == newer


def test_a_node_without_a_crl_has_no_trust_store_yet(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    directory = tmp_path / "alice"
    certificate = ca.issue(create_node(directory, "alice"), now=NOW)
    install_node_certificate(directory, certificate, ca.certificate_pem)
    with pytest.raises(NotFoundError, match=r"crl\.pem"):
        TrustStore.load(directory)
    install_crl(directory, ca.crl_pem)
    assert TrustStore.load(directory).crl_number == 1
