"""Fixed-base exponentiation with a windowed table (Brickell-Gordon-McCurley-Wilson).

With the base fixed, ``base ** e`` for an ``e`` of ``b`` bits costs one modular
multiplication per non-zero ``w``-bit digit of ``e`` and no squarings: the table holds
``base ** (d * 2**(w i))`` for every digit value ``d`` and digit position ``i``.
With bytes (``w = 8``), a 1024-bit exponent modulo a 4096-bit ``n^2`` costs at most 128
multiplications instead of the ~1200 of square-and-multiply, for a table of ``128 * 255``
residues (about 17 MB for a 2048-bit key). Wider digits trade memory for multiplications:
12 bits turn a 224-bit exponent into 19 multiplications with a 20 MB table modulo 2048 bits.
"""

from __future__ import annotations

from gmpy2 import mpz, xmpz

from tds.errors import PlaintextRangeError


class FixedBaseTable:
    """Powers of one base modulo one modulus, for exponents below ``2**exponent_bits``, in
    digits of ``window_bits`` bits."""

    __slots__ = ("_digit_count", "_modulus", "_rows", "_window_bits")

    def __init__(self, base: int, modulus: int, exponent_bits: int, window_bits: int = 8) -> None:
        self._modulus = mpz(modulus)
        self._window_bits = window_bits
        self._digit_count = -(-exponent_bits // window_bits)
        rows: list[list[mpz]] = []
        row_base = mpz(base) % self._modulus
        for _ in range(self._digit_count):
            row = [mpz(1), row_base]
            for _ in range(2, 1 << window_bits):
                row.append(row[-1] * row_base % self._modulus)
            rows.append(row)
            row_base = row[-1] * row_base % self._modulus
        self._rows = rows

    @property
    def exponent_bits(self) -> int:
        return self._digit_count * self._window_bits

    def power(self, exponent: int) -> mpz:
        """Return ``base ** exponent % modulus`` for an int ``0 <= exponent < 2**exponent_bits``."""
        if not 0 <= exponent < 1 << self.exponent_bits:
            raise PlaintextRangeError(
                f"exponent must be an integer in [0, 2**{self.exponent_bits})"
            )
        acc = xmpz(1)
        modulus = self._modulus
        if self._window_bits == 8:
            digits: list[int] | bytes = exponent.to_bytes(self._digit_count, "little")
        else:
            mask, width = (1 << self._window_bits) - 1, self._window_bits
            digits = [(exponent >> (width * i)) & mask for i in range(self._digit_count)]
        for row, digit in zip(self._rows, digits, strict=True):
            if digit:
                acc *= row[digit]
                acc %= modulus
        return mpz(acc)
