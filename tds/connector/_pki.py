"""The data space's certificate authority and the nodes' keys and certificates, on disk.

A CA directory holds ``ca-key.pem`` (the CA's private key, mode 0600), ``ca-cert.pem`` (the
self-signed root certificate), ``crl.pem`` (the current revocation list) and ``issued.json``
(every certificate issued, for revocation by node name). A node directory holds
``node-key.pem`` (mode 0600), ``node-csr.pem`` (its certificate signing request),
``node-cert.pem`` (the certificate the CA issued), and copies of the CA's ``ca-cert.pem`` and
``crl.pem``. Every file is PEM or JSON; each is written atomically, and a private key is never
replaced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tds.connector._trust import (
    CA_CERTIFICATE_FILE,
    CRL_FILE,
    NODE_URI_PREFIX,
    TrustStore,
    check_issued_by,
    current_time,
    load_certificate,
    load_crl,
    node_name_from_uri,
    node_name_of,
    node_uri,
    parse_host,
    read_file,
    tls_server_name,
    validate_node_name,
)
from tds.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotFoundError,
    StorageError,
)

__all__ = [
    "CertificateAuthority",
    "IssuedCertificate",
    "NodeIdentity",
    "check_memberships",
    "create_node",
    "enroll_node",
    "install_crl",
    "install_node_certificate",
]

_log = logging.getLogger("tds.connector.pki")

CA_KEY_FILE = "ca-key.pem"
ISSUED_FILE = "issued.json"
NODE_KEY_FILE = "node-key.pem"
NODE_CSR_FILE = "node-csr.pem"
NODE_CERTIFICATE_FILE = "node-cert.pem"

DEFAULT_CA_VALIDITY = dt.timedelta(days=3650)
DEFAULT_NODE_VALIDITY = dt.timedelta(days=365)
DEFAULT_CRL_VALIDITY = dt.timedelta(days=30)
MAX_HOSTS = 16
# Certificates and revocation lists start a little in the past so that a peer whose clock
# lags by a few minutes does not refuse them.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_LOCK_FILE = ".lock"
_REGISTRY_VERSION = 1
_CURVE = ec.SECP256R1


@dataclass(frozen=True)
class IssuedCertificate:
    """The CA's record of one certificate it issued."""

    serial: int
    name: str
    not_valid_before: dt.datetime
    not_valid_after: dt.datetime
    fingerprint_sha256: str
    revoked_at: dt.datetime | None = None

    def is_active(self, now: dt.datetime) -> bool:
        """True while the certificate is unrevoked and not expired at ``now``."""
        return self.revoked_at is None and self.not_valid_after >= now

    def _to_json(self) -> dict[str, object]:
        return {
            "serial": format(self.serial, "x"),
            "name": self.name,
            "not_valid_before": self.not_valid_before.isoformat(),
            "not_valid_after": self.not_valid_after.isoformat(),
            "fingerprint_sha256": self.fingerprint_sha256,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }

    @classmethod
    def _from_json(cls, record: dict[str, object]) -> IssuedCertificate:
        revoked_at = record["revoked_at"]
        return cls(
            serial=int(str(record["serial"]), 16),
            name=validate_node_name(record["name"]),
            not_valid_before=_parse_time(record["not_valid_before"]),
            not_valid_after=_parse_time(record["not_valid_after"]),
            fingerprint_sha256=str(record["fingerprint_sha256"]),
            revoked_at=None if revoked_at is None else _parse_time(revoked_at),
        )


