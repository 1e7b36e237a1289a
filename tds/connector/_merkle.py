"""RFC 6962 Merkle tree hashing and proofs over SHA-256, with no storage and no transport.

The tree is the one of RFC 6962 §2.1 (and RFC 9162 §2.1): a leaf hashes as
``SHA-256(0x00 || data)``, an inner node as ``SHA-256(0x01 || left || right)``, and a tree of
``n`` leaves splits at the largest power of two below ``n``. The empty tree's root is
``SHA-256("")``. Proofs are lists of 32-byte hashes in the order of RFC 6962 §2.1.1 and §2.1.2,
nearest the leaf first; they are checked with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.

A proof whose shape cannot fit the claimed sizes (wrong number of hashes, a hash that is not
32 bytes, an index outside the tree, an old size above the new one) raises
:class:`~tds.errors.DecodeError`. A well-formed proof that does not lead to the claimed root
raises :class:`~tds.errors.AuditProofError`: the entry is not in that tree, or the log was
rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from tds.errors import AuditProofError, DecodeError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "consistency_proof_length",
    "inclusion_proof",
    "inclusion_proof_length",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the tree of no leaves, ``SHA-256("")`` (RFC 6962 §2.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

SubtreeHash = Callable[[int, int], bytes]
"""The hash of the subtree over leaves ``[start, end)``, as used inside this package."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf holding ``data``: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + _as_bytes(data, "leaf data")).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node over two child hashes: ``SHA-256(0x01 || left || right)``."""
    return _node(_checked_hash(left, "left"), _checked_hash(right, "right"))


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf hashes (RFC 6962 §2.1).

    Takes leaf *hashes*, not leaf data: apply :func:`leaf_hash` to each datum first.
    """
    return _root_of(_checked_hashes(leaf_hashes, "leaf_hashes"))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path proving that leaf ``index`` is in the tree of ``leaf_hashes`` (§2.1.1)."""
    hashes = _checked_hashes(leaf_hashes, "leaf_hashes")
    index = _checked_count(index, "index")
    if index >= len(hashes):
        raise DecodeError(
            f"leaf index {index} is outside a tree of {len(hashes)} leaves; "
            f"pick an index below {len(hashes)}"
        )
    return [_root_of(hashes[start:end]) for start, end in _inclusion_ranges(index, len(hashes))]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree's first ``old_size`` leaves are a prefix of it (§2.1.2).

    The proof from the empty tree, and from the tree to itself, is empty.
    """
    hashes = _checked_hashes(leaf_hashes, "leaf_hashes")
    old_size = _checked_count(old_size, "old_size")
    if old_size > len(hashes):
        raise DecodeError(
            f"old size {old_size} is larger than the tree of {len(hashes)} leaves; "
            "a consistency proof goes from an older, smaller tree to a newer one"
        )
    return [
        _root_of(hashes[start:end]) for start, end in _consistency_ranges(old_size, len(hashes))
    ]


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes an inclusion proof for leaf ``index`` in a tree of ``size`` holds."""
    index, size = _checked_index_in_tree(index, size)
    return len(_inclusion_ranges(index, size))


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """How many hashes a consistency proof from ``old_size`` to ``new_size`` leaves holds."""
    old_size, new_size = _checked_sizes(old_size, new_size)
    return len(_consistency_ranges(old_size, new_size))


