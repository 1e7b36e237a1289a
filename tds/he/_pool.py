"""Batch encryption and decryption on an executor (``tds._workers``).

Each worker rebuilds a key from its documented bytes once and keeps it,
fixed-base table included, for later batches under the same key. Only
integers and key bytes cross the process boundary. A private key's bytes go
to this machine's own process pool only, never to a Ray cluster or an
executor of the caller's: the private key stays in its owner's processes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import as_completed
from typing import TYPE_CHECKING, Any

from gmpy2 import mpz

from tds._workers import ExecutorChoice, check_executor, resolve_executor
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
    remote: Callable[[bytes], bytes],
    items: list[int],
    workers: int | None,
    *,
    widths: tuple[int, int],
    stage: str,
    progress: ProgressCallback | None,
    executor: ExecutorChoice = "local",
    role: str = "paillier",
) -> list[int]:
    """Apply ``local`` in-process to small batches, else ``remote`` in chunks on ``executor``.

    ``remote`` must be picklable (a module-level function or a partial of one); one that
    carries a private key must run on ``"local"``. It takes a chunk of items and returns its
    results as runs of fixed-width big-endian numbers, ``widths`` bytes each (see
    :func:`joined`). ``progress`` gets ``Progress(role, stage, done, total)`` as parts
    finish, the last with ``done == total``.
    """
    check_executor(executor, workers)
    check_progress(progress)
    total = len(items)

    def report(done: int) -> None:
        if progress is not None:
            progress(Progress(role, stage, done, total))

    # A small batch runs here before any pool is started or any cluster reached.
    pool, workers = (
        resolve_executor(executor, workers) if total >= MIN_PARALLEL_ITEMS else (None, 1)
    )
    if pool is None:
        _logger.debug("%s %s: %d items in this process", role, stage, total)
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
    width_in, width_out = widths
    futures = [
        pool.submit(remote, joined(items[start : start + size], width_in))
        for start in range(0, total, size)
    ]
    _logger.debug(
        "%s %s: %d items in %d chunks of up to %d on %d workers",
        role,
        stage,
        total,
        len(futures),
        size,
        workers,
    )
    if progress is not None:
        done = 0
        for future in as_completed(futures):
            done += len(future.result()) // width_out
            report(done)
    return [value for future in futures for value in split(future.result(), width_out)]


def widths(key: PublicKey) -> tuple[int, int]:
    """Bytes of a residue (below ``n``) and of a ciphertext (below ``n^2``) under ``key``."""
    return (key.n.bit_length() + 7) // 8, key.ciphertext_size


def joined(values: list[int], width: int) -> bytes:
    """Non-negative integers below ``2^(8 width)`` as one run of ``width``-byte big-endian
    numbers: what crosses to a worker and back."""
    return b"".join(int(value).to_bytes(width, "big") for value in values)


def split(data: bytes, width: int) -> list[int]:
    """The integers of :func:`joined`."""
    return [
        int.from_bytes(data[start : start + width], "big") for start in range(0, len(data), width)
    ]


@functools.lru_cache(maxsize=8)
def _public_key(key_bytes: bytes) -> PublicKey:
    from tds.he._scheme import load_public_key

    # The bytes come from this process, which has already checked the key's size.
    return load_public_key(key_bytes, insecure=True)


@functools.lru_cache(maxsize=8)
def _private_key(key_bytes: bytes) -> PrivateKey:
    from tds.he._scheme import load_private_key

    return load_private_key(key_bytes, insecure=True)


def encrypt_chunk(key_bytes: bytes, strict: bool, residues: bytes) -> bytes:
    key = _public_key(key_bytes)
    return _each(lambda m: key.raw_encrypt(m, strict=strict), residues, widths(key))


def crt_encrypt_chunk(key_bytes: bytes, strict: bool, residues: bytes) -> bytes:
    key = _private_key(key_bytes)
    return _each(lambda m: key.raw_encrypt(m, strict=strict), residues, widths(key.public_key))


def decrypt_chunk(key_bytes: bytes, ciphertexts: bytes) -> bytes:
    key = _private_key(key_bytes)
    # The ciphertexts were checked before they were sent here.
    return _each(lambda c: key._decrypt_residue(mpz(c)), ciphertexts, widths(key.public_key)[::-1])


def _each(function: Callable[[int], int], data: bytes, sizes: tuple[int, int]) -> bytes:
    """``function`` over the numbers of ``data``, ``sizes`` bytes wide going in and out."""
    width_in, width_out = sizes
    return joined([function(value) for value in split(data, width_in)], width_out)
