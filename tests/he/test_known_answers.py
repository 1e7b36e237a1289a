"""Known-answer vectors computed with textbook formulas on builtin ints (see the generator)."""

import json
import pathlib

import pytest
from gmpy2 import mpz

import tds

VECTORS = json.loads(
    pathlib.Path(__file__).with_name("vectors").joinpath("paillier_kat.json").read_text()
)
CASES = [
    pytest.param(key, case, id=f"{key['n_bits']}-m={case['m']}")
    for key in VECTORS["keys"]
    for case in key["cases"]
]


def keys_for(key: dict) -> tuple[tds.he.PublicKey, tds.he.PrivateKey]:
    public = tds.he.PublicKey(key["p"] * key["q"], insecure=True)
    return public, tds.he.PrivateKey(public, key["p"], key["q"])


@pytest.mark.parametrize("key", VECTORS["keys"], ids=lambda key: str(key["n_bits"]))
def test_djn_base_matches_the_known_derivation_from_n(key: dict) -> None:
    public, private = keys_for(key)
    assert public.h_s == key["h_s"]
    assert private.djn_mask(1) == key["h_s"]


@pytest.mark.parametrize(("key", "case"), CASES)
def test_decrypts_known_ciphertexts(key: dict, case: dict) -> None:
    public, private = keys_for(key)
    for field in ("djn_ciphertext", "strict_ciphertext"):
        assert private.decrypt(tds.he.Ciphertext(public, case[field])) == case["m"]


@pytest.mark.parametrize(("key", "case"), CASES)
def test_djn_encryption_matches_known_ciphertext(key: dict, case: dict) -> None:
    public, private = keys_for(key)
    shift = public.encode(case["m"]) * public.n + 1
    for mask in (public.djn_mask(case["djn_exponent"]), private.djn_mask(case["djn_exponent"])):
        assert shift * mask % public.n_square == case["djn_ciphertext"]


@pytest.mark.parametrize(("key", "case"), CASES)
def test_python_paillier_agrees_on_known_ciphertext(key: dict, case: dict) -> None:
    public, private = keys_for(key)
    phe_private = private.to_phe()
    raw = phe_private.public_key.raw_encrypt(case["m"] % int(public.n), r_value=case["strict_r"])
    assert raw == case["strict_ciphertext"]
    assert phe_private.decrypt(tds.he.Ciphertext(public, raw).to_phe()) == case["m"]


def test_crt_decryption_matches_textbook_lambda_decryption() -> None:
    key = VECTORS["keys"][0]
    public, private = keys_for(key)
    n, p, q = public.n, mpz(key["p"]), mpz(key["q"])
    lam = (p - 1) * (q - 1)
    mu = pow(int(lam), -1, int(n))
    for case in key["cases"]:
        c = case["djn_ciphertext"]
        textbook = (pow(c, int(lam), int(public.n_square)) - 1) // int(n) * mu % int(n)
        assert private.raw_decrypt(c) == textbook
