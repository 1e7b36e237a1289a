"""Fixed-base exponentiation with a windowed table (Brickell-Gordon-McCurley-Wilson).

With the base fixed, ``base ** e`` for an ``e`` of ``b`` bits costs one modular
multiplication per non-zero byte of ``e`` and no squarings: the table holds
``base ** (d * 256**i)`` for every byte value ``d`` and byte position ``i``.
A 1024-bit exponent modulo a 4096-bit ``n^2`` thus costs at most 128
multiplications instead of the ~1200 of square-and-multiply, for a table of
``128 * 255`` residues (about 17 MB for a 2048-bit key).
"""

from __future__ import annotations

from gmpy2 import mpz, xmpz

from tds.errors import PlaintextRangeError

_DIGIT_VALUES = 256


class FixedBaseTable:
    """Powers of one base modulo one modulus, for exponents below ``2**exponent_bits``."""

    __slots__ = ("_digit_count", "_modulus", "_rows")

    def __init__(self, base: int, modulus: int, exponent_bits: int) -> None:
        self._modulus = mpz(modulus)
        self._digit_count = (exponent_bits + 7) // 8
        rows: list[list[mpz]] = []
        row_base = mpz(base) % self._modulus
        for _ in range(self._digit_count):
            row = [mpz(1), row_base]
            for _ in range(2, _DIGIT_VALUES):
                row.append(row[-1] * row_base % self._modulus)
            rows.append(row)
            row_base = row[-1] * row_base % self._modulus
        self._rows = rows

    @property
    def exponent_bits(self) -> int:
        return self._digit_count * 8

    def power(self, exponent: int) -> mpz:
        """Return ``base ** exponent % modulus`` for an int ``0 <= exponent < 2**exponent_bits``."""
        acc = xmpz(1)
        modulus = self._modulus
        try:
            digits = exponent.to_bytes(self._digit_count, "little")
        except OverflowError:
            raise PlaintextRangeError(
                f"exponent must be an integer in [0, 2**{self.exponent_bits})"
            ) from None
        for row, digit in zip(self._rows, digits, strict=True):
            if digit:
                acc *= row[digit]
                acc %= modulus
        return mpz(acc)
