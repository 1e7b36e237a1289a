"""Slot packing: many signed integers in one Paillier plaintext.

A plaintext of an ``n``-bit key is cut into ``slots`` slots of ``slot_bytes``
bytes each, least significant first. A value ``x`` with ``|x| <= bound`` is
stored as ``x + bound``, which is never negative. After ``k`` vectors have
been added, a slot holds at most ``k * 2 * bound``, so slots sized for
``max_additions * 2 * bound`` never carry into each other as long as at most
``max_additions`` vectors are summed: :class:`EncryptedVector` counts them and
refuses the addition that would break that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tds._workers import ExecutorChoice
from tds.errors import (
    ConfigError,
    DecodeError,
    InvalidCiphertextError,
    KeyMismatchError,
    PackingOverflowError,
    PlaintextRangeError,
    PlaintextTypeError,
)
from tds.he._ciphertext import Ciphertext, require_public_key
from tds.he._integers import as_integer, as_list
from tds.he._wire import Reader, Writer

if TYPE_CHECKING:
    from tds.he._keys import PrivateKey, PublicKey
    from tds.progress import ProgressCallback

INT64_BOUND = 2**63 - 1
DEFAULT_MAX_ADDITIONS = 1024
# max_additions travels as a u32 in the vector's bytes.
_MAX_ADDITIONS_LIMIT = 2**32 - 1
_VECTOR_MAGIC = b"TDEV"


@dataclass(frozen=True)
class PackingLayout:
    """How values sit in plaintext slots; vectors add only if their layouts are equal."""

    bound: int
    max_additions: int
    slot_bytes: int
    slots: int

    def __post_init__(self) -> None:
        for name in ("bound", "max_additions", "slot_bytes", "slots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"PackingLayout.{name} must be a positive int, not {value!r:.40}")

    @classmethod
    def create(
        cls, public_key: PublicKey, *, bound: int | None = None, max_additions: int | None = None
    ) -> PackingLayout:
        """The layout for ``public_key``; the two numbers are :meth:`PublicKey.encrypt_vector`'s."""
        require_public_key(public_key)
        bound = INT64_BOUND if bound is None else as_integer(bound, "bound")
        if not 1 <= bound <= INT64_BOUND:
            raise ConfigError(f"bound must be between 1 and 2**63 - 1, got {bound}")
        if max_additions is None:
            max_additions = DEFAULT_MAX_ADDITIONS
        max_additions = as_integer(max_additions, "max_additions")
        if not 1 <= max_additions <= _MAX_ADDITIONS_LIMIT:
            raise ConfigError(f"max_additions must be between 1 and 2**32 - 1, got {max_additions}")
        slot_bytes = -(-(max_additions * 2 * bound).bit_length() // 8)
        # Stay one bit below the key's raw plaintexts so that every packed one is valid.
        slots = (public_key.plaintext_bits - 1) // (8 * slot_bytes)
        if slots < 1:
            raise ConfigError("a slot for this bound and max_additions does not fit the key")
        return cls(bound=bound, max_additions=max_additions, slot_bytes=slot_bytes, slots=slots)

    def ciphertexts_for(self, length: int) -> int:
        """How many ciphertexts a vector of ``length`` values takes."""
        length = as_integer(length, "length", error=ConfigError)
        if length < 0:
            raise ConfigError(f"length must not be negative, got {length}")
        return -(-length // self.slots)

    def _pack(self, values: np.ndarray) -> list[int]:
        """Plaintext residues for an int64 vector already checked against ``bound``."""
        count = self.ciphertexts_for(len(values))
        offset = values.astype("<i8").view("<u8") + np.uint64(self.bound)
        slots = np.zeros((count * self.slots, self.slot_bytes), dtype=np.uint8)
        width = min(8, self.slot_bytes)
        slots[: len(values), :width] = offset.view(np.uint8).reshape(-1, 8)[:, :width]
        per_ciphertext = self.slots * self.slot_bytes
        buffer = slots.tobytes()
        return [
            int.from_bytes(buffer[i : i + per_ciphertext], "little")
            for i in range(0, len(buffer), per_ciphertext)
        ]

    def _unpack(self, residues: Sequence[int], length: int, additions: int) -> np.ndarray:
        """Signed slot values (an object array of ints) of a sum of ``additions`` vectors."""
        per_ciphertext = self.slots * self.slot_bytes
        try:
            buffer = b"".join(int(m).to_bytes(per_ciphertext, "little") for m in residues)
        except OverflowError:
            raise PackingOverflowError("a plaintext spills past its slots") from None
        raw = np.frombuffer(buffer, dtype=np.uint8).reshape(-1, self.slot_bytes)[:length]
        padded = np.zeros((length, 16), dtype=np.uint8)
        padded[:, : self.slot_bytes] = raw
        halves = padded.view("<u8")
        slot_values = halves[:, 0].astype(object) + (halves[:, 1].astype(object) << 64)
        limit = additions * 2 * self.bound
        if length and max(slot_values) > limit:
            raise PackingOverflowError("a slot exceeds what its additions allow: corrupted vector")
        return slot_values - additions * self.bound


class EncryptedVector:
    """An encrypted integer vector, packed many values per ciphertext.

    ``a + b`` adds element-wise; ``sum(vectors)`` works. ``additions`` counts
    the fresh vectors inside and may not exceed ``layout.max_additions``: a
    freshly encrypted vector has 1, a sum the total of its operands'.

    The count is not authenticated. Whoever builds or sends a vector states it
    (the ``additions`` argument, or the field in :meth:`to_bytes`), and a sender
    can understate it to sum more vectors than the layout allows. Decryption then
    refuses a slot above what the stated count allows, but a slot that carried
    into its neighbour cannot be told from honest data: trust a vector's count
    only as far as you trust whoever summed it.
    """

    __slots__ = ("additions", "ciphertexts", "layout", "length", "public_key")
    # Keeps numpy from applying ``+`` element-wise: ``array + vector`` comes to __radd__.
    __array_ufunc__ = None

    def __init__(
        self,
        public_key: PublicKey,
        layout: PackingLayout,
        length: int,
        ciphertexts: Sequence[Ciphertext],
        *,
        additions: int,
    ) -> None:
        require_public_key(public_key)
        if not isinstance(layout, PackingLayout):
            raise ConfigError(f"expected a PackingLayout, not {type(layout).__name__}")
        if layout != PackingLayout.create(
            public_key, bound=layout.bound, max_additions=layout.max_additions
        ):
            raise ConfigError("the layout was not made for this public key (PackingLayout.create)")
        length = as_integer(length, "length", error=ConfigError)
        ciphertexts = as_list(ciphertexts, "ciphertexts", error=InvalidCiphertextError)
        if len(ciphertexts) != layout.ciphertexts_for(length):
            raise DecodeError(f"{length} values need {layout.ciphertexts_for(length)} ciphertexts")
        additions = as_integer(additions, "additions", error=ConfigError)
        if not 1 <= additions <= layout.max_additions:
            raise PackingOverflowError(
                f"{additions} additions exceed the layout's max_additions={layout.max_additions}"
            )
        for c in ciphertexts:
            if not isinstance(c, Ciphertext):
                raise InvalidCiphertextError(f"expected a Ciphertext, not {type(c).__name__}")
            c._check_same_key_as(public_key)
        self.public_key = public_key
        self.layout = layout
        self.length = length
        self.ciphertexts = tuple(ciphertexts)
        self.additions = additions

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"<EncryptedVector length={self.length} ciphertexts={len(self.ciphertexts)} "
            f"additions={self.additions}/{self.layout.max_additions}>"
        )

    def __add__(self, other: EncryptedVector) -> EncryptedVector:
        if not isinstance(other, EncryptedVector):
            raise _not_a_vector(other)
        if other.public_key != self.public_key:
            raise KeyMismatchError("the vectors were encrypted under different public keys")
        if other.layout != self.layout or other.length != self.length:
            raise ConfigError("vectors differ in length or packing layout (bound, max_additions)")
        additions = self.additions + other.additions
        if additions > self.layout.max_additions:
            raise PackingOverflowError(
                f"adding would make {additions} additions; the layout allows "
                f"{self.layout.max_additions} before slots could overflow"
            )
        summed = [a + b for a, b in zip(self.ciphertexts, other.ciphertexts, strict=True)]
        return EncryptedVector(
            self.public_key, self.layout, self.length, summed, additions=additions
        )

    def __radd__(self, other: Any) -> EncryptedVector:
        # sum() starts from the integer 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        raise _not_a_vector(other)

    def rerandomize(self, *, strict: bool = False) -> EncryptedVector:
        """The same values under fresh randomness (see :meth:`Ciphertext.rerandomize`)."""
        fresh = [c.rerandomize(strict=strict) for c in self.ciphertexts]
        return EncryptedVector(
            self.public_key, self.layout, self.length, fresh, additions=self.additions
        )

    def to_bytes(self) -> bytes:
        """``TDEV``, version, key digest, length, layout, additions, count, ciphertexts."""
        writer = (
            Writer(_VECTOR_MAGIC)
            .raw(self.public_key.digest)
            .u32(self.length)
            .integer(self.layout.bound)
            .u32(self.layout.max_additions)
            .u32(self.additions)
            .u32(len(self.ciphertexts))
        )
        return writer.raw(b"".join(c.to_raw_bytes() for c in self.ciphertexts)).to_bytes()

    @classmethod
    def from_bytes(cls, public_key: PublicKey, data: bytes) -> EncryptedVector:
        """Parse :meth:`to_bytes` output, checking the key digest, layout and every ciphertext."""
        require_public_key(public_key)
        reader = Reader(data, _VECTOR_MAGIC, "encrypted vector")
        if reader.raw(len(public_key.digest)) != public_key.digest:
            raise KeyMismatchError("the vector was encrypted under another public key")
        length, bound = reader.u32(), reader.integer()
        max_additions, additions, count = reader.u32(), reader.u32(), reader.u32()
        try:
            layout = PackingLayout.create(public_key, bound=bound, max_additions=max_additions)
        except ConfigError as error:
            raise DecodeError(f"invalid packing layout: {error}") from None
        size = public_key.ciphertext_size
        body = reader.raw(count * size)
        reader.finish()
        ciphertexts = [
            Ciphertext.from_raw_bytes(public_key, body[i : i + size])
            for i in range(0, len(body), size)
        ]
        return cls(public_key, layout, length, ciphertexts, additions=additions)


def _not_a_vector(other: Any) -> PlaintextTypeError:
    return PlaintextTypeError(
        f"an EncryptedVector adds only to another EncryptedVector, not {type(other).__name__}; "
        "encrypt plain values with encrypt_vector first"
    )


# dtype.kind -> (what to call it, what to do about it) for encrypt_vector's refusal.
_NON_INTEGER_KINDS = {
    "b": ("bool", ": True == 1 is ambiguous; convert with .astype(np.int64)"),
    "f": ("float", ": scale to integers (fixed point) first"),
    "c": ("complex", ""),
    "U": ("str", ": parse the strings to integers first"),
    "S": ("bytes", ""),
    "O": ("objects", ": build an int64 array"),
    "M": ("datetime64", ""),
    "m": ("timedelta64", ""),
}


def _as_int64_vector(values: Any, bound: int) -> np.ndarray:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError):  # ragged nested sequences, odd objects
        raise PlaintextTypeError("expected a one-dimensional array of integers") from None
    if array.ndim != 1:
        raise PlaintextTypeError(f"expected a one-dimensional array, got {array.ndim} dimensions")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        kind, advice = _NON_INTEGER_KINDS.get(array.dtype.kind, (array.dtype.name, ""))
        raise PlaintextTypeError(
            f"encrypt_vector needs integers; got an array of {kind} (dtype {array.dtype}){advice}"
        )
    if array.dtype.kind == "u" and int(array.max()) > INT64_BOUND:
        raise PlaintextRangeError("values exceed the int64 range")
    array = array.astype(np.int64)
    if int(array.max()) > bound or int(array.min()) < -bound:
        raise PlaintextRangeError(f"a value's magnitude exceeds the layout's bound {bound}")
    return array


