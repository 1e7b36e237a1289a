"""The messages of a secure join and their binary format.

Every message starts with the same header and ends exactly where its lengths say::

    offset  size  field
    0       1     format version, 1
    1       1     message type (the TYPE of each class below)
    2       1     mode: 1 intersection, 2 both, 3 cardinality, 4 sum
    3       1     J, the length of the job id (1..64)
    4       J     job id

Integers are unsigned big-endian; ``u32``/``u64`` name their widths. Streams (points, digests)
are cut into chunks of at most ``MAX_CHUNK_ITEMS`` items, and each chunk carries its ``offset``
(index of its first item in the stream) and the stream's ``total``, so the receiver can check
order and completeness. An empty stream is one chunk with offset 0, total 0 and no items.
Decoding checks every length and raises :class:`~tds.errors.DecodeError`; whether a
well-formed message fits the protocol at that moment is for the receiving party to judge.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from tds.errors import ConfigError, DecodeError
from tds.psi._group import DIGEST_BYTES, POINT_BYTES
from tds.psi._result import Mode

__all__ = [
    "FORMAT_VERSION",
    "MAX_BUCKETS",
    "MAX_CHUNK_ITEMS",
    "MAX_JOB_ID_BYTES",
    "MAX_WINDOW",
    "BucketMessage",
    "BucketPlan",
    "BucketSetup",
    "EncryptedSum",
    "LeftDigests",
    "LeftPoints",
    "MatchBitmap",
    "Message",
    "OprfColumns",
    "OprfOutputs",
    "OprfReply",
    "OprfSetup",
    "RightKey",
    "RightPoints",
    "decode_message",
    "job_id_bytes",
]

FORMAT_VERSION = 1
MAX_CHUNK_ITEMS = 1 << 16
MAX_JOB_ID_BYTES = 64
_U32 = 1 << 32
_U64 = 1 << 64
_MODE_CODES = {Mode.INTERSECTION: 1, Mode.BOTH: 2, Mode.CARDINALITY: 3, Mode.SUM: 4}
_MODES_BY_CODE = {code: mode for mode, code in _MODE_CODES.items()}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._position = 0

    def take(self, size: int, what: str) -> bytes:
        end = self._position + size
        if end > len(self._data):
            raise DecodeError(f"message ends inside {what}")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    @property
    def remaining(self) -> int:
        return len(self._data) - self._position

    def finish(self) -> None:
        if self._position != len(self._data):
            raise DecodeError(f"{len(self._data) - self._position} bytes after the message")


@dataclass(frozen=True)
class _Message(ABC):
    """Fields every message carries: the job it belongs to and the job's mode."""

    TYPE: ClassVar[int]

    job_id: bytes
    mode: Mode

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        if not isinstance(self.mode, Mode):
            raise DecodeError(f"mode must be a Mode, not {self.mode!r}")

    def _header(self) -> bytes:
        return (
            bytes([FORMAT_VERSION, self.TYPE, _MODE_CODES[self.mode], len(self.job_id)])
            + self.job_id
        )

    def to_bytes(self) -> bytes:
        return self._header() + self._body()

    @abstractmethod
    def _body(self) -> bytes: ...

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        """Decode a message of this class (``decode_message`` accepts any)."""
        message = decode_message(data)
        if not isinstance(message, cls):
            raise DecodeError(f"expected {cls.__name__}, got {type(message).__name__}")
        return message


def job_id_bytes(job_id: str | bytes) -> bytes:
    """A party's job id as the bytes its messages carry (ConfigError if it cannot be)."""
    if isinstance(job_id, str):
        try:
            job_id = job_id.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ConfigError(
                f"job_id holds a lone surrogate at position {error.start}, which is not valid "
                "Unicode; use a str of valid text or bytes"
            ) from None
    if not isinstance(job_id, bytes) or not 1 <= len(job_id) <= MAX_JOB_ID_BYTES:
        raise ConfigError(f"job_id must be a str or bytes of 1 to {MAX_JOB_ID_BYTES} bytes")
    return job_id


