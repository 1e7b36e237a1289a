"""Set items: a canonical byte encoding, and deduplication with counts.

An item is a ``str``, ``bytes``, ``int`` or a ``tuple`` of items (one element per key column,
nesting allowed). Two items are the same key exactly when their encodings are equal. The
encoding is a tag, a 4-byte big-endian length and the payload; tuples give their element count
and the elements' encodings. Every encoding therefore announces its own end, so no two different
items, and no two different tuples of items, encode alike::

    str    01 | len(utf8)  | utf-8 bytes
    bytes  02 | len(bytes) | bytes
    int    03 | len(body)  | body: two's complement, big-endian, shortest form
    tuple  04 | element count | encoding of each element

A ``str`` must be valid Unicode (no lone surrogates); tuples nest at most ``MAX_NESTING`` (32)
levels deep. ``bool`` is refused: ``True == 1`` in Python, so accepting it would make the key
of ``True`` a matter of taste.
"""

from __future__ import annotations

import operator
import reprlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tds.errors import ConfigError, ItemTypeError, PlaintextTypeError

__all__ = ["MAX_NESTING", "DistinctItems", "deduplicate", "encode_item"]

# Tuples inside tuples, counted from the outermost; far beyond any multi-column key, and well
# inside Python's recursion limit.
MAX_NESTING = 32
_STR, _BYTES, _INT, _TUPLE = b"\x01", b"\x02", b"\x03", b"\x04"
# No item's encoding starts with this tag: padding that can never match an item.
DUMMY_TAG = b"\x05"


def encode_item(item: object) -> bytes:
    """The canonical encoding of one item (the message that is hashed to the curve)."""
    return _encode(item, MAX_NESTING)


def _encode(item: object, depth_left: int) -> bytes:
    if isinstance(item, str):
        try:
            data = item.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ItemTypeError(
                f"string item holds a lone surrogate at position {error.start}, which is not "
                "valid Unicode; decode the source text properly (or pass the raw bytes)"
            ) from None
        return _STR + len(data).to_bytes(4, "big") + data
    if isinstance(item, bytes | bytearray | memoryview):
        data = bytes(item)
        return _BYTES + len(data).to_bytes(4, "big") + data
    if isinstance(item, bool | np.bool_):
        raise ItemTypeError("bool is not a set item (True == 1 would be ambiguous); use int")
    if isinstance(item, int | np.integer):
        value = operator.index(item)
        # Two's complement needs a sign bit beyond the magnitude; ~value is the magnitude of a
        # negative value minus one, so -128 fits one byte and -129 needs two.
        magnitude = value if value >= 0 else ~value
        body = value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)
        return _INT + len(body).to_bytes(4, "big") + body
    if isinstance(item, tuple):
        if not depth_left:
            raise ItemTypeError(f"tuple items nest at most {MAX_NESTING} levels deep")
        parts = [_TUPLE, len(item).to_bytes(4, "big")]
        parts.extend(_encode(element, depth_left - 1) for element in item)
        return b"".join(parts)
    raise ItemTypeError(
        f"set items must be str, bytes, int or tuples of them, not {type(item).__name__}"
    )


@dataclass(frozen=True)
class DistinctItems:
    """One party's input after deduplication, in order of first occurrence.

    ``encoded[i]`` is the key of ``originals[i]`` (the first row that carried it), ``counts[i]``
    how many input rows carried it, and in intersection-sum ``totals[i]`` the sum of those
    rows' values.
    """

    encoded: tuple[bytes, ...]
    originals: tuple[object, ...]
    counts: tuple[int, ...]
    totals: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.encoded)


def deduplicate(items: Iterable[object], values: Iterable[int] | None = None) -> DistinctItems:
    """Collapse equal keys, counting rows and (when ``values`` is given) adding their values.
    Items already collapsed (a :class:`DistinctItems`) stay as they are."""
    if isinstance(items, DistinctItems) and values is None:
        return items
    items = _rows(items)
    if values is None:
        fast = _distinct_strings(items)
        if fast is not None:
            return fast
    if values is not None:
        values = _values(values)
        if len(values) != len(items):
            raise ConfigError(
                f"{len(values)} values for {len(items)} items; give one value per item"
            )
    position: dict[bytes, int] = {}
    encoded: list[bytes] = []
    originals: list[object] = []
    counts: list[int] = []
    totals: list[int] = []
    for row, item in enumerate(items):
        key = encode_item(item)
        index = position.setdefault(key, len(encoded))
        if index == len(encoded):
            encoded.append(key)
            originals.append(item)
            counts.append(1)
            totals.append(0)
        else:
            counts[index] += 1
        if values is not None:
            totals[index] += _integer_value(values[row])
    return DistinctItems(
        tuple(encoded), tuple(originals), tuple(counts), None if values is None else tuple(totals)
    )


def _distinct_strings(items: list[object]) -> DistinctItems | None:
    """The common case of a list of str keys, without a Python loop per item; None if the
    items are anything else (or hold text that does not encode, which the general path
    reports)."""
    if set(map(type, items)) - {str}:
        return None
    # Equal str objects are equal keys; both dicts keep each key's first occurrence first.
    firsts = dict.fromkeys(items)
    if len(firsts) == len(items):
        distinct, counts = list(firsts), (1,) * len(items)
    else:
        tally = Counter(items)
        distinct, counts = list(tally), tuple(tally.values())
    try:
        data = list(map(str.encode, distinct))
    except UnicodeEncodeError:
        return None
    headers = _StrHeaders()
    encoded = tuple(map(bytes.__add__, map(headers.__getitem__, map(len, data)), data))
    return DistinctItems(encoded, tuple(distinct), counts)


class _StrHeaders(dict[int, bytes]):
    """The tag and length that start a str's encoding, made once per length."""

    def __missing__(self, length: int) -> bytes:
        header = self[length] = _STR + length.to_bytes(4, "big")
        return header


_BYTE_STRINGS = str | bytes | bytearray | memoryview


def _rows(items: Iterable[object]) -> list[object]:
    if isinstance(items, _BYTE_STRINGS):
        raise ItemTypeError(
            f"a {type(items).__name__} is one item, not a set of items; pass a list of items, "
            f"e.g. [{reprlib.repr(items)}]"
        )
    try:
        iterator = iter(items)
    except TypeError:
        raise ItemTypeError(
            f"the set must be an iterable of items (a list, say), not {type(items).__name__}"
        ) from None
    return list(iterator)


def _values(values: Iterable[int]) -> list[object]:
    if isinstance(values, _BYTE_STRINGS):
        raise ConfigError(
            f"values must be a list of integers, one per item, not {type(values).__name__}"
        )
    try:
        iterator = iter(values)
    except TypeError:
        raise ConfigError(
            f"values must be an iterable of integers (a list, say), not {type(values).__name__}"
        ) from None
    return list(iterator)


def _integer_value(value: object) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise PlaintextTypeError(f"values must be integers, not {type(value).__name__}")
    return operator.index(value)
