"""python-paillier reads tds ciphertexts and tds reads python-paillier's."""

import phe
import pytest

import tds


@pytest.mark.parametrize("value", [0, 1, -1, 123456789, -(2**62), 2**200])
def test_phe_decrypts_tds_ciphertexts(paillier_keypair, value: int) -> None:
    public, private = paillier_keypair
    phe_private = private.to_phe()
    for ciphertext in (
        public.encrypt(value),
        private.encrypt(value),
        public.encrypt(value, strict=True),
    ):
        assert phe_private.decrypt(ciphertext.to_phe()) == value


@pytest.mark.parametrize("value", [0, 5, -5, 2**100, -(2**100)])
def test_tds_decrypts_phe_ciphertexts(value: int) -> None:
    phe_public, phe_private = phe.generate_paillier_keypair(n_length=1024)
    private = tds.he.PrivateKey.from_phe(phe_private, insecure=True)
    adopted = tds.he.Ciphertext.from_phe(phe_public.encrypt(value), insecure=True)
    assert private.decrypt(adopted) == value
    # Sums mix freely: a tds ciphertext under the adopted key adds to the phe one.
    assert private.decrypt(adopted + private.public_key.encrypt(3)) == value + 3


def test_phe_sums_of_tds_ciphertexts(paillier_keypair) -> None:
    public, private = paillier_keypair
    total = sum(
        (public.encrypt(v).to_phe() for v in (10, 20, -5)), start=public.encrypt(0).to_phe()
    )
    assert private.to_phe().decrypt(total) == 25
    assert private.decrypt(tds.he.Ciphertext.from_phe(total, insecure=True)) == 25


def test_keys_round_trip_through_phe(paillier_keypair) -> None:
    public, private = paillier_keypair
    assert tds.he.PublicKey.from_phe(public.to_phe(), insecure=True) == public
    assert tds.he.PrivateKey.from_phe(private.to_phe(), insecure=True) == private


def test_phe_numbers_with_positive_exponent_are_rescaled() -> None:
    phe_public, phe_private = phe.generate_paillier_keypair(n_length=1024)
    # 3 * BASE**2: phe's encoding of an integer carried with exponent 2.
    encrypted = phe_public.encrypt(phe.EncodedNumber(phe_public, 3, 2))
    assert phe_private.decrypt(encrypted) == 3 * phe.EncodedNumber.BASE**2
    private = tds.he.PrivateKey.from_phe(phe_private, insecure=True)
    adopted = tds.he.Ciphertext.from_phe(encrypted, insecure=True)
    assert private.decrypt(adopted) == 3 * phe.EncodedNumber.BASE**2


def test_phe_fractions_are_refused() -> None:
    phe_public, _ = phe.generate_paillier_keypair(n_length=1024)
    with pytest.raises(tds.errors.PlaintextTypeError, match="fraction"):
        tds.he.Ciphertext.from_phe(phe_public.encrypt(0.5), insecure=True)


def test_an_unobfuscated_phe_ciphertext_is_rerandomized_on_import() -> None:
    phe_public, phe_private = phe.generate_paillier_keypair(n_length=1024)
    # r = 1: the ciphertext is 1 + 5n, and anyone can read 5 off it.
    bare = phe.EncryptedNumber(phe_public, phe_public.raw_encrypt(5, r_value=1))
    adopted = tds.he.Ciphertext.from_phe(bare, insecure=True)
    assert adopted.value != 1 + 5 * phe_public.n
    assert tds.he.PrivateKey.from_phe(phe_private, insecure=True).decrypt(adopted) == 5


def test_phe_exponents_past_the_plaintext_range_are_refused() -> None:
    phe_public, _ = phe.generate_paillier_keypair(n_length=1024)
    encrypted = phe.EncryptedNumber(phe_public, phe_public.raw_encrypt(1), exponent=256)
    with pytest.raises(tds.errors.PlaintextRangeError, match="exponent"):
        tds.he.Ciphertext.from_phe(encrypted, insecure=True)
    huge = phe.EncryptedNumber(phe_public, phe_public.raw_encrypt(1), exponent=10**12)
    with pytest.raises(tds.errors.PlaintextRangeError, match="exponent"):
        tds.he.Ciphertext.from_phe(huge, insecure=True)


@pytest.mark.parametrize("foreign", [None, 5, "ciphertext", b"\x01", object(), [1, 2]])
def test_foreign_objects_are_not_adopted(foreign) -> None:
    adopters = (tds.he.Ciphertext.from_phe, tds.he.PublicKey.from_phe, tds.he.PrivateKey.from_phe)
    for adopt in adopters:
        with pytest.raises(tds.errors.DecodeError, match="phe"):
            adopt(foreign)


def test_phe_objects_of_the_wrong_kind_are_not_adopted(paillier_keypair) -> None:
    public, private = paillier_keypair
    with pytest.raises(tds.errors.DecodeError, match="EncryptedNumber, not PaillierPublicKey"):
        tds.he.Ciphertext.from_phe(public.to_phe())
    with pytest.raises(tds.errors.DecodeError, match="PaillierPublicKey, not PaillierPrivateKey"):
        tds.he.PublicKey.from_phe(private.to_phe())
    with pytest.raises(tds.errors.DecodeError, match="PaillierPrivateKey, not EncryptedNumber"):
        tds.he.PrivateKey.from_phe(public.encrypt(1).to_phe())
