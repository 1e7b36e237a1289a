"""Who a peer is: node names, the trust store and the verification of peer certificates.

A node of a data space is named ``urn:tds:node:NAME``. The name is carried by its certificate
as the one URI subject alternative name, and it is the ODRL assigner or assignee everywhere.
The trust store is the data space's CA certificate plus the CA's current revocation list; the
daemon calls :func:`verify_peer_certificate` on every connection and trusts nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from tds.errors import AuthenticationError, ConfigError, DecodeError, NotFoundError, StorageError

__all__ = [
    "PeerRole",
    "TrustStore",
    "VerifiedNode",
    "node_name_from_uri",
    "node_uri",
    "tls_server_name",
    "validate_node_name",
    "verify_peer_certificate",
]

NODE_URI_PREFIX = "urn:tds:node:"
# Every node certificate also names the node as the DNS name NAME.tds.invalid. The ".invalid"
# top-level domain never resolves (RFC 6761), so the name serves one purpose: a gRPC client
# dialling node NAME at whatever address sets its TLS target name to NAME.tds.invalid, and the
# TLS hostname check then proves the server holds NAME's certificate.
TLS_NAME_SUFFIX = ".tds.invalid"
CA_CERTIFICATE_FILE = "ca-cert.pem"
CRL_FILE = "crl.pem"

_NODE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class PeerRole(enum.Enum):
    """The side of a TLS connection a peer certificate was presented on.

    ``CLIENT``: the peer connected to us and must be allowed TLS client authentication.
    ``SERVER``: we connected to the peer and it must be allowed TLS server authentication.
    """

    CLIENT = "client"
    SERVER = "server"


_ROLE_USAGE = {
    PeerRole.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
    PeerRole.SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
}


def validate_node_name(name: object) -> str:
    """Return ``name`` if it is a node name: ``[a-z0-9][a-z0-9-]{0,62}``, else raise ConfigError."""
    if not isinstance(name, str) or _NODE_NAME.fullmatch(name) is None:
        raise ConfigError(
            f"{name!r} is not a node name: use 1 to 63 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    return name


def node_uri(name: str) -> str:
    """The URI that names node ``name`` in certificates and ODRL policies."""
    return NODE_URI_PREFIX + validate_node_name(name)


def node_name_from_uri(uri: str) -> str:
    """The node name inside ``urn:tds:node:NAME``; ConfigError for any other URI."""
    if not isinstance(uri, str) or not uri.startswith(NODE_URI_PREFIX):
        raise ConfigError(f"{uri!r} is not a node URI of the form {NODE_URI_PREFIX}NAME")
    return validate_node_name(uri[len(NODE_URI_PREFIX) :])


def tls_server_name(name: str) -> str:
    """The DNS name every certificate of node ``name`` carries for TLS hostname checks.

    A client dialling that node sets it as the TLS target name (in gRPC the channel option
    ``grpc.ssl_target_name_override``) whatever address it dials.
    """
    return validate_node_name(name) + TLS_NAME_SUFFIX


@dataclass(frozen=True)
class VerifiedNode:
    """A certificate that passed verification, and the node it names."""

    name: str
    certificate: x509.Certificate

    @property
    def uri(self) -> str:
        """``urn:tds:node:NAME``, the node's ODRL party identifier."""
        return NODE_URI_PREFIX + self.name

    @property
    def not_valid_after(self) -> dt.datetime:
        """When the certificate expires (UTC)."""
        return self.certificate.not_valid_after_utc

    @property
    def memberships(self) -> frozenset[str]:
        """The party collections the CA certified this node belongs to (its organizational
        units; see :meth:`CertificateAuthority.issue`)."""
        attributes = self.certificate.subject.get_attributes_for_oid(
            NameOID.ORGANIZATIONAL_UNIT_NAME
        )
        return frozenset(str(attribute.value) for attribute in attributes)


