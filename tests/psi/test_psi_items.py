"""Canonical item encoding and deduplication."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tds.errors import ConfigError, ItemTypeError, PlaintextTypeError
from tds.psi import encode_item
from tds.psi._items import MAX_NESTING, deduplicate

# Integers around the powers of two, where the shortest form changes length.
around_powers_of_two = st.builds(
    lambda bits, delta, sign: sign * ((1 << bits) + delta),
    st.integers(0, 80),
    st.integers(-2, 1),
    st.sampled_from([1, -1]),
)
scalars = st.one_of(st.text(max_size=8), st.binary(max_size=8), st.integers(), around_powers_of_two)
items = st.recursive(
    scalars, lambda inner: st.tuples(inner) | st.lists(inner, max_size=3).map(tuple)
)


@given(items, items)
def test_encoding_is_injective(a: object, b: object) -> None:
    assert (encode_item(a) == encode_item(b)) == (a == b and _same_kinds(a, b))


def _same_kinds(a: object, b: object) -> bool:
    """Python says 1 == 1 but also (1,) != (1, ); kinds must agree all the way down."""
    if isinstance(a, tuple):
        return isinstance(b, tuple) and all(map(_same_kinds, a, b))
    return type(a) is type(b)


@given(st.lists(items, max_size=4), st.lists(items, max_size=4))
def test_tuples_never_collide_with_their_concatenations(a: list, b: list) -> None:
    """Each encoding announces its own end, so splitting columns differently changes the key."""
    if a != b:
        assert encode_item(tuple(a)) != encode_item(tuple(b))


def test_kinds_are_distinct() -> None:
    keys = {encode_item(v) for v in ("1", b"1", 1, ("1",), (1,), ((1,),), (), "", b"")}
    assert len(keys) == 9


def test_byte_like_and_numpy_integers_are_the_same_keys() -> None:
    assert encode_item(bytearray(b"ab")) == encode_item(memoryview(b"ab")) == encode_item(b"ab")
    assert encode_item(np.int64(-5)) == encode_item(-5)
    assert encode_item(np.uint8(200)) == encode_item(200)


@pytest.mark.parametrize("bad", [True, np.bool_(False), 1.5, None, ["a"], {"a"}, ("a", 2.0)])
def test_unsupported_items_are_refused(bad: object) -> None:
    with pytest.raises(ItemTypeError):
        encode_item(bad)


def test_deduplicate_counts_rows_in_order_of_first_occurrence() -> None:
    distinct = deduplicate(["b", "a", "b", ("b",), "b", b"a"])
    assert distinct.originals == ("b", "a", ("b",), b"a")
    assert distinct.counts == (3, 1, 1, 1)
    assert distinct.totals is None
    assert len(distinct) == 4
    assert distinct.encoded == tuple(encode_item(v) for v in distinct.originals)


@given(st.lists(st.text(alphabet="aé€😀", max_size=3), max_size=30))
def test_lists_of_strings_deduplicate_like_any_items(items: list[str]) -> None:
    originals = [item for index, item in enumerate(items) if item not in items[:index]]
    distinct = deduplicate(items)
    assert distinct.originals == tuple(originals)
    assert distinct.counts == tuple(items.count(item) for item in originals)
    assert distinct.encoded == tuple(encode_item(item) for item in originals)


def test_deduplicate_adds_the_values_of_duplicate_keys() -> None:
    distinct = deduplicate(["x", "y", "x"], [10, -3, np.int32(5)])
    assert distinct.totals == (15, -3)
    assert distinct.counts == (2, 1)


def test_values_must_match_items() -> None:
    with pytest.raises(ConfigError, match="one value per item"):
        deduplicate(["x", "y"], [1])


@pytest.mark.parametrize("value", [1.0, True, "3", None])
def test_values_must_be_integers(value: object) -> None:
    with pytest.raises(PlaintextTypeError):
        deduplicate(["x"], [value])


@given(st.integers() | around_powers_of_two)
def test_integers_use_the_shortest_twos_complement_form(value: int) -> None:
    encoding = encode_item(value)
    body = encoding[5:]
    assert int.from_bytes(encoding[1:5], "big") == len(body) >= 1
    assert int.from_bytes(body, "big", signed=True) == value
    if len(body) > 1:  # one byte fewer could not hold the value
        half = 1 << (8 * (len(body) - 1) - 1)
        assert not -half <= value < half


@pytest.mark.parametrize(
    ("value", "body"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "0080"),
        (-1, "ff"),
        (-128, "80"),
        (-129, "ff7f"),
        (-32768, "8000"),
        (-32769, "ff7fff"),
        (2**63, "008000000000000000"),
        (-(2**63), "8000000000000000"),
    ],
)
def test_integer_bodies_at_the_byte_boundaries(value: int, body: str) -> None:
    assert encode_item(value) == b"\x03" + len(bytes.fromhex(body)).to_bytes(
        4, "big"
    ) + bytes.fromhex(body)


@pytest.mark.parametrize("bad", ["\ud800", "ok\udfff", ("a", "\ud83d")])
def test_lone_surrogates_are_not_items(bad: object) -> None:
    with pytest.raises(ItemTypeError, match="surrogate"):
        encode_item(bad)


def test_tuples_nest_a_bounded_depth() -> None:
    item: object = "leaf"
    for _ in range(MAX_NESTING):
        item = (item,)
    encode_item(item)
    with pytest.raises(ItemTypeError, match=f"{MAX_NESTING} levels"):
        encode_item((item,))
    deep: object = ()
    for _ in range(10 * sys.getrecursionlimit()):
        deep = (deep,)
    with pytest.raises(ItemTypeError, match="levels"):
        encode_item(deep)
