"""Paillier key pairs with DJN short-exponent encryption and CRT decryption."""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import gmpy2
from gmpy2 import mpz

from tds._workers import ExecutorChoice
from tds.errors import (
    DecodeError,
    InvalidCiphertextError,
    KeySizeError,
    PlaintextRangeError,
)
from tds.he import _pool
from tds.he._ciphertext import Ciphertext, check_phe_object, require_public_key
from tds.he._common import CommonPrivateKey, CommonPublicKey, decode_signed
from tds.he._fixed_base import FixedBaseTable
from tds.he._integers import as_integer, as_list, to_bytes_big
from tds.he._wire import Reader, Writer
from tds.progress import ProgressCallback

if TYPE_CHECKING:
    import phe


DEFAULT_KEY_BITS = 2048
MIN_SECURE_KEY_BITS = 2048
MIN_INSECURE_KEY_BITS = 512
# A 8192-bit key already asks for a fixed-base table of about 270 MB; larger moduli from a
# peer would be a way to exhaust memory.
MAX_KEY_BITS = 8192

# gmpy2.is_prime runs a Baillie-PSW test and then (rounds - 24) Miller-Rabin rounds.
PRIMALITY_ROUNDS = 40

PUBLIC_MAGIC = b"TDPK"
PRIVATE_MAGIC = b"TDSK"
_DJN_BASE_DOMAIN = b"TDS-HE-DJN-BASE-V01"
# Extra hash output beyond n's length, so that the hash reduced mod n is close to uniform.
_DJN_BASE_EXTRA_BYTES = 16


