"""The binary message format: round trips and every malformation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tds.errors import DecodeError
from tds.psi import (
    EncryptedSum,
    LeftDigests,
    LeftPoints,
    MatchBitmap,
    Mode,
    RightKey,
    RightPoints,
    decode_message,
)
from tds.psi._messages import MAX_CHUNK_ITEMS

JOB = b"job-7"
job_ids = st.binary(min_size=1, max_size=64)
modes = st.sampled_from(list(Mode))


@st.composite
def chunks(draw: st.DrawFn, item_bytes: int) -> tuple[int, int, bytes]:
    count = draw(st.integers(0, 5))
    offset = draw(st.integers(0, 2**40)) if count else 0
    total = offset + count + draw(st.integers(0, 2**20)) if count else 0
    return offset, total, draw(st.binary(min_size=count * item_bytes, max_size=count * item_bytes))


@st.composite
def messages(draw: st.DrawFn) -> object:
    job, mode = draw(job_ids), draw(modes)
    kind = draw(st.integers(0, 5))
    if kind in (0, 1):
        cls = (LeftPoints, LeftDigests)[kind]
        return cls(job, mode, *draw(chunks(cls.ITEM_BYTES)))
    if kind == 2:
        return RightKey(job, mode, draw(st.binary(max_size=300)))
    if kind == 3:
        offset, total, points = draw(chunks(32))
        size = draw(st.integers(0, 40))
        ciphertexts = draw(
            st.binary(min_size=size * (len(points) // 32), max_size=size * (len(points) // 32))
        )
        return RightPoints(job, mode, offset, total, points, size, ciphertexts)
    if kind == 4:
        bits = draw(st.lists(st.booleans(), max_size=40))
        value = sum(1 << i for i, bit in enumerate(bits) if bit)
        return MatchBitmap(job, mode, len(bits), value.to_bytes(-(-len(bits) // 8), "little"))
    return EncryptedSum(job, mode, draw(st.integers(0, 2**64 - 1)), draw(st.binary(max_size=300)))


@given(messages())
def test_round_trip(message: object) -> None:
    data = message.to_bytes()
    assert decode_message(data) == message
    assert type(message).from_bytes(data) == message
    assert data[0] == 1 and data[3] == len(message.job_id)


@given(messages(), st.data())
def test_every_truncation_and_extension_is_refused(message: object, data: st.DataObject) -> None:
    encoded = message.to_bytes()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(DecodeError):
        decode_message(encoded[:cut])
    with pytest.raises(DecodeError, match="after the message"):
        decode_message(encoded + b"\x00")


def test_known_layout_of_left_points() -> None:
    message = LeftPoints(JOB, Mode.CARDINALITY, 4, 6, bytes(range(64)))
    assert message.to_bytes() == (
        bytes([1, 1, 3, 5])
        + JOB
        + (4).to_bytes(8, "big")
        + (6).to_bytes(8, "big")
        + (2).to_bytes(4, "big")
        + bytes(range(64))
    )
    assert message.count == 2


def test_right_points_hand_out_each_ciphertext() -> None:
    message = RightPoints(JOB, Mode.SUM, 0, 2, bytes(64), 3, b"abcdef")
    assert [message.ciphertext(0), message.ciphertext(1)] == [b"abc", b"def"]


def _header(type_code: int, mode_code: int = 1, version: int = 1) -> bytes:
    return bytes([version, type_code, mode_code, len(JOB)]) + JOB


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "inside the version"),
        (_header(1, version=2), "version 2"),
        (_header(14), "message type 14"),
        (_header(1, mode_code=0), "mode code 0"),
        (_header(1, mode_code=5), "mode code 5"),
        (bytes([1, 1, 1, 0]), "job id must be"),
        (bytes([1, 1, 1, 65]) + b"j" * 65, "job id must be"),
        (
            _header(1)
            + (0).to_bytes(8, "big")
            + (2**17).to_bytes(8, "big")
            + (MAX_CHUNK_ITEMS + 1).to_bytes(4, "big"),
            "at most",
        ),
        (
            _header(1) + (0).to_bytes(8, "big") + (5).to_bytes(8, "big") + (0).to_bytes(4, "big"),
            "only an empty stream",
        ),
        (
            _header(2)
            + (3).to_bytes(8, "big")
            + (3).to_bytes(8, "big")
            + (1).to_bytes(4, "big")
            + bytes(16),
            "runs past",
        ),
        (
            _header(5) + (9).to_bytes(8, "big") + (1).to_bytes(4, "big") + b"\x00",
            "has 2 bytes",
        ),
        (
            _header(5) + (9).to_bytes(8, "big") + (2).to_bytes(4, "big") + b"\x00\x02",
            "bits past",
        ),
    ],
)
def test_malformed_bytes(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_message(data)


def test_from_bytes_checks_the_class() -> None:
    data = RightKey(JOB, Mode.SUM, b"key").to_bytes()
    with pytest.raises(DecodeError, match="expected LeftPoints, got RightKey"):
        LeftPoints.from_bytes(data)


def test_only_bytes_decode() -> None:
    with pytest.raises(DecodeError, match="bytes, not str"):
        decode_message("not bytes")


@pytest.mark.parametrize(
    "build",
    [
        lambda: LeftPoints(JOB, Mode.BOTH, 0, 1, bytes(31)),
        lambda: LeftDigests(JOB, Mode.BOTH, 0, 1, bytes(17)),
        lambda: LeftPoints(JOB, Mode.BOTH, -1, 1, bytes(32)),
        lambda: LeftPoints(JOB, Mode.BOTH, 0, 2**64, bytes(32)),
        lambda: LeftPoints(JOB, Mode.BOTH, 0, True, bytes(32)),
        lambda: LeftPoints(JOB, Mode.BOTH, 0, 1, bytearray(32)),
        lambda: LeftPoints(JOB, "both", 0, 1, bytes(32)),
        lambda: LeftPoints("job", Mode.BOTH, 0, 1, bytes(32)),
        lambda: RightPoints(JOB, Mode.SUM, 0, 1, bytes(32), 4, bytes(3)),
        lambda: RightPoints(JOB, Mode.SUM, 0, 1, bytes(32), 2**32, b""),
        lambda: MatchBitmap(JOB, Mode.BOTH, 3, b""),
        lambda: EncryptedSum(JOB, Mode.SUM, -1, b"c"),
        lambda: RightKey(JOB, Mode.SUM, "key"),
    ],
)
def test_messages_cannot_be_built_malformed(build: object) -> None:
    with pytest.raises(DecodeError):
        build()
