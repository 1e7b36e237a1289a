"""Documented bytes in and out; malformed bytes raise DecodeError, never unpickle."""

import numpy as np
import pytest

import tds
from tds.errors import DecodeError, InvalidCiphertextError, KeyMismatchError


def test_keys_round_trip(keypair) -> None:
    public, private = keypair
    restored_public = tds.he.PublicKey.from_bytes(public.to_bytes(), insecure=True)
    assert restored_public == public and restored_public.h_s == public.h_s
    restored_private = tds.he.PrivateKey.from_bytes(private.to_bytes(), insecure=True)
    assert restored_private.decrypt(public.encrypt(-99)) == -99


def test_ciphertext_round_trip_has_fixed_length(keypair) -> None:
    public, private = keypair
    for value in (0, 1, -1):
        data = public.encrypt(value).to_bytes()
        assert len(data) == public.ciphertext_size == 256
        assert private.decrypt(tds.he.Ciphertext.from_bytes(public, data)) == value


def test_encrypted_vector_round_trip(keypair) -> None:
    public, private = keypair
    data = np.array([5, -7, 2**31], dtype=np.int64)
    vector = public.encrypt_vector(data, bound=2**31, max_additions=4)
    summed = vector + vector
    restored = tds.he.EncryptedVector.from_bytes(public, summed.to_bytes())
    assert restored.additions == 2 and restored.layout == summed.layout
    np.testing.assert_array_equal(private.decrypt_vector(restored + vector), 3 * data)


def test_the_largest_max_additions_round_trips(keypair) -> None:
    public, private = keypair
    vector = public.encrypt_vector(np.arange(3), bound=10, max_additions=2**32 - 1)
    restored = tds.he.EncryptedVector.from_bytes(public, vector.to_bytes())
    np.testing.assert_array_equal(private.decrypt_vector(restored), np.arange(3))


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[:-1], id="truncated"),
        pytest.param(lambda b: b + b"\x00", id="trailing"),
        pytest.param(lambda b: b"XXXX" + b[4:], id="magic"),
        pytest.param(lambda b: b[:4] + b"\x09" + b[5:], id="version"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_malformed_key_bytes_are_refused(keypair, mangle) -> None:
    public, private = keypair
    with pytest.raises(DecodeError):
        tds.he.PublicKey.from_bytes(mangle(public.to_bytes()), insecure=True)
    with pytest.raises(DecodeError):
        tds.he.PrivateKey.from_bytes(mangle(private.to_bytes()), insecure=True)


def test_private_key_with_wrong_factors_is_refused(keypair, other_keypair) -> None:
    public, private = keypair
    _, other_private = other_keypair
    with pytest.raises(DecodeError, match="factors"):
        tds.he.PrivateKey(public, other_private.p, other_private.q)
    own_public = public.to_bytes()
    forged = private.to_bytes().replace(
        own_public, other_private.public_key.to_bytes()[: len(own_public)]
    )
    with pytest.raises(DecodeError):
        tds.he.PrivateKey.from_bytes(forged, insecure=True)


def test_trivial_factorizations_are_refused(keypair) -> None:
    public, private = keypair
    n = int(public.n)
    for p, q in ((1, n), (n, 1), (-1, -n), (-int(private.p), -int(private.q))):
        with pytest.raises(DecodeError, match="factors"):
            tds.he.PrivateKey(public, p, q)
    # TDSK, version, u32 length and the public key, then p = 1 and q = n as length-prefixed ints.
    header = private.to_bytes()[: 9 + len(public.to_bytes())]
    n_bytes = n.to_bytes((n.bit_length() + 7) // 8, "big")
    factors = b"\x00\x00\x00\x01\x01" + len(n_bytes).to_bytes(4, "big") + n_bytes
    with pytest.raises(DecodeError, match="factors"):
        tds.he.PrivateKey.from_bytes(header + factors, insecure=True)


def test_non_bytes_are_refused(keypair) -> None:
    public, _ = keypair
    with pytest.raises(DecodeError, match="bytes"):
        tds.he.PublicKey.from_bytes("not bytes")  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="bytes"):
        tds.he.Ciphertext.from_bytes(public, 12345)  # type: ignore[arg-type]


def test_ciphertext_bytes_of_wrong_length_or_outside_the_group(keypair) -> None:
    public, _ = keypair
    with pytest.raises(DecodeError, match="256 bytes"):
        tds.he.Ciphertext.from_bytes(public, b"\x01" * 255)
    with pytest.raises(InvalidCiphertextError):
        tds.he.Ciphertext.from_bytes(public, bytes(256))
    with pytest.raises(InvalidCiphertextError):
        tds.he.Ciphertext.from_bytes(public, b"\xff" * 256)


def test_vector_bytes_bound_to_their_key(keypair, other_keypair) -> None:
    public, _ = keypair
    other_public, _ = other_keypair
    data = public.encrypt_vector(np.arange(3), bound=10, max_additions=2).to_bytes()
    with pytest.raises(KeyMismatchError):
        tds.he.EncryptedVector.from_bytes(other_public, data)
    with pytest.raises(DecodeError):
        tds.he.EncryptedVector.from_bytes(public, data[:-3])
