"""Ciphertext: an encrypted integer that adds and scales like a number."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from tds.errors import (
    ConfigError,
    DecodeError,
    KeyMismatchError,
    PlaintextRangeError,
    PlaintextTypeError,
)
from tds.he._integers import as_integer
from tds.he._wire import Reader, Writer

if TYPE_CHECKING:
    import phe

    from tds.he._keys import PublicKey

_CIPHERTEXT_MAGIC = b"TDCT"
# Enough to catch a mix-up of keys; the digest is no secret and no authentication.
_KEY_ID_BYTES = 8


def require_public_key(value: Any) -> PublicKey:
    """``value`` if it is a public key of either scheme, else ConfigError."""
    from tds.he._keys import PublicKey
    from tds.he._ou import OUPublicKey

    if not isinstance(value, PublicKey | OUPublicKey):
        raise ConfigError(f"expected a tds.he.PublicKey or OUPublicKey, not {type(value).__name__}")
    return value


def check_phe_object(value: Any, class_name: str) -> ModuleType:
    """The phe module if ``value`` is an instance of its ``class_name``, else DecodeError."""
    # Without phe imported, nothing can be a phe object: no need to import it to say so.
    phe_module = sys.modules.get("phe")
    if phe_module is None or not isinstance(value, getattr(phe_module, class_name)):
        raise DecodeError(f"expected a phe.{class_name}, not {type(value).__name__}")
    return phe_module


class Ciphertext:
    """A ciphertext under one public key (Paillier's :class:`PublicKey` or an
    :class:`OUPublicKey`).

    ``a + b``, ``a + 3``, ``a - b``, ``-a``, ``a * 5`` and ``sum([a, b, c])``
    work as on the plaintexts. Scaling by a plaintext does not re-randomize:
    call :meth:`rerandomize` before a result leaves your hands if its
    randomness could tell the key holder how it was computed.
    """

    __slots__ = ("_value", "public_key")
    # Keeps numpy from applying an operator element-wise: ``array + c`` comes to __radd__.
    __array_ufunc__ = None

    def __init__(self, public_key: PublicKey, value: int) -> None:
        self._value = require_public_key(public_key)._checked_ciphertext(value)
        self.public_key = public_key

    @classmethod
    def _trusted(cls, public_key: PublicKey, value: mpz) -> Ciphertext:
        """Wrap a value this library computed itself, skipping validation."""
        ciphertext = cls.__new__(cls)
        ciphertext.public_key = public_key
        ciphertext._value = value
        return ciphertext

    @property
    def value(self) -> int:
        """The raw ciphertext: an integer in Z*_{n^2} (Paillier) or Z*_n (OU)."""
        return int(self._value)

    def _check_same_key_as(self, public_key: PublicKey) -> None:
        if self.public_key is public_key:
            return
        if self.public_key.scheme != public_key.scheme:
            raise KeyMismatchError(
                f"the ciphertext is {self.public_key.scheme} and the key {public_key.scheme}: "
                "the schemes do not mix"
            )
        if self.public_key != public_key:
            raise KeyMismatchError("operands were encrypted under different public keys")

    def __add__(self, other: Ciphertext | int) -> Ciphertext:
        key = self.public_key
        modulus = key.ciphertext_modulus
        if isinstance(other, Ciphertext):
            other._check_same_key_as(key)
            return Ciphertext._trusted(key, self._value * other._value % modulus)
        return Ciphertext._trusted(key, self._value * key.plaintext_factor(other) % modulus)

    def __radd__(self, other: int) -> Ciphertext:
        # sum() starts from the integer 0; adding it must not cost a multiplication.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self.__add__(other)

    def __neg__(self) -> Ciphertext:
        key = self.public_key
        return Ciphertext._trusted(key, gmpy2.invert(self._value, key.ciphertext_modulus))

    def __sub__(self, other: Ciphertext | int) -> Ciphertext:
        if isinstance(other, Ciphertext):
            return self + (-other)
        return self + (-as_integer(other, "plaintext"))

    def __rsub__(self, other: int) -> Ciphertext:
        return (-self) + other

    def __mul__(self, scalar: int) -> Ciphertext:
        if isinstance(scalar, Ciphertext):
            raise PlaintextTypeError(
                "an additive scheme cannot multiply two ciphertexts; scale by an int"
            )
        if isinstance(scalar, float | np.floating):
            raise PlaintextTypeError(
                "cannot multiply a ciphertext by a float: scale to an integer first"
            )
        key = self.public_key
        factor = as_integer(scalar, "a ciphertext's multiplier")
        # A negative exponent makes gmpy2 invert first: cheaper than reducing mod n.
        return Ciphertext._trusted(key, gmpy2.powmod(self._value, factor, key.ciphertext_modulus))

    __rmul__ = __mul__

    def rerandomize(self, *, strict: bool = False) -> Ciphertext:
        """The same plaintext under fresh randomness.

        ``strict=True`` uses a uniformly random ``r^n`` instead of the key's
        short-exponent base: use it when the key holder chose that base and you
        must hide from the key holder how this ciphertext was computed.
        """
        key = self.public_key
        mask = key.random_mask(strict=strict)
        return Ciphertext._trusted(key, self._value * mask % key.ciphertext_modulus)

    def to_bytes(self) -> bytes:
        """``TDCT``, version, the key's 8-byte id (SHA-256 of ``n``), then :meth:`to_raw_bytes`.

        Standalone bytes: :meth:`from_bytes` under another key raises ``KeyMismatchError``.
        """
        key_id = self.public_key.digest[:_KEY_ID_BYTES]
        return Writer(_CIPHERTEXT_MAGIC).raw(key_id).raw(self.to_raw_bytes()).to_bytes()

    @classmethod
    def from_bytes(cls, public_key: PublicKey, data: bytes) -> Ciphertext:
        """Parse :meth:`to_bytes` output, checking the key id, length and group membership."""
        require_public_key(public_key)
        reader = Reader(data, _CIPHERTEXT_MAGIC, "ciphertext")
        if reader.raw(_KEY_ID_BYTES) != public_key.digest[:_KEY_ID_BYTES]:
            raise KeyMismatchError("the ciphertext was encrypted under another public key")
        body = reader.raw(public_key.ciphertext_size)
        reader.finish()
        return cls(public_key, int.from_bytes(body, "big"))

    def to_raw_bytes(self) -> bytes:
        """The bare ``c``: big-endian, exactly ``public_key.ciphertext_size`` bytes.

        For containers that name the key once (vectors, PSI messages); nothing in these
        bytes says which key they belong to.
        """
        return int(self._value).to_bytes(self.public_key.ciphertext_size, "big")

    @classmethod
    def from_raw_bytes(cls, public_key: PublicKey, data: bytes) -> Ciphertext:
        """Parse :meth:`to_raw_bytes` output, checking length and group membership."""
        require_public_key(public_key)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"ciphertext must be bytes, not {type(data).__name__}")
        if len(data) != public_key.ciphertext_size:
            raise DecodeError(
                f"ciphertext must be {public_key.ciphertext_size} bytes, got {len(data)}"
            )
        return cls(public_key, int.from_bytes(data, "big"))

    def to_phe(self) -> phe.EncryptedNumber:
        """This ciphertext as a python-paillier ``EncryptedNumber`` (exponent 0); Paillier only."""
        import phe

        if self.public_key.scheme != "paillier":
            raise ConfigError(f"only Paillier ciphertexts go to phe, not {self.public_key.scheme}")

        return phe.EncryptedNumber(self.public_key.to_phe(), int(self._value), exponent=0)

    @classmethod
    def from_phe(cls, encrypted: phe.EncryptedNumber, *, insecure: bool = False) -> Ciphertext:
        """Adopt a python-paillier ``EncryptedNumber`` that encodes an integer.

        The ciphertext is re-randomized on the way in (a phe number need not have been
        obfuscated). A positive phe exponent is scaled into the ciphertext; a negative one
        (a fraction) raises ``PlaintextTypeError``. ``insecure=True`` accepts keys below
        2048 bits.
        """
        phe_module = check_phe_object(encrypted, "EncryptedNumber")
        from tds.he._keys import PublicKey

        key = PublicKey.from_phe(encrypted.public_key, insecure=insecure)
        exponent = encrypted.exponent
        if exponent < 0:
            raise PlaintextTypeError(
                "the phe number encodes a fraction (negative exponent); tds holds integers"
            )
        ciphertext = cls(key, encrypted.ciphertext(be_secure=False))
        if exponent > 0:
            # phe's integer is its encoding times BASE**exponent; BASE >= 2 bounds the check.
            factor = phe_module.EncodedNumber.BASE**exponent if exponent < key.n_bits else None
            if factor is None or factor > key.max_int:
                raise PlaintextRangeError(
                    f"the phe number's exponent {exponent} scales it past the key's plaintext range"
                )
            ciphertext = ciphertext * factor
        return ciphertext.rerandomize()

    def __repr__(self) -> str:
        return f"<Ciphertext key={self.public_key.fingerprint}>"