def check_key_bits(bits: Any, *, insecure: bool, what: str) -> None:
    """KeySizeError unless a ``bits``-bit key (``what``: "key" or "modulus") may be used."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise KeySizeError("n_bits must be an integer")
    if bits > MAX_KEY_BITS:
        raise KeySizeError(f"a {bits}-bit {what} exceeds the largest supported, {MAX_KEY_BITS}")
    if bits < MIN_INSECURE_KEY_BITS:
        raise KeySizeError(f"a {bits}-bit {what} is below the smallest ever made, 512")
    if bits < MIN_SECURE_KEY_BITS and not insecure:
        raise KeySizeError(
            f"a {bits}-bit {what} is unsafe; use at least {MIN_SECURE_KEY_BITS} bits "
            "(insecure=True accepts smaller keys in tests)"
        )


def check_modulus(n: Any, *, insecure: bool, form: str = "a product of two odd primes") -> mpz:
    """``n`` as an mpz if it may be a modulus (``form``, for the message) of an acceptable
    size, else raise."""
    n = mpz(as_integer(n, "n", error=DecodeError))
    if n <= 0:
        raise DecodeError("the modulus must be a positive integer")
    check_key_bits(n.bit_length(), insecure=insecure, what="modulus")
    if n % 2 == 0:
        raise KeySizeError(f"the modulus is even: not {form}")
    return n


def _djn_base_root(n: mpz) -> mpz:
    """``h = -x^2 mod n`` for ``x`` hashed from ``n``: the same for everyone, chosen by no one."""
    n_bytes = to_bytes_big(n)
    stream = hashlib.shake_256(_DJN_BASE_DOMAIN + len(n_bytes).to_bytes(4, "big") + n_bytes)
    x = mpz(int.from_bytes(stream.digest(len(n_bytes) + _DJN_BASE_EXTRA_BYTES), "big")) % n
    # Neither happens for a product of two large primes; either would make a weak base.
    if gmpy2.gcd(x, n) != 1 or x * x % n == 1:
        raise DecodeError("the modulus is not a product of two large primes")
    return n - x * x % n


class PublicKey(CommonPublicKey):
    """Encrypts integers; anyone holding it can add ciphertexts under it.

    ``n`` is the Paillier modulus (``g = n + 1``). ``h_s = h^n mod n^2`` is the
    public base of DJN short-exponent encryption: a ciphertext is
    ``(1 + m n) * h_s^r mod n^2`` with ``r`` of ``n_bits / 2`` bits, computed from
    a fixed-base table built on first use. ``h`` is hashed from ``n``, so every
    party derives the same base and none can choose it; two keys are equal when
    their ``n`` is.

    ``n`` below 2048 bits is refused unless ``insecure=True`` (tests); below 512
    or above 8192 bits, or even, it is always refused (``KeySizeError``).
    """

    scheme = "paillier"

    __slots__ = (
        "_digest",
        "_djn_root",
        "_h_s",
        "_lock",
        "_phe",
        "_table",
        "max_int",
        "n",
        "n_square",
    )

    def __init__(self, n: int, *, insecure: bool = False) -> None:
        n = check_modulus(n, insecure=insecure)
        self._djn_root = _djn_base_root(n)
        self.n = n
        self.n_square = n * n
        # The same signed range as python-paillier, so both decode identically.
        self.max_int = n // 3 - 1
        self._digest = hashlib.sha256(to_bytes_big(n)).digest()
        self._h_s: mpz | None = None
        self._table: FixedBaseTable | None = None
        self._phe: phe.PaillierPublicKey | None = None
        self._lock = threading.Lock()

    @property
    def h_s(self) -> mpz:
        """The DJN base ``h^n mod n^2``, computed on first use."""
        if self._h_s is None:
            with self._lock:
                if self._h_s is None:
                    self._h_s = gmpy2.powmod(self._djn_root, self.n, self.n_square)
        return self._h_s

    @property
    def randomness_bits(self) -> int:
        """Bit length of the short DJN exponent ``r``."""
        return self.n_bits // 2

    @property
    def plaintext_bits(self) -> int:
        """Raw plaintexts are the residues below ``n``: those of fewer bits pack into slots."""
        return self.n_bits

    @property
    def ciphertext_modulus(self) -> mpz:
        """Ciphertexts live in Z*_{n^2}: they multiply (add plaintexts) modulo ``n^2``."""
        return self.n_square

    def plaintext_factor(self, value: int) -> mpz:
        """The ciphertext of ``value`` with no randomness, ``1 + m n``: multiplying by it adds
        ``value`` to a ciphertext's plaintext."""
        return self.encode(value) * self.n + 1

    @property
    def ciphertext_size(self) -> int:
        """Bytes of one bare ciphertext (the byte length of ``n^2``), as containers carry it.

        :meth:`Ciphertext.to_bytes` adds 13 bytes of header and key id.
        """
        return (self.n_square.bit_length() + 7) // 8

    # plaintext encoding

    def encode(self, value: Any) -> mpz:
        """Map a signed integer to Z_n, refusing anything outside ``[-max_int, max_int]``."""
        value = as_integer(value, "plaintext")
        if not -self.max_int <= value <= self.max_int:
            raise PlaintextRangeError(
                f"plaintext must lie in [-max_int, max_int] for a {self.n_bits}-bit key"
            )
        return mpz(value) % self.n

    def decode(self, residue: int) -> int:
        """Inverse of :meth:`encode`; a residue in the gap between ranges means overflow."""
        return decode_signed(self._checked_residue(residue), self.n, self.max_int)

    # encryption

    def random_mask(self, *, strict: bool = False) -> mpz:
        """A fresh random n-th residue: ``h_s^r`` (DJN) or, with ``strict``, ``r^n``."""
        if strict:
            r = secrets.randbelow(int(self.n) - 1) + 1
            return gmpy2.powmod(r, self.n, self.n_square)
        return self.djn_mask(secrets.randbits(self.randomness_bits))

    def djn_mask(self, exponent: int) -> mpz:
        """``h_s ** exponent mod n^2`` for ``0 <= exponent < 2**randomness_bits`` (raw layer)."""
        return self._fixed_base().power(as_integer(exponent, "exponent"))

    def _fixed_base(self) -> FixedBaseTable:
        if self._table is None:
            h_s = self.h_s
            with self._lock:
                if self._table is None:
                    self._table = FixedBaseTable(h_s, self.n_square, self.randomness_bits)
        return self._table

    def raw_encrypt(self, residue: int, *, strict: bool = False) -> mpz:
        """Encrypt ``0 <= residue < n`` with no signed encoding (the raw layer)."""
        residue = self._checked_residue(residue)
        return (residue * self.n + 1) * self.random_mask(strict=strict) % self.n_square

    def _checked_residue(self, residue: Any) -> int:
        residue = as_integer(residue, "a raw plaintext")
        if not 0 <= residue < self.n:
            raise PlaintextRangeError("a raw plaintext must be a residue in [0, n)")
        return residue

    def _checked_ciphertext(self, value: Any) -> mpz:
        value = as_integer(value, "a ciphertext", error=InvalidCiphertextError)
        if not 0 < value < self.n_square or gmpy2.gcd(value, self.n) != 1:
            raise InvalidCiphertextError("ciphertext is not an element of Z*_{n^2} for this key")
        return mpz(value)

    def encrypt(self, value: int, *, strict: bool = False) -> Ciphertext:
        """Encrypt a signed integer.

        ``strict=True`` uses full ``r^n`` randomness for those who will not rely on
        the DJN short-exponent assumption; it is about ten times slower.
        """
        return Ciphertext._trusted(self, self.raw_encrypt(self.encode(value), strict=strict))

    # serialization and interop

    def to_bytes(self) -> bytes:
        """``TDPK``, version, then length-prefixed ``n`` (see docs/concepts.md)."""
        return Writer(PUBLIC_MAGIC).integer(self.n).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, insecure: bool = False) -> PublicKey:
        """Parse :meth:`to_bytes` output; ``insecure=True`` accepts ``n`` below 2048 bits."""
        reader = Reader(data, PUBLIC_MAGIC, "public key")
        n = reader.integer()
        reader.finish()
        return cls(n, insecure=insecure)

    def to_phe(self) -> phe.PaillierPublicKey:
        if self._phe is None:
            import phe

            self._phe = phe.PaillierPublicKey(int(self.n))
        return self._phe

    @classmethod
    def from_phe(cls, public_key: phe.PaillierPublicKey, *, insecure: bool = False) -> PublicKey:
        """Adopt a python-paillier public key (its ``g`` must be ``n + 1``).

        ``insecure=True`` accepts ``n`` below 2048 bits.
        """
        check_phe_object(public_key, "PaillierPublicKey")
        if public_key.g != public_key.n + 1:
            raise DecodeError("only keys with g = n + 1 are supported")
        n = check_modulus(public_key.n, insecure=insecure)
        return _key_for_modulus(int(n))