@dataclass(frozen=True)
class TrustStore:
    """The data space's CA certificate and its current certificate revocation list (CRL).

    Construction checks that the CA certificate is a self-signed CA and that the CRL is signed
    by it; whether the CRL is still current is checked at each verification, since time passes.
    Build one with :meth:`from_pem` or :meth:`load`.
    """

    ca_certificate: x509.Certificate
    crl: x509.CertificateRevocationList

    def __post_init__(self) -> None:
        if not isinstance(self.ca_certificate, x509.Certificate) or not isinstance(
            self.crl, x509.CertificateRevocationList
        ):
            raise ConfigError(
                "a TrustStore holds an x509.Certificate and an x509.CertificateRevocationList: "
                "build one with TrustStore.from_pem or TrustStore.load"
            )
        _check_ca_certificate(self.ca_certificate)
        _check_crl(self.crl, self.ca_certificate)

    @classmethod
    def from_pem(cls, ca_certificate_pem: bytes, crl_pem: bytes) -> TrustStore:
        """A trust store from the CA certificate and the CRL, both in PEM."""
        return cls(load_certificate(ca_certificate_pem), load_crl(crl_pem))

    @classmethod
    def load(cls, directory: str | Path) -> TrustStore:
        """The trust store kept in a node or CA directory (``ca-cert.pem`` and ``crl.pem``)."""
        directory = Path(directory)
        return cls.from_pem(
            read_file(directory / CA_CERTIFICATE_FILE, "the data space CA certificate"),
            read_file(directory / CRL_FILE, "the revocation list (get crl.pem from the CA)"),
        )

    @property
    def ca_certificate_pem(self) -> bytes:
        """The CA certificate in PEM: the root certificates for gRPC credentials."""
        return self.ca_certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def crl_pem(self) -> bytes:
        """The revocation list in PEM."""
        return self.crl.public_bytes(serialization.Encoding.PEM)

    @property
    def crl_number(self) -> int:
        """The CRL's sequence number; each list the CA publishes has a higher one."""
        return self.crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    def with_crl(self, crl_pem: bytes) -> TrustStore:
        """This trust store with a newer revocation list.

        Refuses (AuthenticationError) a list from another CA and one older than the current
        list, so an old list cannot be replayed to lift a revocation.
        """
        updated = TrustStore(self.ca_certificate, load_crl(crl_pem))
        if updated.crl_number < self.crl_number:
            raise AuthenticationError(
                f"revocation list number {updated.crl_number} is older than the current "
                f"number {self.crl_number}: refusing to roll back; fetch the CA's latest list"
            )
        return updated


def verify_peer_certificate(
    certificate: bytes | str | x509.Certificate,
    trust: TrustStore,
    *,
    role: PeerRole,
    expected_name: str | None = None,
    now: dt.datetime | None = None,
) -> VerifiedNode:
    """Verify the certificate a peer presented on a TLS connection and name the peer.

    ``certificate`` is PEM or DER (gRPC's ``auth_context()['x509_pem_cert']`` fits). The
    certificate must be issued by the trust store's CA, valid at ``now`` (default: the current
    time), absent from the CA's current revocation list, allowed for the peer's ``role`` and
    name exactly one node. With ``expected_name`` it must name that node. Any failure raises
    AuthenticationError saying why; the connection must then be refused.
    """
    if not isinstance(role, PeerRole):
        raise ConfigError(f"role must be PeerRole.CLIENT or PeerRole.SERVER, not {role!r}")
    checked_at = current_time(now)
    return verify_node_certificate(
        load_certificate(certificate),
        trust,
        usage=_ROLE_USAGE[role],
        valid_at=checked_at,
        now=checked_at,
        expected_name=expected_name,
    )


