"""Every bad input raises its own tds.errors exception."""

import inspect

import numpy as np
import pytest

import tds
from tds.errors import (
    ConfigError,
    InvalidCiphertextError,
    KeyMismatchError,
    KeySizeError,
    PlaintextRangeError,
    PlaintextTypeError,
)


@pytest.mark.parametrize("bits", [1024, 1536, 2046])
def test_small_keys_need_the_insecure_flag(bits: int) -> None:
    with pytest.raises(KeySizeError, match="unsafe"):
        tds.he.generate_keypair(bits)


@pytest.mark.parametrize("bits", [256, 510, 1025, "2048", 2048.0, True])
def test_invalid_key_sizes_are_refused_even_when_insecure(bits) -> None:
    with pytest.raises(KeySizeError):
        tds.he.generate_keypair(bits, insecure=True)


def test_generated_keys_have_exactly_the_requested_size() -> None:
    public, private = tds.he.generate_keypair(768, insecure=True)
    assert public.n_bits == 768
    assert private.p.bit_length() == private.q.bit_length() == 384


@pytest.mark.parametrize("value", [1.5, 2.0, np.float32(1.0), "3", None, [1]])
def test_non_integer_plaintexts_are_refused(keypair, value) -> None:
    public, private = keypair
    with pytest.raises(PlaintextTypeError):
        public.encrypt(value)
    with pytest.raises(PlaintextTypeError):
        private.encrypt(value)
    with pytest.raises(PlaintextTypeError):
        public.encrypt(1) + value


def test_numpy_integers_are_plaintexts(keypair) -> None:
    public, private = keypair
    assert private.decrypt(public.encrypt(np.int64(-4)) * np.int32(3)) == -12


def test_plaintexts_outside_the_signed_range_are_refused(keypair) -> None:
    public, _ = keypair
    for value in (public.max_int + 1, -public.max_int - 1, public.n):
        with pytest.raises(PlaintextRangeError):
            public.encrypt(value)


def test_ciphertexts_outside_z_star_n_square_are_refused(keypair) -> None:
    public, private = keypair
    modulus = public.ciphertext_modulus
    for value in (0, -1, modulus, modulus + 5, public.n, private.p * 7):
        with pytest.raises(InvalidCiphertextError):
            tds.he.Ciphertext(public, value)
    with pytest.raises(InvalidCiphertextError):
        private.decrypt(12345)  # type: ignore[arg-type]


def test_mixing_keys_is_refused(keypair, other_keypair) -> None:
    public, private = keypair
    other_public, other_private = other_keypair
    mine, theirs = public.encrypt(1), other_public.encrypt(1)
    with pytest.raises(KeyMismatchError):
        mine + theirs
    with pytest.raises(KeyMismatchError):
        mine - theirs
    with pytest.raises(KeyMismatchError):
        other_private.decrypt(mine)
    with pytest.raises(KeyMismatchError):
        private.decrypt_many([mine, theirs])
    vector = public.encrypt_vector(np.arange(3), bound=10, max_additions=2)
    other_vector = other_public.encrypt_vector(np.arange(3), bound=10, max_additions=2)
    with pytest.raises(KeyMismatchError):
        vector + other_vector
    with pytest.raises(KeyMismatchError):
        other_private.decrypt_vector(vector)


def test_empty_vectors_keep_their_key(keypair, other_keypair) -> None:
    public, _ = keypair
    other_public, other_private = other_keypair
    nothing = np.zeros(0, dtype=np.int64)
    empty = public.encrypt_vector(nothing, bound=10, max_additions=2)
    other_empty = other_public.encrypt_vector(nothing, bound=10, max_additions=2)
    with pytest.raises(KeyMismatchError):
        empty + other_empty
    with pytest.raises(KeyMismatchError):
        other_private.decrypt_vector(empty)


def test_a_vector_holds_ciphertexts_under_its_own_key(keypair, other_keypair) -> None:
    public, _ = keypair
    other_public, _ = other_keypair
    layout = tds.he.PackingLayout.create(public, bound=10, max_additions=2)
    with pytest.raises(KeyMismatchError):
        tds.he.EncryptedVector(public, layout, 1, [other_public.encrypt(0)], additions=1)
    with pytest.raises(InvalidCiphertextError):
        tds.he.EncryptedVector(public, layout, 1, [5], additions=1)


