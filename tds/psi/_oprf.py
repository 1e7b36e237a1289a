"""The lightweight OPRF of Chase and Miao (CRYPTO 2020), vectorized: parameters and the
matrix arithmetic both parties of an OPRF join perform.

Notation as in the paper. The left party (the PSI receiver) holds ``n_l`` items y, the right
(the PSI sender) ``n_r`` items x. Both map an item to ``w`` positions in ``[0, m)``:
``v(x) = F_k(H1(x))``, with ``H1`` a keyed BLAKE2b to 128 bits and ``F_k`` fixed-key AES over
``H1(x)`` and a block counter (each 128-bit output block gives four 32-bit words, each word
masked to ``log2 m`` bits). The left builds an ``m x w`` bit matrix ``D``, all ones except
``D[v_i(y), i] = 0`` for each of its items; the right holds ``w`` random bits ``s`` and obtains,
through ``w`` random OTs, the columns ``C_i = A_i`` if ``s_i = 0`` and ``A_i ⊕ D_i`` if
``s_i = 1``, where ``A_i`` is the pseudorandom expansion (AES-CTR) of the OT key ``k0_i``. For
an item ``z`` the OPRF output is ``H2`` of the ``w`` bits ``C_1[v_1(z)] .. C_w[v_w(z)]``
(right) or ``A_1[v_1(z)] .. A_w[v_w(z)]`` (left): they agree exactly when ``D`` is zero at
every position of ``z``, which holds for the left's own items.

Parameters (``docs/protocol.md`` derives them):

- ``m``: a power of two, at least the left's set size and at least 1024. A position of an item
  the left does not hold is then left at one with probability ``p = (1 - 1/m)^{n_l}``, at
  least ``p_min = (1 - 1/1024)^1024 ≈ 0.3677``.
- ``w``: the least multiple of 8 for which every one of the right's ``n_r`` items outside the
  intersection keeps at least 128 such positions (so at least 128 bits of ``s`` enter its
  output, hidden from the left) except with probability ``2^-40``: the binomial tail
  ``P[Bin(w, p_min) < 128] · n_r ≤ 2^-40``. About 609 at 2^16, 621 at 2^20 (rounded up to
  616 and 624).
- the output length: ``40 + log2 n_l + log2 n_r`` bits, so that all ``n_l · n_r`` pairs of
  different items collide with probability at most ``2^-40``.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tds.errors import ProtocolError

__all__ = [
    "MAX_WIDTH",
    "MIN_ROWS",
    "Expander",
    "OprfParameters",
    "PositionHash",
    "column_seeds",
    "found_in",
    "gather_rows",
    "item_digests",
    "left_block",
    "output_bytes",
    "outputs",
    "right_block",
    "rows_for",
    "width_for",
]

STATISTICAL_BITS = 40
UNKNOWN_BITS = 128  # s-bits that must enter every output the left may not learn
MIN_ROWS = 1 << 10
MAX_ROWS = 1 << 32
MAX_WIDTH = 4096
DIGEST_BYTES = 16
# Items per round of gathering: their positions in one column (2 MiB of indices) and the
# column itself stay in cache while numpy scatters and gathers through them.
ITEMS_PER_ROUND = 1 << 18
_P_MIN = (1 - 1 / MIN_ROWS) ** (MIN_ROWS // 2)


@functools.cache
def width_for(right_size: int) -> int:
    """``w`` for a right party with ``right_size`` distinct items (see the module doc)."""
    target = -(STATISTICAL_BITS + math.log2(max(right_size, 2)))
    log_p, log_q = math.log(_P_MIN), math.log(1 - _P_MIN)
    width = UNKNOWN_BITS
    while True:
        terms = [
            math.lgamma(width + 1)
            - math.lgamma(k + 1)
            - math.lgamma(width - k + 1)
            + k * log_p
            + (width - k) * log_q
            for k in range(UNKNOWN_BITS)
        ]
        top = max(terms)
        tail = top + math.log(sum(math.exp(term - top) for term in terms))
        if tail / math.log(2) <= target:
            return -(-width // 8) * 8
        width += 1


def rows_for(left_size: int) -> int:
    """``m`` for a left party with ``left_size`` distinct items: at least twice as many."""
    return max(MIN_ROWS, 1 << max(2 * left_size - 1, 0).bit_length())


def output_bytes(left_size: int, right_size: int) -> int:
    """Bytes of each OPRF output compared: ``40 + log2 n_l + log2 n_r`` bits, rounded up."""
    bits = STATISTICAL_BITS + math.log2(max(left_size, 2)) + math.log2(max(right_size, 2))
    return -(-math.ceil(bits) // 8)


@dataclass(frozen=True)
class OprfParameters:
    """What both parties must agree on: matrix width and height, and the output length."""

    width: int
    rows: int
    output_bytes: int

    @classmethod
    def check(cls, width: int, rows: int, left_size: int, right_size: int) -> OprfParameters:
        """The parameters a peer proposed, if they give the security the module doc derives."""
        if not width_for(right_size) <= width <= MAX_WIDTH or width % 8:
            raise ProtocolError(
                f"an OPRF width of {width} does not fit {right_size} items: it must be a "
                f"multiple of 8 from {width_for(right_size)} to {MAX_WIDTH}"
            )
        if rows & (rows - 1) or not max(MIN_ROWS, 2 * left_size) <= rows <= MAX_ROWS:
            raise ProtocolError(
                f"an OPRF matrix of {rows} rows does not fit {left_size} items: it must be a "
                f"power of two from {max(MIN_ROWS, 2 * left_size)} to {MAX_ROWS}"
            )
        return cls(width, rows, output_bytes(left_size, right_size))


def item_digests(encoded: Sequence[bytes], key: bytes, size: int = DIGEST_BYTES) -> np.ndarray:
    """``H1``: each encoded item hashed to ``size`` bytes (128 bits) under the job's key, as an
    (n, size) array."""
    digest = functools.partial(hashlib.blake2b, digest_size=size, key=key)
    joined = b"".join(map(_digest_bytes, map(digest, encoded)))
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(encoded), size)


_digest_bytes = hashlib.blake2b.digest


class PositionHash:
    """``F_k``: the positions of each item, four columns (one AES block) at a time."""

    def __init__(self, key: bytes, rows: int) -> None:
        self._encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self.mask = np.uint32(rows - 1)
        self._input = np.empty(0, dtype=np.uint8)
        self._output = np.empty(0, dtype=np.uint8)

    def positions(self, digests: np.ndarray, first: int) -> np.ndarray:
        """The positions of every item in columns ``first .. first + 3`` (``first`` a multiple
        of 4), as a (4, n) array: a contiguous row of indices per column, of numpy's index type
        (through strided or narrower indices, numpy scatters and gathers 2-3 times slower)."""
        items = len(digests)
        size = items * 16
        if self._input.size < size:
            # Buffers are reused: fresh pages cost more than the AES that fills them.
            self._input = np.empty(size, dtype=np.uint8)
            self._output = np.empty(size + 15, dtype=np.uint8)
        blocks_in = self._input[:size].reshape(items, 16)
        blocks_in[:] = digests
        blocks_in.view(np.uint32)[:, 3] ^= np.uint32(first // 4)
        self._encryptor.update_into(self._input[:size], self._output)
        words = self._output[:size].view(np.uint32).reshape(items, 4)
        return (words & self.mask).T.astype(np.intp, order="C")


def column_seeds(job_key: bytes, keys: Sequence[bytes]) -> list[bytes]:
    """The AES keys that expand each OT key into a column (bound to the job)."""
    return [hashlib.blake2b(key, digest_size=16, key=job_key).digest() for key in keys]


class Expander:
    """Columns of ``rows`` pseudorandom bits from 16-byte seeds (AES-CTR), packed
    little-endian; one zero input and one output buffer serve every column."""

    def __init__(self, rows: int) -> None:
        self._zeros = np.zeros(rows // 8, dtype=np.uint8)
        self._output = np.empty(rows // 8 + 15, dtype=np.uint8)

    def expand(self, seed: bytes) -> np.ndarray:
        """The column of ``seed``: a view into the shared buffer, valid until the next call."""
        encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
        encryptor.update_into(self._zeros, self._output)
        return self._output[: self._zeros.size]


def gather_rows(
    packed: np.ndarray,
    positions: PositionHash,
    digests: np.ndarray,
    first: int,
    clear: np.ndarray | None = None,
) -> np.ndarray:
    """Each item's bits of the block's columns ``first, first + 1, ..``: bit ``packed[c]`` at
    the item's position in column ``first + c``, packed little-endian into an (n, count / 8)
    array. ``packed`` holds ``count`` (a multiple of 8) columns of ``m`` bits, packed, so that
    a column stays in the processor's cache. With ``clear`` (the left's matrix ``D`` for the
    block, a byte per bit), also zero each item's position there, from the same positions."""
    count = packed.shape[0]
    rows_out = np.empty((len(digests), count // 8), dtype=np.uint8)
    for start in range(0, len(digests), ITEMS_PER_ROUND):
        chunk = digests[start : start + ITEMS_PER_ROUND]
        index = np.empty(len(chunk), dtype=np.intp)
        bit, shift = np.empty((2, len(chunk)), dtype=np.uint8)
        row_byte = np.zeros(len(chunk), dtype=np.uint8)
        for quad in range(0, count, 4):
            for offset, where in enumerate(positions.positions(chunk, first + quad)):
                column = quad + offset
                if clear is not None:
                    clear[column][where] = 0
                np.right_shift(where, 3, out=index)
                np.take(packed[column], index, out=bit)
                np.bitwise_and(where, 7, out=shift, casting="unsafe")
                bit >>= shift
                bit &= 1
                bit <<= column % 8
                row_byte |= bit
                if column % 8 == 7:
                    rows_out[start : start + len(chunk), column // 8] = row_byte
                    row_byte[:] = 0
    return rows_out


def outputs(rows: np.ndarray, key: bytes, length: int) -> bytes:
    """``H2``: each item's ``w`` bits hashed under the job's key to ``length`` bytes, all
    outputs joined in the order of ``rows``."""
    width = rows.shape[1]
    digest = functools.partial(hashlib.blake2b, digest_size=length, key=key)
    views = np.ascontiguousarray(rows).view(f"V{width}").ravel().tolist()
    return b"".join(map(_digest_bytes, map(digest, views)))


def found_in(values: bytes, pool: bytes, size: int) -> np.ndarray:
    """Which of the ``size``-byte values joined in ``values`` also occur in ``pool``, as a bool
    array: one binary search per value among the pool's sorted 64-bit prefixes, each hit
    then confirmed on all its bytes."""
    return found_both(values, pool, size, both=False)[0]


def found_both(
    values: bytes, pool: bytes, size: int, *, both: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`found_in` for ``values`` and, with ``both``, which of ``pool`` occur in
    ``values``, from the same search."""
    wanted = np.frombuffer(values, dtype=np.uint8).reshape(-1, size)
    among = np.frombuffer(pool, dtype=np.uint8).reshape(-1, size)
    if not len(wanted) or not len(among):
        return np.zeros(len(wanted), dtype=bool), np.zeros(len(among), dtype=bool) if both else None
    keys, pool_keys = _prefixes(wanted), _prefixes(among)
    order = np.argsort(pool_keys)
    sorted_keys = pool_keys[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):
        # Pool values that share a prefix (about n^2 / 2^65 by chance) defeat the binary
        # search; sets of whole values do not care.
        return _found_in_set(values, pool, size), _found_in_set(
            pool, values, size
        ) if both else None
    slot = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found = sorted_keys[slot] == keys
    hits = np.flatnonzero(found)
    found[hits] = (wanted[hits] == among[order[slot[hits]]]).all(axis=1)
    if not both:
        return found, None
    # The pool's values are distinct here, so each confirmed hit names the one it matched.
    pool_found = np.zeros(len(among), dtype=bool)
    pool_found[order[slot[found]]] = True
    return found, pool_found


def _found_in_set(values: bytes, pool: bytes, size: int) -> np.ndarray:
    whole = set(np.frombuffer(pool, dtype=f"V{size}").tolist())
    candidates = np.frombuffer(values, dtype=f"V{size}").tolist()
    return np.fromiter(map(whole.__contains__, candidates), dtype=bool, count=len(candidates))


def _prefixes(values: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row (zero-padded), as one 64-bit integer per row."""
    padded = np.zeros((len(values), 8), dtype=np.uint8)
    padded[:, : min(8, values.shape[1])] = values[:, :8]
    return padded.view("<u8").ravel()


def left_block(
    digests: np.ndarray,
    position_key: bytes,
    rows: int,
    first: int,
    seeds: tuple[Sequence[bytes], Sequence[bytes]],
) -> tuple[np.ndarray, np.ndarray]:
    """The left's work for columns ``first .. first + len(seeds[0]) - 1``: the correction
    ``A_i ⊕ B_i ⊕ D_i`` of each column (count, m / 8), and each item's bits of ``A`` in those
    columns, packed (n, count / 8). A function of its arguments alone, so that a worker
    process can run it."""
    count = len(seeds[0])
    positions = PositionHash(position_key, rows)
    expander = Expander(rows)
    zeros = np.empty((count, rows // 8), dtype=np.uint8)
    for index, seed in enumerate(seeds[0]):
        zeros[index] = expander.expand(seed)
    ones_mask = np.ones((count, rows), dtype=np.uint8)
    bits = gather_rows(zeros, positions, digests, first, clear=ones_mask)
    correction = np.packbits(ones_mask, axis=1, bitorder="little")
    correction ^= zeros
    for index, seed in enumerate(seeds[1]):
        correction[index] ^= expander.expand(seed)
    return correction, bits


def right_block(
    digests: np.ndarray,
    position_key: bytes,
    rows: int,
    first: int,
    seeds: Sequence[bytes],
    choices: np.ndarray,
    corrections: np.ndarray,
) -> np.ndarray:
    """The right's work for columns ``first .. first + len(seeds) - 1``: each item's bits of
    ``C_i = PRG(k_{s_i}) ⊕ s_i·correction_i``, packed (n, len(seeds) / 8)."""
    positions = PositionHash(position_key, rows)
    expander = Expander(rows)
    columns = np.empty_like(corrections)
    for index, seed in enumerate(seeds):
        columns[index] = expander.expand(seed)
        if choices[index]:
            columns[index] ^= corrections[index]
    return gather_rows(columns, positions, digests, first)