def _check_job_id(job_id: object) -> None:
    if not isinstance(job_id, bytes) or not 1 <= len(job_id) <= MAX_JOB_ID_BYTES:
        raise DecodeError(f"job id must be 1 to {MAX_JOB_ID_BYTES} bytes")


def _check_uint(value: object, limit: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise DecodeError(f"{what} must be an integer in [0, {limit})")


def _check_bytes(value: object, what: str) -> None:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what} must be bytes")


@dataclass(frozen=True)
class _Chunk(_Message):
    """A slice of a stream: items ``offset .. offset + count - 1`` of ``total``."""

    offset: int
    total: int

    ITEM_BYTES: ClassVar[int]

    @property
    def count(self) -> int:
        return len(self._items()) // self.ITEM_BYTES

    @abstractmethod
    def _items(self) -> bytes: ...

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.offset, _U64, "offset")
        _check_uint(self.total, _U64, "total")
        items = self._items()
        _check_bytes(items, "items")
        if len(items) % self.ITEM_BYTES:
            raise DecodeError(f"items must be whole {self.ITEM_BYTES}-byte units")
        count = len(items) // self.ITEM_BYTES
        if count > MAX_CHUNK_ITEMS:
            raise DecodeError(f"a chunk holds at most {MAX_CHUNK_ITEMS} items, not {count}")
        if self.offset + count > self.total:
            raise DecodeError("chunk runs past the stream's total")
        if count == 0 and self.total != 0:
            raise DecodeError("only an empty stream has an empty chunk")

    def _chunk_header(self) -> bytes:
        return (
            self.offset.to_bytes(8, "big")
            + self.total.to_bytes(8, "big")
            + self.count.to_bytes(4, "big")
        )


@dataclass(frozen=True)
class LeftPoints(_Chunk):
    """Left to right: ``a·H(x)`` for a chunk of the left's shuffled distinct items.

    Body: offset u64, total u64, count u32, count x 32-byte u-coordinates.
    """

    TYPE: ClassVar[int] = 1
    ITEM_BYTES: ClassVar[int] = POINT_BYTES

    points: bytes

    def _items(self) -> bytes:
        return self.points

    def _body(self) -> bytes:
        return self._chunk_header() + self.points


@dataclass(frozen=True)
class LeftDigests(_Chunk):
    """Right to left: digests of ``b·(a·H(x))`` for the left's points.

    In ``intersection`` and ``both`` they follow the order of :class:`LeftPoints`, so the left
    knows which of its items each belongs to; in ``cardinality`` and ``sum`` the right
    shuffles the whole stream first, so the left can only count matches.

    Body: offset u64, total u64, count u32, count x 16-byte digests.
    """

    TYPE: ClassVar[int] = 2
    ITEM_BYTES: ClassVar[int] = DIGEST_BYTES

    digests: bytes

    def _items(self) -> bytes:
        return self.digests

    def _body(self) -> bytes:
        return self._chunk_header() + self.digests


@dataclass(frozen=True)
class RightKey(_Message):
    """Right to left, ``sum`` only: the right's Paillier public key (``tds.he`` bytes).

    Body: length u32, key bytes.
    """

    TYPE: ClassVar[int] = 3

    public_key: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bytes(self.public_key, "public key")
        _check_uint(len(self.public_key), _U32, "public key length")

    def _body(self) -> bytes:
        return len(self.public_key).to_bytes(4, "big") + self.public_key