def verify_node_certificate(
    certificate: x509.Certificate,
    trust: TrustStore,
    *,
    usage: ObjectIdentifier | None,
    valid_at: dt.datetime,
    now: dt.datetime,
    expected_name: str | None,
) -> VerifiedNode:
    """The checks of :func:`verify_peer_certificate`, with the validity period checked at
    ``valid_at`` and the revocation list's freshness at ``now``; ``usage`` is the extended
    key usage required, or None for document signatures, which need digitalSignature only."""
    if not isinstance(trust, TrustStore):
        raise ConfigError(f"trust must be a TrustStore, not {type(trust).__name__}")
    ca = trust.ca_certificate
    if expected_name is not None:
        validate_node_name(expected_name)
    _check_validity(ca, valid_at, "the data space CA certificate")
    check_issued_by(certificate, ca)
    _check_validity(certificate, valid_at, "certificate")
    _check_not_revoked(certificate, trust.crl, now)
    _check_usage(certificate, usage)
    name = node_name_of(certificate)
    _check_path(certificate, ca, valid_at)
    if expected_name is not None and name != expected_name:
        raise AuthenticationError(
            f"certificate names node {name!r}, expected node {expected_name!r}"
        )
    return VerifiedNode(name=name, certificate=certificate)


def current_time(now: dt.datetime | None) -> dt.datetime:
    """``now`` checked to be timezone-aware, or the current UTC time."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(now, dt.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ConfigError(f"time {now!r} must be a timezone-aware datetime, e.g. in UTC")
    return now.astimezone(dt.UTC)


def load_certificate(data: bytes | str | x509.Certificate) -> x509.Certificate:
    """An X.509 certificate from PEM or DER; DecodeError when it is neither."""
    if isinstance(data, x509.Certificate):
        return data
    raw = _as_bytes(data, "certificate")
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as error:
        raise DecodeError(f"not an X.509 certificate in PEM or DER: {error}") from None


def load_crl(data: bytes | str) -> x509.CertificateRevocationList:
    """A certificate revocation list from PEM or DER; DecodeError when it is neither."""
    raw = _as_bytes(data, "revocation list")
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(raw)
        return x509.load_der_x509_crl(raw)
    except ValueError as error:
        raise DecodeError(f"not a certificate revocation list in PEM or DER: {error}") from None


def read_file(path: Path, what: str) -> bytes:
    """The bytes of ``path``; NotFoundError naming ``what`` when it is missing."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path} not found: {what}") from None
    except OSError as error:
        raise StorageError(f"cannot read {path}: {error.strerror or error}") from None


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, str):
        return data.encode("ascii", "replace")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise DecodeError(f"a {what} must be PEM or DER bytes, not {type(data).__name__}")


def _check_ca_certificate(ca: x509.Certificate) -> None:
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise AuthenticationError(
            f"{ca.subject.rfc4514_string()} is not a CA certificate: use the data space's "
            "ca-cert.pem"
        )
    try:
        ca.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise AuthenticationError(
            f"{ca.subject.rfc4514_string()} is not a self-signed root CA certificate"
        ) from None


def _check_crl(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> None:
    if crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):
        raise AuthenticationError(
            f"revocation list issued by another CA ({crl.issuer.rfc4514_string()}): "
            f"use the list published by {ca.subject.rfc4514_string()}"
        )
    if crl.next_update_utc is None:
        raise AuthenticationError("revocation list has no next-update time: it cannot go stale")
    try:
        crl.extensions.get_extension_for_class(x509.CRLNumber)
    except x509.ExtensionNotFound:
        raise AuthenticationError("revocation list has no CRL number") from None


def _check_validity(certificate: x509.Certificate, at: dt.datetime, what: str) -> None:
    if at < certificate.not_valid_before_utc:
        raise AuthenticationError(
            f"{what} not valid before {certificate.not_valid_before_utc.isoformat()} "
            f"(checked at {at.isoformat()}; is a clock wrong?)"
        )
    if at > certificate.not_valid_after_utc:
        raise AuthenticationError(
            f"{what} expired on {certificate.not_valid_after_utc.isoformat()}: it must be renewed"
        )


