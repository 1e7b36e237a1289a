"""The audit log's entries and subtree hashes in the node's database."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from tds.connector._audit import SubtreeNode, check_append
from tds.connector._store import Store
from tds.errors import NotFoundError

__all__ = ["SqliteAuditStore"]


class SqliteAuditStore:
    """An :class:`~tds.connector.AuditStore` in a node's :class:`~tds.connector.Store`.

    An append writes the entry and the subtrees it completes in one transaction, after checking
    that its index is the next one: of two writers racing for the same index, one wins and the
    other gets :class:`~tds.errors.StorageError` with nothing written.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def lock(self) -> threading.RLock:
        """The database's lock, which the audit log shares."""
        return self._store.lock

    def size(self) -> int:
        with self._store.transaction() as connection:
            return connection.execute("SELECT count(*) FROM audit_entry").fetchone()[0]

    def entry(self, index: int) -> bytes:
        with self._store.transaction() as connection:
            row = connection.execute(
                "SELECT entry FROM audit_entry WHERE idx = ?", (_integer(index),)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no audit entry {index}")
        return bytes(row[0])

    def subtree_hash(self, level: int, index: int) -> bytes:
        with self._store.transaction() as connection:
            if level == 0:
                row = connection.execute(
                    "SELECT leaf_hash FROM audit_entry WHERE idx = ?", (_integer(index),)
                ).fetchone()
            else:
                row = connection.execute(
                    "SELECT hash FROM audit_node WHERE level = ? AND idx = ?",
                    (_integer(level), _integer(index)),
                ).fetchone()
        if row is None:
            raise NotFoundError(f"no complete audit subtree at level {level}, index {index}")
        return bytes(row[0])

    def append(
        self, index: int, entry: bytes, leaf_hash: bytes, nodes: Sequence[SubtreeNode]
    ) -> None:
        with self._store.transaction() as connection:
            size = connection.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
            check_append(index, size, nodes)
            connection.execute(
                "INSERT INTO audit_entry (idx, leaf_hash, entry) VALUES (?, ?, ?)",
                (index, leaf_hash, entry),
            )
            connection.executemany(
                "INSERT INTO audit_node (level, idx, hash) VALUES (?, ?, ?)",
                [(node.level, node.index, node.digest) for node in nodes],
            )


def _integer(value: object) -> int:
    # SQLite would compare a str index with no error and simply find nothing.
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotFoundError(f"audit positions are integers, not {type(value).__name__}")
    return value
