"""Regenerate paillier_kat.json with textbook formulas on Python's built-in ints.

The primes were drawn once and are kept in the file; only builtin ``pow`` and
``*`` compute the expected ciphertexts, independently of tds and gmpy2.
Run from the repository root: ``python tests/he/vectors/generate_paillier_kat.py``.
"""

import json
import pathlib
import secrets

PATH = pathlib.Path(__file__).with_name("paillier_kat.json")


def case(n: int, h_s: int, message: int, rng: secrets.SystemRandom) -> dict:
    n_square = n * n
    residue = message % n
    exponent = rng.getrandbits(n.bit_length() // 2)
    r = rng.randrange(1, n)
    return {
        "m": message,
        "djn_exponent": exponent,
        "djn_ciphertext": (1 + residue * n) * pow(h_s, exponent, n_square) % n_square,
        "strict_r": r,
        "strict_ciphertext": (1 + residue * n) * pow(r, n, n_square) % n_square,
    }


def main() -> None:
    rng = secrets.SystemRandom()
    keys = json.loads(PATH.read_text())["keys"]
    for key in keys:
        n = key["p"] * key["q"]
        messages = [0, 1, -1, 42, -(2**40), n // 3 - 1, -(n // 3 - 1)]
        key["cases"] = [case(n, key["h_s"], m, rng) for m in messages]
    PATH.write_text(json.dumps({"keys": keys}, indent=1) + "\n")


if __name__ == "__main__":
    main()
