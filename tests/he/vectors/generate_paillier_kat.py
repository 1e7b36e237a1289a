"""Regenerate paillier_kat.json with textbook formulas on Python's built-in ints.

The primes were drawn once and are kept in the file; only hashlib, builtin ``pow``
and ``*`` compute the DJN base ``h_s`` (hashed from ``n`` as docs/concepts.md
describes) and the expected ciphertexts, independently of tds and gmpy2.
Run from the repository root: ``python tests/he/vectors/generate_paillier_kat.py``.
"""

import hashlib
import json
import math
import pathlib
import secrets

PATH = pathlib.Path(__file__).with_name("paillier_kat.json")
DJN_BASE_DOMAIN = b"TDS-HE-DJN-BASE-V01"


def djn_base(n: int) -> int:
    n_bytes = n.to_bytes((n.bit_length() + 7) // 8, "big")
    stream = hashlib.shake_256(DJN_BASE_DOMAIN + len(n_bytes).to_bytes(4, "big") + n_bytes)
    x = int.from_bytes(stream.digest(len(n_bytes) + 16), "big") % n
    assert math.gcd(x, n) == 1 and x * x % n != 1
    return pow(-x * x % n, n, n * n)


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
        key["h_s"] = djn_base(n)
        messages = [0, 1, -1, 42, -(2**40), n // 3 - 1, -(n // 3 - 1)]
        key["cases"] = [case(n, key["h_s"], m, rng) for m in messages]
    PATH.write_text(json.dumps({"keys": keys}, indent=1) + "\n")


if __name__ == "__main__":
    main()