@functools.lru_cache(maxsize=64)
def _key_for_modulus(n: int) -> PublicKey:
    # One PublicKey (and so one fixed-base table) per modulus seen through phe; the caller
    # has checked the size.
    return PublicKey(n, insecure=True)


class PrivateKey(CommonPrivateKey):
    """Decrypts with the CRT, and encrypts faster than the public key can.

    Holding ``p`` and ``q``, it computes ``h_s^r`` modulo ``p^2`` and ``q^2``
    separately on half-size numbers and recombines; ciphertexts are identical
    in distribution to :meth:`PublicKey.encrypt`'s.
    """

    __slots__ = ("_crt", "_lock", "_tables", "p", "public_key", "q")

    def __init__(self, public_key: PublicKey, p: int, q: int) -> None:
        require_public_key(public_key)
        p = mpz(as_integer(p, "p", error=DecodeError))
        q = mpz(as_integer(q, "q", error=DecodeError))
        # 1 * n would divide by zero in the CRT, and -p * -q would decrypt to garbage.
        if p * q != public_key.n or p <= 1 or q <= 1:
            raise DecodeError("p and q are not the factors of the public modulus")
        # Composite or repeated factors make the CRT decrypt to garbage (or fail to invert).
        if p == q or not (
            gmpy2.is_prime(p, PRIMALITY_ROUNDS) and gmpy2.is_prime(q, PRIMALITY_ROUNDS)
        ):
            raise DecodeError("p and q must be two distinct primes")
        if gmpy2.gcd(public_key.n, (p - 1) * (q - 1)) != 1:
            raise DecodeError("gcd(n, (p-1)(q-1)) != 1: g = n + 1 does not work with these factors")
        self.public_key = public_key
        self.p, self.q = p, q
        self._crt = _CrtParameters(p, q, public_key.n)
        self._tables: tuple[FixedBaseTable, FixedBaseTable] | None = None
        self._lock = threading.Lock()

    # decryption

    def _decrypt_residue(self, value: mpz) -> mpz:
        return self._crt.decrypt(value)

    def _decode(self, residue: int) -> int:
        return self.public_key.decode(residue)

    # encryption with the factors

    def _crt_tables(self) -> tuple[FixedBaseTable, FixedBaseTable]:
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    bits = self.public_key.randomness_bits
                    h_s = self.public_key.h_s
                    crt = self._crt
                    self._tables = (
                        FixedBaseTable(h_s % crt.p_square, crt.p_square, bits),
                        FixedBaseTable(h_s % crt.q_square, crt.q_square, bits),
                    )
        return self._tables

    def raw_encrypt(self, residue: int, *, strict: bool = False) -> mpz:
        """Encrypt ``0 <= residue < n`` through the CRT (the raw layer)."""
        residue = self.public_key._checked_residue(residue)
        crt = self._crt
        shift = residue * self.public_key.n + 1
        if strict:
            r = secrets.randbelow(int(self.public_key.n) - 1) + 1
            mask_p = gmpy2.powmod(r, crt.n_mod_p_order, crt.p_square)
            mask_q = gmpy2.powmod(r, crt.n_mod_q_order, crt.q_square)
        else:
            mask_p, mask_q = self._djn_mask_halves(
                secrets.randbits(self.public_key.randomness_bits)
            )
        return crt.combine(shift * mask_p % crt.p_square, shift * mask_q % crt.q_square)

    def _djn_mask_halves(self, exponent: int) -> tuple[mpz, mpz]:
        table_p, table_q = self._crt_tables()
        return table_p.power(exponent), table_q.power(exponent)

    def djn_mask(self, exponent: int) -> mpz:
        """The public key's :meth:`PublicKey.djn_mask`, computed through the CRT (raw layer)."""
        return self._crt.combine(*self._djn_mask_halves(as_integer(exponent, "exponent")))

    def encrypt(self, value: int, *, strict: bool = False) -> Ciphertext:
        """Encrypt a signed integer, using the factors for speed."""
        key = self.public_key
        return Ciphertext._trusted(key, self.raw_encrypt(key.encode(value), strict=strict))

    def encrypt_many(
        self,
        values: Iterable[int],
        *,
        strict: bool = False,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        executor: ExecutorChoice = "local",
    ) -> list[Ciphertext]:
        """Encrypt many integers through the CRT on this machine's process pool; on any other
        ``executor`` under the public key alone, so that the factors stay here.

        ``progress`` receives ``Progress("paillier", "encrypt", done, total)`` as chunks finish.
        """
        _pool.check_progress(progress)
        key = self.public_key
        if not (isinstance(executor, str) and executor == "local"):
            return key.encrypt_many(
                values, strict=strict, workers=workers, progress=progress, executor=executor
            )
        residues = [int(key.encode(v)) for v in as_list(values, "values")]
        raw = _pool.map_batches(
            lambda batch: [self.raw_encrypt(m, strict=strict) for m in batch],
            functools.partial(_pool.crt_encrypt_chunk, self.to_bytes(), strict),
            residues,
            workers,
            widths=_pool.widths(key),
            stage="encrypt",
            progress=progress,
        )
        return [Ciphertext._trusted(key, mpz(c)) for c in raw]

    # serialization and interop

    def to_bytes(self) -> bytes:
        """``TDSK``, version, the public key's bytes (length-prefixed), then ``p`` and ``q``.

        These bytes are the secret: store them encrypted at rest.
        """
        public = self.public_key.to_bytes()
        writer = Writer(PRIVATE_MAGIC).u32(len(public)).raw(public)
        return writer.integer(self.p).integer(self.q).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, insecure: bool = False) -> PrivateKey:
        """Parse :meth:`to_bytes` output; ``insecure=True`` accepts ``n`` below 2048 bits."""
        reader = Reader(data, PRIVATE_MAGIC, "private key")
        public = PublicKey.from_bytes(reader.raw(reader.u32()), insecure=insecure)
        p, q = reader.integer(), reader.integer()
        reader.finish()
        return cls(public, p, q)

    def to_phe(self) -> phe.PaillierPrivateKey:
        import phe

        return phe.PaillierPrivateKey(self.public_key.to_phe(), int(self.p), int(self.q))

    @classmethod
    def from_phe(cls, private_key: phe.PaillierPrivateKey, *, insecure: bool = False) -> PrivateKey:
        """Adopt a python-paillier private key; ``insecure=True`` accepts ``n`` below 2048 bits."""
        check_phe_object(private_key, "PaillierPrivateKey")
        public = PublicKey.from_phe(private_key.public_key, insecure=insecure)
        return cls(public, private_key.p, private_key.q)