@dataclass(frozen=True)
class RightPoints(_Chunk):
    """Right to left: ``b·H(y)`` for a chunk of the right's shuffled distinct items.

    In ``sum`` each point comes with the Paillier encryption of that item's value (the same
    position in ``ciphertexts``); otherwise ``ciphertext_size`` is 0.

    Body: offset u64, total u64, count u32, ciphertext_size u32, count x 32-byte points,
    count x ciphertext_size bytes of ciphertexts.
    """

    TYPE: ClassVar[int] = 4
    ITEM_BYTES: ClassVar[int] = POINT_BYTES

    points: bytes
    ciphertext_size: int = 0
    ciphertexts: bytes = b""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.ciphertext_size, _U32, "ciphertext size")
        _check_bytes(self.ciphertexts, "ciphertexts")
        if len(self.ciphertexts) != self.count * self.ciphertext_size:
            raise DecodeError("ciphertexts must be count x ciphertext_size bytes")

    def _items(self) -> bytes:
        return self.points

    def ciphertext(self, index: int) -> bytes:
        """The ciphertext that travels with point ``index`` of this chunk."""
        start = index * self.ciphertext_size
        return self.ciphertexts[start : start + self.ciphertext_size]

    def _body(self) -> bytes:
        return (
            self._chunk_header()
            + self.ciphertext_size.to_bytes(4, "big")
            + self.points
            + self.ciphertexts
        )


@dataclass(frozen=True)
class MatchBitmap(_Message):
    """Left to right, ``both`` only: which of the right's points matched.

    Bit ``j`` (byte ``j // 8``, bit ``j % 8`` counted from the least significant) is set when
    point ``j`` of the right's :class:`RightPoints` stream matched.

    Body: total u64 (bits), length u32, ceil(total / 8) bytes; the unused bits are zero.
    """

    TYPE: ClassVar[int] = 5

    total: int
    bitmap: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.total, _U64, "total")
        _check_bytes(self.bitmap, "bitmap")
        if len(self.bitmap) != -(-self.total // 8):
            raise DecodeError(f"a bitmap of {self.total} bits has {-(-self.total // 8)} bytes")
        if self.total % 8 and self.bitmap[-1] >> (self.total % 8):
            raise DecodeError("bits past the bitmap's total are set")

    def _body(self) -> bytes:
        return self.total.to_bytes(8, "big") + len(self.bitmap).to_bytes(4, "big") + self.bitmap


@dataclass(frozen=True)
class EncryptedSum(_Message):
    """Left to right, ``sum`` only: the intersection size and the re-randomized encrypted sum.

    Body: size u64, length u32, ciphertext bytes (``tds.he`` fixed-length big-endian).
    """

    TYPE: ClassVar[int] = 6

    size: int
    ciphertext: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.size, _U64, "size")
        _check_bytes(self.ciphertext, "ciphertext")
        _check_uint(len(self.ciphertext), _U32, "ciphertext length")

    def _body(self) -> bytes:
        return (
            self.size.to_bytes(8, "big") + len(self.ciphertext).to_bytes(4, "big") + self.ciphertext
        )


@dataclass(frozen=True)
class OprfSetup(_Message):
    """Right to left, OPRF protocol: the right's set size, the matrix width ``w``, the seed
    the job's hash keys derive from, and the public keys of ``w`` random OTs (a pair each).

    Body: right_set_size u64, width u32, seed 16 bytes, width x 64 bytes of key pairs.
    """

    TYPE: ClassVar[int] = 7
    SEED_BYTES: ClassVar[int] = 16

    right_set_size: int
    width: int
    seed: bytes
    ot_request: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.right_set_size, _U64, "right set size")
        _check_uint(self.width, _U32, "width")
        _check_bytes(self.seed, "seed")
        _check_bytes(self.ot_request, "OT request")
        if len(self.seed) != self.SEED_BYTES:
            raise DecodeError(f"the seed is {self.SEED_BYTES} bytes")
        if len(self.ot_request) != 64 * self.width:
            raise DecodeError("the OT request holds one 64-byte key pair per column")

    def _body(self) -> bytes:
        return (
            self.right_set_size.to_bytes(8, "big")
            + self.width.to_bytes(4, "big")
            + self.seed
            + self.ot_request
        )


