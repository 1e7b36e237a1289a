"""Batch encryption and decryption on the shared process pool.

Each worker rebuilds a key from its documented bytes once and keeps it,
fixed-base table included, for later batches under the same key. Only
integers and key bytes cross the process boundary.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import as_completed
from typing import TYPE_CHECKING, Any

from tds._workers import process_pool, resolve_workers
from tds.errors import ConfigError
from tds.progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from tds.he._keys import PrivateKey, PublicKey

# Below this many items a batch runs in the calling process: a worker's
# first batch under a key pays for its own fixed-base table.
MIN_PARALLEL_ITEMS = 256
_CHUNKS_PER_WORKER = 4
# An in-process batch with a progress callback runs in this many steps, to report between them.
_LOCAL_STEPS = 8
_ROLE = "paillier"

# Sizes and worker counts only: never key material, plaintexts or ciphertexts.
_logger = logging.getLogger("tds.he")


def check_progress(progress: Any) -> None:
    """Refuse a ``progress`` that is neither None nor callable (ConfigError)."""
    if progress is not None and not callable(progress):
        raise ConfigError(
            "progress must be callable (it receives a tds.progress.Progress), "
            f"not {type(progress).__name__}"
        )


def map_batches(
    local: Callable[[list[int]], list[int]],
    remote: Callable[[list[int]], list[int]],
    items: list[int],
    workers: int | None,
    *,
    stage: str,
    progress: ProgressCallback | None,
) -> list[int]:
    """Apply ``local`` in-process to small batches, else ``remote`` in chunks on the pool.

    ``remote`` must be picklable (a module-level function or a partial of one). ``progress``
    gets ``Progress("paillier", stage, done, total)`` as parts finish, the last with
    ``done == total``.
    """
    workers = resolve_workers(workers)
    check_progress(progress)
    total = len(items)

    def report(done: int) -> None:
        if progress is not None:
            progress(Progress(_ROLE, stage, done, total))

    if workers == 1 or total < MIN_PARALLEL_ITEMS:
        _logger.debug("paillier %s: %d items in this process", stage, total)
        if progress is None:
            return local(items)
        step = max(1, -(-total // _LOCAL_STEPS))
        results: list[int] = []
        for start in range(0, total, step):
            results.extend(local(items[start : start + step]))
            report(len(results))
        if not total:
            report(0)
        return results
    size = -(-total // (workers * _CHUNKS_PER_WORKER))
    pool = process_pool(workers)
    futures = [pool.submit(remote, items[start : start + size]) for start in range(0, total, size)]
    _logger.debug(
        "paillier %s: %d items in %d chunks of up to %d on %d workers",
        stage,
        total,
        len(futures),
        size,
        workers,
    )
    if progress is not None:
        done = 0
        for future in as_completed(futures):
            done += len(future.result())
            report(done)
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
