"""Documented bytes in and out; malformed bytes raise DecodeError, never unpickle."""

import secrets

import gmpy2
import numpy as np
import pytest

import tds
from tds.errors import DecodeError, InvalidCiphertextError, KeyMismatchError


def test_keys_round_trip(keypair) -> None:
    public, private = keypair
    restored_public = type(public).from_bytes(public.to_bytes(), insecure=True)
    assert restored_public == public == tds.he.load_public_key(public.to_bytes(), insecure=True)
    assert restored_public.digest == public.digest
    restored_private = type(private).from_bytes(private.to_bytes(), insecure=True)
    assert restored_private == tds.he.load_private_key(private.to_bytes(), insecure=True)
    assert restored_private.decrypt(public.encrypt(-99)) == -99


def test_ciphertext_round_trip_has_fixed_length(keypair) -> None:
    public, private = keypair
    for value in (0, 1, -1):
        ciphertext = public.encrypt(value)
        raw = ciphertext.to_raw_bytes()
        size = (public.ciphertext_modulus.bit_length() + 7) // 8
        assert len(raw) == public.ciphertext_size == size
        assert private.decrypt(tds.he.Ciphertext.from_raw_bytes(public, raw)) == value
        data = ciphertext.to_bytes()
        assert data == b"TDCT\x02" + public.digest[:8] + raw
        assert private.decrypt(tds.he.Ciphertext.from_bytes(public, data)) == value


def test_ciphertext_bytes_name_their_key(keypair, other_keypair) -> None:
    public, _ = keypair
    other_public, _ = other_keypair
    for value in range(8):
        data = public.encrypt(value).to_bytes()
        with pytest.raises(KeyMismatchError, match="another public key"):
            tds.he.Ciphertext.from_bytes(other_public, data)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[:-1], id="truncated"),
        pytest.param(lambda b: b + b"\x00", id="trailing"),
        pytest.param(lambda b: b"XXXX" + b[4:], id="magic"),
        pytest.param(lambda b: b[:4] + b"\x01" + b[5:], id="version"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_malformed_ciphertext_bytes_are_refused(keypair, mangle) -> None:
    public, _ = keypair
    with pytest.raises(DecodeError):
        tds.he.Ciphertext.from_bytes(public, mangle(public.encrypt(1).to_bytes()))


def test_vector_bytes_carry_each_ciphertext_bare(keypair) -> None:
    public, _ = keypair
    vector = public.encrypt_vector(np.arange(300), bound=2**31, max_additions=4)
    count = len(vector.ciphertexts)
    # magic and version, key digest, length, bound (u32 length + 4 bytes), three u32 fields.
    header = 5 + 32 + 4 + 8 + 12
    data = vector.to_bytes()
    assert len(data) == header + count * public.ciphertext_size
    assert data[header:] == b"".join(c.to_raw_bytes() for c in vector.ciphertexts)


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


def test_trivial_factorizations_are_refused(paillier_keypair) -> None:
    public, private = paillier_keypair
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
    with pytest.raises(DecodeError, match="bytes"):
        tds.he.Ciphertext.from_raw_bytes(public, 12345)  # type: ignore[arg-type]


def test_ciphertext_bytes_of_wrong_length_or_outside_the_group(keypair) -> None:
    public, _ = keypair
    header = b"TDCT\x02" + public.digest[:8]
    size = public.ciphertext_size
    with pytest.raises(DecodeError, match=f"{size} bytes"):
        tds.he.Ciphertext.from_raw_bytes(public, b"\x01" * (size - 1))
    with pytest.raises(DecodeError, match="truncated"):
        tds.he.Ciphertext.from_bytes(public, header + b"\x01" * (size - 1))
    for body in (bytes(size), b"\xff" * size):
        with pytest.raises(InvalidCiphertextError):
            tds.he.Ciphertext.from_raw_bytes(public, body)
        with pytest.raises(InvalidCiphertextError):
            tds.he.Ciphertext.from_bytes(public, header + body)


def test_vector_bytes_bound_to_their_key(keypair, other_keypair) -> None:
    public, _ = keypair
    other_public, _ = other_keypair
    data = public.encrypt_vector(np.arange(3), bound=10, max_additions=2).to_bytes()
    with pytest.raises(KeyMismatchError):
        tds.he.EncryptedVector.from_bytes(other_public, data)
    with pytest.raises(DecodeError):
        tds.he.EncryptedVector.from_bytes(public, data[:-3])


def _prime(bits: int) -> int:
    return int(gmpy2.next_prime(secrets.randbits(bits) | (3 << (bits - 2))))


def _private_key_bytes(n: int, p: int, q: int) -> bytes:
    def field(value: int) -> bytes:
        body = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return len(body).to_bytes(4, "big") + body

    public = b"TDPK\x02" + field(n)
    return b"TDSK\x02" + len(public).to_bytes(4, "big") + public + field(p) + field(q)


@pytest.mark.parametrize("problem", ["composite", "shared factor"])
def test_factors_that_are_not_two_distinct_primes_are_refused(problem: str) -> None:
    if problem == "composite":
        p, q = _prime(300) * _prime(300), _prime(600)
    else:
        shared = _prime(300)
        p, q = shared * _prime(300), shared * _prime(300)
    n = p * q
    public = tds.he.PublicKey(n, insecure=True)
    with pytest.raises(DecodeError, match="prime"):
        tds.he.PrivateKey(public, p, q)
    with pytest.raises(DecodeError, match="prime"):
        tds.he.PrivateKey.from_bytes(_private_key_bytes(n, p, q), insecure=True)


def test_factors_for_which_g_does_not_work_are_refused() -> None:
    # q = 1 (mod p) makes gcd(n, (p-1)(q-1)) = p: g = n + 1 would not be a valid generator.
    p = _prime(300)
    q = next(k * p + 1 for k in range(2**300, 2**301) if gmpy2.is_prime(k * p + 1))
    public = tds.he.PublicKey(p * q, insecure=True)
    with pytest.raises(DecodeError, match="gcd"):
        tds.he.PrivateKey(public, p, q)
