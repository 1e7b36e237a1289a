"""Peer verification: what the daemon checks on every connection, and every refusal."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node
from tds.connector._trust import (
    PeerRole,
    TrustStore,
    node_name_from_uri,
    node_uri,
    tls_server_name,
    validate_node_name,
    verify_peer_certificate,
)
from tds.errors import AuthenticationError, ConfigError, DecodeError

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
NAMES = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca", "Demo space", now=NOW)


@pytest.fixture
def alice(ca: CertificateAuthority, tmp_path: Path) -> NodeIdentity:
    return enroll_node(tmp_path / "alice", "alice", ca, now=NOW)


def _key_usage(*, digital_signature: bool = True, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature, False, False, False, False, key_cert_sign, False, False, False
    )


def _forge(
    ca: CertificateAuthority,
    *,
    not_valid_before: dt.datetime = NOW - dt.timedelta(days=1),
    replace: dict[type[x509.ExtensionType], x509.ExtensionType | None] | None = None,
) -> x509.Certificate:
    """A node certificate for 'mallory' signed by the CA's key, with extensions replaced
    (or removed, for None) by type."""
    ca_key = serialization.load_pem_private_key((ca.directory / "ca-key.pem").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    extensions: dict[type[x509.ExtensionType], x509.ExtensionType | None] = {
        x509.BasicConstraints: x509.BasicConstraints(ca=False, path_length=None),
        x509.KeyUsage: _key_usage(),
        x509.ExtendedKeyUsage: x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        ),
        x509.SubjectAlternativeName: x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier("urn:tds:node:mallory")]
        ),
        x509.AuthorityKeyIdentifier: x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.certificate.public_key()
        ),
    }
    extensions.update(replace or {})
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_valid_before)
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    for extension in extensions.values():
        if extension is not None:
            critical = isinstance(extension, x509.BasicConstraints | x509.KeyUsage)
            builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca_key, hashes.SHA256())


# --- names -----------------------------------------------------------------------------------


@given(NAMES)
def test_node_names_round_trip_through_their_uri(name: str) -> None:
    assert validate_node_name(name) == name
    assert node_name_from_uri(node_uri(name)) == name
    assert tls_server_name(name) == f"{name}.tds.invalid"


@given(st.text(max_size=70))
def test_only_safe_identifiers_are_node_names(text: str) -> None:
    if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", text):
        assert validate_node_name(text) == text
    else:
        with pytest.raises(ConfigError, match="not a node name"):
            validate_node_name(text)


@pytest.mark.parametrize("uri", ["urn:tds:node:", "urn:tds:node:A", "urn:x:alice", 5])
def test_other_uris_are_not_node_uris(uri: object) -> None:
    with pytest.raises(ConfigError):
        node_name_from_uri(uri)  # type: ignore[arg-type]


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(PeerRole))
@pytest.mark.parametrize("encoding", ["pem", "pem-text", "der", "object"])
def test_a_good_peer_is_accepted_and_named(
    ca: CertificateAuthority, alice: NodeIdentity, role: PeerRole, encoding: str
) -> None:
    presented = {
        "pem": alice.certificate_pem,
        "pem-text": alice.certificate_pem.decode(),
        "der": alice.certificate.public_bytes(serialization.Encoding.DER),
        "object": alice.certificate,
    }[encoding]
    peer = verify_peer_certificate(presented, ca.trust_store(), role=role, now=NOW)
    assert peer.name == "alice"
    assert peer.uri == "urn:tds:node:alice"
    assert peer.certificate == alice.certificate
    assert peer.not_valid_after == alice.not_valid_after


def test_the_expected_name_must_match(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    trust = ca.trust_store()
    assert (
        verify_peer_certificate(
            alice.certificate, trust, role=PeerRole.SERVER, expected_name="alice", now=NOW
        ).name
        == "alice"
    )
    with pytest.raises(AuthenticationError, match="expected node 'bob'"):
        verify_peer_certificate(
            alice.certificate, trust, role=PeerRole.SERVER, expected_name="bob", now=NOW
        )


# --- refused ----------------------------------------------------------------------------------


def test_a_certificate_from_another_ca_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    other_ca = CertificateAuthority.create(tmp_path / "other", "Other space", now=NOW)
    stranger = enroll_node(tmp_path / "stranger", "stranger", other_ca, now=NOW)
    with pytest.raises(AuthenticationError, match="certificate issued by another CA"):
        verify_peer_certificate(
            stranger.certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW
        )


def test_a_certificate_from_another_ca_of_the_same_name_is_refused(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    twin_ca = CertificateAuthority.create(tmp_path / "twin", "Demo space", now=NOW)
    assert twin_ca.certificate.subject == ca.certificate.subject
    twin = enroll_node(tmp_path / "alice-twin", "alice", twin_ca, now=NOW)
    with pytest.raises(AuthenticationError, match="certificate issued by another CA"):
        verify_peer_certificate(twin.certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


def test_the_ca_certificate_itself_is_not_a_peer(ca: CertificateAuthority) -> None:
    with pytest.raises(AuthenticationError):
        verify_peer_certificate(ca.certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


def test_an_expired_certificate_is_refused(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    late = alice.not_valid_after + dt.timedelta(seconds=1)
    trust = TrustStore.from_pem(ca.certificate_pem, ca.publish_crl(now=late))
    with pytest.raises(AuthenticationError, match="certificate expired on 2031-06-01"):
        verify_peer_certificate(alice.certificate, trust, role=PeerRole.CLIENT, now=late)


def test_a_certificate_not_yet_valid_is_refused(ca: CertificateAuthority) -> None:
    future = _forge(ca, not_valid_before=NOW + dt.timedelta(hours=1))
    with pytest.raises(AuthenticationError, match="certificate not valid before 2030-06-01T13"):
        verify_peer_certificate(future, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


def test_a_certificate_is_refused_once_the_ca_expires(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(
        tmp_path / "ca", "Demo space", validity=dt.timedelta(days=2), now=NOW
    )
    node = enroll_node(tmp_path / "n", "n", ca, now=NOW)
    late = NOW + dt.timedelta(days=3)
    trust = TrustStore.from_pem(ca.certificate_pem, ca.publish_crl(now=late))
    with pytest.raises(AuthenticationError, match="the data space CA certificate expired"):
        verify_peer_certificate(node.certificate, trust, role=PeerRole.CLIENT, now=late)


def test_a_revoked_certificate_is_refused(
    ca: CertificateAuthority, alice: NodeIdentity, tmp_path: Path
) -> None:
    bob = enroll_node(tmp_path / "bob", "bob", ca, now=NOW)
    before = ca.trust_store()
    ca.revoke("alice", now=NOW + dt.timedelta(hours=2))
    after = ca.trust_store()
    later = NOW + dt.timedelta(hours=3)
    assert verify_peer_certificate(alice.certificate, before, role=PeerRole.CLIENT, now=later)
    with pytest.raises(AuthenticationError, match="certificate revoked on 2030-06-01T14:00:00"):
        verify_peer_certificate(alice.certificate, after, role=PeerRole.CLIENT, now=later)
    with pytest.raises(AuthenticationError, match="revoked"):
        verify_peer_certificate(alice.certificate, after, role=PeerRole.SERVER, now=later)
    assert verify_peer_certificate(bob.certificate, after, role=PeerRole.CLIENT, now=later)


def test_a_stale_crl_refuses_every_peer(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    trust = ca.trust_store()
    stale = trust.crl.next_update_utc + dt.timedelta(seconds=1)
    with pytest.raises(AuthenticationError, match="revocation list is stale since"):
        verify_peer_certificate(alice.certificate, trust, role=PeerRole.CLIENT, now=stale)


def test_a_crl_from_the_future_is_refused(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    trust = TrustStore.from_pem(ca.certificate_pem, ca.publish_crl(now=NOW + dt.timedelta(days=1)))
    with pytest.raises(AuthenticationError, match="revocation list not valid before"):
        verify_peer_certificate(alice.certificate, trust, role=PeerRole.CLIENT, now=NOW)


def test_a_crl_from_another_ca_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    for other_name in ("Other space", "Demo space"):
        other = CertificateAuthority.create(tmp_path / other_name, other_name, now=NOW)
        with pytest.raises(AuthenticationError, match="revocation list issued by another CA"):
            TrustStore.from_pem(ca.certificate_pem, other.crl_pem)
        with pytest.raises(AuthenticationError, match="another CA"):
            ca.trust_store().with_crl(other.crl_pem)


def test_a_crl_with_a_bad_signature_is_refused(ca: CertificateAuthority) -> None:
    der = bytearray(ca.trust_store().crl.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    with pytest.raises(AuthenticationError, match="another CA"):
        TrustStore(ca.certificate, x509.load_der_x509_crl(bytes(der)))


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der_children(element: bytes) -> list[bytes]:
    """The encoded elements inside a DER SEQUENCE."""
    content_start = 2 if element[1] < 0x80 else 2 + (element[1] & 0x7F)
    children, offset = [], content_start
    while offset < len(element):
        length = element[offset + 1]
        header = 2
        if length >= 0x80:
            size = length & 0x7F
            length = int.from_bytes(element[offset + 2 : offset + 2 + size], "big")
            header += size
        children.append(element[offset : offset + header + length])
        offset += header + length
    return children


def _der_sequence(children: list[bytes]) -> bytes:
    content = b"".join(children)
    return b"\x30" + _der_length(len(content)) + content


def test_a_crl_without_next_update_is_refused(ca: CertificateAuthority) -> None:
    # cryptography cannot build such a list (other tools can), so drop nextUpdate from one
    # of ours and sign it again with the CA key.
    ca_key = serialization.load_pem_private_key((ca.directory / "ca-key.pem").read_bytes(), None)
    crl = ca.trust_store().crl
    fields = _der_children(crl.tbs_certlist_bytes)
    times = [index for index, field in enumerate(fields) if field[0] in (0x17, 0x18)]
    assert len(times) == 2
    del fields[times[1]]
    unbounded_tbs = _der_sequence(fields)
    signature = ca_key.sign(unbounded_tbs, ec.ECDSA(hashes.SHA256()))
    algorithm = _der_children(crl.public_bytes(serialization.Encoding.DER))[1]
    bit_string = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    never_stale = x509.load_der_x509_crl(_der_sequence([unbounded_tbs, algorithm, bit_string]))
    assert never_stale.next_update_utc is None
    assert never_stale.is_signature_valid(ca.certificate.public_key())
    with pytest.raises(AuthenticationError, match="no next-update time"):
        TrustStore(ca.certificate, never_stale)


def test_a_crl_without_a_number_is_refused(ca: CertificateAuthority) -> None:
    ca_key = serialization.load_pem_private_key((ca.directory / "ca-key.pem").read_bytes(), None)
    unnumbered = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    with pytest.raises(AuthenticationError, match="no CRL number"):
        TrustStore(ca.certificate, unnumbered)


def test_an_older_crl_cannot_replace_a_newer_one(ca: CertificateAuthority) -> None:
    old = ca.trust_store()
    newer = old.with_crl(ca.publish_crl(now=NOW))
    assert newer.crl_number == old.crl_number + 1
    with pytest.raises(AuthenticationError, match="refusing to roll back"):
        newer.with_crl(old.crl_pem)


def test_a_trust_store_needs_a_self_signed_ca(
    ca: CertificateAuthority, alice: NodeIdentity
) -> None:
    with pytest.raises(AuthenticationError, match="not a CA certificate"):
        TrustStore(alice.certificate, ca.trust_store().crl)


@pytest.mark.parametrize(
    ("role", "usage", "message"),
    [
        (PeerRole.CLIENT, [ExtendedKeyUsageOID.SERVER_AUTH], "not allowed for TLS clients"),
        (PeerRole.SERVER, [ExtendedKeyUsageOID.CLIENT_AUTH], "not allowed for TLS servers"),
        (PeerRole.CLIENT, None, "lacks clientAuth"),
        (PeerRole.SERVER, [ExtendedKeyUsageOID.CODE_SIGNING], "lacks serverAuth"),
    ],
)
def test_a_certificate_without_the_role_s_usage_is_refused(
    ca: CertificateAuthority, role: PeerRole, usage: list | None, message: str
) -> None:
    extended = None if usage is None else x509.ExtendedKeyUsage(usage)
    certificate = _forge(ca, replace={x509.ExtendedKeyUsage: extended})
    with pytest.raises(AuthenticationError, match=message):
        verify_peer_certificate(certificate, ca.trust_store(), role=role, now=NOW)


def test_the_forged_baseline_is_accepted(ca: CertificateAuthority) -> None:
    # Each refusal below changes one thing about this certificate.
    peer = verify_peer_certificate(_forge(ca), ca.trust_store(), role=PeerRole.CLIENT, now=NOW)
    assert peer.name == "mallory"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([x509.DNSName("mallory.example.org")], "no urn:tds:node name"),
        ([x509.UniformResourceIdentifier("https://example.org/mallory")], "no urn:tds:node name"),
        (
            [
                x509.UniformResourceIdentifier("urn:tds:node:mallory"),
                x509.UniformResourceIdentifier("urn:tds:node:alice"),
            ],
            "exactly one node",
        ),
        ([x509.UniformResourceIdentifier("urn:tds:node:Mallory")], "invalid node"),
        (None, "no urn:tds:node name"),
    ],
)
def test_a_certificate_that_does_not_name_exactly_one_node_is_refused(
    ca: CertificateAuthority, names: list[x509.GeneralName] | None, message: str
) -> None:
    alternative = None if names is None else x509.SubjectAlternativeName(names)
    certificate = _forge(ca, replace={x509.SubjectAlternativeName: alternative})
    with pytest.raises(AuthenticationError, match=message):
        verify_peer_certificate(certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


@pytest.mark.parametrize(
    "key_usage", [None, _key_usage(digital_signature=False, key_cert_sign=True)]
)
def test_a_certificate_without_digital_signature_usage_is_refused(
    ca: CertificateAuthority, key_usage: x509.KeyUsage | None
) -> None:
    certificate = _forge(ca, replace={x509.KeyUsage: key_usage})
    with pytest.raises(AuthenticationError, match="does not allow digital signatures"):
        verify_peer_certificate(certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


def test_a_leaf_claiming_to_be_a_ca_fails_path_validation(ca: CertificateAuthority) -> None:
    certificate = _forge(ca, replace={x509.BasicConstraints: x509.BasicConstraints(True, None)})
    with pytest.raises(AuthenticationError, match=r"X\.509 path validation"):
        verify_peer_certificate(certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


def test_an_unknown_critical_extension_fails_path_validation(ca: CertificateAuthority) -> None:
    ca_key = serialization.load_pem_private_key((ca.directory / "ca-key.pem").read_bytes(), None)
    baseline = _forge(ca)
    builder = (
        x509.CertificateBuilder()
        .subject_name(baseline.subject)
        .issuer_name(baseline.issuer)
        .public_key(baseline.public_key())
        .serial_number(baseline.serial_number)
        .not_valid_before(baseline.not_valid_before_utc)
        .not_valid_after(baseline.not_valid_after_utc)
    )
    for extension in baseline.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    certificate = builder.add_extension(unknown, critical=True).sign(ca_key, hashes.SHA256())
    with pytest.raises(AuthenticationError, match=r"X\.509 path validation"):
        verify_peer_certificate(certificate, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n", 3.5])
def test_a_malformed_certificate_is_a_decode_error(ca: CertificateAuthority, data: object) -> None:
    with pytest.raises(DecodeError, match="certificate"):
        verify_peer_certificate(data, ca.trust_store(), role=PeerRole.CLIENT, now=NOW)  # type: ignore[arg-type]


def test_bad_arguments_are_config_errors(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    trust = ca.trust_store()
    with pytest.raises(ConfigError, match="role"):
        verify_peer_certificate(alice.certificate, trust, role="client", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="timezone-aware"):
        verify_peer_certificate(
            alice.certificate, trust, role=PeerRole.CLIENT, now=dt.datetime(2030, 6, 1)
        )
    with pytest.raises(ConfigError, match="not a node name"):
        verify_peer_certificate(
            alice.certificate, trust, role=PeerRole.CLIENT, expected_name="Bob", now=NOW
        )
    with pytest.raises(ConfigError, match="must be a TrustStore"):
        verify_peer_certificate(
            alice.certificate,
            ca.certificate_pem,  # type: ignore[arg-type]
            role=PeerRole.CLIENT,
            now=NOW,
        )
    with pytest.raises(ConfigError, match="from_pem"):
        TrustStore(ca.certificate_pem, ca.crl_pem)  # type: ignore[arg-type]
