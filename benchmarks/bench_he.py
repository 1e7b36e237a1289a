"""Paillier: tds against python-paillier (phe), 2048-bit keys, in one run.

phe runs single-threaded and has no batch API; where a benchmark gives tds a
large batch, phe gets a smaller one and the comparison is per value (phe's
per-value cost does not depend on batch size).
"""

from __future__ import annotations

import numpy as np
import pytest

import tds
from benchmarks import conftest
from benchmarks.conftest import SMOKE, size

KEY_BITS = 1024 if SMOKE else 2048
ONE = "encrypt one value, 1 core"
BATCH = "encrypt a batch of 10,000, all cores"
AGGREGATE = "encrypt + sum + decrypt, 100 parties' vectors"
DECRYPT = "decrypt, 1 core"
ADD = "add two ciphertexts"
PARTIES = size(100, 3)
UNITS = {ONE: "value", BATCH: "value", AGGREGATE: "value", DECRYPT: "ciphertext", ADD: "addition"}


def compare(benchmark, group: str, implementation: str, function, *, items: int, rounds: int = 3):
    """:func:`benchmarks.conftest.compare` with this file's unit for the group."""
    return conftest.compare(
        benchmark, group, implementation, function, items=items, unit=UNITS[group], rounds=rounds
    )


@pytest.fixture(scope="module")
def keys():
    public, private = tds.he.generate_keypair(KEY_BITS, insecure=SMOKE)
    public.encrypt(0)  # build the fixed-base tables outside the timings
    private.encrypt(0)
    return public, private, public.to_phe(), private.to_phe()


def values(count: int, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(v) for v in rng.integers(0, 2**32, size=count)]


def test_encrypt_one_value_phe(benchmark, keys) -> None:
    _, _, phe_public, _ = keys
    batch = values(size(20, 2))
    compare(benchmark, ONE, "phe", lambda: [phe_public.encrypt(v) for v in batch], items=len(batch))


def test_encrypt_one_value_tds(benchmark, keys) -> None:
    public, _, _, phe_private = keys
    batch = values(size(200, 2))
    encrypt = lambda: [public.encrypt(v) for v in batch]  # noqa: E731
    result = compare(benchmark, ONE, "tds public key (DJN)", encrypt, items=len(batch))
    assert phe_private.decrypt(result[0].to_phe()) == batch[0]


def test_encrypt_one_value_tds_private_key(benchmark, keys) -> None:
    _, private, _, _ = keys
    batch = values(size(200, 2))
    encrypt = lambda: [private.encrypt(v) for v in batch]  # noqa: E731
    result = compare(benchmark, ONE, "tds private key (CRT)", encrypt, items=len(batch))
    assert private.decrypt(result[-1]) == batch[-1]


def test_encrypt_one_value_tds_strict(benchmark, keys) -> None:
    public, private, _, _ = keys
    batch = values(size(20, 2))
    encrypt = lambda: [public.encrypt(v, strict=True) for v in batch]  # noqa: E731
    result = compare(benchmark, ONE, "tds strict (r^n)", encrypt, items=len(batch))
    assert private.decrypt(result[0]) == batch[0]


def test_encrypt_batch_phe(benchmark, keys) -> None:
    _, _, phe_public, _ = keys
    batch = values(size(400, 2))
    encrypt = lambda: [phe_public.encrypt(v) for v in batch]  # noqa: E731
    compare(benchmark, BATCH, "phe", encrypt, items=len(batch), rounds=1)


def test_encrypt_batch_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    batch = values(size(10_000, 300))
    public.encrypt_many(batch[:300])  # start the pool and its workers' tables
    result = compare(
        benchmark, BATCH, "tds public key", lambda: public.encrypt_many(batch), items=len(batch)
    )
    assert private.decrypt(result[-1]) == batch[-1]


def test_encrypt_batch_tds_private_key(benchmark, keys) -> None:
    _, private, _, _ = keys
    batch = values(size(10_000, 300))
    private.encrypt_many(batch[:300])
    result = compare(
        benchmark, BATCH, "tds private key", lambda: private.encrypt_many(batch), items=len(batch)
    )
    assert private.decrypt(result[0]) == batch[0]


def test_aggregate_vectors_phe(benchmark, keys) -> None:
    _, _, phe_public, phe_private = keys
    data = np.array([values(size(4, 2), seed=p) for p in range(PARTIES)])

    def job() -> list[int]:
        encrypted = [[phe_public.encrypt(int(v)) for v in row] for row in data]
        totals = [sum(column[1:], column[0]) for column in zip(*encrypted, strict=True)]
        return [phe_private.decrypt(t) for t in totals]

    result = compare(benchmark, AGGREGATE, "phe", job, items=data.size, rounds=1)
    assert result == list(data.sum(axis=0))


def test_aggregate_vectors_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    data = np.array([values(size(2_000, 60), seed=p) for p in range(PARTIES)], dtype=np.int64)

    def job() -> np.ndarray:
        encrypted = [public.encrypt_vector(row, bound=2**32, max_additions=PARTIES) for row in data]
        return private.decrypt_vector(sum(encrypted))

    result = compare(benchmark, AGGREGATE, "tds packed", job, items=data.size)
    np.testing.assert_array_equal(result, data.sum(axis=0))


def test_decrypt_phe(benchmark, keys) -> None:
    public, _, _, phe_private = keys
    ciphertexts = [public.encrypt(v).to_phe() for v in values(size(50, 2))]
    decrypt = lambda: [phe_private.decrypt(c) for c in ciphertexts]  # noqa: E731
    compare(benchmark, DECRYPT, "phe", decrypt, items=len(ciphertexts))


def test_decrypt_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    batch = values(size(50, 2))
    ciphertexts = [public.encrypt(v) for v in batch]
    decrypt = lambda: [private.decrypt(c) for c in ciphertexts]  # noqa: E731
    assert compare(benchmark, DECRYPT, "tds", decrypt, items=len(ciphertexts)) == batch


def test_decrypt_batch_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    batch = values(size(1_000, 300))
    ciphertexts = public.encrypt_many(batch)
    private.decrypt_many(ciphertexts[:300])  # start the pool
    decrypt = lambda: private.decrypt_many(ciphertexts)  # noqa: E731
    result = compare(benchmark, DECRYPT, "tds batch of 1,000, all cores", decrypt, items=len(batch))
    assert result == batch


def test_decrypt_packed_values_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    data = np.array(values(size(2_000, 60)), dtype=np.int64)
    vector = public.encrypt_vector(data, bound=2**32, max_additions=100)
    decrypt = lambda: private.decrypt_vector(vector, workers=1)  # noqa: E731
    result = compare(benchmark, DECRYPT, "tds packed (per value)", decrypt, items=len(data))
    np.testing.assert_array_equal(result, data)


def test_add_phe(benchmark, keys) -> None:
    public, _, _, _ = keys
    a, b = public.encrypt(1).to_phe(), public.encrypt(2).to_phe()
    count = size(2_000, 10)
    compare(benchmark, ADD, "phe", lambda: [a + b for _ in range(count)], items=count, rounds=5)


def test_add_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    a, b = public.encrypt(1), public.encrypt(2)
    count = size(2_000, 10)
    result = compare(
        benchmark, ADD, "tds", lambda: [a + b for _ in range(count)], items=count, rounds=5
    )
    assert private.decrypt(result[0]) == 3
