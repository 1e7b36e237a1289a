"""Checking a peer's audit log from the outside: ``tds audit verify PEER``."""

from __future__ import annotations

from dataclasses import dataclass

from tds.connector import serde
from tds.connector._audit import AuditEntry, Checkpoint
from tds.connector._merkle import leaf_hash, verify_inclusion
from tds.connector._peer import PeerConnection
from tds.connector._witness import StoredWitness
from tds.errors import AuthenticationError

__all__ = ["AuditReport", "consistency_proof", "verify_peer_log"]

_AUDIT = "tds.v1.AuditService"


@dataclass(frozen=True)
class AuditReport:
    """What checking a peer's audit log found; every check passed, or it would have raised."""

    peer: str
    checkpoint: Checkpoint
    previous_size: int | None
    entries_about_us: tuple[AuditEntry, ...]

    @property
    def summary(self) -> str:
        """One sentence for the operator."""
        since = (
            "first check: its checkpoint is remembered from now on"
            if self.previous_size is None
            else f"it extends the {self.previous_size} entries seen at the last check"
        )
        return (
            f"{self.peer}'s audit log holds {self.checkpoint.size} entries, signed by "
            f"{self.peer}; {since}; {len(self.entries_about_us)} entries about this node are "
            "in it, each proven included"
        )


def consistency_proof(connection: PeerConnection, old_size: int, new_size: int) -> list[bytes]:
    """The peer's proof that its log at ``new_size`` extends its log at ``old_size``."""
    return serde.decode_proof(
        connection.call(
            f"{_AUDIT}/GetConsistencyProof", serde.encode_consistency_request(old_size, new_size)
        )
    )


def verify_peer_log(connection: PeerConnection, witness: StoredWitness) -> AuditReport:
    """Fetch the peer's signed checkpoint, prove it extends the last one seen, and prove that
    every entry the peer shows about us is in its tree.

    Raises AuditProofError when the log was rewritten, AuthenticationError when the checkpoint
    is not signed by the peer's certified key.
    """
    verified = connection.verified_peer()
    if verified is None:
        raise AuthenticationError(
            "checking an audit log needs TLS: in insecure mode no key is known"
        )
    public_key = verified.certificate.public_key()
    checkpoint = serde.decode_checkpoint(
        connection.call(f"{_AUDIT}/GetCheckpoint", serde.encode_checkpoint_request())
    )
    last = witness.advance(
        connection.peer,
        checkpoint,
        public_key,  # type: ignore[arg-type]
        lambda old, new: consistency_proof(connection, old, new),
    )
    about_us: list[AuditEntry] = []
    start = 0
    while start < checkpoint.size:
        entries, next_start = serde.decode_entries(
            connection.call(
                f"{_AUDIT}/ListEntries", serde.encode_entries_request(start, checkpoint.size)
            ),
            start,
        )
        for index, entry in entries:
            inclusion = serde.decode_proof(
                connection.call(
                    f"{_AUDIT}/GetInclusionProof",
                    serde.encode_inclusion_request(index, checkpoint.size),
                )
            )
            verify_inclusion(
                leaf_hash(entry.to_bytes()), index, checkpoint.size, inclusion, checkpoint.root
            )
            about_us.append(entry)
        start = next_start
    return AuditReport(
        peer=connection.peer,
        checkpoint=checkpoint,
        previous_size=None if last is None else last.size,
        entries_about_us=tuple(about_us),
    )
