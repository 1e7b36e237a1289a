"""Okamoto-Uchiyama against Paillier: python-paillier (phe), tds Paillier and tds OU, 2048-bit
keys, in one run; SecretFlow HEU's C++ OU and ZPaillier run apart (``make bench-heu``).

Per-operation groups time one core on the same 32-bit values. The packed group runs the
aggregation of ``bench_he`` (100 parties' vectors: encrypt, sum, decrypt) under both tds
schemes, and the join group runs intersection-sum at 2^16 under both against the plain
intersection of the same sets (the same ECDH protocol without values, encryption or sum).
"""

from __future__ import annotations

import numpy as np
import pytest

import tds
from benchmarks.bench_psi import CORES, id_sets
from benchmarks.conftest import SMOKE, compare, size

KEY_BITS = 1024 if SMOKE else 2048
ENCRYPT = "scheme: encrypt one value, 1 core"
DECRYPT = "scheme: decrypt one value, 1 core"
ADD = "scheme: add two ciphertexts"
PACKED = "scheme: packed encrypt + sum + decrypt, 100 parties' vectors"
JOIN = f"scheme: intersection-sum 2^{size(1 << 16, 1 << 8).bit_length() - 1}, {CORES} cores"
PARTIES = size(100, 3)
COUNT = size(1000, 10)


@pytest.fixture(scope="module")
def keys():
    paillier = tds.he.generate_keypair(KEY_BITS, insecure=SMOKE)
    ou = tds.he.generate_keypair(KEY_BITS, scheme="ou", insecure=SMOKE)
    for public, _ in (paillier, ou):
        public.encrypt(0)  # build the fixed-base tables outside the timings
    return {"phe": (paillier[0].to_phe(), paillier[1].to_phe()), "paillier": paillier, "ou": ou}


def values(count: int, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(v) for v in rng.integers(0, 2**32, size=count)]


@pytest.mark.parametrize("implementation", ["phe", "paillier", "ou"])
def test_encrypt(benchmark, keys, implementation) -> None:
    public, private = keys[implementation]
    batch = values(COUNT)
    result = compare(
        benchmark, ENCRYPT, _name(implementation), lambda: [public.encrypt(v) for v in batch],
        items=len(batch), unit="value",
    )  # fmt: skip
    assert private.decrypt(result[0]) == batch[0]


@pytest.mark.parametrize("implementation", ["phe", "paillier", "ou"])
def test_decrypt(benchmark, keys, implementation) -> None:
    public, private = keys[implementation]
    batch = values(size(200, 5))
    ciphertexts = [public.encrypt(v) for v in batch]
    decrypt = lambda: [private.decrypt(c) for c in ciphertexts]  # noqa: E731
    result = compare(
        benchmark, DECRYPT, _name(implementation), decrypt, items=len(batch), unit="value"
    )
    assert result == batch


@pytest.mark.parametrize("implementation", ["phe", "paillier", "ou"])
def test_add(benchmark, keys, implementation) -> None:
    public, private = keys[implementation]
    a, b = public.encrypt(1), public.encrypt(2)
    count = size(5000, 10)
    result = compare(
        benchmark, ADD, _name(implementation), lambda: [a + b for _ in range(count)],
        items=count, unit="addition", rounds=5,
    )  # fmt: skip
    assert private.decrypt(result[0]) == 3


@pytest.mark.parametrize("implementation", ["paillier", "ou"])
def test_packed_aggregate(benchmark, keys, implementation) -> None:
    public, private = keys[implementation]
    data = np.array([values(size(2_000, 60), seed=p) for p in range(PARTIES)], dtype=np.int64)

    def job() -> np.ndarray:
        encrypted = [
            public.encrypt_vector(row, bound=2**32, max_additions=PARTIES, workers=1)
            for row in data
        ]
        return private.decrypt_vector(sum(encrypted), workers=1)

    name = f"{_name(implementation)} packed, 1 core"
    result = compare(benchmark, PACKED, name, job, items=data.size, unit="value", rounds=1)
    np.testing.assert_array_equal(result, data.sum(axis=0))


@pytest.mark.parametrize("implementation", ["intersection", "paillier", "ou"])
def test_intersection_sum(benchmark, keys, implementation) -> None:
    n = size(1 << 16, 1 << 8)
    left, right = id_sets(n)
    right_values = values(n, seed=7)
    if implementation == "intersection":
        run = lambda: tds.psi.run_local(  # noqa: E731
            left, right, "intersection", workers=CORES, protocol="ecdh"
        )
        name = "tds plain intersection (ECDH, no values)"
    else:
        key = keys[implementation][1]
        run = lambda: tds.psi.run_local(  # noqa: E731
            left, right, "sum", right_values, sum_key=key, workers=CORES, insecure=SMOKE,
            protocol="ecdh",
        )  # fmt: skip
        name = f"tds intersection-sum, {_name(implementation)}"
    result = compare(benchmark, JOIN, name, run, items=n, unit="pair", rounds=1)
    assert result.size == n // 2
    if implementation != "intersection":
        assert result.sum == sum(right_values[: n // 2])


def _name(implementation: str) -> str:
    return {"phe": "phe Paillier", "paillier": "tds Paillier", "ou": "tds OU"}[implementation]
