"""Paillier: tds against python-paillier (phe), 2048-bit keys, in one run.

phe runs single-threaded and has no batch API; where a benchmark gives tds a
large batch, phe gets a smaller one and the comparison is per value (phe's
per-value cost does not depend on batch size).
"""

from __future__ import annotations

import numpy as np
import phe
import pytest

import tds
from benchmarks.conftest import SMOKE, record, size

KEY_BITS = 1024 if SMOKE else 2048


@pytest.fixture(scope="module")
def keys():
    public, private = tds.he.generate_keypair(KEY_BITS, insecure=SMOKE)
    public.encrypt(0)  # build the fixed-base tables outside the timings
    private.encrypt(0)
    phe_public, phe_private = public.to_phe(), private.to_phe()
    return public, private, phe_public, phe_private


def values(count: int, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(v) for v in rng.integers(0, 2**32, size=count)]


# single values, one core


def test_encrypt_one_value_phe(benchmark, keys) -> None:
    _, _, phe_public, _ = keys
    batch = values(size(20, 2))
    benchmark.group = "encrypt one value, 1 core"
    benchmark.pedantic(lambda: [phe_public.encrypt(v) for v in batch], rounds=3)
    record(benchmark, "encrypt one value, 1 core", "phe", len(batch), unit="value")


def test_encrypt_one_value_tds(benchmark, keys) -> None:
    public, private, _, phe_private = keys
    batch = values(size(200, 2))
    benchmark.group = "encrypt one value, 1 core"
    result = benchmark.pedantic(lambda: [public.encrypt(v) for v in batch], rounds=3)
    record(benchmark, "encrypt one value, 1 core", "tds public key (DJN)", len(batch), unit="value")
    assert phe_private.decrypt(result[0].to_phe()) == batch[0]


def test_encrypt_one_value_tds_private_key(benchmark, keys) -> None:
    _, private, _, _ = keys
    batch = values(size(200, 2))
    benchmark.group = "encrypt one value, 1 core"
    result = benchmark.pedantic(lambda: [private.encrypt(v) for v in batch], rounds=3)
    record(benchmark, "encrypt one value, 1 core", "tds private key (CRT)", len(batch), unit="value")
    assert private.decrypt(result[-1]) == batch[-1]


def test_encrypt_one_value_tds_strict(benchmark, keys) -> None:
    public, _, _, _ = keys
    batch = values(size(20, 2))
    benchmark.group = "encrypt one value, 1 core"
    benchmark.pedantic(lambda: [public.encrypt(v, strict=True) for v in batch], rounds=3)
    record(benchmark, "encrypt one value, 1 core", "tds strict (r^n)", len(batch), unit="value")


# batches on the process pool


def test_encrypt_batch_phe(benchmark, keys) -> None:
    _, _, phe_public, _ = keys
    batch = values(size(400, 2))
    benchmark.group = "encrypt a batch of 10,000, all cores"
    benchmark.pedantic(lambda: [phe_public.encrypt(v) for v in batch], rounds=1)
    record(benchmark, "encrypt a batch of 10,000, all cores", "phe", len(batch), unit="value")


def test_encrypt_batch_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    batch = values(size(10_000, 300))
    public.encrypt_many(batch[:300])  # start the pool and its workers' tables
    benchmark.group = "encrypt a batch of 10,000, all cores"
    result = benchmark.pedantic(lambda: public.encrypt_many(batch), rounds=3)
    record(benchmark, "encrypt a batch of 10,000, all cores", "tds public key", len(batch), unit="value")
    assert private.decrypt(result[-1]) == batch[-1]


def test_encrypt_batch_tds_private_key(benchmark, keys) -> None:
    _, private, _, _ = keys
    batch = values(size(10_000, 300))
    private.encrypt_many(batch[:300])
    benchmark.group = "encrypt a batch of 10,000, all cores"
    result = benchmark.pedantic(lambda: private.encrypt_many(batch), rounds=3)
    record(benchmark, "encrypt a batch of 10,000, all cores", "tds private key", len(batch), unit="value")
    assert private.decrypt(result[0]) == batch[0]


