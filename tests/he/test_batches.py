"""Batches on the process pool give the same results as one at a time."""

import numpy as np

import tds
from tds.he import _pool


def test_pool_batches_match_serial_results(keypair) -> None:
    public, private = keypair
    values = list(range(-(_pool.MIN_PARALLEL_ITEMS // 2), _pool.MIN_PARALLEL_ITEMS // 2 + 40))
    pooled = public.encrypt_many(values, workers=2)
    assert private.decrypt_many(pooled, workers=2) == values
    assert private.decrypt_many(pooled, workers=1) == values
    crt = private.encrypt_many(values, workers=2)
    assert [private.decrypt(c) for c in crt] == values
    strict = public.encrypt_many(values[:5], strict=True, workers=1)
    assert private.decrypt_many(strict) == values[:5]


def test_pooled_vectors(keypair) -> None:
    public, private = keypair
    data = np.arange(-10_000, 10_000, dtype=np.int64)
    vector = public.encrypt_vector(data, bound=10_000, max_additions=2, workers=2)
    assert len(vector.ciphertexts) >= _pool.MIN_PARALLEL_ITEMS
    np.testing.assert_array_equal(private.decrypt_vector(vector + vector, workers=2), 2 * data)


def test_empty_batches(keypair) -> None:
    public, private = keypair
    assert public.encrypt_many([]) == []
    assert private.decrypt_many([]) == []
    empty = public.encrypt_vector(np.array([], dtype=np.int64))
    assert len(empty) == 0 and private.decrypt_vector(empty).shape == (0,)
    assert isinstance(sum([empty, empty]), tds.he.EncryptedVector)
