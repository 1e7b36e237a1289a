"""Detached signatures: the documented format, offline verification and every refusal."""

from __future__ import annotations

import binascii
import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node
from tds.connector._signing import DetachedSignature, sign_detached, verify_detached
from tds.connector._trust import TrustStore
from tds.errors import AuthenticationError, ConfigError, DecodeError

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
AGREEMENT = b'{"uid": "urn:tds:agreement:1", "assigner": "urn:tds:node:alice"}'
CONTEXT = "odrl-agreement"


def _space(root: Path) -> tuple[CertificateAuthority, NodeIdentity]:
    ca = CertificateAuthority.create(root / "ca", "Demo space", now=NOW)
    return ca, enroll_node(root / "alice", "alice", ca, now=NOW)


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, NodeIdentity]:
    """A data space that no test changes, for the property test."""
    return _space(tmp_path_factory.mktemp("space"))


@pytest.fixture
def fresh_space(tmp_path: Path) -> tuple[CertificateAuthority, NodeIdentity]:
    return _space(tmp_path)


@pytest.fixture
def ca(fresh_space: tuple[CertificateAuthority, NodeIdentity]) -> CertificateAuthority:
    return fresh_space[0]


@pytest.fixture
def alice(fresh_space: tuple[CertificateAuthority, NodeIdentity]) -> NodeIdentity:
    return fresh_space[1]


def test_a_signature_verifies_and_names_its_signer(
    ca: CertificateAuthority, alice: NodeIdentity
) -> None:
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    signer = verify_detached(AGREEMENT, signature, ca.trust_store(), context=CONTEXT, now=NOW)
    assert signer.name == "alice"
    assert signer.uri == "urn:tds:node:alice"
    assert verify_detached(
        AGREEMENT, signature, ca.trust_store(), context=CONTEXT, expected_signer="alice", now=NOW
    )


def test_the_json_format_is_the_documented_one(alice: NodeIdentity) -> None:
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    document = json.loads(signature.to_json())
    assert set(document) == {"format", "algorithm", "context", "signer", "signature"}
    assert document["format"] == "tds-signature-v1"
    assert document["algorithm"] == "ecdsa-p256-sha256"
    assert document["context"] == CONTEXT
    assert document["signer"].encode() == alice.certificate_pem
    raw = binascii.a2b_base64(document["signature"], strict_mode=True)
    # The documented message: prefix, context and data, separated by NUL bytes.
    message = b"tds-signature-v1\0" + CONTEXT.encode() + b"\0" + AGREEMENT
    alice.certificate.public_key().verify(raw, message, ec.ECDSA(hashes.SHA256()))
    assert DetachedSignature.from_json(signature.to_json()) == signature
    assert DetachedSignature.from_dict(signature.to_dict()) == signature


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=512), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_changing_any_byte_of_the_data_breaks_the_signature(
    space: tuple[CertificateAuthority, NodeIdentity], data: bytes, position: int, flip: int
) -> None:
    ca, alice = space
    trust = ca.trust_store()
    signature = DetachedSignature.from_json(sign_detached(data, alice, context=CONTEXT).to_json())
    assert verify_detached(data, signature, trust, context=CONTEXT, now=NOW).name == "alice"
    if data:
        altered = bytearray(data)
        altered[position % len(data)] ^= flip
        with pytest.raises(AuthenticationError, match="does not verify"):
            verify_detached(bytes(altered), signature, trust, context=CONTEXT, now=NOW)
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify_detached(data + b"\0", signature, trust, context=CONTEXT, now=NOW)


