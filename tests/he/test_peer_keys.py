"""Public keys from a peer: the DJN base comes from n alone, and key sizes are capped."""

import hashlib
import math

import phe
import pytest

import tds
from tds.errors import DecodeError, KeySizeError

DJN_BASE_DOMAIN = b"TDS-HE-DJN-BASE-V01"


def reference_djn_base(n: int) -> int:
    """docs/concepts.md's derivation of h_s, on builtin ints and hashlib only."""
    n_bytes = n.to_bytes((n.bit_length() + 7) // 8, "big")
    stream = hashlib.shake_256(DJN_BASE_DOMAIN + len(n_bytes).to_bytes(4, "big") + n_bytes)
    x = int.from_bytes(stream.digest(len(n_bytes) + 16), "big") % n
    assert math.gcd(x, n) == 1
    return pow(-x * x % n, n, n * n)


def int_field(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return len(body).to_bytes(4, "big") + body


def test_the_djn_base_is_derived_from_n_alone(paillier_keypair) -> None:
    public, _ = paillier_keypair
    expected = reference_djn_base(int(public.n))
    for key in (
        public,
        tds.he.PublicKey(public.n, insecure=True),
        tds.he.PublicKey.from_bytes(public.to_bytes(), insecure=True),
        tds.he.PublicKey.from_phe(public.to_phe(), insecure=True),
    ):
        assert key.h_s == expected


def test_a_peer_cannot_choose_the_djn_base(paillier_keypair) -> None:
    public, private = paillier_keypair
    n = int(public.n)
    # -1 has order 2: under it h_s^r is +-1 and (1 + m n) would show through every ciphertext.
    order_two = n * n - 1
    for version in (1, 2):
        blob = b"TDPK" + bytes([version]) + int_field(n) + int_field(order_two)
        with pytest.raises(DecodeError):
            tds.he.PublicKey.from_bytes(blob, insecure=True)
    parsed = tds.he.PublicKey.from_bytes(public.to_bytes(), insecure=True)
    ciphertext = parsed.encrypt(5)
    mask = ciphertext.value * pow(1 + 5 * n, -1, n * n) % (n * n)
    assert mask not in (1, n * n - 1)
    assert private.decrypt(ciphertext) == 5


def test_public_key_bytes_carry_only_n(paillier_keypair) -> None:
    public, _ = paillier_keypair
    assert public.to_bytes() == b"TDPK\x02" + int_field(int(public.n))


def test_small_peer_keys_need_the_insecure_flag(paillier_keypair) -> None:
    public, private = paillier_keypair
    phe_public, phe_private = public.to_phe(), private.to_phe()
    phe_number = phe_public.encrypt(3)
    refusals = [
        lambda **flag: tds.he.PublicKey(public.n, **flag),
        lambda **flag: tds.he.PublicKey.from_bytes(public.to_bytes(), **flag),
        lambda **flag: tds.he.PrivateKey.from_bytes(private.to_bytes(), **flag),
        lambda **flag: tds.he.PublicKey.from_phe(phe_public, **flag),
        lambda **flag: tds.he.PrivateKey.from_phe(phe_private, **flag),
        lambda **flag: tds.he.Ciphertext.from_phe(phe_number, **flag),
    ]
    for make in refusals:
        with pytest.raises(KeySizeError, match="insecure=True"):
            make()
        assert make(insecure=True) is not None


def test_a_2048_bit_key_needs_no_flag(keypair_2048) -> None:
    public, private = keypair_2048
    assert tds.he.PublicKey.from_bytes(public.to_bytes()) == public
    assert tds.he.PrivateKey.from_bytes(private.to_bytes()).decrypt(public.encrypt(-8)) == -8


def test_keys_below_512_bits_are_refused_even_when_insecure() -> None:
    n = (1 << 510) | 1
    with pytest.raises(KeySizeError, match="512"):
        tds.he.PublicKey(n, insecure=True)


def test_keys_above_8192_bits_are_refused_even_when_insecure(paillier_keypair) -> None:
    public, _ = paillier_keypair
    # n^8 of a 1024-bit n has just under 8193 bits and no factor the DJN base could hit.
    largest = int(public.n) ** 8
    assert 8185 <= largest.bit_length() <= 8192
    assert tds.he.PublicKey(largest).n_bits == largest.bit_length()
    for n in ((1 << 8192) + 1, (1 << 65535) + 1):
        blob = b"TDPK\x02" + int_field(n)
        with pytest.raises(KeySizeError, match="8192"):
            tds.he.PublicKey.from_bytes(blob, insecure=True)
        with pytest.raises(KeySizeError, match="8192"):
            tds.he.PublicKey(n, insecure=True)
        private_blob = b"TDSK\x02" + len(blob).to_bytes(4, "big") + blob + int_field(3)
        with pytest.raises(KeySizeError, match="8192"):
            tds.he.PrivateKey.from_bytes(private_blob + int_field(n // 3), insecure=True)
    with pytest.raises(KeySizeError, match="8192"):
        tds.he.PublicKey.from_phe(phe.PaillierPublicKey((1 << 8192) + 1), insecure=True)


@pytest.mark.parametrize("bits", [8194, 65536])
def test_generate_keypair_refuses_keys_above_8192_bits(bits: int) -> None:
    with pytest.raises(KeySizeError, match="8192"):
        tds.he.generate_keypair(bits)
