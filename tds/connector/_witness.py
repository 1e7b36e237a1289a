"""The node's memory of its peers' audit checkpoints, kept in its database."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tds.connector._audit import Checkpoint, CheckpointWitness, PublicVerifyingKey
from tds.connector._merkle import verify_consistency
from tds.connector._store import Store
from tds.errors import AuthenticationError, StorageError

__all__ = ["ProofSource", "StoredWitness"]

ProofSource = Callable[[int, int], Sequence[bytes]]
"""Fetches the peer's consistency proof between two sizes of its log."""

# Each try loses only to another process or thread that moved the witness in between; a
# handful is plenty even for dozens of concurrent negotiations with one peer.
_ATTEMPTS = 20


class _WitnessMoved(Exception):
    """Another writer changed the last checkpoint of the peer since it was read."""


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
        return self._update(peer, checkpoint, public_key, consistency_proof)

    def advance(
        self,
        peer: str,
        checkpoint: Checkpoint,
        public_key: PublicVerifyingKey,
        proof_source: ProofSource,
    ) -> Checkpoint | None:
        """Hold ``peer`` to ``checkpoint`` whatever order its checkpoints arrive in.

        A newer checkpoint than the last one seen becomes the last, once the peer's proof
        shows it extends it; an older one (a concurrent call's, overtaken on the way) must be
        a prefix of the last one seen. ``proof_source(old_size, new_size)`` asks the peer for
        the proof. Returns the checkpoint seen before. Raises AuditProofError on a rewrite,
        AuthenticationError when the checkpoint is not the peer's.
        """
        checkpoint.verify(public_key)
        if checkpoint.origin != peer:
            raise AuthenticationError(
                f"peer {peer!r} presented a checkpoint of the log {checkpoint.origin!r}; "
                "a peer may only vouch for its own log"
            )
        for _ in range(_ATTEMPTS):
            last = self.last(peer)
            if last is not None and checkpoint.size < last.size:
                proof = proof_source(checkpoint.size, last.size) if checkpoint.size else []
                verify_consistency(checkpoint.size, last.size, checkpoint.root, last.root, proof)
                return last
            proof = []
            if last is not None and 0 < last.size < checkpoint.size:
                proof = list(proof_source(last.size, checkpoint.size))
            try:
                return self._update(peer, checkpoint, public_key, proof, expected=(last,))
            except _WitnessMoved:
                continue
        raise StorageError(
            f"the witness of {peer!r} kept changing while a checkpoint was checked; try again"
        )

    def _update(
        self,
        peer: str,
        checkpoint: Checkpoint,
        public_key: PublicVerifyingKey,
        consistency_proof: Sequence[bytes],
        *,
        expected: tuple[Checkpoint | None] | None = None,
    ) -> Checkpoint | None:
        """``expected``, when given, holds the last checkpoint the caller read: if another
        writer replaced it since, nothing changes and _WitnessMoved is raised."""
        with self._store.transaction() as connection:
            witness = _load(connection)
            previous = witness.last(peer)
            if expected is not None and previous != expected[0]:
                raise _WitnessMoved
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
