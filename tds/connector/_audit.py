"""The node's tamper-evident audit log, its signed checkpoints and a witness of peers' logs.

Every negotiation event, agreement, use decision and job a node takes part in is appended to
its :class:`AuditLog`, an RFC 6962 Merkle tree (see ``tds.connector._merkle``). The node signs
:class:`Checkpoint` s of the tree (its size and root); anyone holding an older checkpoint can
demand a consistency proof that the newer tree extends it, and a :class:`CheckpointWitness`
remembers the last checkpoint of each peer and refuses any rewrite. When two nodes complete an
agreement each appends the other's current checkpoint to its own log, so neither can quietly
rewrite its history afterwards.

Entry format (version 1)
    An entry is the UTF-8 canonical JSON (keys sorted, no insignificant whitespace, no NaN or
    infinity, non-ASCII characters written as themselves) of
    ``{"data": {...}, "kind": KIND, "timestamp": TIME, "version": 1}``. ``KIND`` is one of
    :class:`EventKind`; ``TIME`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. In ``data`` bytes
    are written as lowercase hex strings, aware datetimes as ``TIME``, tuples as lists;
    integers must fit 64 bits signed, nesting is at most 32 deep, and an entry is at most
    1 MiB. The leaf hash of an entry is ``SHA-256(0x00 || entry bytes)``.

Checkpoint format (version 1)
    :meth:`Checkpoint.to_bytes` is the UTF-8 canonical JSON of ``{"algorithm", "origin",
    "root", "signature", "size", "timestamp", "version": 1}``: ``origin`` names the log (the
    node), ``size`` counts its entries, ``root`` is the tree's root (hex), ``signature`` is
    hex. The signature covers ``b"tds-audit-checkpoint/v1\\n"`` followed by the canonical
    JSON of the same object without ``signature``. ``algorithm`` is ``"ecdsa-p256-sha256"``
    (an ECDSA P-256 key, DER signature over SHA-256) or ``"ed25519"``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tds.connector._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    _consistency_ranges,
    _inclusion_ranges,
    _node,
    leaf_hash,
    verify_consistency,
)
from tds.errors import (
    AuditProofError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotFoundError,
    StorageError,
)

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditStore",
    "Checkpoint",
    "CheckpointWitness",
    "EventKind",
    "InMemoryAuditStore",
    "PrivateSigningKey",
    "PublicVerifyingKey",
    "SubtreeNode",
]

_logger = logging.getLogger("tds.connector.audit")

MAX_ENTRY_BYTES = 1 << 20
_MAX_CHECKPOINT_BYTES = 4096
_MAX_DEPTH = 32
_INT64 = 1 << 63
_MAX_ORIGIN_LENGTH = 255
_FORMAT_VERSION = 1
_CHECKPOINT_DOMAIN = b"tds-audit-checkpoint/v1\n"
_ECDSA_P256 = "ecdsa-p256-sha256"
_ED25519 = "ed25519"
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")

PrivateSigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
"""A key that can sign checkpoints: ECDSA on P-256 (the node's certified key) or Ed25519."""

PublicVerifyingKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
"""The public half of a :data:`PrivateSigningKey`."""


class EventKind(enum.StrEnum):
    """What an audit entry records."""

    NEGOTIATION_EVENT = "negotiation-event"
    AGREEMENT = "agreement"
    USE_DECISION = "use-decision"
    JOB = "job"
    PEER_CHECKPOINT = "peer-checkpoint"


@dataclass(frozen=True)
class AuditEntry:
    """One event of the audit log: its kind, when it happened and what it says.

    ``data`` is normalised on construction to what its JSON encoding reads back as (bytes
    become hex strings, datetimes UTC strings, tuples lists), so an entry equals the entry
    parsed from its own :meth:`to_bytes`. Raises :class:`~tds.errors.DecodeError` if the
    event cannot be written canonically.
    """

    kind: EventKind
    timestamp: datetime
    data: dict[str, Any] = field(default_factory=dict)
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            kind = EventKind(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in EventKind)
            raise DecodeError(
                f"unknown audit event kind {self.kind!r}; use one of {known}"
            ) from None
        if not isinstance(self.data, Mapping):
            raise DecodeError(f"audit event data must be a mapping, not {type(self.data).__name__}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "timestamp", _utc(self.timestamp, "audit event timestamp"))
        object.__setattr__(self, "data", _json_safe(self.data, "data", 0))
        encoded = _canonical_json(
            {
                "data": self.data,
                "kind": self.kind.value,
                "timestamp": _format_time(self.timestamp),
                "version": _FORMAT_VERSION,
            }
        )
        if len(encoded) > MAX_ENTRY_BYTES:
            raise DecodeError(
                f"the audit entry takes {len(encoded)} bytes, over the {MAX_ENTRY_BYTES}-byte "
                "limit; record a hash or an identifier of large content instead of the content"
            )
        object.__setattr__(self, "_encoded", encoded)

    def to_bytes(self) -> bytes:
        """The entry's canonical bytes, the leaf of the Merkle tree (format in the module doc)."""
        return self._encoded

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditEntry:
        """Parse an entry's canonical bytes; raises :class:`~tds.errors.DecodeError`."""
        document = _parse_canonical(data, "audit entry", MAX_ENTRY_BYTES)
        _expect_keys(document, {"data", "kind", "timestamp", "version"}, "audit entry")
        _expect_version(document, "audit entry")
        if not isinstance(document["kind"], str):
            raise DecodeError("audit entry kind must be a string")
        entry = cls(
            kind=document["kind"],
            timestamp=_parse_time(document["timestamp"], "audit entry timestamp"),
            data=document["data"],
        )
        if entry.to_bytes() != data:
            raise DecodeError("audit entry is valid JSON but not in canonical form")
        return entry


class SubtreeNode(NamedTuple):
    """The hash of the complete subtree over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int
    digest: bytes


class AuditStore(Protocol):
    """Where an :class:`AuditLog` keeps its entries and the hashes of its complete subtrees.

    Level 0 holds the leaf hashes; a node at level ``l > 0`` and index ``i`` is the hash of
    the complete subtree over leaves ``[i * 2**l, (i + 1) * 2**l)``. Each append adds one
    entry, its leaf hash and the subtrees it completes (on average one), so a tree of ``n``
    entries holds ``n`` leaf hashes and ``n - popcount(n)`` inner nodes, and roots and proofs
    need ``O(log n)`` reads instead of rehashing every leaf. A SQLite store fits two tables::

        CREATE TABLE audit_entry (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL,
                                  entry BLOB NOT NULL);
        CREATE TABLE audit_node (level INTEGER NOT NULL, idx INTEGER NOT NULL,
                                 hash BLOB NOT NULL, PRIMARY KEY (level, idx));

    with level 0 read from ``audit_entry.leaf_hash``. Failures raise
    :class:`~tds.errors.StorageError`; a read of something never written raises
    :class:`~tds.errors.NotFoundError`.
    """

    def size(self) -> int:
        """How many entries the store holds."""
        ...

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index``."""
        ...

    def subtree_hash(self, level: int, index: int) -> bytes:
        """The hash of complete subtree ``index`` at ``level`` (level 0: the leaf hash)."""
        ...

    def append(
        self, index: int, entry: bytes, leaf_hash: bytes, nodes: Sequence[SubtreeNode]
    ) -> None:
        """Add entry ``index`` with its leaf hash and the subtree nodes it completes, atomically.

        ``index`` must equal :meth:`size`, or the store refuses with
        :class:`~tds.errors.StorageError` and writes nothing (another writer got there first).
        """
        ...


def check_append(index: int, size: int, nodes: Sequence[SubtreeNode]) -> None:
    """Refuse, with StorageError, an append that is not the next entry or misstates its nodes.

    Entry ``index`` completes one subtree per trailing one bit of ``index``: shared by every
    :class:`AuditStore` so that none can hold a tree the log would compute differently.
    """
    if index != size:
        raise StorageError(
            f"cannot append audit entry {index}: the store holds {size} "
            "entries, so another writer appended first; retry with a fresh index"
        )
    completed = []
    level, position = 0, index
    while position & 1:
        level, position = level + 1, position >> 1
        completed.append((level, position))
    if [(node.level, node.index) for node in nodes] != completed:
        raise StorageError(
            f"audit entry {index} completes the subtrees {completed} (level, index), but "
            f"the append carries {[(n.level, n.index) for n in nodes]}; nothing was written"
        )


class InMemoryAuditStore:
    """An :class:`AuditStore` held in memory, for tests and short-lived logs."""

    def __init__(self) -> None:
        self._entries: list[bytes] = []
        self._levels: list[list[bytes]] = [[]]

    def size(self) -> int:
        """How many entries the store holds."""
        return len(self._entries)

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index``."""
        if not (isinstance(index, int) and 0 <= index < len(self._entries)):
            raise NotFoundError(f"no audit entry {index}; the store holds {len(self._entries)}")
        return self._entries[index]

    def subtree_hash(self, level: int, index: int) -> bytes:
        """The hash of complete subtree ``index`` at ``level`` (level 0: the leaf hash)."""
        if not (
            isinstance(level, int)
            and isinstance(index, int)
            and 0 <= level < len(self._levels)
            and 0 <= index < len(self._levels[level])
        ):
            raise NotFoundError(f"no complete audit subtree at level {level}, index {index}")
        return self._levels[level][index]

    def append(
        self, index: int, entry: bytes, leaf_hash: bytes, nodes: Sequence[SubtreeNode]
    ) -> None:
        """Add entry ``index`` with its leaf hash and the subtree nodes it completes."""
        check_append(index, len(self._entries), nodes)
        self._entries.append(entry)
        self._levels[0].append(leaf_hash)
        for node in nodes:
            if node.level == len(self._levels):
                self._levels.append([])
            self._levels[node.level].append(node.digest)


class AuditLog:
    """A node's append-only audit log: a Merkle tree of :class:`AuditEntry` over a store.

    ``origin`` names the log in its checkpoints (the node's name). Appending costs one leaf
    hash plus on average one inner hash; a root costs ``O(log n)`` store reads and hashes and
    a proof ``O(log² n)``, whatever the log's size. Appends from several threads are
    serialised; several processes must share the store's own locking (the store refuses an
    append at a stale index).
    """

    def __init__(self, store: AuditStore, origin: str) -> None:
        problem = _origin_problem(origin)
        if problem:
            raise ConfigError(f"audit log origin {problem}")
        self._store = store
        self._origin = origin
        # A store with its own lock (the node database) lends it, so that an append inside one
        # of the store's transactions and a checkpoint in another thread take the same lock
        # and cannot deadlock.
        self._lock = getattr(store, "lock", None) or threading.RLock()

    @property
    def origin(self) -> str:
        """The log's name in its checkpoints."""
        return self._origin

    @property
    def size(self) -> int:
        """How many entries the log holds."""
        return self._store.size()

    def __len__(self) -> int:
        return self.size

    def append(
        self,
        kind: EventKind | str,
        data: Mapping[str, Any] | None = None,
        *,
        timestamp: datetime | None = None,
    ) -> int:
        """Record an event and return its index; ``timestamp`` defaults to now.

        Raises :class:`~tds.errors.DecodeError` (and records nothing) when the event cannot be
        written canonically; see :class:`AuditEntry`.
        """
        entry = AuditEntry(
            kind=kind,
            timestamp=datetime.now(UTC) if timestamp is None else timestamp,
            data={} if data is None else data,
        )
        return self._append_bytes(entry.to_bytes())

    def record_peer_checkpoint(
        self, checkpoint: Checkpoint, *, timestamp: datetime | None = None
    ) -> int:
        """Record a peer's checkpoint (kind ``peer-checkpoint``) and return the entry's index.

        Verify it first, e.g. with :meth:`CheckpointWitness.update`: the log records what it
        is given.
        """
        if not isinstance(checkpoint, Checkpoint):
            raise DecodeError(f"expected a Checkpoint, not {type(checkpoint).__name__}")
        return self.append(
            EventKind.PEER_CHECKPOINT,
            {"checkpoint": checkpoint._document()},
            timestamp=timestamp,
        )

    def entry(self, index: int) -> AuditEntry:
        """The entry at ``index``; raises :class:`~tds.errors.NotFoundError` past the end."""
        return AuditEntry.from_bytes(self.entry_bytes(index))

    def entry_bytes(self, index: int) -> bytes:
        """The canonical bytes of entry ``index``, as hashed into the tree.

        Raises :class:`~tds.errors.StorageError` if the stored bytes no longer match their
        stored leaf hash (the store was altered underneath the log).
        """
        index = _checked_int(index, "entry index")
        size = self.size
        if index >= size:
            raise NotFoundError(f"no audit entry {index}; the log holds {size} entries")
        raw = self._store.entry(index)
        if leaf_hash(raw) != self._store.subtree_hash(0, index):
            raise StorageError(
                f"audit entry {index} does not match its stored leaf hash: the store was "
                "altered; keep a copy of it and investigate"
            )
        return raw

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first ``size`` entries (default: all of them)."""
        size = self._resolve_size(size)
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The proof that entry ``index`` is in the tree of the first ``size`` entries."""
        size = self._resolve_size(size)
        index = _checked_int(index, "entry index")
        if index >= size:
            raise NotFoundError(f"no audit entry {index} in a tree of {size} entries")
        return [self._subtree(start, end) for start, end in _inclusion_ranges(index, size)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old_size`` entries is a prefix of ``new_size``'s."""
        new_size = self._resolve_size(new_size)
        old_size = _checked_int(old_size, "old size")
        if old_size > new_size:
            raise DecodeError(
                f"old size {old_size} is larger than new size {new_size}; "
                "a consistency proof goes from an older, smaller tree to a newer one"
            )
        return [self._subtree(start, end) for start, end in _consistency_ranges(old_size, new_size)]

    def checkpoint(
        self, private_key: PrivateSigningKey, *, timestamp: datetime | None = None
    ) -> Checkpoint:
        """Sign the log's current size and root with the node's key."""
        with self._lock:
            size = self.size
            root = self.root(size)
        return Checkpoint.sign(self._origin, size, root, private_key, timestamp=timestamp)

    def _append_bytes(self, entry: bytes) -> int:
        hashed = leaf_hash(entry)
        with self._lock:
            index = self._store.size()
            nodes = []
            digest, level, position = hashed, 0, index
            while position & 1:
                digest = _node(self._store.subtree_hash(level, position - 1), digest)
                level, position = level + 1, position >> 1
                nodes.append(SubtreeNode(level, position, digest))
            self._store.append(index, entry, hashed, nodes)
        return index

    def _subtree(self, start: int, end: int) -> bytes:
        # [start, end) is a subtree of some tree of the log: start is aligned to a power of two
        # at least end - start, so it splits greedily into complete stored subtrees, largest
        # first, and folding them from the right gives the RFC 6962 hash.
        pieces = []
        while start < end:
            level = (end - start).bit_length() - 1
            if start:
                level = min(level, (start & -start).bit_length() - 1)
            pieces.append(self._store.subtree_hash(level, start >> level))
            start += 1 << level
        digest = pieces.pop()
        while pieces:
            digest = _node(pieces.pop(), digest)
        return digest

    def _resolve_size(self, size: int | None) -> int:
        current = self.size
        if size is None:
            return current
        size = _checked_int(size, "tree size")
        if size > current:
            raise NotFoundError(f"the log has no tree of {size} entries yet; it holds {current}")
        return size


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log ``origin`` had ``size`` entries with ``root`` at ``timestamp``.

    Make one with :meth:`sign` (or :meth:`AuditLog.checkpoint`), check it with :meth:`verify`,
    move it with :meth:`to_bytes` and :meth:`from_bytes` (format in the module doc).
    Construction checks the fields and raises :class:`~tds.errors.DecodeError`.
    """

    origin: str
    size: int
    root: bytes
    timestamp: datetime
    algorithm: str
    signature: bytes

    def __post_init__(self) -> None:
        problem = _origin_problem(self.origin)
        if problem:
            raise DecodeError(f"checkpoint origin {problem}")
        _checked_int(self.size, "checkpoint size")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise DecodeError(f"checkpoint root must be {HASH_SIZE} bytes")
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise DecodeError("a checkpoint of an empty log must carry the empty tree's root")
        if self.algorithm not in (_ECDSA_P256, _ED25519):
            raise DecodeError(
                f"unknown checkpoint signature algorithm {self.algorithm!r}; "
                f"expected {_ECDSA_P256!r} or {_ED25519!r}"
            )
        if not isinstance(self.signature, bytes) or not self.signature:
            raise DecodeError("checkpoint signature must be non-empty bytes")
        object.__setattr__(self, "timestamp", _utc(self.timestamp, "checkpoint timestamp"))

    @classmethod
    def sign(
        cls,
        origin: str,
        size: int,
        root: bytes,
        private_key: PrivateSigningKey,
        *,
        timestamp: datetime | None = None,
    ) -> Checkpoint:
        """Sign ``(origin, size, root, timestamp)``; ``timestamp`` defaults to now.

        ``private_key`` is an ECDSA P-256 or an Ed25519 private key from ``cryptography``;
        any other raises :class:`~tds.errors.ConfigError`.
        """
        algorithm = _signing_algorithm(private_key)
        # A placeholder signature lets the constructor check the fields before anything is signed.
        unsigned = cls(
            origin=origin,
            size=size,
            root=root,
            timestamp=datetime.now(UTC) if timestamp is None else timestamp,
            algorithm=algorithm,
            signature=b"\x00",
        )
        message = unsigned.signed_bytes()
        if isinstance(private_key, ed25519.Ed25519PrivateKey):
            signature = private_key.sign(message)
        else:
            signature = private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        return dataclasses.replace(unsigned, signature=signature)

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers."""
        document = self._document()
        del document["signature"]
        return _CHECKPOINT_DOMAIN + _canonical_json(document)

    def verify(self, public_key: PublicVerifyingKey) -> None:
        """Check the signature with the log owner's public key.

        Raises :class:`~tds.errors.AuthenticationError` if the checkpoint was not signed by
        that key (forged, altered, or signed by another node), and
        :class:`~tds.errors.ConfigError` if the key is not ECDSA P-256 or Ed25519.
        """
        algorithm = _verifying_algorithm(public_key)
        if algorithm != self.algorithm:
            raise AuthenticationError(
                f"checkpoint of {self.origin!r} is signed with {self.algorithm}, but the key "
                f"given to verify it is {algorithm}: it was not signed by that key"
            )
        try:
            if isinstance(public_key, ed25519.Ed25519PublicKey):
                public_key.verify(self.signature, self.signed_bytes())
            else:
                public_key.verify(self.signature, self.signed_bytes(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AuthenticationError(
                f"checkpoint of {self.origin!r} at size {self.size} has a bad signature: it "
                "was altered or not signed by this key; do not trust it"
            ) from None

    def to_bytes(self) -> bytes:
        """The checkpoint as canonical JSON bytes (format in the module doc)."""
        return _canonical_json(self._document())

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        """Parse :meth:`to_bytes` output; raises :class:`~tds.errors.DecodeError`.

        Parsing does not check the signature: call :meth:`verify`.
        """
        checkpoint = cls._from_document(_parse_canonical(data, "checkpoint", _MAX_CHECKPOINT_BYTES))
        if checkpoint.to_bytes() != data:
            raise DecodeError("checkpoint is valid JSON but not in canonical form")
        return checkpoint

    def _document(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "origin": self.origin,
            "root": self.root.hex(),
            "signature": self.signature.hex(),
            "size": self.size,
            "timestamp": _format_time(self.timestamp),
            "version": _FORMAT_VERSION,
        }

    @classmethod
    def _from_document(cls, document: object) -> Checkpoint:
        keys = {"algorithm", "origin", "root", "signature", "size", "timestamp", "version"}
        _expect_keys(document, keys, "checkpoint")
        assert isinstance(document, dict)  # _expect_keys made sure
        _expect_version(document, "checkpoint")
        return cls(
            origin=document["origin"],
            size=document["size"],
            root=_parse_hex(document["root"], "checkpoint root"),
            timestamp=_parse_time(document["timestamp"], "checkpoint timestamp"),
            algorithm=document["algorithm"],
            signature=_parse_hex(document["signature"], "checkpoint signature"),
        )


class CheckpointWitness:
    """Remembers the last checkpoint seen from each peer and refuses any rewrite of its log.

    :meth:`update` accepts a peer's new checkpoint only if it is signed by the peer's key and
    extends the last one seen, as shown by a consistency proof from the old size. State only
    changes when a checkpoint is accepted. :meth:`to_json` and :meth:`from_json` keep the state
    in a file between runs; the file is trusted local state (signatures are checked when a
    checkpoint is accepted, not when it is loaded), so protect it like the node's database.
    """

    def __init__(self) -> None:
        self._last: dict[str, Checkpoint] = {}

    def peers(self) -> list[str]:
        """The peers with a remembered checkpoint, sorted."""
        return sorted(self._last)

    def last(self, peer: str) -> Checkpoint | None:
        """The last checkpoint accepted from ``peer``, or ``None`` if none was seen."""
        return self._last.get(_checked_peer(peer))

    def forget(self, peer: str) -> None:
        """Drop what is remembered of ``peer`` (e.g. a node that was rebuilt from scratch).

        The next checkpoint from it is then trusted on first use; do this only when the
        peer's operator confirms the reset.
        """
        if _checked_peer(peer) not in self._last:
            raise NotFoundError(f"no checkpoint of peer {peer!r} is remembered")
        del self._last[peer]

    def update(
        self,
        peer: str,
        checkpoint: Checkpoint,
        public_key: PublicVerifyingKey,
        consistency_proof: Sequence[bytes] = (),
    ) -> None:
        """Accept ``checkpoint`` as ``peer``'s newest, or raise if it rewrites history.

        ``consistency_proof`` goes from the size of :meth:`last` to the new size (empty when
        nothing was seen yet or the size is unchanged). The first checkpoint of a peer is
        trusted on first use.

        Raises :class:`~tds.errors.AuthenticationError` when the signature does not verify
        with ``public_key`` or the checkpoint names another log than ``peer``, and
        :class:`~tds.errors.AuditProofError` when the log shrank, has another root at the same
        size, or the proof (malformed or not) does not show the new tree extends the old.
        """
        _checked_peer(peer)
        if not isinstance(checkpoint, Checkpoint):
            raise DecodeError(f"expected a Checkpoint, not {type(checkpoint).__name__}")
        checkpoint.verify(public_key)
        if checkpoint.origin != peer:
            raise AuthenticationError(
                f"peer {peer!r} presented a checkpoint of the log {checkpoint.origin!r}; "
                "a peer may only vouch for its own log"
            )
        if not isinstance(consistency_proof, list | tuple):
            raise DecodeError(
                f"the consistency proof must be a list of hashes, not "
                f"{type(consistency_proof).__name__}"
            )
        previous = self._last.get(peer)
        if previous is None:
            if consistency_proof:
                raise DecodeError(
                    f"no checkpoint of {peer!r} was seen before, so there is nothing to prove "
                    "consistency with; pass an empty proof"
                )
            self._last[peer] = checkpoint
            return
        if checkpoint.size < previous.size:
            self._rewrite(
                peer,
                f"its log shrank from {previous.size} to {checkpoint.size} entries",
            )
        try:
            verify_consistency(
                previous.size,
                checkpoint.size,
                previous.root,
                checkpoint.root,
                consistency_proof,
            )
        except (AuditProofError, DecodeError) as failure:
            self._rewrite(
                peer,
                f"its checkpoint at {checkpoint.size} entries does not extend the one seen at "
                f"{previous.size} ({failure})",
            )
        if checkpoint.size > previous.size or checkpoint.timestamp > previous.timestamp:
            self._last[peer] = checkpoint

    def to_json(self) -> str:
        """The remembered checkpoints as JSON text, for :meth:`from_json`."""
        document = {
            "checkpoints": {peer: cp._document() for peer, cp in sorted(self._last.items())},
            "version": _FORMAT_VERSION,
        }
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> CheckpointWitness:
        """Load :meth:`to_json` output; raises :class:`~tds.errors.DecodeError`."""
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        document = _parse_json(text, "checkpoint witness state", None)
        _expect_keys(document, {"checkpoints", "version"}, "checkpoint witness state")
        assert isinstance(document, dict)  # _expect_keys made sure
        _expect_version(document, "checkpoint witness state")
        checkpoints = document["checkpoints"]
        if not isinstance(checkpoints, dict):
            raise DecodeError("checkpoint witness state: 'checkpoints' must be an object")
        witness = cls()
        for peer, entry in checkpoints.items():
            checkpoint = Checkpoint._from_document(entry)
            if checkpoint.origin != peer:
                raise DecodeError(
                    f"checkpoint witness state: the checkpoint kept for {peer!r} is of the log "
                    f"{checkpoint.origin!r}"
                )
            witness._last[peer] = checkpoint
        return witness

    def _rewrite(self, peer: str, what: str) -> None:
        _logger.warning("audit log of peer %r was rewritten: %s", peer, what)
        raise AuditProofError(
            f"the audit log of peer {peer!r} was rewritten: {what}. Keep both checkpoints as "
            "evidence and stop trusting this peer's log"
        )


def _checked_peer(peer: object) -> str:
    if not isinstance(peer, str):
        raise DecodeError(f"a peer name must be a string, not {type(peer).__name__}")
    return peer


def _signing_algorithm(private_key: object) -> str:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return _ED25519
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        return _ECDSA_P256
    raise ConfigError(
        f"checkpoints are signed with an ECDSA P-256 or Ed25519 private key, not "
        f"{type(private_key).__name__}; use the node's key"
    )


def _verifying_algorithm(public_key: object) -> str:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return _ED25519
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return _ECDSA_P256
    raise ConfigError(
        f"checkpoints are verified with an ECDSA P-256 or Ed25519 public key, not "
        f"{type(public_key).__name__}; use the public key of the peer's certificate"
    )


def _origin_problem(origin: object) -> str | None:
    if not isinstance(origin, str):
        return f"must be a string, not {type(origin).__name__}"
    if not 0 < len(origin) <= _MAX_ORIGIN_LENGTH:
        return f"must have 1 to {_MAX_ORIGIN_LENGTH} characters, not {len(origin)}"
    if not origin.isprintable():  # also refuses lone surrogates, which UTF-8 cannot encode
        return f"must be printable text, got {origin!r}"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _checked_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise DecodeError(f"{what} must not be negative, got {value}")
    return value


def _utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise DecodeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise DecodeError(f"{what} must be timezone-aware, e.g. datetime.now(UTC)")
    return value.astimezone(UTC)


def _format_time(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise DecodeError(f"{what} must be UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ, got {value!r}")
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError:
        raise DecodeError(f"{what} {value!r} is not a real date and time") from None


def _parse_hex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise DecodeError(f"{what} must be lowercase hex, got {value!r}")
    return bytes.fromhex(value)


def _json_safe(value: object, path: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise DecodeError(f"audit event {path} nests deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise DecodeError(f"audit event {path} = {value} does not fit a 64-bit signed integer")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DecodeError(f"audit event {path} is {value}; JSON has no NaN or infinity")
        return value
    if isinstance(value, str):
        if _has_surrogate(value):
            raise DecodeError(f"audit event {path} is not valid Unicode text (a lone surrogate)")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return _format_time(_utc(value, f"audit event {path}"))
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str) or _has_surrogate(key):
                raise DecodeError(f"audit event {path} has a key {key!r} that is not valid text")
            result[key] = _json_safe(item, f"{path}.{key}", depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [_json_safe(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise DecodeError(
        f"audit event {path} is a {type(value).__name__}, which has no canonical JSON form; "
        "use str, int, float, bool, None, bytes, datetime, lists or dicts"
    )


def _canonical_json(document: object) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _parse_json(data: object, what: str, limit: int | None) -> object:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"{what} must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if limit is not None and len(data) > limit:
        raise DecodeError(f"{what} takes {len(data)} bytes, over the {limit}-byte limit")
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise DecodeError(f"{what} nests too deeply") from None
    except ValueError as failure:  # also UnicodeDecodeError and json.JSONDecodeError
        raise DecodeError(f"{what} is not valid UTF-8 JSON: {failure}") from None


def _parse_canonical(data: object, what: str, limit: int) -> dict[str, Any]:
    document = _parse_json(data, what, limit)
    if not isinstance(document, dict):
        raise DecodeError(f"{what} must be a JSON object")
    return document


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key in object")
    return document


def _expect_keys(document: object, keys: set[str], what: str) -> None:
    if not isinstance(document, dict):
        raise DecodeError(f"{what} must be a JSON object")
    if set(document) != keys:
        missing = sorted(keys - set(document))
        extra = sorted(set(document) - keys)
        raise DecodeError(f"{what} has missing keys {missing} or unexpected keys {extra}")


def _expect_version(document: dict[str, Any], what: str) -> None:
    version = document["version"]
    if type(version) is not int or version != _FORMAT_VERSION:
        raise DecodeError(
            f"{what} has format version {version!r}; this tds reads version {_FORMAT_VERSION}"
        )
