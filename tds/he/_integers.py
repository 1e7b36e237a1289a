"""Integer coercion shared by the Paillier types."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tds.errors import PlaintextTypeError, TdsError


def as_integer(value: Any, what: str, *, error: type[TdsError] = PlaintextTypeError) -> int:
    """``value`` as an int (ints and numpy integers pass), else ``error``.

    Bools are refused as tds.psi refuses them: ``True == 1`` makes a flag pass for a count.
    """
    if isinstance(value, bool | np.bool_):
        raise error(f"{what} is a bool; True == 1 is ambiguous: convert with int() first")
    if isinstance(value, float | np.floating):
        raise error(f"{what} is a float: scale it to an integer (fixed point) first")
    try:
        return operator.index(value)
    except TypeError:
        raise error(f"{what} must be an integer, not {type(value).__name__}") from None


def as_list(values: Any, what: str, *, error: type[TdsError] = PlaintextTypeError) -> list:
    """The items of the iterable ``values``, else ``error``."""
    # Iterating text or bytes would quietly yield characters or byte values.
    if isinstance(values, str | bytes | bytearray | memoryview):
        raise error(f"{what} must be an iterable of items, not {type(values).__name__}")
    try:
        return list(values)
    except TypeError:
        raise error(f"{what} must be an iterable of items, not {type(values).__name__}") from None


def to_bytes_big(value: int) -> bytes:
    """Minimal big-endian bytes of a non-negative integer."""
    value = int(value)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
