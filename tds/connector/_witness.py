"""The node's memory of its peers' audit checkpoints, kept in its database."""

from __future__ import annotations

from collections.abc import Sequence

from tds.connector._audit import Checkpoint, CheckpointWitness, PublicVerifyingKey
from tds.connector._store import Store

__all__ = ["StoredWitness"]


class StoredWitness:
    """A :class:`CheckpointWitness` whose state lives in the node's database.

    Each update reads, checks and writes in one transaction, so two processes of the same node
    (the daemon and a client) never lose each other's checkpoints.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def last(self, peer: str) -> Checkpoint | None:
        """The last checkpoint accepted from ``peer``."""
        with self._store.transaction() as connection:
            return _load(connection).last(peer)

    def update(
        self,
        peer: str,
        checkpoint: Checkpoint,
        public_key: PublicVerifyingKey,
        consistency_proof: Sequence[bytes] = (),
    ) -> Checkpoint | None:
        """Accept ``peer``'s new checkpoint (see :meth:`CheckpointWitness.update`) and return
        the one seen before it. Raises AuditProofError, and remembers nothing, on a rewrite."""
        with self._store.transaction() as connection:
            witness = _load(connection)
            previous = witness.last(peer)
            witness.update(peer, checkpoint, public_key, consistency_proof)
            connection.execute(
                "INSERT INTO witness (id, state) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                (witness.to_json(),),
            )
        return previous


def _load(connection: object) -> CheckpointWitness:
    row = connection.execute("SELECT state FROM witness WHERE id = 1").fetchone()  # type: ignore[attr-defined]
    return CheckpointWitness() if row is None else CheckpointWitness.from_json(row[0])