def test_a_vector_is_built_with_an_explicit_count_of_additions(keypair) -> None:
    public, _ = keypair
    vector = public.encrypt_vector(np.arange(3), bound=10, max_additions=4)
    additions = inspect.signature(tds.he.EncryptedVector).parameters["additions"]
    assert additions.kind is inspect.Parameter.KEYWORD_ONLY
    assert additions.default is inspect.Parameter.empty
    rebuilt = tds.he.EncryptedVector(public, vector.layout, 3, vector.ciphertexts, additions=3)
    assert rebuilt.additions == 3
    assert "not authenticated" in tds.he.EncryptedVector.__doc__


@pytest.mark.parametrize("dtype", [np.float64, "no such dtype", 3, b"01", "1,2,(", {"names": [1]}])
def test_decrypt_vector_refuses_other_dtypes(keypair, dtype) -> None:
    public, private = keypair
    with pytest.raises(ConfigError, match="dtype"):
        private.decrypt_vector(public.encrypt_vector([1, 2]), dtype=dtype)


def test_ciphertexts_do_not_multiply(keypair) -> None:
    public, _ = keypair
    with pytest.raises(PlaintextTypeError, match="two ciphertexts"):
        public.encrypt(2) * public.encrypt(3)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (np.array([1.5, 2.0]), PlaintextTypeError),
        (np.array([[1, 2], [3, 4]]), PlaintextTypeError),
        ([[1], [2, 3]], PlaintextTypeError),
        (np.array(["a"]), PlaintextTypeError),
        (np.array([2**64 - 1], dtype=np.uint64), PlaintextRangeError),
        (np.array([0, 11]), PlaintextRangeError),
        (np.array([-11, 0]), PlaintextRangeError),
    ],
)
def test_bad_vectors_are_refused(keypair, values, error) -> None:
    public, _ = keypair
    with pytest.raises(error):
        public.encrypt_vector(values, bound=10, max_additions=2)


@pytest.mark.parametrize(
    "layout",
    [
        {"bound": 0},
        {"bound": 2**63},
        {"max_additions": 0},
        {"max_additions": 2**32},
        {"max_additions": 2**33},
        {"bound": 1.5},
    ],
)
def test_bad_layouts_are_refused(keypair, layout) -> None:
    public, _ = keypair
    with pytest.raises((ConfigError, PlaintextTypeError)):
        public.encrypt_vector(np.arange(3), **layout)


def test_vectors_of_different_shape_or_layout_do_not_add(keypair) -> None:
    public, _ = keypair
    base = public.encrypt_vector(np.arange(3), bound=10, max_additions=4)
    with pytest.raises(ConfigError, match="layout"):
        base + public.encrypt_vector(np.arange(4), bound=10, max_additions=4)
    with pytest.raises(ConfigError, match="layout"):
        base + public.encrypt_vector(np.arange(3), bound=11, max_additions=4)


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_bad_worker_counts_are_refused(keypair, workers) -> None:
    public, _ = keypair
    with pytest.raises(ConfigError, match="workers"):
        public.encrypt_many(range(300), workers=workers)


def test_private_key_repr_hides_the_factors(keypair) -> None:
    _, private = keypair
    assert str(private.p) not in repr(private) and str(private.q) not in repr(private)


def test_3072_bit_keys_are_offered() -> None:
    public, private = tds.he.generate_keypair(3072)
    assert public.n_bits == 3072 and public.ciphertext_size == 768
    total = public.encrypt(-31, strict=True) + private.encrypt(1, strict=True)
    assert private.decrypt(total) == -30


def test_raw_layer_inputs_are_range_checked(keypair) -> None:
    public, private = keypair
    for residue in (-1, public.n, 2**public.plaintext_bits):
        with pytest.raises(PlaintextRangeError):
            public.raw_encrypt(residue)
        with pytest.raises(PlaintextRangeError):
            private.raw_encrypt(residue)
    paillier = public.scheme == "paillier"
    masks = [public.djn_mask, private.djn_mask] if paillier else [public.h_mask]
    for exponent in (-1, 2**public.randomness_bits):
        for mask in masks:
            with pytest.raises(PlaintextRangeError):
                mask(exponent)


def test_the_raw_layer_names_what_is_wrong(keypair) -> None:
    public, private = keypair
    with pytest.raises(InvalidCiphertextError, match="integer, not str"):
        private.raw_decrypt("x")
    with pytest.raises(InvalidCiphertextError, match="Z\\*"):
        private.raw_decrypt(public.ciphertext_modulus)
    with pytest.raises(InvalidCiphertextError):
        private.raw_decrypt_many([public.encrypt(1).value, "x"])
    with pytest.raises(PlaintextTypeError, match="integer, not str"):
        public.raw_encrypt("x")
    with pytest.raises(PlaintextTypeError, match="iterable"):
        public.raw_encrypt_many(5)
    with pytest.raises(PlaintextTypeError, match="not bytes"):
        public.encrypt_many(b"\x01\x02")
    if public.scheme == "paillier":
        with pytest.raises(PlaintextRangeError):
            public.decode(-1)
    with pytest.raises(PlaintextTypeError):
        (public.djn_mask if public.scheme == "paillier" else public.h_mask)(1.0)
    assert private.raw_decrypt(public.raw_encrypt(7)) == 7