@dataclass(frozen=True)
class OprfReply(_Message):
    """Left to right, OPRF protocol: the left's set size, the matrix height ``m``, and the
    ephemeral public value of each random OT.

    Body: left_set_size u64, rows u64, count u32, count x 32 bytes.
    """

    TYPE: ClassVar[int] = 8

    left_set_size: int
    rows: int
    ot_reply: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.left_set_size, _U64, "left set size")
        _check_uint(self.rows, _U64, "rows")
        _check_bytes(self.ot_reply, "OT reply")
        if len(self.ot_reply) % 32 or len(self.ot_reply) // 32 >= _U32:
            raise DecodeError("the OT reply holds whole 32-byte values")

    def _body(self) -> bytes:
        return (
            self.left_set_size.to_bytes(8, "big")
            + self.rows.to_bytes(8, "big")
            + (len(self.ot_reply) // 32).to_bytes(4, "big")
            + self.ot_reply
        )


@dataclass(frozen=True)
class OprfColumns(_Message):
    """Left to right, OPRF protocol: columns ``offset .. offset + count - 1`` of the
    correction matrix ``A ⊕ B ⊕ D``, each ``column_bytes`` long (``m / 8``).

    Body: offset u32, total u32, count u32, column_bytes u32, count x column_bytes bytes.
    """

    TYPE: ClassVar[int] = 9

    offset: int
    total: int
    column_bytes: int
    columns: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        for value, what in ((self.offset, "offset"), (self.total, "total")):
            _check_uint(value, _U32, what)
        _check_uint(self.column_bytes, _U32, "column size")
        _check_bytes(self.columns, "columns")
        if not self.column_bytes or len(self.columns) % self.column_bytes:
            raise DecodeError("columns must be whole columns of a nonzero size")
        if not self.count or self.offset + self.count > self.total:
            raise DecodeError("a chunk holds at least one column, within the total")

    @property
    def count(self) -> int:
        return len(self.columns) // self.column_bytes if self.column_bytes else 0

    def _body(self) -> bytes:
        return (
            self.offset.to_bytes(4, "big")
            + self.total.to_bytes(4, "big")
            + self.count.to_bytes(4, "big")
            + self.column_bytes.to_bytes(4, "big")
            + self.columns
        )


@dataclass(frozen=True)
class OprfOutputs(_Message):
    """Right to left, OPRF protocol: the OPRF outputs of a chunk of the right's shuffled
    items, each ``output_bytes`` long.

    Body: offset u64, total u64, count u32, output_bytes u8, count x output_bytes bytes.
    """

    TYPE: ClassVar[int] = 10

    offset: int
    total: int
    output_bytes: int
    outputs: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.offset, _U64, "offset")
        _check_uint(self.total, _U64, "total")
        _check_uint(self.output_bytes, 33, "output size")
        _check_bytes(self.outputs, "outputs")
        if not self.output_bytes or len(self.outputs) % self.output_bytes:
            raise DecodeError("outputs must be whole outputs of a nonzero size")
        if self.count > MAX_CHUNK_ITEMS:
            raise DecodeError(f"a chunk holds at most {MAX_CHUNK_ITEMS} items, not {self.count}")
        if self.offset + self.count > self.total:
            raise DecodeError("chunk runs past the stream's total")
        if self.count == 0 and self.total != 0:
            raise DecodeError("only an empty stream has an empty chunk")

    @property
    def count(self) -> int:
        return len(self.outputs) // self.output_bytes if self.output_bytes else 0

    def _body(self) -> bytes:
        return (
            self.offset.to_bytes(8, "big")
            + self.total.to_bytes(8, "big")
            + self.count.to_bytes(4, "big")
            + bytes([self.output_bytes])
            + self.outputs
        )


_PROTOCOL_CODES = {"ecdh": 1, "oprf": 2}
_PROTOCOLS_BY_CODE = {code: name for name, code in _PROTOCOL_CODES.items()}
MAX_BUCKETS = 1 << 16
MAX_WINDOW = 64


