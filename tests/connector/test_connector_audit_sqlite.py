"""The audit log kept in the node's database: the same tree, durable, one writer per index."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tds.connector import AuditLog, EventKind, Store, SubtreeNode, leaf_hash
from tds.connector._audit_store import SqliteAuditStore
from tds.connector._merkle import EMPTY_ROOT, merkle_root
from tds.errors import NotFoundError, StorageError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_sha256.json").read_text())
WHEN = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> SqliteAuditStore:
    return SqliteAuditStore(Store(tmp_path / "node.db"))


def test_the_published_tree_gives_the_published_roots_and_proofs(store: SqliteAuditStore) -> None:
    log = AuditLog(store, "vectors")
    for leaf in VECTORS["leaves"]:
        index = store.size()
        nodes, level, position = [], 0, index
        while position & 1:
            level, position = level + 1, position >> 1
            nodes.append(
                SubtreeNode(
                    level, position, bytes.fromhex(VECTORS["subtree_hashes"][level][position])
                )
            )
        store.append(index, bytes.fromhex(leaf), leaf_hash(bytes.fromhex(leaf)), nodes)
    assert [log.root(size).hex() for size in range(len(VECTORS["roots"]))] == VECTORS["roots"]
    for case in VECTORS["inclusion"]:
        proof = log.inclusion_proof(case["index"], case["size"])
        assert [h.hex() for h in proof] == case["proof"]
    for case in VECTORS["consistency"]:
        proof = log.consistency_proof(case["old_size"], case["new_size"])
        assert [h.hex() for h in proof] == case["proof"]


def test_the_log_survives_a_restart(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as database:
        log = AuditLog(SqliteAuditStore(database), "node-a")
        for i in range(21):
            log.append(EventKind.JOB, {"job": i}, timestamp=WHEN)
        root = log.root()
    with Store(tmp_path / "node.db") as database:
        log = AuditLog(SqliteAuditStore(database), "node-a")
        assert log.size == 21
        assert log.root() == root
        hashes = [leaf_hash(log.entry_bytes(i)) for i in range(21)]
        assert merkle_root(hashes) == root
        assert log.entry(20).data == {"job": 20}


def test_a_stale_or_misstated_append_writes_nothing(store: SqliteAuditStore) -> None:
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(StorageError, match="another writer appended first"):
        store.append(0, b"b", leaf_hash(b"b"), [])
    with pytest.raises(StorageError, match="nothing was written"):
        store.append(1, b"b", leaf_hash(b"b"), [SubtreeNode(2, 0, EMPTY_ROOT)])
    assert store.size() == 1


@pytest.mark.parametrize("coordinates", [(0, 1), (1, 0), (-1, 0), ("0", 0), (0, None), (True, 0)])
def test_missing_subtrees_are_not_found(store: SqliteAuditStore, coordinates: tuple) -> None:
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(NotFoundError):
        store.subtree_hash(*coordinates)


@pytest.mark.parametrize("index", [1, -1, "0", None])
def test_missing_entries_are_not_found(store: SqliteAuditStore, index: object) -> None:
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(NotFoundError):
        store.entry(index)
