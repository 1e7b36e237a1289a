"""Arbitrary objects and bytes at every public tds.he entry point: only tds.errors come out.

Each call may succeed or raise a ``tds.errors.TdsError``; any other exception (a bare
``TypeError``, ``ValueError``, ``AttributeError``, ...) escapes and fails the test.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tds
from tds.errors import TdsError

SETTINGS = settings(max_examples=30, deadline=None)

ARRAYS = hnp.arrays(
    dtype=st.sampled_from(
        [np.int64, np.uint64, np.int8, np.float64, np.bool_, np.complex128, "U3", "S2", "M8[s]"]
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
)
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**4100), max_value=2**4100),
    st.floats(),
    st.complex_numbers(),
    st.text(max_size=8),
    st.binary(max_size=40),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.sampled_from(
        [object(), Ellipsis, np.int64(7), np.uint8(3), np.float32(1.5), np.bool_(True), int, tds]
    ),
    ARRAYS,
)


@dataclass(frozen=True)
class Kit:
    public: tds.he.PublicKey
    private: tds.he.PrivateKey
    ciphertext: tds.he.Ciphertext
    vector: tds.he.EncryptedVector


@pytest.fixture(scope="module")
def kit(keypair) -> Kit:
    public, private = keypair
    vector = public.encrypt_vector(np.arange(5), bound=10, max_additions=3)
    return Kit(public, private, public.encrypt(3), vector)


def _uncallable(x: Any) -> Any:
    # A callable is a progress callback, and its own errors are the caller's to see.
    return None if callable(x) else x


def _generate(x: Any) -> object:
    # A valid size would spend the test's time on finding primes.
    if isinstance(x, int) and 512 <= x <= 8192:
        return None
    return tds.he.generate_keypair(x, insecure=True)


ENTRY_POINTS: dict[str, Callable[[Kit, Any], object]] = {
    "generate_keypair": lambda k, x: _generate(x),
    "PublicKey": lambda k, x: tds.he.PublicKey(x, insecure=True),
    "PublicKey.from_bytes": lambda k, x: tds.he.PublicKey.from_bytes(x, insecure=True),
    "PublicKey.from_phe": lambda k, x: tds.he.PublicKey.from_phe(x, insecure=True),
    "PublicKey.encode": lambda k, x: k.public.encode(x),
    "PublicKey.decode": lambda k, x: k.public.decode(x),
    "PublicKey.encrypt": lambda k, x: k.public.encrypt(x),
    "PublicKey.encrypt_many": lambda k, x: k.public.encrypt_many(x),
    "PublicKey.encrypt_many(workers)": lambda k, x: k.public.encrypt_many([1], workers=x),
    "PublicKey.encrypt_many(progress)": (
        lambda k, x: k.public.encrypt_many([1], progress=_uncallable(x))
    ),
    "PublicKey.encrypt_vector(progress)": (
        lambda k, x: k.public.encrypt_vector([1], progress=_uncallable(x))
    ),
    "PrivateKey.decrypt_many(progress)": (
        lambda k, x: k.private.decrypt_many([k.ciphertext], progress=_uncallable(x))
    ),
    "PrivateKey.decrypt_vector(progress)": (
        lambda k, x: k.private.decrypt_vector(k.vector, progress=_uncallable(x))
    ),
    "PublicKey.raw_encrypt": lambda k, x: k.public.raw_encrypt(x),
    "PublicKey.raw_encrypt_many": lambda k, x: k.public.raw_encrypt_many(x),
    "PublicKey.djn_mask": lambda k, x: k.public.djn_mask(x),
    "PublicKey.encrypt_vector": lambda k, x: k.public.encrypt_vector(x),
    "PublicKey.encrypt_vector(bound)": lambda k, x: k.public.encrypt_vector([1], bound=x),
    "PublicKey.encrypt_vector(max_additions)": (
        lambda k, x: k.public.encrypt_vector([1], max_additions=x)
    ),
    "PublicKey.encrypt_vector(workers)": lambda k, x: k.public.encrypt_vector([1], workers=x),
    "PrivateKey(public_key)": lambda k, x: tds.he.PrivateKey(x, k.private.p, k.private.q),
    "PrivateKey(p)": lambda k, x: tds.he.PrivateKey(k.public, x, k.private.q),
    "PrivateKey(q)": lambda k, x: tds.he.PrivateKey(k.public, k.private.p, x),
    "PrivateKey.from_bytes": lambda k, x: tds.he.PrivateKey.from_bytes(x, insecure=True),
    "PrivateKey.from_phe": lambda k, x: tds.he.PrivateKey.from_phe(x, insecure=True),
    "PrivateKey.decrypt": lambda k, x: k.private.decrypt(x),
    "PrivateKey.decrypt_many": lambda k, x: k.private.decrypt_many(x),
    "PrivateKey.decrypt_many(item)": lambda k, x: k.private.decrypt_many([k.ciphertext, x]),
    "PrivateKey.decrypt_many(workers)": (
        lambda k, x: k.private.decrypt_many([k.ciphertext], workers=x)
    ),
    "PrivateKey.raw_decrypt": lambda k, x: k.private.raw_decrypt(x),
    "PrivateKey.raw_decrypt_many": lambda k, x: k.private.raw_decrypt_many(x),
    "PrivateKey.decrypt_vector": lambda k, x: k.private.decrypt_vector(x),
    "PrivateKey.decrypt_vector(dtype)": lambda k, x: k.private.decrypt_vector(k.vector, dtype=x),
    "PrivateKey.encrypt": lambda k, x: k.private.encrypt(x),
    "PrivateKey.encrypt_many": lambda k, x: k.private.encrypt_many(x),
    "PrivateKey.raw_encrypt": lambda k, x: k.private.raw_encrypt(x),
    "PrivateKey.djn_mask": lambda k, x: k.private.djn_mask(x),
    "Ciphertext(public_key)": lambda k, x: tds.he.Ciphertext(x, k.ciphertext.value),
    "Ciphertext(value)": lambda k, x: tds.he.Ciphertext(k.public, x),
    "Ciphertext.from_bytes": lambda k, x: tds.he.Ciphertext.from_bytes(k.public, x),
    "Ciphertext.from_bytes(public_key)": (
        lambda k, x: tds.he.Ciphertext.from_bytes(x, k.ciphertext.to_bytes())
    ),
    "Ciphertext.from_raw_bytes": lambda k, x: tds.he.Ciphertext.from_raw_bytes(k.public, x),
    "Ciphertext.from_raw_bytes(public_key)": (
        lambda k, x: tds.he.Ciphertext.from_raw_bytes(x, k.ciphertext.to_raw_bytes())
    ),
    "Ciphertext.from_phe": lambda k, x: tds.he.Ciphertext.from_phe(x, insecure=True),
    "ciphertext + x": lambda k, x: k.ciphertext + x,
    "x + ciphertext": lambda k, x: x + k.ciphertext,
    "ciphertext - x": lambda k, x: k.ciphertext - x,
    "x - ciphertext": lambda k, x: x - k.ciphertext,
    "ciphertext * x": lambda k, x: k.ciphertext * x,
    "x * ciphertext": lambda k, x: x * k.ciphertext,
    "EncryptedVector(public_key)": lambda k, x: tds.he.EncryptedVector(
        x, k.vector.layout, k.vector.length, k.vector.ciphertexts, additions=1
    ),
    "EncryptedVector(layout)": lambda k, x: tds.he.EncryptedVector(
        k.public, x, k.vector.length, k.vector.ciphertexts, additions=1
    ),
    "EncryptedVector(length)": lambda k, x: tds.he.EncryptedVector(
        k.public, k.vector.layout, x, k.vector.ciphertexts, additions=1
    ),
    "EncryptedVector(ciphertexts)": lambda k, x: tds.he.EncryptedVector(
        k.public, k.vector.layout, k.vector.length, x, additions=1
    ),
    "EncryptedVector(additions)": lambda k, x: tds.he.EncryptedVector(
        k.public, k.vector.layout, k.vector.length, k.vector.ciphertexts, additions=x
    ),
    "EncryptedVector.from_bytes": lambda k, x: tds.he.EncryptedVector.from_bytes(k.public, x),
    "EncryptedVector.from_bytes(public_key)": (
        lambda k, x: tds.he.EncryptedVector.from_bytes(x, k.vector.to_bytes())
    ),
    "vector + x": lambda k, x: k.vector + x,
    "x + vector": lambda k, x: x + k.vector,
    "PackingLayout.create(public_key)": lambda k, x: tds.he.PackingLayout.create(x),
    "PackingLayout.create(bound)": lambda k, x: tds.he.PackingLayout.create(k.public, bound=x),
    "PackingLayout.create(max_additions)": (
        lambda k, x: tds.he.PackingLayout.create(k.public, max_additions=x)
    ),
    "PackingLayout": lambda k, x: tds.he.PackingLayout(
        bound=x, max_additions=1, slot_bytes=1, slots=1
    ),
    "PackingLayout.ciphertexts_for": lambda k, x: k.vector.layout.ciphertexts_for(x),
}


PAILLIER_ONLY = {"PublicKey.decode", "PublicKey.djn_mask", "PrivateKey.djn_mask"}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
@SETTINGS
@given(thing=ANYTHING)
def test_arbitrary_objects_raise_only_tds_errors(kit: Kit, name: str, thing: Any) -> None:
    if name in PAILLIER_ONLY and kit.public.scheme != "paillier":
        return  # OU has no public decode (p is secret) and no DJN base
    with contextlib.suppress(TdsError):
        ENTRY_POINTS[name](kit, thing)


def _serialized(kit: Kit) -> dict[str, tuple[bytes, Callable[[bytes], object]]]:
    public = kit.public
    return {
        "public key": (
            public.to_bytes(),
            lambda data: tds.he.load_public_key(data, insecure=True),
        ),
        "private key": (
            kit.private.to_bytes(),
            lambda data: tds.he.load_private_key(data, insecure=True),
        ),
        "ciphertext": (
            kit.ciphertext.to_bytes(),
            lambda data: tds.he.Ciphertext.from_bytes(public, data),
        ),
        "raw ciphertext": (
            kit.ciphertext.to_raw_bytes(),
            lambda data: tds.he.Ciphertext.from_raw_bytes(public, data),
        ),
        "vector": (
            kit.vector.to_bytes(),
            lambda data: tds.he.EncryptedVector.from_bytes(public, data),
        ),
    }


@pytest.mark.parametrize(
    "kind", ["public key", "private key", "ciphertext", "raw ciphertext", "vector"]
)
@settings(max_examples=60, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
    tail=st.binary(max_size=8),
    noise=st.binary(max_size=300),
)
def test_mangled_bytes_raise_only_tds_errors(
    kit: Kit, kind: str, edits: list, cut: int | None, tail: bytes, noise: bytes
) -> None:
    valid, parse = _serialized(kit)[kind]
    mangled = bytearray(valid)
    for position, value in edits:
        mangled[position % len(mangled)] = value
    if cut is not None:
        mangled = mangled[: cut % (len(mangled) + 1)]
    for data in (bytes(mangled) + tail, noise, valid[:5] + noise):
        with contextlib.suppress(TdsError):
            parse(data)
