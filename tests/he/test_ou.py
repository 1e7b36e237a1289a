"""Okamoto-Uchiyama: known answers from textbook formulas on builtin ints, what only OU has,
and keys of the two schemes kept apart. The laws shared with Paillier run for both schemes
in the other files of this directory (the ``keypair`` fixture)."""

import json
import pathlib

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tds
from tds.errors import (
    ConfigError,
    DecodeError,
    KeyMismatchError,
    KeySizeError,
    PackingOverflowError,
    PlaintextRangeError,
)
from tds.he import Ciphertext, OUPrivateKey, OUPublicKey

VECTORS = json.loads(
    pathlib.Path(__file__).with_name("vectors").joinpath("ou_kat.json").read_text()
)["keys"]
CASES = [(key, case) for key in VECTORS for case in key["cases"]]


def kat_keys(key: dict) -> tuple[OUPublicKey, OUPrivateKey]:
    public = OUPublicKey(key["n"], key["big_g"], key["big_h"], insecure=key["bits"] < 2048)
    return public, OUPrivateKey(public, key["p"], key["q"], key["t"])


@pytest.fixture(scope="module")
def ou() -> tuple[OUPublicKey, OUPrivateKey]:
    return tds.he.generate_keypair(1024, scheme="ou", insecure=True)


@pytest.mark.parametrize(("key", "case"), CASES, ids=lambda v: str(v.get("m", v.get("bits"))))
def test_encryption_with_a_known_r_matches_the_textbook_ciphertext(key, case) -> None:
    public, _ = kat_keys(key)
    ciphertext = public.plaintext_factor(case["m"]) * public.h_mask(case["r"]) % public.n
    assert ciphertext == case["ciphertext"]


@pytest.mark.parametrize(("key", "case"), CASES, ids=lambda v: str(v.get("m", v.get("bits"))))
def test_known_ciphertexts_decrypt_to_their_plaintexts(key, case) -> None:
    public, private = kat_keys(key)
    assert private.decrypt(Ciphertext(public, case["ciphertext"])) == case["m"]


def test_a_2048_bit_key_has_the_documented_sizes() -> None:
    key = next(key for key in VECTORS if key["bits"] == 2048)
    public, private = kat_keys(key)
    assert public.n_bits == 2048 and private.t.bit_length() == public.randomness_bits == 224
    assert private.p.bit_length() == 683 and public.plaintext_bits == 681
    assert public.max_int == 2**679 - 1 and public.ciphertext_size == 256
    fresh, fresh_private = tds.he.generate_keypair(scheme="ou")
    assert fresh.n_bits == 2048 and fresh_private.t.bit_length() == 224
    assert tds.he.generate_keypair(3072, scheme="ou")[1].t.bit_length() == 256


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=20))
def test_sums_decrypt_to_numpy_sums_packed_or_not(ou, values) -> None:
    public, private = ou
    assert private.decrypt(sum(public.encrypt(v) for v in values)) == sum(values)
    array = np.array(values, dtype=np.int64)
    vector = public.encrypt_vector(array, bound=2**62, max_additions=4)
    total = vector + vector + vector
    assert list(private.decrypt_vector(total, dtype=object)) == [3 * v for v in values]


def test_negative_values_encrypt_in_batches_on_the_pool(ou) -> None:
    public, private = ou
    values = list(range(-400, 400, 3))
    assert private.decrypt_many(public.encrypt_many(values, workers=2), workers=2) == values


def test_a_strictly_rerandomized_ciphertext_still_decrypts(ou) -> None:
    public, private = ou
    ciphertext = public.encrypt(-77) + public.encrypt(7)
    hidden = ciphertext.rerandomize(strict=True)
    assert hidden.value != ciphertext.value and private.decrypt(hidden) == -70
    assert private.decrypt(public.encrypt(5, strict=True) + hidden) == -65


def test_overflow_is_refused_not_wrapped(ou) -> None:
    public, private = ou
    with pytest.raises(PlaintextRangeError):
        public.encrypt(public.max_int + 1)
    top = public.encrypt(public.max_int)
    with pytest.raises(PlaintextRangeError, match="overflow"):
        private.decrypt(top + top + top)
    vector = public.encrypt_vector(np.array([5]), bound=10, max_additions=1)
    with pytest.raises(PackingOverflowError):
        vector + vector


def test_schemes_do_not_mix(ou, keypair) -> None:
    public, private = ou
    other_public, other_private = keypair
    if other_public.scheme == "ou":
        other_public, other_private = tds.he.generate_keypair(1024, insecure=True)
    with pytest.raises(KeyMismatchError, match="schemes do not mix"):
        public.encrypt(1) + other_public.encrypt(1)
    with pytest.raises(KeyMismatchError):
        private.decrypt(other_public.encrypt(1))
    with pytest.raises(KeyMismatchError):
        other_private.decrypt(public.encrypt(1))
    with pytest.raises(KeyMismatchError):
        Ciphertext.from_bytes(other_public, public.encrypt(1).to_bytes())
    with pytest.raises(ConfigError, match="only Paillier"):
        public.encrypt(1).to_phe()


def test_loading_tells_the_schemes_apart(ou) -> None:
    public, private = ou
    assert isinstance(tds.he.load_public_key(public.to_bytes(), insecure=True), OUPublicKey)
    assert isinstance(tds.he.load_private_key(private.to_bytes(), insecure=True), OUPrivateKey)
    for data in (b"", b"XXXX\x01", "TDOK", public.to_bytes()[:-1]):
        with pytest.raises(DecodeError):
            tds.he.load_public_key(data, insecure=True)  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        tds.he.load_private_key(public.to_bytes(), insecure=True)
    with pytest.raises(KeySizeError):
        tds.he.load_public_key(public.to_bytes())  # a 1024-bit key needs insecure=True


@pytest.mark.parametrize(
    "change",
    [
        lambda k: (k.n + 1, k.big_g, k.big_h),
        lambda k: (k.n * k.n, k.big_g, k.big_h),
        lambda k: (k.n, 1, k.big_h),
        lambda k: (k.n, k.big_g, k.n - 1),
        lambda k: (k.n, k.big_g, k.big_g),
        lambda k: (k.n, k.n, k.big_h),
        lambda k: (k.n, 0, k.big_h),
        lambda k: (gmpy2.next_prime(2**1023), k.big_g, k.big_h),
    ],
)
def test_peer_public_parameters_are_checked(ou, change) -> None:
    public, _ = ou
    with pytest.raises((DecodeError, KeySizeError)):
        OUPublicKey(*change(public), insecure=True)


def test_private_parameters_must_fit_the_public_key(ou) -> None:
    public, private = ou
    p, q, t = private.p, private.q, private.t
    for factors in ((q, p, t), (p, q, t + 2), (p, q, 1), (1, public.n, t), (p, q, (p - 1) // t)):
        with pytest.raises(DecodeError):
            OUPrivateKey(public, *factors)
    forged = OUPublicKey(
        public.n, public.big_g, public.big_h * public.big_g % public.n, insecure=True
    )
    with pytest.raises(DecodeError, match="subgroup of order t"):
        OUPrivateKey(forged, p, q, t)
    with pytest.raises(KeySizeError, match="not a Paillier key"):
        OUPrivateKey(tds.he.generate_keypair(1024, insecure=True)[0], p, q, t)  # type: ignore[arg-type]


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="'paillier' or 'ou'"):
        tds.he.generate_keypair(scheme="rsa")  # type: ignore[arg-type]
