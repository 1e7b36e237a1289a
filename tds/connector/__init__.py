"""The connector: what a participant node needs to take part in a data space.

Being built. Today it holds the node's identity (the data space's certificate authority,
node keys and certificates, revocation lists, peer verification and detached signatures),
its database (SQLite, with the usage state that ``tds.policy`` spends from) and the
tamper-evident audit log (an RFC 6962 Merkle log with signed checkpoints and a witness that
flags rewritten history). The daemon, the catalog, negotiation and jobs follow.
``docs/connector.md`` is the operator's guide.
"""

from tds.connector._audit import (
    AuditEntry,
    AuditLog,
    AuditStore,
    Checkpoint,
    CheckpointWitness,
    EventKind,
    InMemoryAuditStore,
    SubtreeNode,
)
from tds.connector._audit_store import SqliteAuditStore
from tds.connector._catalog import Dataset, DatasetOffer
from tds.connector._client import Client
from tds.connector._config import NodeConfig, node_config_path
from tds.connector._dataset_file import load_dataset_file
from tds.connector._merkle import leaf_hash, verify_consistency, verify_inclusion
from tds.connector._pki import (
    CertificateAuthority,
    IssuedCertificate,
    NodeIdentity,
    create_node,
    enroll_node,
    install_crl,
    install_node_certificate,
)
from tds.connector._signing import DetachedSignature, sign_detached, verify_detached
from tds.connector._store import Store
from tds.connector._trust import (
    PeerRole,
    TrustStore,
    VerifiedNode,
    node_name_from_uri,
    node_uri,
    validate_node_name,
    verify_peer_certificate,
)
from tds.connector._usage import SqliteUsageState

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditStore",
    "CertificateAuthority",
    "Checkpoint",
    "CheckpointWitness",
    "Client",
    "Dataset",
    "DatasetOffer",
    "DetachedSignature",
    "EventKind",
    "InMemoryAuditStore",
    "IssuedCertificate",
    "NodeConfig",
    "NodeIdentity",
    "PeerRole",
    "SqliteAuditStore",
    "SqliteUsageState",
    "Store",
    "SubtreeNode",
    "TrustStore",
    "VerifiedNode",
    "create_node",
    "enroll_node",
    "install_crl",
    "install_node_certificate",
    "leaf_hash",
    "load_dataset_file",
    "node_config_path",
    "node_name_from_uri",
    "node_uri",
    "sign_detached",
    "validate_node_name",
    "verify_consistency",
    "verify_detached",
    "verify_inclusion",
    "verify_peer_certificate",
]
