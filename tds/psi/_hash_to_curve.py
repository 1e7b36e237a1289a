"""RFC 9380 hash-to-curve, suite ``curve25519_XMD:SHA-512_ELL2_RO_``.

Two entry points:

* :func:`hash_to_curve` is the RFC's ``hash_to_curve`` for one message, returning the affine
  Montgomery point ``P = clear_cofactor(Q0 + Q1)``. It is the readable reference, checked against
  the RFC's test vectors.
* :func:`hash_to_u_batch` is the fast path the protocol uses. It returns the u-coordinate of
  ``R = Q0 + Q1`` for many messages at once, and leaves ``clear_cofactor`` (multiplication by 8)
  to X25519: the clamped scalar ``k`` is a multiple of 8, so ``X25519(k, u(R)) = u((k/8)·P)`` and
  the protocol works in the prime-order subgroup exactly as if it had started from ``P``.

The fast path follows the straight-line ``map_to_curve_elligator2_curve25519`` of RFC 9380
appendix G.2.1, whose only exponentiation per map is batched through
``gmpy2.powmod_base_list``; the point addition needs one inversion per message, and those are
batched with Montgomery's trick into a single ``gmpy2.invert``. The code is not constant time
(Python integers never are); it hashes a party's own items, whose timing a remote peer does not
observe in any useful resolution.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import gmpy2

from tds.errors import ConfigError, ItemTypeError

__all__ = [
    "FIELD_PRIME",
    "SUITE_ID",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_field",
    "hash_to_u_batch",
    "map_to_curve_elligator2",
    "montgomery_add",
]

SUITE_ID = b"curve25519_XMD:SHA-512_ELL2_RO_"

FIELD_PRIME = 2**255 - 19
_P = gmpy2.mpz(FIELD_PRIME)
_J = gmpy2.mpz(486662)  # Montgomery coefficient A; RFC 9380 calls it J in appendix G.2
_J_CUBED = _J**3 % _P
_MINUS_J = _P - _J
_C2 = gmpy2.powmod(2, (_P + 3) // 8, _P)  # 2^((p+3)/8), RFC 9380 G.2.1 constant c2
_C3 = gmpy2.powmod(2, (_P - 1) // 4, _P)  # a square root of -1, constant c3
_C4 = (_P - 5) // 8  # the exponent of the single exponentiation, constant c4

_FIELD_ELEMENT_BYTES = 48  # L = ceil((ceil(log2(p)) + k) / 8) with k = 128
_HASH_BLOCK_BYTES = 128  # SHA-512 input block size, the length of Z_pad

AffinePoint = tuple[int, int] | None  # (u, v) on v^2 = u^3 + A u^2 + u; None is the identity


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512."""
    if len(dst) > 255:
        raise ConfigError("a domain separation tag longer than 255 bytes must be hashed first")
    blocks = -(-len_in_bytes // 64)
    if blocks > 255 or len_in_bytes > 65535:
        raise ConfigError("expand_message_xmd output too long")
    dst_prime = dst + bytes([len(dst)])
    b_0 = hashlib.sha512(
        bytes(_HASH_BLOCK_BYTES) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime
    ).digest()
    b_i = hashlib.sha512(b_0 + b"\x01" + dst_prime).digest()
    uniform = [b_i]
    for i in range(2, blocks + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, b_i, strict=True))
        b_i = hashlib.sha512(mixed + bytes([i]) + dst_prime).digest()
        uniform.append(b_i)
    return b"".join(uniform)[:len_in_bytes]


def hash_to_field(msg: bytes, dst: bytes, count: int = 2) -> list[int]:
    """RFC 9380 section 5.2 for GF(2^255 - 19)."""
    uniform = expand_message_xmd(msg, dst, count * _FIELD_ELEMENT_BYTES)
    return [
        int.from_bytes(uniform[i * _FIELD_ELEMENT_BYTES : (i + 1) * _FIELD_ELEMENT_BYTES], "big")
        % FIELD_PRIME
        for i in range(count)
    ]


