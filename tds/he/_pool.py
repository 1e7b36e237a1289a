"""Batch encryption and decryption on the shared process pool.

Each worker rebuilds a key from its documented bytes once and keeps it,
fixed-base table included, for later batches under the same key. Only
integers and key bytes cross the process boundary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from tds._workers import process_pool, resolve_workers

if TYPE_CHECKING:
    from tds.he._keys import PrivateKey, PublicKey

# Below this many items a batch runs in the calling process: a worker's
# first batch under a key pays for its own fixed-base table.
MIN_PARALLEL_ITEMS = 256
_CHUNKS_PER_WORKER = 4


def map_batches(
    local: Callable[[list[int]], list[int]],
    remote: Callable[[list[int]], list[int]],
    items: list[int],
    workers: int | None,
) -> list[int]:
    """Apply ``local`` in-process to small batches, else ``remote`` in chunks on the pool.

    ``remote`` must be picklable (a module-level function or a partial of one).
    """
    workers = resolve_workers(workers)
    if workers == 1 or len(items) < MIN_PARALLEL_ITEMS:
        return local(items)
    chunk_count = workers * _CHUNKS_PER_WORKER
    size = -(-len(items) // chunk_count)
    futures = [
        process_pool(workers).submit(remote, items[start : start + size])
        for start in range(0, len(items), size)
    ]
    return [value for future in futures for value in future.result()]


@functools.lru_cache(maxsize=8)
def _public_key(key_bytes: bytes) -> PublicKey:
    from tds.he._keys import PublicKey as _PublicKey

    # The bytes come from this process, which has already checked the key's size.
    return _PublicKey.from_bytes(key_bytes, insecure=True)


@functools.lru_cache(maxsize=8)
def _private_key(key_bytes: bytes) -> PrivateKey:
    from tds.he._keys import PrivateKey as _PrivateKey

    return _PrivateKey.from_bytes(key_bytes, insecure=True)


def encrypt_chunk(key_bytes: bytes, strict: bool, residues: list[int]) -> list[int]:
    key = _public_key(key_bytes)
    return [int(key.raw_encrypt(m, strict=strict)) for m in residues]


def crt_encrypt_chunk(key_bytes: bytes, strict: bool, residues: list[int]) -> list[int]:
    key = _private_key(key_bytes)
    return [int(key.raw_encrypt(m, strict=strict)) for m in residues]


def decrypt_chunk(key_bytes: bytes, ciphertexts: list[int]) -> list[int]:
    key = _private_key(key_bytes)
    return [int(key.raw_decrypt(c)) for c in ciphertexts]
