"""The connector: what a participant node needs to take part in a data space.

:class:`Client` acts as a node from Python (catalog, negotiation, agreements, audit checks)
and :class:`Daemon` serves a node to its peers over gRPC with mutual TLS; ``tds`` is the
same as a command. Beneath them: the node's identity (the data space's certificate
authority, node keys and certificates, revocation lists, peer verification, detached
signatures), its jobs with other nodes (aggregations and secure joins, each checked by the
data owner's own policy), its configuration (``node.toml``), its database (SQLite, with the
usage state ``tds.policy`` spends from), the catalog, signed agreements, and the audit
log (an RFC 6962 Merkle log with signed checkpoints and a witness that flags rewritten
history). ``docs/connector.md`` is the operator's guide.
"""

from tds.connector._agreement import Agreement, SignedAgreement
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
from tds.connector._audit_check import AuditReport
from tds.connector._audit_store import SqliteAuditStore
from tds.connector._catalog import (
    Column,
    ColumnType,
    Dataset,
    DatasetOffer,
    DataSource,
    access_policy,
    dataset_target,
)
from tds.connector._client import Client
from tds.connector._config import NodeConfig, node_config_path
from tds.connector._daemon import Daemon
from tds.connector._dataset_file import load_dataset_file
from tds.connector._job_store import Job
from tds.connector._jobs import JobKind, JobRole, JobSpec, JobState, ProviderPart
from tds.connector._local import LocalDataSpace
from tds.connector._merkle import leaf_hash, verify_consistency, verify_inclusion
from tds.connector._negotiation import Negotiation, NegotiationRole, NegotiationState
from tds.connector._node import NodeInfo
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
    "Agreement",
    "AuditEntry",
    "AuditLog",
    "AuditReport",
    "AuditStore",
    "CertificateAuthority",
    "Checkpoint",
    "CheckpointWitness",
    "Client",
    "Column",
    "ColumnType",
    "Daemon",
    "DataSource",
    "Dataset",
    "DatasetOffer",
    "DetachedSignature",
    "EventKind",
    "InMemoryAuditStore",
    "IssuedCertificate",
    "Job",
    "JobKind",
    "JobRole",
    "JobSpec",
    "JobState",
    "LocalDataSpace",
    "Negotiation",
    "NegotiationRole",
    "NegotiationState",
    "NodeConfig",
    "NodeIdentity",
    "NodeInfo",
    "PeerRole",
    "ProviderPart",
    "SignedAgreement",
    "SqliteAuditStore",
    "SqliteUsageState",
    "Store",
    "SubtreeNode",
    "TrustStore",
    "VerifiedNode",
    "access_policy",
    "create_node",
    "dataset_target",
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