def map_to_curve_elligator2(u: int) -> tuple[int, int]:
    """RFC 9380 appendix G.2.1, returning the affine Montgomery point (x, y).

    The conditional moves of the RFC are written as branches; the arithmetic is step for step.
    """
    u = gmpy2.mpz(u)
    tv1 = 2 * u * u % _P
    xd = (tv1 + 1) % _P  # never zero: -1 is a square mod p and 2 u^2 is not
    x1n = _MINUS_J
    tv2 = xd * xd % _P
    gxd = tv2 * xd % _P
    gx1 = (_J * tv1 * x1n + tv2) * x1n % _P
    tv3 = gxd * gxd % _P
    tv2 = tv3 * tv3 % _P
    tv3 = tv3 * gxd * gx1 % _P
    tv2 = tv2 * tv3 % _P
    y11 = gmpy2.powmod(tv2, _C4, _P) * tv3 % _P
    y12 = y11 * _C3 % _P
    y1 = y11 if y11 * y11 * gxd % _P == gx1 else y12
    x2n = x1n * tv1 % _P
    y21 = y11 * u * _C2 % _P
    y22 = y21 * _C3 % _P
    gx2 = gx1 * tv1 % _P
    y2 = y21 if y21 * y21 * gxd % _P == gx2 else y22
    e3 = y1 * y1 * gxd % _P == gx1
    xn, y = (x1n, y1) if e3 else (x2n, y2)
    if (y % 2 == 1) != e3:  # sgn0(y) must equal e3
        y = -y % _P
    return int(xn * gmpy2.invert(xd, _P) % _P), int(y)