class _CrtParameters:
    """Everything decryption and CRT encryption precompute from ``p`` and ``q``."""

    __slots__ = (
        "h_p",
        "h_q",
        "n_mod_p_order",
        "n_mod_q_order",
        "p",
        "p_inverse_mod_q",
        "p_square",
        "p_square_inverse_mod_q_square",
        "q",
        "q_square",
    )

    def __init__(self, p: mpz, q: mpz, n: mpz) -> None:
        self.p, self.q = p, q
        self.p_square, self.q_square = p * p, q * q
        self.p_inverse_mod_q = gmpy2.invert(p, q)
        self.p_square_inverse_mod_q_square = gmpy2.invert(self.p_square, self.q_square)
        # g = n + 1, so L(g^(p-1) mod p^2) = (p - 1) * n / p = (p - 1) * q (mod p).
        self.h_p = gmpy2.invert((p - 1) * q % p, p)
        self.h_q = gmpy2.invert((q - 1) * p % q, q)
        # r^n mod p^2 only depends on n modulo the group order p (p - 1).
        self.n_mod_p_order = n % (p * (p - 1))
        self.n_mod_q_order = n % (q * (q - 1))

    def decrypt(self, value: mpz) -> mpz:
        m_p = (gmpy2.powmod(value % self.p_square, self.p - 1, self.p_square) - 1) // self.p
        m_p = m_p * self.h_p % self.p
        m_q = (gmpy2.powmod(value % self.q_square, self.q - 1, self.q_square) - 1) // self.q
        m_q = m_q * self.h_q % self.q
        return m_p + self.p * ((m_q - m_p) * self.p_inverse_mod_q % self.q)

    def combine(self, mod_p_square: mpz, mod_q_square: mpz) -> mpz:
        difference = (mod_q_square - mod_p_square) * self.p_square_inverse_mod_q_square
        return mod_p_square + self.p_square * (difference % self.q_square)


