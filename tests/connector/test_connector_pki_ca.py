"""The data space CA: creation, loading, issuing from CSRs, the record, revocation and the CRL."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tds.connector._pki import CertificateAuthority, create_node
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


def _csr(
    alternative_names: list[x509.GeneralName] | None,
    key: object | None = None,
) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")])
    )
    if alternative_names is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def _uri(name: str) -> x509.UniformResourceIdentifier:
    return x509.UniformResourceIdentifier(f"urn:tds:node:{name}")


# --- creation and loading -------------------------------------------------------------------


def test_a_new_ca_is_a_p256_root_with_the_profile_extensions(ca: CertificateAuthority) -> None:
    certificate = ca.certificate
    assert ca.data_space == "Demo space"
    assert certificate.subject == certificate.issuer
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(certificate.public_key().curve, ec.SECP256R1)
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert certificate.not_valid_after_utc - NOW == dt.timedelta(days=3650)


def test_a_new_ca_has_its_files_and_an_empty_signed_crl(ca: CertificateAuthority) -> None:
    files = {path.name for path in ca.directory.iterdir()}
    assert {"ca-key.pem", "ca-cert.pem", "crl.pem", "issued.json"} <= files
    trust = ca.trust_store()
    assert list(trust.crl) == []
    assert trust.crl_number == 1
    assert trust.crl.next_update_utc == NOW + dt.timedelta(days=30)
    assert json.loads((ca.directory / "issued.json").read_text())["certificates"] == []


def test_the_ca_key_file_is_private(ca: CertificateAuthority) -> None:
    assert stat.S_IMODE((ca.directory / "ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.directory.stat().st_mode) == 0o700


def test_load_gives_back_the_same_ca(ca: CertificateAuthority) -> None:
    loaded = CertificateAuthority.load(ca.directory)
    assert loaded.certificate == ca.certificate
    assert loaded.certificate_pem == ca.certificate_pem


def test_creating_a_ca_over_an_existing_one_is_refused_and_changes_nothing(
    ca: CertificateAuthority,
) -> None:
    before = {path.name: path.read_bytes() for path in ca.directory.iterdir()}
    with pytest.raises(AlreadyExistsError, match="already holds a CA"):
        CertificateAuthority.create(ca.directory, "Another space", now=NOW)
    assert {path.name: path.read_bytes() for path in ca.directory.iterdir()} == before


def test_a_half_made_ca_directory_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "crl.pem").write_bytes(b"left over")
    with pytest.raises(AlreadyExistsError, match=r"crl\.pem exists"):
        CertificateAuthority.create(tmp_path, "Demo space")
    assert not (tmp_path / "ca-key.pem").exists()


def test_loading_where_there_is_no_ca_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"ca-key\.pem"):
        CertificateAuthority.load(tmp_path)


def test_a_ca_key_readable_by_others_is_refused(ca: CertificateAuthority) -> None:
    (ca.directory / "ca-key.pem").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        CertificateAuthority.load(ca.directory)


def test_a_ca_key_that_does_not_match_the_certificate_is_refused(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    other = CertificateAuthority.create(tmp_path / "other", "Demo space")
    (ca.directory / "ca-cert.pem").write_bytes(other.certificate_pem)
    with pytest.raises(AuthenticationError, match="is not the key of"):
        CertificateAuthority.load(ca.directory)


def test_a_passphrase_protects_the_ca_key(tmp_path: Path) -> None:
    created = CertificateAuthority.create(tmp_path, "Demo space", passphrase=b"correct horse")
    assert b"ENCRYPTED" in (tmp_path / "ca-key.pem").read_bytes()
    assert CertificateAuthority.load(tmp_path, passphrase=b"correct horse").certificate == (
        created.certificate
    )
    with pytest.raises(AuthenticationError, match="wrong passphrase"):
        CertificateAuthority.load(tmp_path, passphrase=b"wrong")
    with pytest.raises(AuthenticationError, match="give its passphrase"):
        CertificateAuthority.load(tmp_path)
    with pytest.raises(ConfigError, match="passphrase"):
        CertificateAuthority.load(tmp_path, passphrase="correct horse")  # type: ignore[arg-type]


@pytest.mark.parametrize("data_space", ["", "   ", "x" * 65, "tab\there", 42])
def test_bad_data_space_names_are_refused(tmp_path: Path, data_space: object) -> None:
    with pytest.raises(ConfigError, match="data space name"):
        CertificateAuthority.create(tmp_path, data_space)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("validity", [dt.timedelta(0), dt.timedelta(days=-1), 365])
def test_bad_validity_periods_are_refused(tmp_path: Path, validity: object) -> None:
    with pytest.raises(ConfigError, match="positive"):
        CertificateAuthority.create(tmp_path, "Demo space", validity=validity)  # type: ignore[arg-type]


def test_a_naive_clock_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        CertificateAuthority.create(tmp_path, "Demo space", now=dt.datetime(2030, 1, 1))


# --- issuing ---------------------------------------------------------------------------------


def test_an_issued_certificate_names_the_node_and_allows_both_tls_sides(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    csr = create_node(tmp_path / "alice", "alice", hosts=["localhost", "127.0.0.1"])
    certificate = x509.load_pem_x509_certificate(ca.issue(csr, now=NOW))
    assert certificate.subject.rfc4514_string() == "CN=alice"
    assert certificate.issuer == ca.certificate.subject
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:tds:node:alice"]
    assert names.get_values_for_type(x509.DNSName) == ["alice.tds.invalid", "localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature and not key_usage.key_cert_sign
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not constraints.ca
    authority = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    subject_key = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert authority.value.key_identifier == subject_key.value.key_identifier
    assert certificate.not_valid_after_utc == NOW + dt.timedelta(days=365)
    assert certificate.not_valid_before_utc < NOW


def test_issuing_keeps_a_record(ca: CertificateAuthority, tmp_path: Path) -> None:
    certificate = x509.load_pem_x509_certificate(
        ca.issue(create_node(tmp_path / "alice", "alice"), now=NOW)
    )
    [record] = ca.issued()
    assert record.serial == certificate.serial_number
    assert record.name == "alice"
    assert record.not_valid_after == certificate.not_valid_after_utc
    assert record.fingerprint_sha256 == certificate.fingerprint(hashes.SHA256()).hex()
    assert record.revoked_at is None
    assert CertificateAuthority.load(ca.directory).issued() == [record]


def test_serials_are_random_and_distinct(ca: CertificateAuthority, tmp_path: Path) -> None:
    for index in range(5):
        ca.issue(create_node(tmp_path / str(index), f"node-{index}"), now=NOW)
    serials = [record.serial for record in ca.issued()]
    assert len(set(serials)) == 5
    assert all(serial.bit_length() > 64 for serial in serials)


def test_the_validity_is_configurable_and_never_outlives_the_ca(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority.create(
        tmp_path / "ca", "Demo space", validity=dt.timedelta(days=100), now=NOW
    )
    short = x509.load_pem_x509_certificate(
        ca.issue(create_node(tmp_path / "a", "a"), validity=dt.timedelta(days=7), now=NOW)
    )
    assert short.not_valid_after_utc == NOW + dt.timedelta(days=7)
    long = x509.load_pem_x509_certificate(ca.issue(create_node(tmp_path / "b", "b"), now=NOW))
    assert long.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_a_second_certificate_for_an_active_name_needs_renew(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    ca.issue(create_node(tmp_path / "first", "alice"), now=NOW)
    impostor = create_node(tmp_path / "second", "alice")
    with pytest.raises(AlreadyExistsError, match="already holds certificate"):
        ca.issue(impostor, now=NOW)
    assert len(ca.issued()) == 1
    ca.issue(impostor, renew=True, now=NOW)
    assert [record.name for record in ca.issued()] == ["alice", "alice"]


def test_a_revoked_or_expired_name_can_be_issued_again(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    ca.issue(create_node(tmp_path / "a1", "alice"), validity=dt.timedelta(days=1), now=NOW)
    ca.issue(create_node(tmp_path / "a2", "alice"), now=NOW + dt.timedelta(days=2))
    ca.revoke("alice", now=NOW + dt.timedelta(days=3))
    ca.issue(create_node(tmp_path / "a3", "alice"), now=NOW + dt.timedelta(days=4))
    assert len(ca.issued()) == 3


@pytest.mark.parametrize(
    ("alternative_names", "message"),
    [
        (None, "names no node"),
        ([x509.DNSName("alice.example.org")], "0 URIs"),
        ([_uri("alice"), _uri("bob")], "2 URIs"),
        ([_uri("alice"), x509.UniformResourceIdentifier("https://example.org")], "2 URIs"),
        ([x509.UniformResourceIdentifier("https://example.org/alice")], "not a node URI"),
        ([_uri("Alice")], "not a node name"),
        ([_uri("-alice")], "not a node name"),
        ([_uri("a" * 64)], "not a node name"),
        ([_uri("alice/../bob")], "not a node name"),
        ([_uri("alice"), x509.DNSName("bob.tds.invalid")], "which the CA assigns"),
        ([_uri("alice"), x509.DNSName("tds.invalid")], "which the CA assigns"),
        ([_uri("alice"), x509.DNSName("*.example.org")], "not a host name"),
        ([_uri("alice"), x509.DNSName("Alice.example.org")], "not a host name"),
        ([_uri("alice"), x509.DNSName("example.org.")], "not a host name"),
        ([_uri("alice"), x509.IPAddress(ipaddress.ip_address("0.0.0.0"))], "connect to"),
        ([_uri("alice"), x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))], "host name"),
        ([_uri("alice"), x509.RFC822Name("alice@example.org")], "only one urn:tds:node URI"),
        ([_uri("alice"), x509.DNSName("localhost"), x509.DNSName("localhost")], "given twice"),
        (
            [_uri("alice")] + [x509.DNSName(f"h{index}.example.org") for index in range(17)],
            "at most 16",
        ),
    ],
)
def test_requests_for_names_the_ca_does_not_give_are_refused(
    ca: CertificateAuthority, alternative_names: list[x509.GeneralName] | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ca.issue(_csr(alternative_names), now=NOW)
    assert ca.issued() == []


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP384R1()),
        ec.generate_private_key(ec.SECP256K1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["p384", "secp256k1", "ed25519"],
)
def test_requests_with_a_key_other_than_p256_are_refused(
    ca: CertificateAuthority, key: object
) -> None:
    with pytest.raises(ConfigError, match="not an ECDSA P-256 key"):
        ca.issue(_csr([_uri("alice")], key), now=NOW)
    assert ca.issued() == []


def test_a_request_with_a_bad_signature_is_refused(ca: CertificateAuthority) -> None:
    request = x509.load_pem_x509_csr(_csr([_uri("alice")]))
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature's s
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        ca.issue(tampered, now=NOW)
    assert ca.issued() == []


def test_a_request_whose_key_was_swapped_is_refused(ca: CertificateAuthority) -> None:
    # The names were signed by one key, but the request now carries another: the signature
    # no longer matches, so nobody can ask for a certificate on a key they do not hold.
    original = x509.load_pem_x509_csr(_csr([_uri("alice")]))
    other = x509.load_pem_x509_csr(_csr([_uri("alice")]))
    original_key = original.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other_key = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = original.public_bytes(serialization.Encoding.DER).replace(original_key, other_key)
    swapped = x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        ca.issue(swapped, now=NOW)


@pytest.mark.parametrize(
    "data", [b"", b"not a request", b"-----BEGIN CERTIFICATE REQUEST-----\n", 7]
)
def test_malformed_requests_are_decode_errors(ca: CertificateAuthority, data: object) -> None:
    with pytest.raises(DecodeError):
        ca.issue(data, now=NOW)  # type: ignore[arg-type]


# --- revocation and the CRL ------------------------------------------------------------------


def test_revoking_a_name_revokes_all_its_certificates_and_publishes_a_crl(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    ca.issue(create_node(tmp_path / "a1", "alice"), now=NOW)
    ca.issue(create_node(tmp_path / "a2", "alice"), renew=True, now=NOW)
    ca.issue(create_node(tmp_path / "b", "bob"), now=NOW)
    revoked_at = NOW + dt.timedelta(hours=1, microseconds=250)
    revoked = ca.revoke("alice", now=revoked_at)
    assert [record.name for record in revoked] == ["alice", "alice"]
    trust = ca.trust_store()
    assert trust.crl_number == 2
    listed = {entry.serial_number: entry.revocation_date_utc for entry in trust.crl}
    assert listed == {record.serial: revoked_at.replace(microsecond=0) for record in revoked}
    by_name = {record.name: record.revoked_at for record in ca.issued()}
    assert by_name == {"alice": revoked_at.replace(microsecond=0), "bob": None}


def test_revoking_again_revokes_nothing_new_but_republishes(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    ca.issue(create_node(tmp_path / "a", "alice"), now=NOW)
    ca.revoke("alice", now=NOW)
    assert ca.revoke("alice", now=NOW + dt.timedelta(days=1)) == []
    trust = ca.trust_store()
    assert trust.crl_number == 3
    assert len(list(trust.crl)) == 1


def test_revoking_an_unknown_or_bad_name_is_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(NotFoundError, match="never issued"):
        ca.revoke("nobody", now=NOW)
    with pytest.raises(ConfigError, match="not a node name"):
        ca.revoke("No Body", now=NOW)
    assert ca.trust_store().crl_number == 1


def test_publishing_a_crl_sets_its_next_update(ca: CertificateAuthority) -> None:
    crl_pem = ca.publish_crl(validity=dt.timedelta(days=2), now=NOW + dt.timedelta(days=10))
    crl = x509.load_pem_x509_crl(crl_pem)
    assert crl.next_update_utc == NOW + dt.timedelta(days=12)
    assert crl.last_update_utc <= NOW + dt.timedelta(days=10)
    assert crl.is_signature_valid(ca.certificate.public_key())
    assert TrustStore.from_pem(ca.certificate_pem, crl_pem).crl_number == 2
    assert ca.crl_pem == crl_pem


def test_a_corrupt_record_is_a_decode_error(ca: CertificateAuthority, tmp_path: Path) -> None:
    (ca.directory / "issued.json").write_text('{"version": 1, "certificates": [{}]}')
    with pytest.raises(DecodeError, match="corrupt"):
        ca.issue(create_node(tmp_path / "a", "alice"), now=NOW)
    (ca.directory / "issued.json").write_text('{"version": 9, "certificates": [], "crl_number": 1}')
    with pytest.raises(DecodeError, match="unknown version"):
        ca.issued()