def test_keys_and_layouts_are_checked_where_they_are_taken(keypair) -> None:
    public, private = keypair
    vector = public.encrypt_vector(np.arange(3), bound=10, max_additions=2)
    with pytest.raises(ConfigError, match="PublicKey"):
        tds.he.PrivateKey("key", private.p, private.q)
    with pytest.raises(ConfigError, match="PublicKey"):
        tds.he.Ciphertext.from_bytes(None, public.encrypt(1).to_bytes())
    with pytest.raises(ConfigError, match="PublicKey"):
        tds.he.PackingLayout.create("key")
    foreign_layout = tds.he.PackingLayout(bound=10, max_additions=2, slot_bytes=1, slots=500)
    with pytest.raises(ConfigError, match="layout"):
        tds.he.EncryptedVector(public, foreign_layout, 3, vector.ciphertexts, additions=1)
    with pytest.raises(ConfigError):
        tds.he.PackingLayout(bound="10", max_additions=2, slot_bytes=1, slots=1)


def test_vectors_add_only_to_vectors(keypair) -> None:
    public, _ = keypair
    vector = public.encrypt_vector(np.arange(3), bound=10, max_additions=2)
    for other in (5, public.encrypt(1), np.arange(3)):
        with pytest.raises(PlaintextTypeError, match="encrypt_vector"):
            vector + other
        with pytest.raises(PlaintextTypeError):
            other + vector


def test_numpy_arrays_do_not_broadcast_over_a_ciphertext(keypair) -> None:
    public, _ = keypair
    with pytest.raises(PlaintextTypeError, match="ndarray"):
        np.array(["a", "b"]) + public.encrypt(1)
    with pytest.raises(PlaintextTypeError, match="ndarray"):
        np.arange(2) * public.encrypt(1)


def test_errors_say_what_happened(keypair) -> None:
    public, private = keypair
    ciphertext = public.encrypt(2)
    with pytest.raises(
        PlaintextTypeError,
        match=r"encrypt_vector needs integers; got an array of str \(dtype <U3\)",
    ):
        public.encrypt_vector(np.array(["abc", "de"]))
    with pytest.raises(PlaintextTypeError, match=r"array of float .*scale"):
        public.encrypt_vector(np.array([1.5]))
    for product in (
        lambda: ciphertext * 1.5,
        lambda: 1.5 * ciphertext,
        lambda: ciphertext * np.float32(2),
    ):
        with pytest.raises(
            PlaintextTypeError, match="cannot multiply a ciphertext by a float: scale to an integer"
        ):
            product()
    with pytest.raises(
        InvalidCiphertextError,
        match=r"decrypt_vector takes an EncryptedVector; use decrypt\(\) for a single Ciphertext",
    ):
        private.decrypt_vector(ciphertext)
    with pytest.raises(InvalidCiphertextError, match="EncryptedVector, not list"):
        private.decrypt_vector([ciphertext])


BOOLS = [True, False, np.bool_(True)]


@pytest.mark.parametrize("flag", BOOLS, ids=repr)
def test_bools_are_not_plaintexts(keypair, flag) -> None:
    public, private = keypair
    ciphertext = public.encrypt(2)
    refusals = [
        lambda: public.encrypt(flag),
        lambda: private.encrypt(flag),
        lambda: public.encrypt_many([1, flag]),
        lambda: private.encrypt_many([flag]),
        lambda: public.encode(flag),
        lambda: public.raw_encrypt(flag),
        lambda: ciphertext + flag,
        lambda: flag + ciphertext,
        lambda: ciphertext - flag,
        lambda: flag - ciphertext,
        lambda: ciphertext * flag,
        lambda: flag * ciphertext,
    ]
    for refuse in refusals:
        with pytest.raises(PlaintextTypeError, match=r"bool.*int\(\)"):
            refuse()


def test_bool_arrays_are_not_plaintext_vectors(keypair) -> None:
    public, _ = keypair
    for flags in (np.array([True, False]), [True, False]):
        with pytest.raises(PlaintextTypeError, match=r"array of bool.*astype\(np.int64\)"):
            public.encrypt_vector(flags)
    vector = public.encrypt_vector(np.arange(3), bound=10, max_additions=2)
    with pytest.raises(PlaintextTypeError):
        False + vector
