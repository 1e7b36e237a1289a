"""Okamoto-Uchiyama key pairs in the accelerated form, with fixed-base encryption.

``n = p^2 q``; ``p - 1`` has a prime factor ``t`` of 224 bits (256 for 3072-bit keys), as in
"Accelerating Okamoto-Uchiyama's public-key cryptosystem" (Coron, Naccache, Paillier, 1999).
With ``u = (p - 1) / t``, the public ``G = g^u`` and ``H = g'^(n u)`` give ciphertexts
``G^m H^r mod n`` with a short random ``r``, and decryption raises only to the power ``t``:
``m = L(c^t mod p^2) / L(G^t mod p^2) mod p`` where ``L(x) = (x - 1) / p``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable
from typing import Any

import gmpy2
from gmpy2 import mpz

from tds.errors import (
    DecodeError,
    InvalidCiphertextError,
    KeySizeError,
    PlaintextRangeError,
)
from tds.he import _pool
from tds.he._ciphertext import Ciphertext, require_public_key
from tds.he._common import CommonPrivateKey, CommonPublicKey, decode_signed
from tds.he._fixed_base import FixedBaseTable
from tds.he._integers import as_integer, as_list
from tds.he._keys import (
    DEFAULT_KEY_BITS,
    PRIMALITY_ROUNDS,
    check_key_bits,
    check_modulus,
    random_prime,
)
from tds.he._wire import Reader, Writer

PUBLIC_MAGIC = b"TDOK"
PRIVATE_MAGIC = b"TDOS"
# Statistical distance of a strict mask's exponent from uniform: 2^-128.
_STRICT_EXTRA_BITS = 128


def subgroup_bits(n_bits: int) -> int:
    """The size of the prime ``t``: twice the security level of an ``n_bits`` modulus."""
    if n_bits >= 3072:
        return 256
    if n_bits >= 2048:
        return 224
    # Keys below 2048 bits exist for tests only (insecure=True).
    return min(160, n_bits // 6 - 8)


def _prime_bits(n_bits: int) -> int:
    return (n_bits + 2) // 3


def _check_modulus(n: Any, *, insecure: bool) -> mpz:
    n = check_modulus(n, insecure=insecure, form="p^2 q for odd primes")
    if gmpy2.is_square(n) or gmpy2.is_prime(n):
        raise DecodeError("the modulus is a square or a prime: not p^2 q")
    return n


def _check_base(value: Any, n: mpz, name: str) -> mpz:
    value = mpz(as_integer(value, name, error=DecodeError))
    if not 1 < value < n - 1 or gmpy2.gcd(value, n) != 1:
        raise DecodeError(f"{name} is not an element of Z*_n other than 1 and -1")
    return value


class OUPublicKey(CommonPublicKey):
    """Encrypts integers under Okamoto-Uchiyama; anyone holding it can add ciphertexts.

    The same methods as Paillier's :class:`PublicKey` (``encrypt``, ``encrypt_many``,
    ``encrypt_vector``, ``to_bytes``, ``fingerprint``), on ciphertexts modulo ``n`` instead of
    ``n^2``. Plaintexts are signed integers with ``|m| <= max_int``; ``p`` being secret, the
    bound is set by its size. ``r`` has :attr:`randomness_bits` bits (224 for a 2048-bit key:
    twice the 112-bit security level), and ``G^m`` and ``H^r`` both come from fixed-base
    tables built on first use.
    """

    scheme = "ou"

    __slots__ = (
        "_digest",
        "_g_table",
        "_h_table",
        "_lock",
        "big_g",
        "big_h",
        "max_int",
        "n",
    )

    def __init__(self, n: int, big_g: int, big_h: int, *, insecure: bool = False) -> None:
        n = _check_modulus(n, insecure=insecure)
        self.n = n
        self.big_g = _check_base(big_g, n, "G")
        self.big_h = _check_base(big_h, n, "H")
        if self.big_g == self.big_h:
            raise DecodeError("G and H are the same element")
        # p > 2^(prime_bits - 1) >= 4 max_int: a gap between the positive and negative ranges
        # tells an overflow apart from a value.
        self.max_int = 2 ** (self.plaintext_bits - 2) - 1
        self._digest = hashlib.sha256(self.to_bytes()).digest()
        self._g_table: FixedBaseTable | None = None
        self._h_table: FixedBaseTable | None = None
        self._lock = threading.Lock()

    @property
    def randomness_bits(self) -> int:
        """Bit length of the random exponent ``r``."""
        return subgroup_bits(self.n_bits)

    @property
    def plaintext_bits(self) -> int:
        """Raw plaintexts are below ``2^plaintext_bits``, which is below ``p``."""
        return _prime_bits(self.n_bits) - 2

    @property
    def ciphertext_modulus(self) -> mpz:
        return self.n

    @property
    def ciphertext_size(self) -> int:
        """Bytes of one bare ciphertext (the byte length of ``n``)."""
        return (self.n_bits + 7) // 8

    # plaintexts

    def encode(self, value: Any) -> int:
        """``value`` checked against ``[-max_int, max_int]`` (OU encrypts signed values as they
        are: negatives through ``G^-1``)."""
        value = as_integer(value, "plaintext")
        if not -self.max_int <= value <= self.max_int:
            raise PlaintextRangeError(
                f"plaintext must lie in [-max_int, max_int] for a {self.n_bits}-bit OU key"
            )
        return value

    def _checked_residue(self, residue: Any) -> int:
        residue = as_integer(residue, "a raw plaintext")
        if not 0 <= residue < 2**self.plaintext_bits:
            raise PlaintextRangeError(
                f"a raw plaintext must lie in [0, 2**{self.plaintext_bits}) for this OU key"
            )
        return residue

    def _checked_ciphertext(self, value: Any) -> mpz:
        value = as_integer(value, "a ciphertext", error=InvalidCiphertextError)
        if not 0 < value < self.n or gmpy2.gcd(value, self.n) != 1:
            raise InvalidCiphertextError("ciphertext is not an element of Z*_n for this key")
        return mpz(value)

    # encryption

    def _g(self) -> FixedBaseTable:
        """Powers of G, built on first use."""
        if self._g_table is None:
            with self._lock:
                if self._g_table is None:
                    self._g_table = FixedBaseTable(self.big_g, self.n, self.plaintext_bits)
        return self._g_table

    def _h(self) -> FixedBaseTable:
        """Powers of H, built on first use: 12-bit digits, 19 multiplications per mask instead
        of 28, for 20 MB."""
        if self._h_table is None:
            with self._lock:
                if self._h_table is None:
                    self._h_table = FixedBaseTable(
                        self.big_h, self.n, self.randomness_bits, window_bits=12
                    )
        return self._h_table

    def plaintext_factor(self, value: int) -> mpz:
        """``G^value mod n``: multiplying a ciphertext by it adds ``value`` to its plaintext."""
        value = self.encode(value)
        power = self._g().power(abs(value))
        return power if value >= 0 else gmpy2.invert(power, self.n)

    def random_mask(self, *, strict: bool = False) -> mpz:
        """An encryption of zero: ``H^r`` with a fresh short ``r``; with ``strict``, ``x^n`` for
        a uniform ``x``, which owes nothing to the key holder's choice of ``H``."""
        if strict:
            x = secrets.randbelow(int(self.n) - 2) + 2
            return gmpy2.powmod(x, self.n, self.n)
        return self._h().power(secrets.randbits(self.randomness_bits))

    def encrypt_many(self, values: Iterable[int], **options: Any) -> list[Ciphertext]:
        """Encrypt many signed integers, as Paillier's :meth:`PublicKey.encrypt_many` does.

        The raw layer holds non-negative residues only (``p`` is secret, so ``-m`` has no
        public residue): a negative value is encrypted as its magnitude and the ciphertext
        inverted.
        """
        _pool.check_progress(options.get("progress"))
        signed = [self.encode(v) for v in as_list(values, "values")]
        raw = self.raw_encrypt_many([abs(v) for v in signed], **options)
        return [
            Ciphertext._trusted(self, c if v >= 0 else gmpy2.invert(c, self.n))  # type: ignore[arg-type]
            for v, c in zip(signed, raw, strict=True)
        ]

    def h_mask(self, exponent: int) -> mpz:
        """``H ** exponent mod n`` for ``0 <= exponent < 2**randomness_bits`` (raw layer)."""
        exponent = as_integer(exponent, "exponent")
        if not 0 <= exponent < 1 << self.randomness_bits:
            raise PlaintextRangeError(f"exponent must lie in [0, 2**{self.randomness_bits})")
        return self._h().power(exponent)

    def raw_encrypt(self, residue: int, *, strict: bool = False) -> mpz:
        """Encrypt ``0 <= residue < 2^plaintext_bits`` (the raw layer)."""
        residue = self._checked_residue(residue)
        return self._g().power(residue) * self.random_mask(strict=strict) % self.n

    def encrypt(self, value: int, *, strict: bool = False) -> Ciphertext:
        """Encrypt a signed integer; ``strict=True`` masks with ``x^n`` (see
        :meth:`random_mask`), about thirty times slower."""
        factor = self.plaintext_factor(value)
        return Ciphertext._trusted(self, factor * self.random_mask(strict=strict) % self.n)  # type: ignore[arg-type]

    # serialization

    def to_bytes(self) -> bytes:
        """``TDOK``, version, then length-prefixed ``n``, ``G`` and ``H``."""
        writer = Writer(PUBLIC_MAGIC).integer(self.n).integer(self.big_g)
        return writer.integer(self.big_h).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, insecure: bool = False) -> OUPublicKey:
        """Parse :meth:`to_bytes` output; ``insecure=True`` accepts ``n`` below 2048 bits."""
        reader = Reader(data, PUBLIC_MAGIC, "OU public key")
        n, big_g, big_h = reader.integer(), reader.integer(), reader.integer()
        reader.finish()
        return cls(n, big_g, big_h, insecure=insecure)