def encrypt_packed(
    public_key: PublicKey,
    layout: PackingLayout,
    values: Any,
    *,
    workers: int | None,
    progress: ProgressCallback | None,
    executor: ExecutorChoice,
) -> EncryptedVector:
    array = _as_int64_vector(values, layout.bound)
    raw = public_key.raw_encrypt_many(
        layout._pack(array), workers=workers, progress=progress, executor=executor
    )
    ciphertexts = [Ciphertext._trusted(public_key, c) for c in raw]
    return EncryptedVector(public_key, layout, len(array), ciphertexts, additions=1)


def decrypt_packed(
    private_key: PrivateKey,
    vector: EncryptedVector,
    *,
    dtype: Any,
    workers: int | None,
    progress: ProgressCallback | None,
) -> np.ndarray:
    if isinstance(vector, Ciphertext):
        raise InvalidCiphertextError(
            "decrypt_vector takes an EncryptedVector; use decrypt() for a single Ciphertext"
        )
    if not isinstance(vector, EncryptedVector):
        raise InvalidCiphertextError(
            f"decrypt_vector takes an EncryptedVector, not {type(vector).__name__}"
        )
    if vector.public_key != private_key.public_key:
        raise KeyMismatchError("the vector was encrypted under another public key")
    try:
        dtype = np.dtype(dtype)
    # numpy parses dtype strings with ast.literal_eval ("01" is a SyntaxError)
    # and dict specs by key lookup, so any exception means "not a dtype".
    except Exception:
        raise ConfigError("dtype must be numpy.int64 or object") from None
    if dtype != np.dtype(object) and dtype != np.dtype(np.int64):
        raise ConfigError("dtype must be numpy.int64 or object")
    residues = private_key.raw_decrypt_many(
        [c._value for c in vector.ciphertexts], workers=workers, progress=progress
    )
    values = vector.layout._unpack(residues, vector.length, vector.additions)
    if dtype == np.dtype(object):
        return values
    if len(values) and (max(values) > INT64_BOUND or min(values) < -INT64_BOUND - 1):
        raise PlaintextRangeError("the sum exceeds int64; decrypt with dtype=object")
    return values.astype(np.int64)
