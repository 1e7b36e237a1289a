"""The group: X25519 scalar multiplication, point checks, and batches over a process pool.

Points travel as 32-byte little-endian u-coordinates, many to a ``bytes`` blob. Scalars are
32 random bytes; X25519 clamps them, which makes every scalar a multiple of the cofactor 8, so
multiplication sends any curve point into the prime-order subgroup and ``a·(b·P) = b·(a·P)``.

Peer points are checked before use:

* non-canonical encodings (u >= p, or the top bit set, which X25519 would silently drop) are
  refused, so each point has one encoding;
* the five canonical u-coordinates of low-order points on curve25519 and its twist
  (0, 1, p - 1 and the two points of order 8) are refused; RFC 7748's check for an all-zero
  output, done again on every multiplication, would catch the same points;
* twist points (u with u^3 + A u^2 + u a non-square) are not refused. Curve25519 is twist-secure:
  the twist has order 4·q' with q' a 253-bit prime, so with a clamped scalar a twist point yields
  nothing about the scalar that a curve point would not, and a twist point can only ever fail to
  match. Refusing them would cost a Jacobi symbol per point and protect no honest party.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import TypeVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tds._workers import resolve_workers
from tds.errors import InvalidPointError
from tds.psi._hash_to_curve import FIELD_PRIME, hash_to_u_batch

__all__ = [
    "DIGEST_BYTES",
    "LOW_ORDER_U",
    "POINT_BYTES",
    "Batches",
    "Pending",
    "blind",
    "blind_to_digests",
    "check_points",
    "digest_points",
    "fresh_scalar",
    "hash_and_blind",
    "multiply",
    "prefetched",
    "split_ranges",
]

POINT_BYTES = 32
# Final points are compared through SHA-256 truncated to this many bytes. Two different points
# collide with probability 2^-128, so over N x M candidate pairs the chance of any false match is
# at most N * M / 2^128: below 2^-88 for 2^40 pairs.
DIGEST_BYTES = 16

_ORDER_8_U = (
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
)
LOW_ORDER_U = (0, 1, FIELD_PRIME - 1, *_ORDER_8_U)
_LOW_ORDER_LIMBS = np.array(
    [np.frombuffer(u.to_bytes(32, "little"), dtype="<u8") for u in LOW_ORDER_U]
)
_P_LIMBS = np.frombuffer(FIELD_PRIME.to_bytes(32, "little"), dtype="<u8")


def fresh_scalar() -> bytes:
    """A new secret scalar for one party in one job."""
    return X25519PrivateKey.generate().private_bytes_raw()


def check_points(blob: bytes, first_index: int = 0) -> None:
    """Refuse non-canonical and low-order points (vectorized; see the module docstring)."""
    if len(blob) % POINT_BYTES:
        raise InvalidPointError(f"{len(blob)} bytes is not a whole number of 32-byte points")
    limbs = np.frombuffer(blob, dtype="<u8").reshape(-1, 4)
    top_equal = limbs[:, 3] == _P_LIMBS[3]
    at_least_p = (limbs[:, 3] > _P_LIMBS[3]) | (
        top_equal
        & (limbs[:, 2] == _P_LIMBS[2])
        & (limbs[:, 1] == _P_LIMBS[1])
        & (limbs[:, 0] >= _P_LIMBS[0])
    )
    low_order = (limbs[:, None, :] == _LOW_ORDER_LIMBS[None, :, :]).all(axis=2).any(axis=1)
    for problem, flags in (("is not canonical (u >= p)", at_least_p), ("has low order", low_order)):
        bad = np.flatnonzero(flags)
        if bad.size:
            raise InvalidPointError(f"point {first_index + int(bad[0])} {problem}")


def multiply(scalar: bytes, blob: bytes, first_index: int = 0) -> list[bytes]:
    """X25519(scalar, u) for every point of the blob."""
    exchange = X25519PrivateKey.from_private_bytes(scalar).exchange
    from_public_bytes = X25519PublicKey.from_public_bytes
    products = []
    for index in range(0, len(blob), POINT_BYTES):
        try:
            products.append(exchange(from_public_bytes(blob[index : index + POINT_BYTES])))
        except ValueError:  # RFC 7748: an all-zero result means a low-order input
            position = first_index + index // POINT_BYTES
            raise InvalidPointError(f"point {position} has low order") from None
    return products


def digest_points(points: Sequence[bytes]) -> bytes:
    """The truncated SHA-256 digests by which final points are compared, concatenated."""
    sha256 = hashlib.sha256
    return b"".join([sha256(point).digest()[:DIGEST_BYTES] for point in points])


def hash_and_blind(dst: bytes, scalar: bytes, messages: Sequence[bytes]) -> bytes:
    """scalar · H(message) for every message, as one blob of points."""
    return b"".join(multiply(scalar, b"".join(hash_to_u_batch(messages, dst))))


def blind(scalar: bytes, first_index: int, blob: bytes) -> bytes:
    """scalar · P for every peer point P of the blob."""
    return b"".join(multiply(scalar, blob, first_index))


def blind_to_digests(scalar: bytes, first_index: int, blob: bytes) -> bytes:
    """The digests of scalar · P for every peer point P: the final points, ready to compare."""
    return digest_points(multiply(scalar, blob, first_index))


class Batches:
    """Runs batch work here (no executor) or on an executor, split into ``workers`` tasks."""

    def __init__(self, executor: Executor | None = None, workers: int = 1) -> None:
        workers = resolve_workers(workers)
        self.executor = executor
        self.workers = workers if executor is not None else 1

    def hash_and_blind(self, dst: bytes, scalar: bytes, messages: Sequence[bytes]) -> Pending:
        parts = split_ranges(len(messages), self.workers)
        return self._submit(
            [(hash_and_blind, dst, scalar, messages[start:stop]) for start, stop in parts]
        )

    def blind(self, scalar: bytes, first_index: int, blob: bytes, *, digests: bool) -> Pending:
        """Multiply peer points; return the products, or their digests when ``digests``."""
        function = blind_to_digests if digests else blind
        parts = split_ranges(len(blob) // POINT_BYTES, self.workers)
        return self._submit(
            [
                (
                    function,
                    scalar,
                    first_index + start,
                    blob[start * POINT_BYTES : stop * POINT_BYTES],
                )
                for start, stop in parts
            ]
        )

    def _submit(self, tasks: list[tuple[Callable[..., bytes], ...]]) -> Pending:
        if self.executor is None:
            return Pending([_done(function(*args)) for function, *args in tasks])
        return Pending([self.executor.submit(*task) for task in tasks])


class Pending:
    """The blob a batch will produce: its tasks' results, joined in order."""

    def __init__(self, futures: list[Future[bytes]]) -> None:
        self._futures = futures

    def result(self) -> bytes:
        return b"".join(future.result() for future in self._futures)


_T = TypeVar("_T")


def prefetched(work: Iterator[_T], depth: int) -> Iterator[_T]:
    """Advance ``work`` up to ``depth`` items ahead of the consumer.

    ``work`` submits a batch each time it is advanced, so the pool stays busy while the
    consumer waits on the oldest batch.
    """
    window = deque(itertools.islice(work, depth))
    while window:
        item = window.popleft()
        window.extend(itertools.islice(work, 1))
        yield item


def split_ranges(count: int, parts: int) -> list[tuple[int, int]]:
    """At most ``parts`` contiguous, non-empty, near-equal ranges covering range(count)."""
    size = max(1, -(-count // parts))
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def _done(value: bytes) -> Future[bytes]:
    future: Future[bytes] = Future()
    future.set_result(value)
    return future