def test_a_changed_signature_is_refused(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    other = sign_detached(AGREEMENT + b" ", alice, context=CONTEXT)
    forged = DetachedSignature(CONTEXT, alice.certificate, other.signature)
    with pytest.raises(AuthenticationError, match="by node 'alice' does not verify"):
        verify_detached(AGREEMENT, forged, ca.trust_store(), context=CONTEXT, now=NOW)
    truncated = DetachedSignature(CONTEXT, alice.certificate, signature.signature[:-1])
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify_detached(AGREEMENT, truncated, ca.trust_store(), context=CONTEXT, now=NOW)


def test_a_signature_for_another_context_is_refused(
    ca: CertificateAuthority, alice: NodeIdentity
) -> None:
    signature = sign_detached(AGREEMENT, alice, context="job-result")
    with pytest.raises(AuthenticationError, match="made for 'job-result', not for"):
        verify_detached(AGREEMENT, signature, ca.trust_store(), context=CONTEXT, now=NOW)
    relabelled = DetachedSignature(CONTEXT, alice.certificate, signature.signature)
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify_detached(AGREEMENT, relabelled, ca.trust_store(), context=CONTEXT, now=NOW)


def test_another_node_s_certificate_does_not_make_the_signature_its_own(
    ca: CertificateAuthority, alice: NodeIdentity, tmp_path: Path
) -> None:
    bob = enroll_node(tmp_path / "bob", "bob", ca, now=NOW)
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    claimed = DetachedSignature(CONTEXT, bob.certificate, signature.signature)
    with pytest.raises(AuthenticationError, match="by node 'bob' does not verify"):
        verify_detached(AGREEMENT, claimed, ca.trust_store(), context=CONTEXT, now=NOW)
    with pytest.raises(AuthenticationError, match="expected node 'bob'"):
        verify_detached(
            AGREEMENT,
            signature,
            ca.trust_store(),
            context=CONTEXT,
            expected_signer="bob",
            now=NOW,
        )


def test_a_signer_from_another_ca_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    other_ca = CertificateAuthority.create(tmp_path / "other", "Demo space", now=NOW)
    stranger = enroll_node(tmp_path / "stranger", "alice", other_ca, now=NOW)
    signature = sign_detached(AGREEMENT, stranger, context=CONTEXT)
    with pytest.raises(AuthenticationError, match="issued by another CA"):
        verify_detached(AGREEMENT, signature, ca.trust_store(), context=CONTEXT, now=NOW)


def test_a_revoked_signer_is_refused_whenever_it_signed(
    ca: CertificateAuthority, alice: NodeIdentity
) -> None:
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    ca.revoke("alice", now=NOW + dt.timedelta(days=1))
    later = NOW + dt.timedelta(days=2)
    with pytest.raises(AuthenticationError, match="certificate revoked on"):
        verify_detached(
            AGREEMENT, signature, ca.trust_store(), context=CONTEXT, valid_at=NOW, now=later
        )


def test_an_expired_signer_verifies_only_at_a_given_signing_time(
    ca: CertificateAuthority, alice: NodeIdentity
) -> None:
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    years_later = NOW + dt.timedelta(days=800)
    trust = TrustStore.from_pem(ca.certificate_pem, ca.publish_crl(now=years_later))
    with pytest.raises(AuthenticationError, match="certificate expired on"):
        verify_detached(AGREEMENT, signature, trust, context=CONTEXT, now=years_later)
    signer = verify_detached(
        AGREEMENT, signature, trust, context=CONTEXT, valid_at=NOW, now=years_later
    )
    assert signer.name == "alice"


def test_a_stale_crl_refuses_signatures(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    trust = ca.trust_store()
    stale = trust.crl.next_update_utc + dt.timedelta(days=1)
    with pytest.raises(AuthenticationError, match="stale"):
        verify_detached(AGREEMENT, signature, trust, context=CONTEXT, valid_at=NOW, now=stale)


@pytest.mark.parametrize("context", ["", "Agreement", "odrl agreement", "a\0b", "x" * 65, 3])
def test_bad_contexts_are_refused(
    ca: CertificateAuthority, alice: NodeIdentity, context: object
) -> None:
    with pytest.raises(ConfigError, match="not a signature context"):
        sign_detached(AGREEMENT, alice, context=context)  # type: ignore[arg-type]
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    with pytest.raises(ConfigError, match="not a signature context"):
        verify_detached(AGREEMENT, signature, ca.trust_store(), context=context)  # type: ignore[arg-type]


def test_data_must_be_bytes(ca: CertificateAuthority, alice: NodeIdentity) -> None:
    with pytest.raises(DecodeError, match="must be bytes"):
        sign_detached(AGREEMENT.decode(), alice, context=CONTEXT)  # type: ignore[arg-type]
    signature = sign_detached(AGREEMENT, alice, context=CONTEXT)
    with pytest.raises(DecodeError, match="must be bytes"):
        verify_detached(
            AGREEMENT.decode(),  # type: ignore[arg-type]
            signature,
            ca.trust_store(),
            context=CONTEXT,
            now=NOW,
        )
    with pytest.raises(DecodeError, match="DetachedSignature"):
        verify_detached(
            AGREEMENT,
            signature.to_json(),  # type: ignore[arg-type]
            ca.trust_store(),
            context=CONTEXT,
            now=NOW,
        )


def _document(alice: NodeIdentity, **changes: object) -> dict[str, object]:
    document: dict[str, object] = sign_detached(AGREEMENT, alice, context=CONTEXT).to_dict()
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "tds-signature-v2"}, "unknown signature format"),
        ({"algorithm": "rsa-pss-sha256"}, "unknown signature algorithm"),
        ({"signature": "not base64!"}, "not valid base64"),
        ({"signature": 12}, "every field"),
        ({"signer": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "X.509"),
        ({"context": "Bad Context"}, "not a signature context"),
        ({"extra": "field"}, "exactly the fields"),
        ({"signer": None}, "exactly the fields"),
    ],
)
def test_malformed_signature_documents_are_decode_errors(
    alice: NodeIdentity, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        DetachedSignature.from_dict(_document(alice, **changes))


@pytest.mark.parametrize("text", ["", "[]", "{", '"signature"', b"\xff\xfe", None])
def test_malformed_signature_json_is_a_decode_error(text: object) -> None:
    with pytest.raises(DecodeError):
        DetachedSignature.from_json(text)  # type: ignore[arg-type]


def test_signing_uses_the_node_key_only(alice: NodeIdentity) -> None:
    # The signer field is the certificate, never key material.
    assert "PRIVATE" not in sign_detached(AGREEMENT, alice, context=CONTEXT).to_json()
    assert alice.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert serialization.load_pem_private_key(alice.private_key_pem, None)
