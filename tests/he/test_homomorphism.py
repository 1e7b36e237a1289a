"""Algebraic laws of the encryption, checked on random inputs."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tds

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
BIG = st.integers(min_value=-(2**300), max_value=2**300)
SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(a=BIG, b=BIG)
def test_sum_of_ciphertexts_decrypts_to_sum(keypair, a: int, b: int) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(a) + public.encrypt(b)) == a + b


@SETTINGS
@given(a=BIG, k=BIG)
def test_adding_a_plaintext(keypair, a: int, k: int) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(a) + k) == a + k
    assert private.decrypt(k + public.encrypt(a)) == a + k
    assert private.decrypt(public.encrypt(a) - k) == a - k
    assert private.decrypt(k - public.encrypt(a)) == k - a


@SETTINGS
@given(a=INT64, k=st.integers(min_value=-(2**64), max_value=2**64))
def test_scaling_by_a_plaintext(keypair, a: int, k: int) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(a) * k) == a * k
    assert private.decrypt(k * public.encrypt(a)) == a * k


@SETTINGS
@given(values=st.lists(INT64, min_size=1, max_size=12))
def test_builtin_sum_and_negation(keypair, values: list[int]) -> None:
    public, private = keypair
    encrypted = [public.encrypt(v) for v in values]
    assert private.decrypt(sum(encrypted)) == sum(values)
    assert private.decrypt(-encrypted[0]) == -values[0]
    assert private.decrypt(encrypted[0] - encrypted[-1]) == values[0] - values[-1]


@SETTINGS
@given(a=BIG, strict=st.booleans())
def test_private_key_encryption_is_the_same_scheme(keypair, a: int, strict: bool) -> None:
    public, private = keypair
    assert private.decrypt(private.encrypt(a, strict=strict)) == a
    assert private.decrypt(private.encrypt(a) + public.encrypt(a, strict=strict)) == 2 * a


def test_encryption_is_randomized(keypair) -> None:
    public, private = keypair
    first, second = public.encrypt(7), public.encrypt(7)
    assert first.value != second.value
    rerandomized = first.rerandomize()
    strict = first.rerandomize(strict=True)
    assert len({first.value, rerandomized.value, strict.value}) == 3
    assert private.decrypt(rerandomized) == private.decrypt(strict) == 7


def test_extreme_plaintexts_round_trip(keypair) -> None:
    public, private = keypair
    for value in (public.max_int, -public.max_int, 0):
        assert private.decrypt(public.encrypt(value)) == value


def test_sum_past_the_signed_range_is_reported_as_overflow(keypair) -> None:
    public, private = keypair
    with pytest.raises(tds.errors.PlaintextRangeError, match="overflow"):
        private.decrypt(public.encrypt(public.max_int) + public.max_int)


@SETTINGS
@given(
    rows=st.integers(min_value=1, max_value=6),
    length=st.integers(min_value=0, max_value=70),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_packed_vector_sums_equal_numpy_sums(keypair, rows: int, length: int, seed: int) -> None:
    public, private = keypair
    rng = np.random.default_rng(seed)
    data = rng.integers(-(2**32), 2**32, size=(rows, length), dtype=np.int64)
    vectors = [public.encrypt_vector(row, bound=2**32, max_additions=rows) for row in data]
    total = private.decrypt_vector(sum(vectors))
    assert total.dtype == np.int64
    np.testing.assert_array_equal(total, data.sum(axis=0))


def test_packed_vectors_with_the_int64_extremes(keypair) -> None:
    public, private = keypair
    data = np.array([2**63 - 1, -(2**63) + 1, 0, -1, 1], dtype=np.int64)
    vector = public.encrypt_vector(data, max_additions=2)
    np.testing.assert_array_equal(private.decrypt_vector(vector), data)
    doubled = private.decrypt_vector(vector + vector, dtype=object)
    assert list(doubled) == [2 * int(x) for x in data]
    with pytest.raises(tds.errors.PlaintextRangeError, match="dtype=object"):
        private.decrypt_vector(vector + vector)


def test_packing_spans_several_ciphertexts_and_packs_densely(keypair) -> None:
    public, private = keypair
    data = np.arange(-500, 500, dtype=np.int64)
    vector = public.encrypt_vector(data, bound=1000, max_additions=10)
    assert vector.layout.slots >= (public.plaintext_bits - 1) // (8 * vector.layout.slot_bytes)
    assert len(vector.ciphertexts) == -(-1000 // vector.layout.slots) > 1
    np.testing.assert_array_equal(private.decrypt_vector(vector + vector), 2 * data)


def test_packed_sums_stop_before_they_can_overflow(keypair) -> None:
    public, _ = keypair
    vector = public.encrypt_vector(np.array([1, 2, 3]), bound=10, max_additions=3)
    total = vector + vector + vector
    assert total.additions == 3
    with pytest.raises(tds.errors.PackingOverflowError, match="allows"):
        total + vector
    with pytest.raises(tds.errors.PackingOverflowError):
        sum([vector] * 4)


@SETTINGS
@given(
    bound=st.integers(min_value=1, max_value=2**40),
    max_additions=st.integers(min_value=1, max_value=6),
    count=st.integers(min_value=1, max_value=9),
)
def test_sums_beyond_max_additions_always_raise(
    keypair, bound: int, max_additions: int, count: int
) -> None:
    public, private = keypair
    data = np.array([bound, -bound, 0], dtype=np.int64)
    vector = public.encrypt_vector(data, bound=bound, max_additions=max_additions)
    if count > max_additions:
        with pytest.raises(tds.errors.PackingOverflowError):
            sum([vector] * count)
    else:
        np.testing.assert_array_equal(private.decrypt_vector(sum([vector] * count)), count * data)


@SETTINGS
@given(slot=st.integers(min_value=0, max_value=2), excess=st.integers(min_value=1, max_value=2**16))
def test_decryption_detects_a_slot_pushed_past_its_limit(keypair, slot: int, excess: int) -> None:
    public, private = keypair
    vector = public.encrypt_vector(np.array([1, 2, 3]), bound=100, max_additions=2)
    layout = vector.layout
    # A bump that stays inside the slot's bytes is caught; one that carries into the next
    # slot cannot be told from honest data, which is why additions are counted up front.
    assume(2 * layout.bound + excess + 103 < 2 ** (8 * layout.slot_bytes))
    bump = (2 * layout.bound + excess) << (8 * layout.slot_bytes * slot)
    tampered = tds.he.EncryptedVector(
        public, layout, len(vector), [vector.ciphertexts[0] + bump], additions=vector.additions
    )
    with pytest.raises(tds.errors.PackingOverflowError):
        private.decrypt_vector(tampered)