# the aggregation job: 100 parties' int64 vectors, values < 2**32


PARTIES = size(100, 3)


def test_aggregate_vectors_phe(benchmark, keys) -> None:
    _, _, phe_public, phe_private = keys
    data = np.array([values(size(4, 2), seed=p) for p in range(PARTIES)])

    def job() -> list[int]:
        encrypted = [[phe_public.encrypt(int(v)) for v in row] for row in data]
        totals = [sum(column[1:], column[0]) for column in zip(*encrypted, strict=True)]
        return [phe_private.decrypt(t) for t in totals]

    benchmark.group = "encrypt + sum + decrypt, 100 parties' vectors"
    result = benchmark.pedantic(job, rounds=1)
    record(benchmark, "encrypt + sum + decrypt, 100 parties' vectors", "phe", data.size, unit="value")
    assert result == list(data.sum(axis=0))


def test_aggregate_vectors_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    data = np.array([values(size(2_000, 60), seed=p) for p in range(PARTIES)], dtype=np.int64)

    def job() -> np.ndarray:
        encrypted = [public.encrypt_vector(row, bound=2**32, max_additions=PARTIES) for row in data]
        return private.decrypt_vector(sum(encrypted))

    benchmark.group = "encrypt + sum + decrypt, 100 parties' vectors"
    result = benchmark.pedantic(job, rounds=3)
    record(benchmark, "encrypt + sum + decrypt, 100 parties' vectors", "tds packed", data.size, unit="value")
    np.testing.assert_array_equal(result, data.sum(axis=0))


# decryption and addition


def test_decrypt_phe(benchmark, keys) -> None:
    public, _, _, phe_private = keys
    ciphertexts = [public.encrypt(v).to_phe() for v in values(size(50, 2))]
    benchmark.group = "decrypt, 1 core"
    benchmark.pedantic(lambda: [phe_private.decrypt(c) for c in ciphertexts], rounds=3)
    record(benchmark, "decrypt, 1 core", "phe", len(ciphertexts), unit="ciphertext")


def test_decrypt_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    batch = values(size(50, 2))
    ciphertexts = [public.encrypt(v) for v in batch]
    benchmark.group = "decrypt, 1 core"
    result = benchmark.pedantic(lambda: [private.decrypt(c) for c in ciphertexts], rounds=3)
    record(benchmark, "decrypt, 1 core", "tds", len(ciphertexts), unit="ciphertext")
    assert result == batch


def test_decrypt_packed_values_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    data = np.array(values(size(2_000, 60)), dtype=np.int64)
    vector = public.encrypt_vector(data, bound=2**32, max_additions=100)
    benchmark.group = "decrypt, 1 core"
    result = benchmark.pedantic(lambda: private.decrypt_vector(vector, workers=1), rounds=3)
    record(benchmark, "decrypt, 1 core", "tds packed (per value)", len(data), unit="ciphertext")
    np.testing.assert_array_equal(result, data)


def test_add_phe(benchmark, keys) -> None:
    public, _, _, _ = keys
    a, b = public.encrypt(1).to_phe(), public.encrypt(2).to_phe()
    count = size(2_000, 10)
    benchmark.group = "add two ciphertexts"
    benchmark.pedantic(lambda: [a + b for _ in range(count)], rounds=5)
    record(benchmark, "add two ciphertexts", "phe", count, unit="addition")


def test_add_tds(benchmark, keys) -> None:
    public, private, _, _ = keys
    a, b = public.encrypt(1), public.encrypt(2)
    count = size(2_000, 10)
    benchmark.group = "add two ciphertexts"
    result = benchmark.pedantic(lambda: [a + b for _ in range(count)], rounds=5)
    record(benchmark, "add two ciphertexts", "tds", count, unit="addition")
    assert private.decrypt(result[0]) == 3