def check_issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> None:
    """AuthenticationError unless ``ca`` signed ``certificate``."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise AuthenticationError(
            f"certificate issued by another CA (issuer {certificate.issuer.rfc4514_string()}; "
            f"this data space's CA is {ca.subject.rfc4514_string()})"
        ) from None


def _check_not_revoked(
    certificate: x509.Certificate, crl: x509.CertificateRevocationList, now: dt.datetime
) -> None:
    next_update = crl.next_update_utc
    assert next_update is not None  # TrustStore refuses lists without one
    if now > next_update:
        raise AuthenticationError(
            f"revocation list is stale since {next_update.isoformat()}: install the CA's "
            "current crl.pem (the CA publishes one with each revocation or on request)"
        )
    if now < crl.last_update_utc:
        raise AuthenticationError(
            f"revocation list not valid before {crl.last_update_utc.isoformat()} "
            f"(checked at {now.isoformat()}; is a clock wrong?)"
        )
    revoked = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if revoked is not None:
        raise AuthenticationError(
            f"certificate revoked on {revoked.revocation_date_utc.isoformat()} "
            f"(serial {certificate.serial_number:x})"
        )


def _check_usage(certificate: x509.Certificate, usage: ObjectIdentifier | None) -> None:
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    if key_usage is None or not key_usage.digital_signature:
        raise AuthenticationError("certificate key usage does not allow digital signatures")
    if usage is None:
        return
    try:
        extended = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        extended = x509.ExtendedKeyUsage([])
    if usage not in extended:
        side = "clients" if usage == ExtendedKeyUsageOID.CLIENT_AUTH else "servers"
        raise AuthenticationError(
            f"certificate not allowed for TLS {side} (extended key usage lacks {usage._name})"
        )


def node_name_of(certificate: x509.Certificate) -> str:
    """The node a certificate names; AuthenticationError unless it names exactly one."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise AuthenticationError(
            "no urn:tds:node name: certificate has no alternative names"
        ) from None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    nodes = [uri for uri in uris if uri.startswith(NODE_URI_PREFIX)]
    if not nodes:
        raise AuthenticationError("no urn:tds:node name in the certificate")
    if len(uris) != 1:
        raise AuthenticationError(
            f"certificate carries {len(uris)} URIs; a node certificate names exactly one node"
        )
    try:
        return node_name_from_uri(nodes[0])
    except ConfigError:
        raise AuthenticationError(f"certificate names an invalid node {nodes[0]!r}") from None


def _check_path(certificate: x509.Certificate, ca: x509.Certificate, at: dt.datetime) -> None:
    # The checks above give precise reasons; RFC 5280 path validation under the Web PKI
    # profile then catches whatever they do not look at (unknown critical extensions, a
    # leaf that claims to be a CA, weak signature algorithms). Extended key usage is
    # checked above per role, so the profile's fixed clientAuth check is lifted.
    leaf_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .time(at)
        .max_chain_depth(0)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=leaf_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(certificate, [])
    except VerificationError as error:
        raise AuthenticationError(
            f"certificate refused by X.509 path validation: {error}"
        ) from None


def parse_host(host: object) -> x509.DNSName | x509.IPAddress:
    """A host name or IP address a node certificate may carry, as a subject alternative name.

    DNS names must be lowercase, without wildcards or a trailing dot, and outside the reserved
    ``.tds.invalid`` domain (those names are the CA's to assign). ConfigError otherwise.
    """
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{host!r} is not a host name or IP address")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address.is_unspecified or address.is_multicast:
            raise ConfigError(f"{host} is not an address a peer can connect to")
        return x509.IPAddress(address)
    if len(host) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in host.split(".")):
        raise ConfigError(
            f"{host!r} is not a host name: use lowercase letters, digits, '-' and dots "
            "(no wildcard, no trailing dot)"
        )
    if host == TLS_NAME_SUFFIX[1:] or host.endswith(TLS_NAME_SUFFIX):
        raise ConfigError(f"{host!r} is in the domain {TLS_NAME_SUFFIX[1:]}, which the CA assigns")
    return x509.DNSName(host)