class CertificateAuthority:
    """The root certificate authority of a data space, kept in a directory.

    Create one with :meth:`create`, open it with :meth:`load`. It issues node certificates
    from certificate signing requests (:meth:`issue`), revokes them by node name
    (:meth:`revoke`) and publishes the revocation list nodes load (:meth:`publish_crl`).
    Commands on one CA directory take turns: each holds a lock on the directory.
    """

    def __init__(
        self, directory: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
    ) -> None:
        self._directory = directory
        self._key = key
        self._certificate = certificate

    @classmethod
    def create(
        cls,
        directory: str | Path,
        data_space: str,
        *,
        validity: dt.timedelta = DEFAULT_CA_VALIDITY,
        crl_validity: dt.timedelta = DEFAULT_CRL_VALIDITY,
        passphrase: bytes | None = None,
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """Create the root CA of data space ``data_space`` in ``directory``.

        Makes an ECDSA P-256 key and a self-signed certificate valid for ``validity``, and
        publishes an empty revocation list valid for ``crl_validity``. With ``passphrase``
        the key is stored encrypted and every later :meth:`load` needs it. Raises
        AlreadyExistsError if ``directory`` already holds a CA; nothing is changed then.
        """
        directory = Path(directory)
        _check_data_space_name(data_space)
        _check_positive(validity, "CA validity")
        _check_positive(crl_validity, "revocation list validity")
        _check_passphrase(passphrase)
        issued_at = current_time(now)
        for file_name in (CA_KEY_FILE, CA_CERTIFICATE_FILE, CRL_FILE, ISSUED_FILE):
            if (directory / file_name).exists():
                raise AlreadyExistsError(
                    f"{directory} already holds a CA ({file_name} exists): load it, or choose "
                    "an empty directory"
                )
        key = ec.generate_private_key(_CURVE())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, data_space)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued_at - _CLOCK_SKEW)
            .not_valid_after(issued_at + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.NoEncryption()
            if passphrase is None
            else serialization.BestAvailableEncryption(passphrase)
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        _make_private_directory(directory)
        with _locked(directory):
            _write_new_private(directory / CA_KEY_FILE, key_pem)
            _write_new(directory / CA_CERTIFICATE_FILE, _pem(certificate))
            authority = cls(directory, key, certificate)
            authority._save_registry({"crl_number": 0, "certificates": []})
            authority._publish_crl_locked(crl_validity, issued_at)
        _log.info("created the CA of data space %r in %s", data_space, directory)
        return authority

    @classmethod
    def load(
        cls, directory: str | Path, *, passphrase: bytes | None = None
    ) -> CertificateAuthority:
        """Open the CA kept in ``directory``; ``passphrase`` if its key is encrypted.

        NotFoundError if there is no CA there, AuthenticationError for a wrong or missing
        passphrase, ConfigError if the key file is readable by other users.
        """
        directory = Path(directory)
        _check_passphrase(passphrase)
        key_path = directory / CA_KEY_FILE
        key_pem = _read_private(key_path, "the CA private key (is this a CA directory?)")
        certificate = load_certificate(
            read_file(directory / CA_CERTIFICATE_FILE, "the CA certificate")
        )
        key = _load_private_key(key_pem, key_path, passphrase)
        if _public_der(key.public_key()) != _public_der(certificate.public_key()):
            raise AuthenticationError(f"{key_path} is not the key of {CA_CERTIFICATE_FILE}")
        return cls(directory, key, certificate)

    @property
    def directory(self) -> Path:
        """The directory the CA is kept in."""
        return self._directory

    @property
    def data_space(self) -> str:
        """The data space's name, as given to :meth:`create`."""
        return str(self._certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    @property
    def certificate(self) -> x509.Certificate:
        """The self-signed root certificate."""
        return self._certificate

    @property
    def certificate_pem(self) -> bytes:
        """The root certificate in PEM: what every node must hold as ``ca-cert.pem``."""
        return _pem(self._certificate)

    @property
    def crl_pem(self) -> bytes:
        """The current revocation list in PEM, as last published."""
        return read_file(self._directory / CRL_FILE, "the CA's revocation list")

    def trust_store(self) -> TrustStore:
        """The trust store for this CA: its certificate and its current revocation list."""
        return TrustStore.from_pem(self.certificate_pem, self.crl_pem)

    def issued(self) -> list[IssuedCertificate]:
        """Every certificate this CA issued, oldest first."""
        return self._issued(self._load_registry())

    def issue(
        self,
        csr_pem: bytes,
        *,
        validity: dt.timedelta = DEFAULT_NODE_VALIDITY,
        renew: bool = False,
        memberships: Sequence[str] = (),
        now: dt.datetime | None = None,
    ) -> bytes:
        """Issue a node certificate for a certificate signing request; returns it in PEM.

        ``memberships`` are the party collections the CA certifies the node belongs to (IRIs
        such as ``urn:tds:space:healthcare``, at most 64 characters each), written as the
        subject's organizational units; policies assigned to those collections reach the node
        (:func:`certified_memberships`). They are the CA's statement, never the request's.

        The request must be signed by the P-256 key it carries and ask for exactly one URI,
        ``urn:tds:node:NAME``, plus at most :data:`MAX_HOSTS` DNS names or IP addresses at
        which peers reach the node. The certificate names the node (subject ``CN=NAME``; the
        URI; the DNS name ``NAME.tds.invalid`` for TLS hostname checks; the requested hosts),
        allows TLS server and client authentication and is valid for ``validity``, but not
        beyond the CA certificate. While NAME holds an unrevoked, unexpired certificate,
        another is issued only with ``renew=True`` (key rollover); otherwise
        AlreadyExistsError. A bad request raises DecodeError (not a CSR), AuthenticationError
        (its signature does not verify) or ConfigError (what it asks for is not allowed).
        """
        issued_at = current_time(now)
        _check_positive(validity, "certificate validity")
        units = check_memberships(memberships)
        request = _load_csr(csr_pem)
        name, hosts = _check_request(request)
        with _locked(self._directory):
            registry = self._load_registry()
            issued = self._issued(registry)
            active = [
                record for record in issued if record.name == name and record.is_active(issued_at)
            ]
            if active and not renew:
                raise AlreadyExistsError(
                    f"node {name!r} already holds certificate {active[-1].serial:x}, valid until "
                    f"{active[-1].not_valid_after.isoformat()}: renew to issue another (and "
                    "revoke the node first if its key may be compromised)"
                )
            serials = {record.serial for record in issued}
            serial = x509.random_serial_number()
            while serial in serials:
                serial = x509.random_serial_number()
            certificate = self._build_node_certificate(
                request, name, hosts, serial, validity, issued_at, units
            )
            record = IssuedCertificate(
                serial=serial,
                name=name,
                not_valid_before=certificate.not_valid_before_utc,
                not_valid_after=certificate.not_valid_after_utc,
                fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
            )
            registry["certificates"].append(record._to_json())
            self._save_registry(registry)
        _log.info("issued certificate %x to node %r", serial, name)
        return _pem(certificate)

    def revoke(
        self,
        name: str,
        *,
        crl_validity: dt.timedelta = DEFAULT_CRL_VALIDITY,
        now: dt.datetime | None = None,
    ) -> list[IssuedCertificate]:
        """Revoke every certificate of node ``name`` and publish the new revocation list.

        Returns the certificates revoked now (empty if all were revoked before; the list is
        published again all the same). NotFoundError if the CA never issued one to ``name``.
        Nodes refuse the revoked certificates once they load the new ``crl.pem``.
        """
        validate_node_name(name)
        _check_positive(crl_validity, "revocation list validity")
        # Revocation dates in a CRL have whole seconds; the record keeps the same time.
        revoked_at = current_time(now).replace(microsecond=0)
        with _locked(self._directory):
            registry = self._load_registry()
            records = registry["certificates"]
            mine = [index for index, record in enumerate(records) if record["name"] == name]
            if not mine:
                raise NotFoundError(f"this CA never issued a certificate to node {name!r}")
            newly_revoked = []
            for index in mine:
                if records[index]["revoked_at"] is None:
                    records[index]["revoked_at"] = revoked_at.isoformat()
                    newly_revoked.append(IssuedCertificate._from_json(records[index]))
            self._save_registry(registry)
            self._publish_crl_locked(crl_validity, revoked_at)
        _log.info("revoked %d certificate(s) of node %r", len(newly_revoked), name)
        return newly_revoked

    def publish_crl(
        self, *, validity: dt.timedelta = DEFAULT_CRL_VALIDITY, now: dt.datetime | None = None
    ) -> bytes:
        """Publish a fresh revocation list valid for ``validity``; returns it in PEM.

        Nodes refuse every peer once their list goes stale, so publish (and distribute) a new
        one before the current list's next-update time.
        """
        _check_positive(validity, "revocation list validity")
        published_at = current_time(now)
        with _locked(self._directory):
            return self._publish_crl_locked(validity, published_at)

    def _publish_crl_locked(self, validity: dt.timedelta, now: dt.datetime) -> bytes:
        registry = self._load_registry()
        registry["crl_number"] += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._certificate.subject)
            .last_update(now - _CLOCK_SKEW)
            .next_update(now + validity)
            .add_extension(x509.CRLNumber(registry["crl_number"]), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        for record in self._issued(registry):
            if record.revoked_at is not None:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(record.serial)
                    .revocation_date(record.revoked_at)
                    .build()
                )
        crl_pem = builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        self._save_registry(registry)
        _write_replacing(self._directory / CRL_FILE, crl_pem)
        return crl_pem

    def _build_node_certificate(
        self,
        request: x509.CertificateSigningRequest,
        name: str,
        hosts: list[x509.DNSName | x509.IPAddress],
        serial: int,
        validity: dt.timedelta,
        now: dt.datetime,
        memberships: tuple[str, ...] = (),
    ) -> x509.Certificate:
        alternative_names: list[x509.GeneralName] = [
            x509.UniformResourceIdentifier(node_uri(name)),
            x509.DNSName(tls_server_name(name)),
            *hosts,
        ]
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                        *(
                            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, member)
                            for member in memberships
                        ),
                    ]
                )
            )
            .issuer_name(self._certificate.subject)
            .public_key(request.public_key())
            .serial_number(serial)
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(min(now + validity, self._certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(request.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        identifier = self._certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier)

    def _load_registry(self) -> dict:
        path = self._directory / ISSUED_FILE
        raw = read_file(path, "the CA's record of issued certificates")
        try:
            registry = json.loads(raw)
            version = registry["version"]
            if type(registry["crl_number"]) is not int:
                raise TypeError("crl_number is not an integer")
            self._issued(registry)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DecodeError(f"{path} is corrupt ({error!r}): restore it from a backup") from None
        if version != _REGISTRY_VERSION:
            raise DecodeError(f"{path} has unknown version {version!r}: upgrade tds")
        return registry

    def _save_registry(self, registry: dict) -> None:
        registry["version"] = _REGISTRY_VERSION
        document = json.dumps(registry, indent=2, sort_keys=True) + "\n"
        _write_replacing(self._directory / ISSUED_FILE, document.encode())

    @staticmethod
    def _issued(registry: dict) -> list[IssuedCertificate]:
        return [IssuedCertificate._from_json(record) for record in registry["certificates"]]


@dataclass(frozen=True)
class NodeIdentity:
    """A node's name, private key, certificate and its data space's CA certificate.

    The ``*_pem`` properties feed gRPC directly::

        grpc.ssl_server_credentials(
            [(identity.private_key_pem, identity.certificate_pem)],
            root_certificates=identity.ca_certificate_pem,
            require_client_auth=True,
        )
        grpc.ssl_channel_credentials(
            identity.ca_certificate_pem, identity.private_key_pem, identity.certificate_pem
        )
    """

    name: str
    # The certificate holds the key's public half, so comparing certificates suffices.
    private_key: ec.EllipticCurvePrivateKey = field(compare=False, repr=False)
    certificate: x509.Certificate
    ca_certificate: x509.Certificate

    @classmethod
    def load(cls, directory: str | Path) -> NodeIdentity:
        """The identity kept in node directory ``directory``.

        Checks that the certificate is this node's key's, is issued by ``ca-cert.pem`` and
        names a node; it does not check expiry or revocation (verification does, on use).
        NotFoundError while the node has no certificate yet; ConfigError if the key file is
        readable by other users.
        """
        directory = Path(directory)
        key_path = directory / NODE_KEY_FILE
        key_pem = _read_private(key_path, "the node's private key (is this a node directory?)")
        certificate = load_certificate(
            read_file(
                directory / NODE_CERTIFICATE_FILE,
                f"the node's certificate: have the CA issue {NODE_CSR_FILE}, then install it",
            )
        )
        ca_certificate = load_certificate(
            read_file(directory / CA_CERTIFICATE_FILE, "the data space CA certificate")
        )
        key = _load_private_key(key_pem, key_path, None)
        _check_certificate_for_key(certificate, key, ca_certificate)
        return cls(node_name_of(certificate), key, certificate, ca_certificate)

    @property
    def uri(self) -> str:
        """``urn:tds:node:NAME``: the node's ODRL party identifier."""
        return NODE_URI_PREFIX + self.name

    @property
    def tls_server_name(self) -> str:
        """The DNS name peers check when they connect to this node (``NAME.tds.invalid``)."""
        return tls_server_name(self.name)

    @property
    def not_valid_after(self) -> dt.datetime:
        """When the node's certificate expires (UTC)."""
        return self.certificate.not_valid_after_utc

    @property
    def private_key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM. A secret: never log it."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def certificate_pem(self) -> bytes:
        """The node's certificate in PEM (its certificate chain for TLS)."""
        return _pem(self.certificate)

    @property
    def ca_certificate_pem(self) -> bytes:
        """The data space CA certificate in PEM (the root certificates for TLS)."""
        return _pem(self.ca_certificate)

    def __repr__(self) -> str:
        return f"NodeIdentity(name={self.name!r}, not_valid_after={self.not_valid_after})"


def create_node(directory: str | Path, name: str, *, hosts: Sequence[str] = ()) -> bytes:
    """Create node ``name``'s key and certificate signing request in ``directory``.

    ``hosts`` are DNS names or IP addresses at which peers reach the node (e.g. ``localhost``,
    ``127.0.0.1``, ``node-a.example.org``); they are only needed by clients that check the
    address they dial, since tds clients check ``NAME.tds.invalid`` instead. Returns the
    request in PEM (also written to ``node-csr.pem``) for the CA operator; the private key
    stays in ``node-key.pem``. AlreadyExistsError if the directory already holds a node key.
    """
    directory = Path(directory)
    key, request = _new_key_and_request(name, hosts)
    _refuse_existing_node(directory)
    _write_node_key(directory, key, request)
    _log.info("created the key and certificate request of node %r in %s", name, directory)
    return _pem(request)


def install_node_certificate(
    directory: str | Path,
    certificate_pem: bytes,
    ca_certificate_pem: bytes,
    crl_pem: bytes | None = None,
) -> NodeIdentity:
    """Install the certificate the CA issued, the CA certificate and optionally its CRL.

    The certificate must be for this node's key and name and be issued by the CA
    certificate; a renewed certificate replaces the previous one. A node that already trusts
    a CA refuses another (AlreadyExistsError). Without ``crl_pem`` the node cannot verify
    peers until :func:`install_crl` gives it one.
    """
    directory = Path(directory)
    key_path = directory / NODE_KEY_FILE
    key = _load_private_key(_read_private(key_path, "the node's private key"), key_path, None)
    requested_name = _requested_name(
        _load_csr(read_file(directory / NODE_CSR_FILE, "the node's certificate request"))
    )
    certificate = load_certificate(certificate_pem)
    ca_certificate = load_certificate(ca_certificate_pem)
    _check_certificate_for_key(certificate, key, ca_certificate)
    if node_name_of(certificate) != requested_name:
        raise AuthenticationError(
            f"certificate names node {node_name_of(certificate)!r}, but this node is "
            f"{requested_name!r}"
        )
    ca_path = directory / CA_CERTIFICATE_FILE
    if ca_path.exists() and load_certificate(read_file(ca_path, "the CA")) != ca_certificate:
        raise AlreadyExistsError(
            f"{directory} already trusts another CA ({ca_path}); a node belongs to one data "
            "space: create a new node directory to join another"
        )
    trust = None if crl_pem is None else TrustStore(ca_certificate, load_crl(crl_pem))
    _write_replacing(ca_path, _pem(ca_certificate))
    if trust is not None:
        _install_trusted_crl(directory, trust)
    _write_replacing(directory / NODE_CERTIFICATE_FILE, _pem(certificate))
    _log.info("installed certificate %x for node %r", certificate.serial_number, requested_name)
    return NodeIdentity.load(directory)


def install_crl(directory: str | Path, crl_pem: bytes) -> TrustStore:
    """Install a revocation list from the CA in a node directory; returns the new trust store.

    The list must be signed by the node's CA and not older than the installed one
    (AuthenticationError otherwise), so an old list cannot lift a revocation.
    """
    directory = Path(directory)
    ca_certificate = load_certificate(
        read_file(directory / CA_CERTIFICATE_FILE, "the data space CA certificate")
    )
    trust = TrustStore(ca_certificate, load_crl(crl_pem))
    _install_trusted_crl(directory, trust)
    return trust


def enroll_node(
    directory: str | Path,
    name: str,
    ca: CertificateAuthority,
    *,
    hosts: Sequence[str] = (),
    validity: dt.timedelta = DEFAULT_NODE_VALIDITY,
    memberships: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> NodeIdentity:
    """Create node ``name`` in ``directory`` and have ``ca`` certify it (and its
    ``memberships``), for local set-ups.

    Does what :func:`create_node`, :meth:`CertificateAuthority.issue` and
    :func:`install_node_certificate` do in turn, and installs the CA's current revocation
    list. Nothing is written when the CA refuses.
    """
    directory = Path(directory)
    key, request = _new_key_and_request(name, hosts)
    _refuse_existing_node(directory)
    certificate_pem = ca.issue(_pem(request), validity=validity, memberships=memberships, now=now)
    _write_node_key(directory, key, request)
    return install_node_certificate(directory, certificate_pem, ca.certificate_pem, ca.crl_pem)


def _new_key_and_request(
    name: str, hosts: Sequence[str]
) -> tuple[ec.EllipticCurvePrivateKey, x509.CertificateSigningRequest]:
    validate_node_name(name)
    if isinstance(hosts, str | bytes):
        raise ConfigError("hosts must be a list of host names or addresses, not one string")
    alternative_names = _check_hosts([parse_host(host) for host in hosts])
    key = ec.generate_private_key(_CURVE())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(node_uri(name)), *alternative_names]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return key, request


def _refuse_existing_node(directory: Path) -> None:
    if (directory / NODE_KEY_FILE).exists():
        raise AlreadyExistsError(
            f"{directory} already holds a node key ({NODE_KEY_FILE}); a node key is never "
            "replaced: use another directory for a new node"
        )


def _write_node_key(
    directory: Path, key: ec.EllipticCurvePrivateKey, request: x509.CertificateSigningRequest
) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _make_private_directory(directory)
    _write_new_private(directory / NODE_KEY_FILE, key_pem)
    _write_replacing(directory / NODE_CSR_FILE, _pem(request))


def _install_trusted_crl(directory: Path, trust: TrustStore) -> None:
    path = directory / CRL_FILE
    if path.exists():
        TrustStore(trust.ca_certificate, load_crl(read_file(path, "the CRL"))).with_crl(
            trust.crl_pem
        )
    _write_replacing(path, trust.crl_pem)


def _check_certificate_for_key(
    certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
) -> None:
    if _public_der(certificate.public_key()) != _public_der(key.public_key()):
        raise AuthenticationError("certificate is not for this node's key")
    check_issued_by(certificate, ca)
    node_name_of(certificate)


def _load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    if isinstance(csr_pem, str):
        csr_pem = csr_pem.encode("ascii", "replace")
    if not isinstance(csr_pem, bytes | bytearray):
        raise DecodeError(f"a certificate request must be PEM bytes, not {type(csr_pem).__name__}")
    try:
        return x509.load_pem_x509_csr(bytes(csr_pem))
    except ValueError as error:
        raise DecodeError(f"not a PEM certificate signing request: {error}") from None


def _check_request(
    request: x509.CertificateSigningRequest,
) -> tuple[str, list[x509.DNSName | x509.IPAddress]]:
    if not request.is_signature_valid:
        raise AuthenticationError(
            "the certificate request's signature does not verify: it was altered or not made "
            "with the key it carries"
        )
    key = request.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _CURVE):
        raise ConfigError("the certificate request's key is not an ECDSA P-256 key")
    name = _requested_name(request)
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    hosts: list[x509.DNSName | x509.IPAddress] = []
    for general_name in names:
        if isinstance(general_name, x509.UniformResourceIdentifier):
            continue
        if isinstance(general_name, x509.DNSName):
            parsed = parse_host(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            parsed = parse_host(str(general_name.value))
        else:
            raise ConfigError(
                f"the certificate request asks for {general_name!r}: only one urn:tds:node URI "
                "and DNS names or IP addresses are allowed"
            )
        if parsed != general_name:
            raise ConfigError(f"the certificate request asks for {general_name!r}, not allowed")
        hosts.append(parsed)
    return name, _check_hosts(hosts)


def _requested_name(request: x509.CertificateSigningRequest) -> str:
    try:
        names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ConfigError(
            "the certificate request names no node (no subject alternative name)"
        ) from None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise ConfigError(
            f"the certificate request asks for {len(uris)} URIs; it must ask for exactly one, "
            "urn:tds:node:NAME"
        )
    return node_name_from_uri(uris[0])


def _check_hosts(
    hosts: list[x509.DNSName | x509.IPAddress],
) -> list[x509.DNSName | x509.IPAddress]:
    if len(hosts) > MAX_HOSTS:
        raise ConfigError(
            f"{len(hosts)} hosts given; a node certificate carries at most {MAX_HOSTS}"
        )
    if len(set(hosts)) != len(hosts):
        raise ConfigError("a host is given twice")
    return hosts


def _check_data_space_name(data_space: object) -> None:
    if (
        not isinstance(data_space, str)
        or not data_space.strip()
        or len(data_space) > 64
        or not data_space.isprintable()
    ):
        raise ConfigError(
            f"{data_space!r} is not a data space name: use 1 to 64 printable characters"
        )


def _check_passphrase(passphrase: object) -> None:
    if passphrase is not None and (not isinstance(passphrase, bytes) or not passphrase):
        raise ConfigError("a key passphrase must be non-empty bytes, or None")


def _check_positive(period: object, what: str) -> None:
    if not isinstance(period, dt.timedelta) or period <= dt.timedelta(0):
        raise ConfigError(f"{what} must be a positive datetime.timedelta, not {period!r}")


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _parse_time(value: object) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed


def _pem(item: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return item.public_bytes(serialization.Encoding.PEM)


def _public_der(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_private_key(
    key_pem: bytes, path: Path, passphrase: bytes | None
) -> ec.EllipticCurvePrivateKey:
    encrypted = b"ENCRYPTED" in key_pem.split(b"\n", 1)[0]
    if encrypted and passphrase is None:
        raise AuthenticationError(f"{path} is encrypted: give its passphrase")
    if not encrypted and passphrase is not None:
        raise AuthenticationError(f"{path} is not encrypted: give no passphrase")
    try:
        key = serialization.load_pem_private_key(key_pem, passphrase)
    except ValueError:
        if encrypted:
            raise AuthenticationError(f"wrong passphrase for {path}") from None
        raise DecodeError(f"{path} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, _CURVE):
        raise DecodeError(f"{path} is not an ECDSA P-256 private key")
    return key


def _read_private(path: Path, what: str) -> bytes:
    data = read_file(path, what)
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(mode):o}): "
            f"run chmod 600 {path}"
        )
    return data


def _make_private_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"cannot create {directory}: {error.strerror or error}") from None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        descriptor = os.open(directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        raise NotFoundError(f"{directory} does not exist") from None
    except OSError as error:
        raise StorageError(f"cannot lock {directory}: {error.strerror or error}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _write_new_private(path: Path, data: bytes) -> None:
    """Write a private key, mode 0600; AlreadyExistsError rather than replace one."""
    _write_new(path, data, mode=0o600, exists="a private key is never replaced")


def _write_new(path: Path, data: bytes, *, mode: int = 0o644, exists: str = "") -> None:
    temporary = _write_temporary(path, data, mode)
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise AlreadyExistsError(f"{path} exists" + (f"; {exists}" if exists else "")) from None
    except OSError as error:
        raise StorageError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        os.unlink(temporary)
    _sync_directory(path.parent)


def _write_replacing(path: Path, data: bytes) -> None:
    temporary = _write_temporary(path, data, 0o644)
    try:
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise StorageError(f"cannot write {path}: {error.strerror or error}") from None
    _sync_directory(path.parent)


def _write_temporary(path: Path, data: bytes, mode: int) -> str:
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise StorageError(f"cannot write in {path.parent}: {error.strerror or error}") from None
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        os.unlink(temporary)
        raise StorageError(f"cannot write {path}: {error.strerror or error}") from None
    return temporary


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# X.520 bounds an organizational unit name at 64 characters.
MAX_MEMBERSHIP_CHARACTERS = 64
MAX_MEMBERSHIPS = 32


def check_memberships(memberships: object, holder: str = "a certificate") -> tuple[str, ...]:
    """``memberships`` as the sorted, distinct collection IRIs ``holder`` may carry."""
    if isinstance(memberships, str | bytes) or not isinstance(memberships, Iterable):
        raise ConfigError("collections are a list of collection IRIs, not one string")
    units = sorted(set(memberships))
    if len(units) > MAX_MEMBERSHIPS:
        raise ConfigError(f"{holder} carries at most {MAX_MEMBERSHIPS} collections")
    for unit in units:
        if (
            not isinstance(unit, str)
            or not 0 < len(unit) <= MAX_MEMBERSHIP_CHARACTERS
            or ":" not in unit
            or not unit.isprintable()
            or any(character.isspace() for character in unit)
        ):
            raise ConfigError(
                f"a collection is an IRI of at most {MAX_MEMBERSHIP_CHARACTERS} characters, "
                f"such as urn:tds:space:healthcare, not {unit!r:.80}"
            )
    return tuple(units)