def verify_inclusion(
    hashed_leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf with hash ``hashed_leaf`` sits at ``index`` in the tree ``root``.

    ``size`` is the number of leaves of the tree whose root is ``root``. Returns nothing on
    success; raises :class:`~tds.errors.DecodeError` when the proof cannot fit the sizes and
    :class:`~tds.errors.AuditProofError` when it does not lead to ``root``.
    """
    hashed_leaf = _checked_hash(hashed_leaf, "leaf hash")
    root = _checked_hash(root, "root")
    index, size = _checked_index_in_tree(index, size)
    path = _checked_hashes(proof, "inclusion proof")
    # RFC 9162 §2.1.3.2.
    fn, sn = index, size - 1
    result = hashed_leaf
    for sibling in path:
        if sn == 0:
            raise _wrong_length("inclusion", len(path), len(_inclusion_ranges(index, size)))
        if fn & 1 or fn == sn:
            result = _node(sibling, result)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            result = _node(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _wrong_length("inclusion", len(path), len(_inclusion_ranges(index, size)))
    if result != root:
        raise AuditProofError(
            f"the inclusion proof for leaf {index} does not lead to the root of the tree of "
            f"{size} leaves: the entry is not in that tree, or the log was rewritten"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_root`` of ``old_size`` leaves is a prefix of ``new_root``.

    The empty tree (size 0, root :data:`EMPTY_ROOT`) is a prefix of every tree, and a tree of
    the same size is consistent only if its root is the same; both take an empty proof.
    Returns nothing on success; raises :class:`~tds.errors.DecodeError` when the proof cannot
    fit the sizes and :class:`~tds.errors.AuditProofError` when the trees disagree.
    """
    old_root = _checked_hash(old_root, "old root")
    new_root = _checked_hash(new_root, "new root")
    old_size, new_size = _checked_sizes(old_size, new_size)
    path = _checked_hashes(proof, "consistency proof")
    if old_size == 0 or old_size == new_size:
        if path:
            raise _wrong_length("consistency", len(path), 0)
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise AuditProofError(
                "the old root of an empty tree must be SHA-256 of the empty string; "
                "this one is not, so it does not describe an empty log"
            )
        if old_size == new_size and old_root != new_root:
            raise AuditProofError(
                f"two different roots for the same tree size {old_size}: "
                "the log was rewritten (a fork)"
            )
        return
    old_computed, new_computed = _roots_from_consistency_path(old_size, new_size, old_root, path)
    if old_computed != old_root or new_computed != new_root:
        raise AuditProofError(
            f"the consistency proof from {old_size} to {new_size} leaves does not match the "
            "roots: the newer tree does not extend the older one, so the log was rewritten"
        )


def _roots_from_consistency_path(
    old_size: int, new_size: int, old_root: bytes, path: list[bytes]
) -> tuple[bytes, bytes]:
    # RFC 9162 §2.1.4.2, for 0 < old_size < new_size.
    if not path:
        raise _wrong_length("consistency", 0, len(_consistency_ranges(old_size, new_size)))
    seeded = [old_root, *path] if old_size & (old_size - 1) == 0 else path
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old_result = new_result = seeded[0]
    for sibling in seeded[1:]:
        if sn == 0:
            raise _wrong_length(
                "consistency", len(path), len(_consistency_ranges(old_size, new_size))
            )
        if fn & 1 or fn == sn:
            old_result = _node(sibling, old_result)
            new_result = _node(sibling, new_result)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            new_result = _node(new_result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _wrong_length("consistency", len(path), len(_consistency_ranges(old_size, new_size)))
    return old_result, new_result


def _wrong_length(kind: str, length: int, expected: int) -> DecodeError:
    return DecodeError(
        f"the {kind} proof holds {length} hashes where these sizes need exactly {expected}"
    )


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make up PATH(index, D[0:size]), in proof order."""
    ranges = []
    start, end = 0, size
    while end - start > 1:
        split = start + _largest_power_of_two_below(end - start)
        if index < split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((start, split))
            start = split
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make up PROOF(old_size, D[0:new_size])."""
    if old_size == 0:
        return []
    ranges = []
    start, end = 0, new_size
    while old_size != end:
        split = start + _largest_power_of_two_below(end - start)
        if old_size <= split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((start, split))
            start = split
    # SUBPROOF's flag b is still true only while the walk never turned right; then the last
    # subtree is the old root itself, which the verifier already holds.
    if start > 0:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _root_of(hashes: Sequence[bytes]) -> bytes:
    # Pairing neighbours level by level and lifting a lone last node unchanged builds exactly
    # the tree of the largest-power-of-two split, without recursion.
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise DecodeError(f"{what} must be bytes, not {type(value).__name__}")


def _checked_hash(value: object, what: str) -> bytes:
    digest = _as_bytes(value, what)
    if len(digest) != HASH_SIZE:
        raise DecodeError(
            f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, not {len(digest)} bytes"
        )
    return digest


def _checked_hashes(values: object, what: str) -> list[bytes]:
    if not isinstance(values, list | tuple):
        raise DecodeError(f"{what} must be a list of hashes, not {type(values).__name__}")
    return [_checked_hash(value, f"{what}[{i}]") for i, value in enumerate(values)]


def _checked_count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise DecodeError(f"{what} must not be negative, got {value}")
    return value


def _checked_index_in_tree(index: object, size: object) -> tuple[int, int]:
    index = _checked_count(index, "index")
    size = _checked_count(size, "tree size")
    if size == 0:
        raise DecodeError("the empty tree holds no leaves, so nothing can be proven in it")
    if index >= size:
        raise DecodeError(f"leaf index {index} is outside a tree of {size} leaves")
    return index, size


def _checked_sizes(old_size: object, new_size: object) -> tuple[int, int]:
    old_size = _checked_count(old_size, "old size")
    new_size = _checked_count(new_size, "new size")
    if old_size > new_size:
        raise DecodeError(
            f"old size {old_size} is larger than new size {new_size}; "
            "a log only grows, so pass the older, smaller tree first"
        )
    return old_size, new_size
