"""The connector: what a participant node needs to take part in a data space.

Being built. Today it holds the node's database (SQLite, with the usage state that
``tds.policy`` spends from) and the tamper-evident audit log (an RFC 6962 Merkle log with
signed checkpoints and a witness that flags rewritten history); identity, the daemon, the
catalog, negotiation and jobs follow. ``docs/connector.md`` is the operator's guide.
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
from tds.connector._merkle import leaf_hash, verify_consistency, verify_inclusion
from tds.connector._store import Store
from tds.connector._usage import SqliteUsageState

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditStore",
    "Checkpoint",
    "CheckpointWitness",
    "EventKind",
    "InMemoryAuditStore",
    "SqliteUsageState",
    "Store",
    "SubtreeNode",
    "leaf_hash",
    "verify_consistency",
    "verify_inclusion",
]
