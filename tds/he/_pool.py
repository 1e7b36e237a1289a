"""Batch encryption and decryption on a process pool.

gmpy2 holds the GIL, so only processes give parallel speed. Workers are
forked from a forkserver (safe beside gRPC threads) that has ``tds.he``
preloaded; each worker rebuilds a key from its documented bytes once and
keeps it, fixed-base table included, for later batches under the same key.
Only integers and key bytes cross the process boundary.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from tds.errors import ConfigError

if TYPE_CHECKING:
    from tds.he._keys import PrivateKey, PublicKey

# Below this many items a batch runs in the calling process: a worker's
# first batch under a key pays for its own fixed-base table.
MIN_PARALLEL_ITEMS = 256
_CHUNKS_PER_WORKER = 4

_executors: dict[int, ProcessPoolExecutor] = {}
_executors_lock = threading.Lock()


def default_workers() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    return workers


def _executor(workers: int) -> ProcessPoolExecutor:
    with _executors_lock:
        executor = _executors.get(workers)
        if executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["tds.he"])
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            _executors[workers] = executor
        return executor


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
        _executor(workers).submit(remote, items[start : start + size])
        for start in range(0, len(items), size)
    ]
    return [value for future in futures for value in future.result()]


@functools.lru_cache(maxsize=8)
def _public_key(key_bytes: bytes) -> PublicKey:
    from tds.he._keys import PublicKey as _PublicKey

    return _PublicKey.from_bytes(key_bytes)


@functools.lru_cache(maxsize=8)
def _private_key(key_bytes: bytes) -> PrivateKey:
    from tds.he._keys import PrivateKey as _PrivateKey

    return _PrivateKey.from_bytes(key_bytes)


def encrypt_chunk(key_bytes: bytes, strict: bool, residues: list[int]) -> list[int]:
    key = _public_key(key_bytes)
    return [int(key.raw_encrypt(m, strict=strict)) for m in residues]


def crt_encrypt_chunk(key_bytes: bytes, strict: bool, residues: list[int]) -> list[int]:
    key = _private_key(key_bytes)
    return [int(key.raw_encrypt(m, strict=strict)) for m in residues]


def decrypt_chunk(key_bytes: bytes, ciphertexts: list[int]) -> list[int]:
    key = _private_key(key_bytes)
    return [int(key.raw_decrypt(c)) for c in ciphertexts]