def generate_paillier_keypair(
    n_bits: int = DEFAULT_KEY_BITS, *, insecure: bool = False
) -> tuple[PublicKey, PrivateKey]:
    """A fresh Paillier key pair with an ``n`` of exactly ``n_bits`` bits.

    2048 bits is the default and 3072 is offered; anything below 2048 is refused
    unless ``insecure=True`` (tests only), and nothing below 512 or above 8192 is
    made at all.
    """
    check_key_bits(n_bits, insecure=insecure, what="key")
    if n_bits % 2:
        raise KeySizeError("n_bits must be even")
    half = n_bits // 2
    while True:
        p, q = random_prime(half), random_prime(half)
        n = p * q
        # Guard against Fermat factoring and keys where g = n + 1 would not work.
        if (p - q).bit_length() < half - 100 or gmpy2.gcd(n, (p - 1) * (q - 1)) != 1:
            continue
        public = PublicKey(n, insecure=insecure)
        return public, PrivateKey(public, p, q)


def random_prime(bits: int) -> mpz:
    """A random prime of exactly ``bits`` bits with its top two bits set, so that the product
    of two such primes is exactly ``2 * bits`` long."""
    while True:
        candidate = mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2)) | 1
        prime = gmpy2.next_prime(candidate)
        if prime.bit_length() == bits:
            return prime