class OUPrivateKey(CommonPrivateKey):
    """Decrypts Okamoto-Uchiyama ciphertexts with one exponentiation to the 224-bit ``t``
    modulo ``p^2``. The same methods as Paillier's :class:`PrivateKey`."""

    __slots__ = ("_inverse_full", "_inverse_t", "p", "p_square", "public_key", "q", "t")

    def __init__(self, public_key: OUPublicKey, p: int, q: int, t: int) -> None:
        if not isinstance(require_public_key(public_key), OUPublicKey):
            raise KeySizeError("an OUPrivateKey belongs to an OUPublicKey, not a Paillier key")
        p = mpz(as_integer(p, "p", error=DecodeError))
        q = mpz(as_integer(q, "q", error=DecodeError))
        t = mpz(as_integer(t, "t", error=DecodeError))
        if p <= 2 or q <= 2 or p == q or p * p * q != public_key.n:
            raise DecodeError("p and q are not the factors of the public modulus p^2 q")
        if not all(gmpy2.is_prime(v, PRIMALITY_ROUNDS) for v in (p, q, t)):
            raise DecodeError("p, q and t must be primes")
        if (p - 1) % t:
            raise DecodeError("t does not divide p - 1")
        self.public_key = public_key
        self.p, self.q, self.t = p, q, t
        self.p_square = p * p
        # H must lie in the subgroup of order t mod p^2 for c^t to strip the randomness.
        if gmpy2.powmod(public_key.big_h, t, self.p_square) != 1:
            raise DecodeError("H is not in the subgroup of order t: ciphertexts would not decrypt")
        self._inverse_t = self._inverse_of_log(t)
        self._inverse_full = self._inverse_of_log(p - 1)

    def _inverse_of_log(self, exponent: mpz) -> mpz:
        """``L(G^exponent mod p^2)^-1 mod p``, refusing a G that encrypts nothing."""
        power = gmpy2.powmod(self.public_key.big_g, exponent, self.p_square)
        log = (power - 1) // self.p
        if (power - 1) % self.p or log % self.p == 0:
            raise DecodeError("G does not generate the plaintext group: nothing would decrypt")
        return gmpy2.invert(log, self.p)

    def _decrypt_residue(self, value: mpz) -> mpz:
        """The residue mod ``p`` inside a checked ciphertext.

        Ciphertexts masked by ``H^r`` decrypt through ``c^t``; one re-randomized with a strict
        ``x^n`` mask leaves ``c^t`` outside the plaintext group, and decrypts through the full
        ``c^(p-1)`` instead.
        """
        c = value % self.p_square
        power = gmpy2.powmod(c, self.t, self.p_square)
        inverse = self._inverse_t
        if (power - 1) % self.p:
            power = gmpy2.powmod(c, self.p - 1, self.p_square)
            inverse = self._inverse_full
        return (power - 1) // self.p * inverse % self.p

    def _decode(self, residue: int) -> int:
        return decode_signed(residue, self.p, self.public_key.max_int)

    def raw_encrypt(self, residue: int, *, strict: bool = False) -> mpz:
        """The public key's :meth:`OUPublicKey.raw_encrypt`."""
        return self.public_key.raw_encrypt(residue, strict=strict)

    def encrypt(self, value: int, *, strict: bool = False) -> Ciphertext:
        """Encrypt under the public key (the factors buy OU no speed)."""
        return self.public_key.encrypt(value, strict=strict)

    def encrypt_many(self, values: Any, **options: Any) -> list[Ciphertext]:
        """The public key's :meth:`OUPublicKey.encrypt_many`."""
        return self.public_key.encrypt_many(values, **options)

    def to_bytes(self) -> bytes:
        """``TDOS``, version, the public key's bytes (length-prefixed), then ``p``, ``q``, ``t``.

        These bytes are the secret: store them encrypted at rest.
        """
        public = self.public_key.to_bytes()
        writer = Writer(PRIVATE_MAGIC).u32(len(public)).raw(public)
        return writer.integer(self.p).integer(self.q).integer(self.t).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, insecure: bool = False) -> OUPrivateKey:
        """Parse :meth:`to_bytes` output; ``insecure=True`` accepts ``n`` below 2048 bits."""
        reader = Reader(data, PRIVATE_MAGIC, "OU private key")
        public = OUPublicKey.from_bytes(reader.raw(reader.u32()), insecure=insecure)
        p, q, t = reader.integer(), reader.integer(), reader.integer()
        reader.finish()
        return cls(public, p, q, t)


