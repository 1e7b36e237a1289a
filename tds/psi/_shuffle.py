"""Uniformly random permutations from the operating system's CSPRNG."""

from __future__ import annotations

import secrets

import numpy as np

__all__ = ["random_permutation"]


def random_permutation(count: int) -> np.ndarray:
    """A random permutation of range(count), as an int64 array.

    Sorting 128-bit keys drawn from ``secrets``: a tie, the only source of bias, has
    probability below count^2 / 2^129. numpy's own generators are fast but predictable, and a
    peer who could predict our shuffle could undo it.
    """
    keys = np.frombuffer(secrets.token_bytes(16 * count), dtype="<u8").reshape(count, 2)
    return np.lexsort((keys[:, 1], keys[:, 0])).astype(np.int64)
