"""Detached signatures by nodes, for agreements and other documents, verifiable offline.

A detached signature is this JSON object (every field required, no others)::

    {
      "format": "tds-signature-v1",
      "algorithm": "ecdsa-p256-sha256",
      "context": "odrl-agreement",
      "signer": "-----BEGIN CERTIFICATE-----\\n...",
      "signature": "<base64 of the DER-encoded ECDSA signature>"
    }

The signer's key signs ``b"tds-signature-v1\\0" + context + b"\\0" + data`` with ECDSA P-256
and SHA-256. The context names what kind of document is signed, so a signature made for one
purpose is never valid for another, and the prefix keeps these signatures apart from the TLS
handshake signatures the same key makes. ``signer`` is the signer's certificate; a verifier
checks it against the data space's CA and revocation list, so verification needs no network.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tds.connector._pki import NodeIdentity
from tds.connector._trust import (
    TrustStore,
    VerifiedNode,
    current_time,
    load_certificate,
    verify_node_certificate,
)
from tds.errors import AuthenticationError, ConfigError, DecodeError

__all__ = ["DetachedSignature", "sign_detached", "verify_detached"]

SIGNATURE_FORMAT = "tds-signature-v1"
SIGNATURE_ALGORITHM = "ecdsa-p256-sha256"
_CONTEXT = re.compile(r"[a-z][a-z0-9.-]{0,63}")
_FIELDS = frozenset({"format", "algorithm", "context", "signer", "signature"})


@dataclass(frozen=True)
class DetachedSignature:
    """A node's signature over some bytes, with the certificate that verifies it."""

    context: str
    signer_certificate: x509.Certificate
    signature: bytes

    def to_dict(self) -> dict[str, str]:
        """The signature as the documented JSON object, e.g. to embed in an agreement."""
        return {
            "format": SIGNATURE_FORMAT,
            "algorithm": SIGNATURE_ALGORITHM,
            "context": self.context,
            "signer": self.signer_certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "signature": binascii.b2a_base64(self.signature, newline=False).decode(),
        }

    def to_json(self) -> str:
        """The signature as a JSON document."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, document: Any) -> DetachedSignature:
        """Read the JSON object of :meth:`to_dict`; DecodeError if it is malformed."""
        if not isinstance(document, dict) or set(document) != _FIELDS:
            fields = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise DecodeError(
                f"a detached signature is an object with exactly the fields "
                f"{sorted(_FIELDS)}, not {fields}"
            )
        if not all(isinstance(value, str) for value in document.values()):
            raise DecodeError("every field of a detached signature is a string")
        if document["format"] != SIGNATURE_FORMAT:
            raise DecodeError(f"unknown signature format {document['format']!r}")
        if document["algorithm"] != SIGNATURE_ALGORITHM:
            raise DecodeError(f"unknown signature algorithm {document['algorithm']!r}")
        try:
            signature = binascii.a2b_base64(document["signature"], strict_mode=True)
        except binascii.Error:
            raise DecodeError("the signature is not valid base64") from None
        return cls(
            context=_check_context(document["context"], DecodeError),
            signer_certificate=load_certificate(document["signer"]),
            signature=signature,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> DetachedSignature:
        """Read the JSON document of :meth:`to_json`; DecodeError if it is malformed."""
        try:
            document = json.loads(text)
        except (ValueError, TypeError) as error:
            raise DecodeError(f"a detached signature is a JSON document: {error}") from None
        return cls.from_dict(document)


def sign_detached(data: bytes, identity: NodeIdentity, *, context: str) -> DetachedSignature:
    """Sign ``data`` as node ``identity`` for purpose ``context`` (e.g. ``"odrl-agreement"``).

    ``context`` is 1 to 64 characters of lowercase letters, digits, '.' and '-', starting
    with a letter; the verifier must name the same context.
    """
    _check_context(context, ConfigError)
    signature = identity.private_key.sign(_signed_message(context, data), ec.ECDSA(hashes.SHA256()))
    return DetachedSignature(context, identity.certificate, signature)


def verify_detached(
    data: bytes,
    signature: DetachedSignature,
    trust: TrustStore,
    *,
    context: str,
    expected_signer: str | None = None,
    valid_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> VerifiedNode:
    """Check that ``signature`` is a signature over ``data`` by a node of ``trust``'s CA.

    Returns the signer. The signer's certificate must be issued by the CA, allow digital
    signatures, name one node (``expected_signer`` if given) and be absent from the CA's
    revocation list, which must be current at ``now`` (default: the current time). A revoked
    signer's signatures are refused whenever they were made: the revocation date does not
    tell when a key was compromised. The certificate's validity period is checked at
    ``valid_at``, default ``now``; pass the signing time from a record you trust (not from the
    signed document) to verify an old document whose signer's certificate has since expired.
    Any failure raises AuthenticationError.
    """
    if not isinstance(signature, DetachedSignature):
        raise DecodeError("signature must be a DetachedSignature (see DetachedSignature.from_json)")
    _check_context(context, ConfigError)
    checked_at = current_time(now)
    signer = verify_node_certificate(
        signature.signer_certificate,
        trust,
        usage=None,
        valid_at=checked_at if valid_at is None else current_time(valid_at),
        now=checked_at,
        expected_name=expected_signer,
    )
    if signature.context != context:
        raise AuthenticationError(f"signature made for {signature.context!r}, not for {context!r}")
    key = signer.certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AuthenticationError("the signer's certificate does not hold an ECDSA P-256 key")
    try:
        key.verify(signature.signature, _signed_message(context, data), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AuthenticationError(
            f"the signature by node {signer.name!r} does not verify: the data or the signature "
            "was altered"
        ) from None
    return signer


def _signed_message(context: str, data: bytes) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(
            f"signed data must be bytes, not {type(data).__name__} (encode text first)"
        )
    return SIGNATURE_FORMAT.encode() + b"\0" + context.encode() + b"\0" + bytes(data)


def _check_context(context: object, error: type[Exception]) -> str:
    if not isinstance(context, str) or _CONTEXT.fullmatch(context) is None:
        raise error(
            f"{context!r} is not a signature context: use 1 to 64 lowercase letters, digits, "
            "'.' or '-', starting with a letter"
        )
    return context