def generate_ou_keypair(
    n_bits: int = DEFAULT_KEY_BITS, *, insecure: bool = False
) -> tuple[OUPublicKey, OUPrivateKey]:
    """A fresh Okamoto-Uchiyama key pair with an ``n = p^2 q`` of exactly ``n_bits`` bits."""
    check_key_bits(n_bits, insecure=insecure, what="key")
    t_bits = subgroup_bits(n_bits)
    p_bits = _prime_bits(n_bits)
    t = random_prime(t_bits)
    while True:
        # p = t u + 1 with the top two bits of p set.
        low = (mpz(3) << (p_bits - 2)) // t + 1
        high = ((mpz(1) << p_bits) - 1) // t
        u = low + mpz(secrets.randbelow(int(high - low)))
        u += u % 2  # p = t u + 1 is odd only for an even u
        p = t * u + 1
        if p.bit_length() == p_bits and gmpy2.is_prime(p, PRIMALITY_ROUNDS):
            break
    p_square = p * p
    # q from the range that makes n = p^2 q exactly n_bits long.
    low, high = -(-(mpz(1) << (n_bits - 1)) // p_square), ((mpz(1) << n_bits) - 1) // p_square
    while True:
        q = gmpy2.next_prime(low + mpz(secrets.randbelow(int(high - low))))
        if q <= high and q != p:
            break
    n = p_square * q
    g = _random_unit(n)
    # g's part of order p must be non-trivial: g^(p-1) != 1 mod p^2.
    while gmpy2.powmod(g, p - 1, p_square) == 1:
        g = _random_unit(n)
    big_g = gmpy2.powmod(g, u, n)
    big_h = gmpy2.powmod(_random_unit(n), n * u, n)
    public = OUPublicKey(n, big_g, big_h, insecure=insecure)
    return public, OUPrivateKey(public, p, q, t)


def _random_unit(n: mpz) -> mpz:
    """A uniform element of Z*_n other than 1."""
    while True:
        x = mpz(secrets.randbelow(int(n) - 3) + 2)
        if gmpy2.gcd(x, n) == 1:
            return x