@dataclass(frozen=True)
class BucketSetup(_Message):
    """Right to left, bucketed join: the protocol each bucket runs (``ecdh`` or ``oprf``), the
    right's set size, how many buckets it works on at once, and the seed of the bucket hash.

    Body: protocol u8 (1 ecdh, 2 oprf), right_set_size u64, window u8, seed 16 bytes.
    """

    TYPE: ClassVar[int] = 11
    SEED_BYTES: ClassVar[int] = 16

    protocol: str
    right_set_size: int
    window: int
    seed: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.protocol not in _PROTOCOL_CODES:
            raise DecodeError(f"a bucket runs ecdh or oprf, not {self.protocol!r:.20}")
        _check_uint(self.right_set_size, _U64, "right set size")
        _check_window(self.window)
        _check_bytes(self.seed, "seed")
        if len(self.seed) != self.SEED_BYTES:
            raise DecodeError(f"the seed is {self.SEED_BYTES} bytes")

    def _body(self) -> bytes:
        return (
            bytes([_PROTOCOL_CODES[self.protocol]])
            + self.right_set_size.to_bytes(8, "big")
            + bytes([self.window])
            + self.seed
        )


@dataclass(frozen=True)
class BucketPlan(_Message):
    """Left to right, bucketed join: the left's set size, the number of buckets (a power of
    two) and how many buckets the left works on at once.

    Body: left_set_size u64, buckets u32, window u8.
    """

    TYPE: ClassVar[int] = 12

    left_set_size: int
    buckets: int
    window: int

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.left_set_size, _U64, "left set size")
        _check_uint(self.buckets, MAX_BUCKETS + 1, "buckets")
        if self.buckets < 1 or self.buckets & (self.buckets - 1):
            raise DecodeError(f"the number of buckets is a power of two, not {self.buckets}")
        _check_window(self.window)

    def _body(self) -> bytes:
        return (
            self.left_set_size.to_bytes(8, "big")
            + self.buckets.to_bytes(4, "big")
            + bytes([self.window])
        )


@dataclass(frozen=True)
class BucketMessage(_Message):
    """Either way, bucketed join: a message of the join inside bucket ``bucket``, whole.

    Body: bucket u32, then the inner message to the end (never itself a bucket message).
    """

    TYPE: ClassVar[int] = 13

    bucket: int
    inner: bytes

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_uint(self.bucket, MAX_BUCKETS, "bucket")
        _check_bytes(self.inner, "inner message")
        if len(self.inner) < 2 or self.inner[1] in _BUCKET_TYPES:
            raise DecodeError("a bucket carries one message of its join, not a bucket message")

    def _body(self) -> bytes:
        return self.bucket.to_bytes(4, "big") + self.inner


_BUCKET_TYPES = frozenset({BucketSetup.TYPE, BucketPlan.TYPE, BucketMessage.TYPE})


def _check_window(window: object) -> None:
    _check_uint(window, MAX_WINDOW + 1, "window")
    if not window:
        raise DecodeError("a party works on at least one bucket at once")


Message = (
    LeftPoints
    | LeftDigests
    | RightKey
    | RightPoints
    | MatchBitmap
    | EncryptedSum
    | OprfSetup
    | OprfReply
    | OprfColumns
    | OprfOutputs
    | BucketSetup
    | BucketPlan
    | BucketMessage
)


