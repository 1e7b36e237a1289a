"""RFC 9380 curve25519_XMD:SHA-512_ELL2_RO_: the reference path against the RFC's vectors,
and the fast batched path against the reference."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tds
from tds.errors import ConfigError, ItemTypeError
from tds.psi import _hash_to_curve as h2c

P = h2c.FIELD_PRIME
A = 486662


def on_curve(point: tuple[int, int]) -> bool:
    x, y = point
    return (y * y - (x * x * x + A * x * x + x)) % P == 0


def reference_u_of_sum(msg: bytes, dst: bytes) -> bytes:
    u0, u1 = h2c.hash_to_field(msg, dst)
    total = h2c.montgomery_add(h2c.map_to_curve_elligator2(u0), h2c.map_to_curve_elligator2(u1))
    return total[0].to_bytes(32, "little")


def test_suite_and_dst_of_the_vector_file(rfc9380_vectors: dict) -> None:
    assert rfc9380_vectors["suite"].encode() == h2c.SUITE_ID
    assert len(rfc9380_vectors["vectors"]) == 5


@pytest.mark.parametrize("index", range(5))
def test_rfc9380_vectors(rfc9380_vectors: dict, index: int) -> None:
    vector = rfc9380_vectors["vectors"][index]
    dst = rfc9380_vectors["dst"].encode()
    msg = vector["msg"].encode()
    u0, u1 = h2c.hash_to_field(msg, dst)
    assert (u0, u1) == (int(vector["u_0"], 16), int(vector["u_1"], 16))
    q0, q1 = h2c.map_to_curve_elligator2(u0), h2c.map_to_curve_elligator2(u1)
    assert (q0[0], q1[0]) == (int(vector["Q0_x"], 16), int(vector["Q1_x"], 16))
    assert on_curve(q0) and on_curve(q1)
    assert h2c.hash_to_curve(msg, dst) == (int(vector["P_x"], 16), int(vector["P_y"], 16))


@pytest.mark.parametrize("index", range(5))
def test_fast_path_matches_the_vectors(rfc9380_vectors: dict, index: int) -> None:
    """The batched u(Q0 + Q1), multiplied by the cofactor 8, is the RFC's P."""
    vector = rfc9380_vectors["vectors"][index]
    dst = rfc9380_vectors["dst"].encode()
    (u_of_sum,) = h2c.hash_to_u_batch([vector["msg"].encode()], dst)
    x = int.from_bytes(u_of_sum, "little")
    y = gmpy2.powmod(x * x * x + A * x * x + x, (P + 3) // 8, P)  # a root, up to sign
    if (y * y - (x * x * x + A * x * x + x)) % P:
        y = y * gmpy2.powmod(2, (P - 1) // 4, P) % P
    point = (x, int(y))
    for _ in range(3):
        point = h2c.montgomery_add(point, point)
    assert point[0] == int(vector["P_x"], 16)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.binary(max_size=80), min_size=1, max_size=40), st.binary(min_size=1, max_size=80)
)
def test_fast_path_equals_reference(messages: list[bytes], dst: bytes) -> None:
    fast = h2c.hash_to_u_batch(messages, dst)
    assert fast == [reference_u_of_sum(msg, dst) for msg in messages]


def test_batch_of_nothing() -> None:
    assert h2c.hash_to_u_batch([], b"dst") == []


def test_equal_field_elements_take_the_doubling_formula() -> None:
    """u1 = u0 (or -u0, which maps to the same point) makes Q1 = Q0: R = 2 Q0."""
    for u0, u1 in ((5, 5), (7, P - 7), (123456789, 123456789)):
        q = h2c.map_to_curve_elligator2(u0)
        (encoded,) = h2c._u_of_sums([(gmpy2.mpz(u0), gmpy2.mpz(u1))])
        assert encoded == h2c.montgomery_add(q, q)[0].to_bytes(32, "little")


def test_zero_maps_to_the_point_of_order_two() -> None:
    """u = 0 lands on (0, 0); twice that is the identity, which has no u and is encoded as 0."""
    assert h2c.map_to_curve_elligator2(0) == (0, 0)
    assert h2c._u_of_sums([(gmpy2.mpz(0), gmpy2.mpz(0))]) == [bytes(32)]


def test_opposite_points_sum_to_the_identity_encoded_as_zero() -> None:
    """x2(1 / 2u) = x1(u), with the opposite sign of y: the two maps cancel."""
    u0 = next(u for u in range(2, 100) if h2c.map_to_curve_elligator2(u)[1] % 2 == 1)
    u1 = int(gmpy2.invert(2 * u0, P))
    q0, q1 = h2c.map_to_curve_elligator2(u0), h2c.map_to_curve_elligator2(u1)
    assert q0[0] == q1[0] and (q0[1] + q1[1]) % P == 0
    assert h2c.montgomery_add(q0, q1) is None
    mixed = [(gmpy2.mpz(3), gmpy2.mpz(4)), (gmpy2.mpz(u0), gmpy2.mpz(u1))]
    encoded = h2c._u_of_sums(mixed)
    assert encoded[1] == bytes(32)
    assert encoded[0] == h2c._u_of_sum_reference((3, 4))


def test_montgomery_add_identity_and_inverse() -> None:
    q = h2c.map_to_curve_elligator2(11)
    assert h2c.montgomery_add(None, q) == q
    assert h2c.montgomery_add(q, None) == q
    assert h2c.montgomery_add(q, (q[0], -q[1] % P)) is None


def test_expand_message_xmd_lengths() -> None:
    long = h2c.expand_message_xmd(b"msg", b"dst", 200)
    assert len(long) == 200
    assert long[:96] != h2c.expand_message_xmd(b"msg", b"dst", 96)  # the length is hashed in
    with pytest.raises(ConfigError, match="too long"):
        h2c.expand_message_xmd(b"msg", b"dst", 255 * 64 + 1)
    with pytest.raises(ConfigError, match="255 bytes"):
        h2c.expand_message_xmd(b"msg", b"d" * 256, 96)
    with pytest.raises(ConfigError, match="255 bytes"):
        h2c.hash_to_u_batch([b"msg"], b"d" * 256)


def test_domain_separation_changes_every_point() -> None:
    messages = [b"alice", b"bob"]
    assert set(h2c.hash_to_u_batch(messages, b"job-1")).isdisjoint(
        h2c.hash_to_u_batch(messages, b"job-2")
    )


@pytest.mark.parametrize(
    ("msg", "dst", "error"),
    [
        ("text", b"dst", ItemTypeError),
        (None, b"dst", ItemTypeError),
        (b"msg", "dst", ConfigError),
        (b"msg", b"d" * 256, ConfigError),
    ],
)
def test_hash_to_curve_refuses_what_is_not_bytes(msg: object, dst: object, error: type) -> None:
    with pytest.raises(error, match="bytes"):
        tds.psi.hash_to_curve(msg, dst)  # type: ignore[arg-type]


def test_hash_to_curve_takes_any_bytes_like() -> None:
    expected = tds.psi.hash_to_curve(b"msg", b"dst")
    assert tds.psi.hash_to_curve(bytearray(b"msg"), memoryview(b"dst")) == expected
