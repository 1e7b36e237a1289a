"""Uniformly random permutations from the operating system's CSPRNG."""

from __future__ import annotations

import secrets

import numpy as np

__all__ = ["random_permutation"]


def random_permutation(count: int) -> np.ndarray:
    """A random permutation of range(count), as an int64 array.

    The order that sorts 64-bit keys drawn from ``secrets``. Equal keys would favour their
    original order, so in that rare case (probability below count^2 / 2^65) all keys are drawn
    again: every permutation is equally likely. numpy's own generators are fast but
    predictable, and a peer who could predict our shuffle could undo it.
    """
    while True:
        keys = np.frombuffer(secrets.token_bytes(8 * count), dtype="<u8")
        order = np.argsort(keys)
        ordered = keys[order]
        if not np.any(ordered[1:] == ordered[:-1]):
            return order.astype(np.int64)