def decode_message(data: bytes) -> Message:
    """Decode any secure-join message from its bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"a message is bytes, not {type(data).__name__}")
    reader = _Reader(data)
    version = reader.uint(1, "the version")
    if version != FORMAT_VERSION:
        raise DecodeError(f"unknown message format version {version}")
    type_code = reader.uint(1, "the message type")
    mode_code = reader.uint(1, "the mode")
    if mode_code not in _MODES_BY_CODE:
        raise DecodeError(f"unknown mode code {mode_code}")
    mode = _MODES_BY_CODE[mode_code]
    job_id = reader.take(reader.uint(1, "the job id length"), "the job id")
    _check_job_id(job_id)
    match type_code:
        case LeftPoints.TYPE | LeftDigests.TYPE:
            cls = LeftPoints if type_code == LeftPoints.TYPE else LeftDigests
            offset, total, count = _chunk_fields(reader)
            items = reader.take(count * cls.ITEM_BYTES, "the items")
            message: Message = cls(job_id, mode, offset, total, items)
        case RightKey.TYPE:
            message = RightKey(job_id, mode, reader.take(reader.uint(4, "a length"), "the key"))
        case RightPoints.TYPE:
            offset, total, count = _chunk_fields(reader)
            ciphertext_size = reader.uint(4, "the ciphertext size")
            points = reader.take(count * POINT_BYTES, "the points")
            ciphertexts = reader.take(count * ciphertext_size, "the ciphertexts")
            message = RightPoints(job_id, mode, offset, total, points, ciphertext_size, ciphertexts)
        case MatchBitmap.TYPE:
            total = reader.uint(8, "the total")
            message = MatchBitmap(
                job_id, mode, total, reader.take(reader.uint(4, "a length"), "the bitmap")
            )
        case EncryptedSum.TYPE:
            size = reader.uint(8, "the size")
            ciphertext = reader.take(reader.uint(4, "a length"), "the ciphertext")
            message = EncryptedSum(job_id, mode, size, ciphertext)
        case OprfSetup.TYPE:
            right_size = reader.uint(8, "the set size")
            width = reader.uint(4, "the width")
            seed = reader.take(OprfSetup.SEED_BYTES, "the seed")
            request = reader.take(64 * width, "the OT request")
            message = OprfSetup(job_id, mode, right_size, width, seed, request)
        case OprfReply.TYPE:
            left_size = reader.uint(8, "the set size")
            rows = reader.uint(8, "the rows")
            reply = reader.take(32 * reader.uint(4, "a count"), "the OT reply")
            message = OprfReply(job_id, mode, left_size, rows, reply)
        case OprfColumns.TYPE:
            offset, total, count = (reader.uint(4, what) for what in ("offset", "total", "count"))
            column_bytes = reader.uint(4, "the column size")
            columns = reader.take(count * column_bytes, "the columns")
            message = OprfColumns(job_id, mode, offset, total, column_bytes, columns)
        case OprfOutputs.TYPE:
            offset, total, count = _chunk_fields(reader)
            size = reader.uint(1, "the output size")
            outputs = reader.take(count * size, "the outputs")
            message = OprfOutputs(job_id, mode, offset, total, size, outputs)
        case BucketSetup.TYPE:
            code = reader.uint(1, "the protocol")
            if code not in _PROTOCOLS_BY_CODE:
                raise DecodeError(f"unknown protocol code {code}")
            right_size = reader.uint(8, "the set size")
            window = reader.uint(1, "the window")
            seed = reader.take(BucketSetup.SEED_BYTES, "the seed")
            message = BucketSetup(job_id, mode, _PROTOCOLS_BY_CODE[code], right_size, window, seed)
        case BucketPlan.TYPE:
            left_size = reader.uint(8, "the set size")
            buckets = reader.uint(4, "the buckets")
            message = BucketPlan(job_id, mode, left_size, buckets, reader.uint(1, "the window"))
        case BucketMessage.TYPE:
            bucket = reader.uint(4, "the bucket")
            message = BucketMessage(job_id, mode, bucket, reader.take(reader.remaining, "inner"))
        case _:
            raise DecodeError(f"unknown message type {type_code}")
    reader.finish()
    return message


def _chunk_fields(reader: _Reader) -> tuple[int, int, int]:
    offset = reader.uint(8, "the offset")
    total = reader.uint(8, "the total")
    count = reader.uint(4, "the count")
    if count > MAX_CHUNK_ITEMS:
        raise DecodeError(f"a chunk holds at most {MAX_CHUNK_ITEMS} items, not {count}")
    return offset, total, count
