"""RFC 6962 hashing and proofs: published known answers, the RFC's own definitions, tampering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tds.connector._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    consistency_proof_length,
    inclusion_proof,
    inclusion_proof_length,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from tds.errors import AuditProofError, DecodeError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_sha256.json").read_text())
LEAVES = [bytes.fromhex(leaf) for leaf in VECTORS["leaves"]]
LEAF_HASHES = [leaf_hash(leaf) for leaf in LEAVES]
ROOTS = [bytes.fromhex(root) for root in VECTORS["roots"]]

# Enough distinct leaves for every (index, size) and (old, new) pair up to this size.
MAX_SIZE = 70
MANY_LEAF_HASHES = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX_SIZE)]


def _hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


# --- The RFC 6962 §2.1 definitions, written out recursively as the oracle -----------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if m < k:
        return [*_path(m, hashes[:k]), _mth(hashes[k:])]
    return [*_path(m - k, hashes[k:]), _mth(hashes[:k])]


def _subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [_mth(hashes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], complete), _mth(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), _mth(hashes[:k])]


# --- Known answers ------------------------------------------------------------------------


def test_the_vectors_hold_the_eight_published_leaves() -> None:
    assert LEAVES[0] == b""
    assert LEAVES[-1] == bytes(range(0x60, 0x70))
    assert len(ROOTS) == len(LEAVES) + 1


def test_leaf_and_node_hashes_use_the_rfc_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = LEAF_HASHES[0], LEAF_HASHES[1]
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize(
    ("level", "index"),
    [
        (level, index)
        for level, row in enumerate(VECTORS["subtree_hashes"])
        for index in range(len(row))
    ],
)
def test_subtree_hashes_match_the_published_vectors(level: int, index: int) -> None:
    width = 1 << level
    subtree = LEAF_HASHES[index * width : (index + 1) * width]
    assert merkle_root(subtree).hex() == VECTORS["subtree_hashes"][level][index]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_the_published_vectors(size: int) -> None:
    assert merkle_root(LEAF_HASHES[:size]) == ROOTS[size]


def test_the_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert EMPTY_ROOT == ROOTS[0] == hashlib.sha256(b"").digest()
    assert merkle_root([]) == EMPTY_ROOT


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-of-{c['size']}")
def test_inclusion_proofs_match_the_published_vectors(case: dict) -> None:
    index, size = case["index"], case["size"]
    proof = inclusion_proof(LEAF_HASHES[:size], index)
    assert _hexes(proof) == case["proof"]
    assert inclusion_proof_length(index, size) == len(case["proof"])
    verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"{c['old_size']}-to-{c['new_size']}"
)
def test_consistency_proofs_match_the_published_vectors(case: dict) -> None:
    old, new = case["old_size"], case["new_size"]
    proof = consistency_proof(LEAF_HASHES[:new], old)
    assert _hexes(proof) == case["proof"]
    assert consistency_proof_length(old, new) == len(case["proof"])
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(
    "case",
    [c for c in VECTORS["consistency"] if c["old_size"] != c["new_size"]],
    ids=lambda c: f"{c['old_size']}-to-{c['new_size']}",
)
def test_published_consistency_proofs_fail_against_swapped_roots(case: dict) -> None:
    old, new = case["old_size"], case["new_size"]
    proof = [bytes.fromhex(h) for h in case["proof"]]
    with pytest.raises(AuditProofError):
        verify_consistency(old, new, ROOTS[new], ROOTS[old], proof)


# --- Against the RFC's recursive definitions ---------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=40))
def test_merkle_root_is_the_rfc_definition(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    assert merkle_root(hashes) == _mth(hashes)


def test_every_inclusion_proof_is_the_rfc_path_and_verifies() -> None:
    for size in range(1, MAX_SIZE + 1):
        hashes = MANY_LEAF_HASHES[:size]
        root = _mth(hashes)
        for index in range(size):
            proof = inclusion_proof(hashes, index)
            assert proof == _path(index, hashes)
            assert inclusion_proof_length(index, size) == len(proof)
            verify_inclusion(hashes[index], index, size, proof, root)


def test_every_consistency_proof_is_the_rfc_proof_and_verifies() -> None:
    roots = [_mth(MANY_LEAF_HASHES[:size]) for size in range(MAX_SIZE + 1)]
    for new in range(1, MAX_SIZE + 1):
        hashes = MANY_LEAF_HASHES[:new]
        for old in range(new + 1):
            proof = consistency_proof(hashes, old)
            assert proof == ([] if old == 0 else _subproof(old, hashes, True))
            assert consistency_proof_length(old, new) == len(proof)
            verify_consistency(old, new, roots[old], roots[new], proof)


# --- Tampering ------------------------------------------------------------------------------

sizes_and_indexes = st.integers(1, MAX_SIZE).flatmap(
    lambda size: st.tuples(st.just(size), st.integers(0, size - 1))
)
old_and_new_sizes = st.integers(2, MAX_SIZE).flatmap(
    lambda new: st.tuples(st.integers(1, new - 1), st.just(new))
)


def _flip(digest: bytes, position: int, bit: int) -> bytes:
    changed = bytearray(digest)
    changed[position] ^= 1 << bit
    return bytes(changed)


byte_positions = st.tuples(st.integers(0, HASH_SIZE - 1), st.integers(0, 7))


@settings(max_examples=100, deadline=None)
@given(sizes_and_indexes, st.data(), byte_positions)
def test_tampering_an_inclusion_proof_fails(
    size_index: tuple[int, int], data: st.DataObject, position: tuple[int, int]
) -> None:
    size, index = size_index
    hashes = MANY_LEAF_HASHES[:size]
    proof = inclusion_proof(hashes, index)
    root = merkle_root(hashes)
    target = data.draw(st.sampled_from(["leaf", "root", *range(len(proof))]))
    leaf = hashes[index]
    if target == "leaf":
        leaf = _flip(leaf, *position)
    elif target == "root":
        root = _flip(root, *position)
    else:
        proof[target] = _flip(proof[target], *position)
    with pytest.raises(AuditProofError):
        verify_inclusion(leaf, index, size, proof, root)


@settings(max_examples=100, deadline=None)
@given(old_and_new_sizes, st.data(), byte_positions)
def test_tampering_a_consistency_proof_fails(
    sizes: tuple[int, int], data: st.DataObject, position: tuple[int, int]
) -> None:
    old, new = sizes
    hashes = MANY_LEAF_HASHES[:new]
    proof = consistency_proof(hashes, old)
    old_root, new_root = merkle_root(hashes[:old]), merkle_root(hashes)
    target = data.draw(st.sampled_from(["old root", "new root", *range(len(proof))]))
    if target == "old root":
        old_root = _flip(old_root, *position)
    elif target == "new root":
        new_root = _flip(new_root, *position)
    else:
        proof[target] = _flip(proof[target], *position)
    with pytest.raises(AuditProofError):
        verify_consistency(old, new, old_root, new_root, proof)


@settings(max_examples=100, deadline=None)
@given(
    sizes_and_indexes,
    st.sampled_from(["index - 1", "index + 1", "index ^ 2", "size * 2", "size // 2"]),
)
def test_an_inclusion_proof_for_other_coordinates_fails(
    size_index: tuple[int, int], change: str
) -> None:
    size, index = size_index
    hashes = MANY_LEAF_HASHES[:size]
    proof = inclusion_proof(hashes, index)
    root = merkle_root(hashes)
    other_index, other_size = {
        "index - 1": (index - 1, size),
        "index + 1": (index + 1, size),
        "index ^ 2": (index ^ 2, size),
        "size * 2": (index, size * 2),
        "size // 2": (index, size // 2),
    }[change]
    assume((other_index, other_size) != (index, size))
    with pytest.raises((AuditProofError, DecodeError)):
        verify_inclusion(hashes[index], other_index, other_size, proof, root)


@settings(max_examples=100, deadline=None)
@given(old_and_new_sizes, st.sampled_from(["old - 1", "old + 1", "old ^ 2", "new * 2", "new // 2"]))
def test_a_consistency_proof_for_other_sizes_fails(sizes: tuple[int, int], change: str) -> None:
    old, new = sizes
    hashes = MANY_LEAF_HASHES[:new]
    proof = consistency_proof(hashes, old)
    old_root, new_root = merkle_root(hashes[:old]), merkle_root(hashes)
    other_old, other_new = {
        "old - 1": (old - 1, new),
        "old + 1": (old + 1, new),
        "old ^ 2": (old ^ 2, new),
        "new * 2": (old, new * 2),
        "new // 2": (old, new // 2),
    }[change]
    assume((other_old, other_new) != (old, new))
    with pytest.raises((AuditProofError, DecodeError)):
        verify_consistency(other_old, other_new, old_root, new_root, proof)


@settings(max_examples=100, deadline=None)
@given(sizes_and_indexes, st.sampled_from(["append", "prepend", "drop last", "drop first"]))
def test_an_inclusion_proof_of_the_wrong_length_is_malformed(
    size_index: tuple[int, int], change: str
) -> None:
    size, index = size_index
    hashes = MANY_LEAF_HASHES[:size]
    proof = inclusion_proof(hashes, index)
    assume(proof or not change.startswith("drop"))
    root = merkle_root(hashes)
    changed = {
        "append": [*proof, root],
        "prepend": [root, *proof],
        "drop last": proof[:-1],
        "drop first": proof[1:],
    }[change]
    with pytest.raises(DecodeError, match="need exactly"):
        verify_inclusion(hashes[index], index, size, changed, root)


@settings(max_examples=100, deadline=None)
@given(old_and_new_sizes, st.sampled_from(["append", "prepend", "drop last", "drop first"]))
def test_a_consistency_proof_of_the_wrong_length_is_malformed(
    sizes: tuple[int, int], change: str
) -> None:
    old, new = sizes
    hashes = MANY_LEAF_HASHES[:new]
    proof = consistency_proof(hashes, old)
    old_root, new_root = merkle_root(hashes[:old]), merkle_root(hashes)
    changed = {
        "append": [*proof, new_root],
        "prepend": [old_root, *proof],
        "drop last": proof[:-1],
        "drop first": proof[1:],
    }[change]
    with pytest.raises(DecodeError, match="need exactly"):
        verify_consistency(old, new, old_root, new_root, changed)


# --- Malformed input ------------------------------------------------------------------------

ROOT_2 = ROOTS[2]
PROOF_0_OF_2 = inclusion_proof(LEAF_HASHES[:2], 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((LEAF_HASHES[0], 0, 0, [], EMPTY_ROOT), "empty tree holds no leaves"),
        ((LEAF_HASHES[0], 2, 2, PROOF_0_OF_2, ROOT_2), "outside a tree of 2"),
        ((LEAF_HASHES[0], -1, 2, PROOF_0_OF_2, ROOT_2), "must not be negative"),
        ((LEAF_HASHES[0], 0, -2, PROOF_0_OF_2, ROOT_2), "must not be negative"),
        ((LEAF_HASHES[0], True, 2, PROOF_0_OF_2, ROOT_2), "must be an int"),
        ((LEAF_HASHES[0], 0, 2.0, PROOF_0_OF_2, ROOT_2), "must be an int"),
        ((LEAF_HASHES[0], 0, 2, [], ROOT_2), "need exactly 1"),
        ((LEAF_HASHES[0], 0, 2, PROOF_0_OF_2[0], ROOT_2), "must be a list"),
        ((LEAF_HASHES[0], 0, 2, [PROOF_0_OF_2[0][:31]], ROOT_2), "32-byte"),
        ((LEAF_HASHES[0], 0, 2, ["00" * 32], ROOT_2), "must be bytes"),
        ((LEAF_HASHES[0][:31], 0, 2, PROOF_0_OF_2, ROOT_2), "leaf hash must be a 32-byte"),
        ((LEAF_HASHES[0], 0, 2, PROOF_0_OF_2, ROOT_2 + b"\x00"), "root must be a 32-byte"),
        ((LEAF_HASHES[0].hex(), 0, 2, PROOF_0_OF_2, ROOT_2), "must be bytes, not str"),
    ],
)
def test_verify_inclusion_refuses_malformed_input(args: tuple, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        verify_inclusion(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((3, 2, ROOTS[3], ROOTS[2], []), "old size 3 is larger than new size 2"),
        ((-1, 2, ROOTS[0], ROOTS[2], []), "must not be negative"),
        ((1, 2, ROOTS[1], ROOTS[2], []), "need exactly 1"),
        ((0, 2, ROOTS[0], ROOTS[2], [ROOTS[2]]), "need exactly 0"),
        ((2, 2, ROOTS[2], ROOTS[2], [ROOTS[2]]), "need exactly 0"),
        ((1, 2, ROOTS[1], ROOTS[2][:8], [LEAF_HASHES[1]]), "new root must be a 32-byte"),
        ((1, 2, b"", ROOTS[2], [LEAF_HASHES[1]]), "old root must be a 32-byte"),
        ((1, 2, ROOTS[1], ROOTS[2], (LEAF_HASHES[1] + b"\x00",)), r"proof\[0\] must be a 32"),
        ((1, 2, ROOTS[1], ROOTS[2], None), "must be a list"),
        ((1, "2", ROOTS[1], ROOTS[2], [LEAF_HASHES[1]]), "must be an int"),
    ],
)
def test_verify_consistency_refuses_malformed_input(args: tuple, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        verify_consistency(*args)


def test_the_empty_tree_is_consistent_with_every_tree() -> None:
    for size in range(len(ROOTS)):
        verify_consistency(0, size, EMPTY_ROOT, ROOTS[size], [])


def test_an_empty_old_tree_must_carry_the_empty_root() -> None:
    with pytest.raises(AuditProofError, match="empty"):
        verify_consistency(0, 3, ROOTS[1], ROOTS[3], [])


def test_equal_sizes_are_consistent_only_with_equal_roots() -> None:
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    with pytest.raises(AuditProofError, match="fork"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])


def test_bytearray_and_memoryview_hashes_are_accepted() -> None:
    proof = [bytearray(h) for h in PROOF_0_OF_2]
    verify_inclusion(memoryview(LEAF_HASHES[0]), 0, 2, proof, bytearray(ROOT_2))
    assert leaf_hash(bytearray(b"\x00")) == LEAF_HASHES[1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof(LEAF_HASHES[:3], 3), "outside a tree of 3"),
        (lambda: inclusion_proof([], 0), "outside a tree of 0"),
        (lambda: inclusion_proof(LEAF_HASHES[:3], -1), "must not be negative"),
        (lambda: inclusion_proof(b"".join(LEAF_HASHES), 0), "must be a list"),
        (lambda: consistency_proof(LEAF_HASHES[:3], 4), "old size 4 is larger"),
        (lambda: consistency_proof(LEAF_HASHES[:3], None), "must be an int"),
        (lambda: merkle_root([b"short"]), r"leaf_hashes\[0\] must be a 32-byte"),
        (lambda: leaf_hash("text"), "must be bytes, not str"),
        (lambda: node_hash(LEAF_HASHES[0], b""), "right must be a 32-byte"),
        (lambda: inclusion_proof_length(0, 0), "empty tree"),
        (lambda: consistency_proof_length(2, 1), "larger than new size"),
    ],
)
def test_proof_generation_refuses_malformed_input(call, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        call()
