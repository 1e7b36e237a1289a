"""Regenerate ou_kat.json with textbook Okamoto-Uchiyama on Python's built-in ints.

The primes p, q, t and the bases g, g' were drawn once and are kept in the file; only
builtin ``pow``, ``*`` and ``%`` compute the public G = g^u and H = g'^(n u) (u = (p-1)/t),
the expected ciphertexts G^m H^r mod n, and nothing of tds or gmpy2 runs. The expected
plaintexts are checked by full textbook decryption, m = L(c^(p-1)) / L(G^(p-1)) mod p.
Run from the repository root: ``python tests/he/vectors/generate_ou_kat.py``.
"""

import json
import pathlib
import secrets

PATH = pathlib.Path(__file__).with_name("ou_kat.json")


def textbook_decrypt(c: int, key: dict, big_g: int) -> int:
    p = key["p"]
    p_square = p * p

    def log(x: int) -> int:
        assert (x - 1) % p == 0
        return (x - 1) // p

    m = log(pow(c, p - 1, p_square)) * pow(log(pow(big_g, p - 1, p_square)), -1, p) % p
    return m if m <= p // 2 else m - p


def main() -> None:
    rng = secrets.SystemRandom()
    keys = json.loads(PATH.read_text())["keys"]
    for key in keys:
        p, q, t = key["p"], key["q"], key["t"]
        n = p * p * q
        u = (p - 1) // t
        assert u * t == p - 1
        big_g, big_h = pow(key["g"], u, n), pow(key["g_prime"], n * u, n)
        key.update(n=n, big_g=big_g, big_h=big_h)
        limit = 2 ** ((n.bit_length() + 2) // 3 - 4) - 1  # the key's max_int
        cases = []
        for m in [0, 1, -1, 42, -(2**40), limit, -limit]:
            r = rng.getrandbits(key["randomness_bits"])
            c = pow(big_g, m, n) * pow(big_h, r, n) % n
            assert textbook_decrypt(c, key, big_g) == m
            cases.append({"m": m, "r": r, "ciphertext": c})
        key["cases"] = cases
    PATH.write_text(json.dumps({"keys": keys}, indent=1) + "\n")


if __name__ == "__main__":
    main()