def montgomery_add(p1: AffinePoint, p2: AffinePoint) -> AffinePoint:
    """Affine addition on curve25519 in Montgomery form, doubling and identity included."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % FIELD_PRIME == 0:
            return None
        slope = (3 * x1 * x1 + 2 * 486662 * x1 + 1) * pow(2 * y1, -1, FIELD_PRIME)
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, FIELD_PRIME)
    x3 = (slope * slope - 486662 - x1 - x2) % FIELD_PRIME
    y3 = (slope * (x1 - x3) - y1) % FIELD_PRIME
    return x3, y3


def hash_to_curve(msg: bytes, dst: bytes) -> AffinePoint:
    """RFC 9380 ``hash_to_curve``: the affine point P = clear_cofactor(Q0 + Q1).

    ``msg`` is the bytes of an item (:func:`~tds.psi.encode_item`), ``dst`` the domain
    separation tag, at most 255 bytes.
    """
    if not isinstance(msg, bytes | bytearray | memoryview):
        raise ItemTypeError(
            f"hash_to_curve hashes bytes, such as encode_item(item), not {type(msg).__name__}"
        )
    if not isinstance(dst, bytes | bytearray | memoryview):
        raise ConfigError(f"the domain separation tag must be bytes, not {type(dst).__name__}")
    u0, u1 = hash_to_field(bytes(msg), bytes(dst))
    point = montgomery_add(map_to_curve_elligator2(u0), map_to_curve_elligator2(u1))
    for _ in range(3):  # h_eff = 8
        point = montgomery_add(point, point)
    return point


def _hashed_field_pairs_state(dst: bytes) -> tuple[object, bytes, bytes, bytes]:
    """The SHA-512 state after Z_pad and the fixed tails of b_0, b_1 and b_2 for ``dst``."""
    if len(dst) > 255:
        raise ConfigError("a domain separation tag longer than 255 bytes must be hashed first")
    dst_prime = dst + bytes([len(dst)])
    b0_tail = (2 * _FIELD_ELEMENT_BYTES).to_bytes(2, "big") + b"\x00" + dst_prime
    zpad_state = hashlib.sha512(bytes(_HASH_BLOCK_BYTES))
    return zpad_state, b0_tail, b"\x01" + dst_prime, b"\x02" + dst_prime


def hash_to_u_batch(messages: Sequence[bytes], dst: bytes) -> list[bytes]:
    """u(Q0 + Q1) for every message, as the 32-byte little-endian X25519 encoding.

    The cofactor is deliberately not cleared; see the module docstring.
    """
    zpad_state, b0_tail, b1_tail, b2_tail = _hashed_field_pairs_state(dst)
    sha512 = hashlib.sha512
    from_bytes = int.from_bytes
    low_384_bits = (1 << 384) - 1
    pairs = []
    for msg in messages:
        # expand_message_xmd(msg, dst, 96) and the two 48-byte field elements, inlined.
        state = zpad_state.copy()
        state.update(msg + b0_tail)
        b_0 = state.digest()
        b_1 = sha512(b_0 + b1_tail).digest()
        mixed = (from_bytes(b_0, "big") ^ from_bytes(b_1, "big")).to_bytes(64, "big")
        uniform = from_bytes(b_1 + sha512(mixed + b2_tail).digest()[:32], "big")
        pairs.append(((uniform >> 384) % _P, (uniform & low_384_bits) % _P))
    return _u_of_sums(pairs)


def _u_of_sums(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
    """u(map(u0) + map(u1)) for every field pair, batching exponentiations and inversions."""
    # Every constant is an mpz: mixing Python ints into mpz arithmetic costs a conversion each.
    p = _P
    j = _J
    one = gmpy2.mpz(1)
    two_j_cubed = 2 * _J_CUBED % p
    # Stage 1, per map: G.2.1 steps 1-15, everything before the exponentiation.
    maps = []
    bases = []
    for pair in pairs:
        for u in pair:
            u_sq = u * u % p
            xd = u_sq + u_sq + one
            xd_sq = xd * xd % p
            gxd = xd_sq * xd % p
            gx1 = (two_j_cubed * u_sq - j * xd_sq) % p
            gxd_sq = gxd * gxd % p
            tv3 = gxd_sq * gxd * gx1 % p  # gx1 * gxd^3
            bases.append(tv3 * gxd_sq * gxd_sq % p)  # gx1 * gxd^7
            maps.append((u, u_sq, xd, gxd, gx1, tv3))
    powers = gmpy2.powmod_base_list(bases, _C4, p)
    # Stage 2, per message: finish both maps (G.2.1 steps 16-38), then x(Q0 + Q1) as a
    # fraction. With x_i = n_i / d_i:
    #   slope = (y1 - y0) d0 d1 / (n1 d0 - n0 d1),  x = slope^2 - J - n0 / d0 - n1 / d1.
    minus_j = _MINUS_J
    minus_two_j = 2 * _MINUS_J
    c2 = _C2
    c3 = _C3
    numerators = []
    denominators = []
    exceptional = []
    finished = [None, None]
    for index in range(len(pairs)):
        for side in (0, 1):
            u, u_sq, xd, gxd, gx1, tv3 = maps[2 * index + side]
            y = powers[2 * index + side] * tv3 % p
            check = y * y * gxd % p
            if check == gx1:  # g(x1) is a square and y11 its root
                xn, y_is_odd = minus_j, True
            elif check + gx1 == p:  # g(x1) is a square and c3 * y11 its root
                xn, y, y_is_odd = minus_j, y * c3 % p, True
            else:  # g(x2) is: y21 = y11 u c2, and the check y21^2 gxd == gx2 simplifies
                xn = minus_two_j * u_sq % p
                y = y * u * c2 % p
                if check * c3 % p != gx1:
                    y = y * c3 % p
                y_is_odd = False
            if y.is_odd() != y_is_odd:  # sgn0(y) must equal e3
                y = (p - y) % p
            finished[side] = (xn, xd, y)
        (n0, d0, y0), (n1, d1, y1) = finished
        n0_d1 = n0 * d1
        n1_d0 = n1 * d0
        difference = (n1_d0 - n0_d1) % p
        if difference == 0:  # Q1 = ±Q0: the chord formula does not apply
            exceptional.append(index)
            numerators.append(0)
            denominators.append(gmpy2.mpz(1))
            continue
        d01 = d0 * d1 % p
        dy = y1 - y0
        difference_sq = difference * difference % p
        numerators.append(
            (dy * dy * d01 % p * d01 * d01 - (j * d01 + n0_d1 + n1_d0) * difference_sq) % p
        )
        denominators.append(difference_sq * d01 % p)
    inverses = _batch_invert(denominators)
    encoded = [
        (numerator * inverse % p).to_bytes(32, "little")
        for numerator, inverse in zip(numerators, inverses, strict=True)
    ]
    for index in exceptional:
        encoded[index] = _u_of_sum_reference(pairs[index])
    return encoded


def _u_of_sum_reference(pair: tuple[int, int]) -> bytes:
    """The general formula, for the (cryptographically unreachable) case Q1 = ±Q0.

    The identity has no affine u; it is encoded as u = 0, a low-order point that X25519 rejects.
    """
    total = montgomery_add(map_to_curve_elligator2(pair[0]), map_to_curve_elligator2(pair[1]))
    return (0 if total is None else total[0]).to_bytes(32, "little")


def _batch_invert(values: Sequence[gmpy2.mpz]) -> list[gmpy2.mpz]:
    """Montgomery's trick: n inverses for one inversion and 3(n - 1) multiplications."""
    if not values:
        return []
    p = _P
    prefix = [values[0]]
    for value in values[1:]:
        prefix.append(prefix[-1] * value % p)
    inverse = gmpy2.invert(prefix[-1], p)
    inverses = [gmpy2.mpz(0)] * len(values)
    for index in range(len(values) - 1, 0, -1):
        inverses[index] = inverse * prefix[index - 1] % p
        inverse = inverse * values[index] % p
    inverses[0] = inverse
    return inverses
