"""The documented binary layout shared by keys and encrypted vectors.

Every object starts with a 4-byte magic naming its kind and a version byte,
followed by fields that are either unsigned 32-bit big-endian integers or
length-prefixed (u32) big-endian unsigned integers. Anything else is a
:class:`~tds.errors.DecodeError`; bytes are never unpickled.
"""

from __future__ import annotations

import struct

from tds.errors import DecodeError
from tds.he._integers import to_bytes_big

VERSION = 2
_U32 = struct.Struct(">I")


class Writer:
    """Append-only builder for one serialized object."""

    def __init__(self, magic: bytes) -> None:
        self._parts: list[bytes] = [magic, bytes([VERSION])]

    def u32(self, value: int) -> Writer:
        self._parts.append(_U32.pack(value))
        return self

    def integer(self, value: int) -> Writer:
        body = to_bytes_big(value)
        self._parts.append(_U32.pack(len(body)))
        self._parts.append(body)
        return self

    def raw(self, body: bytes) -> Writer:
        self._parts.append(body)
        return self

    def to_bytes(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Cursor over one serialized object; every read is bounds-checked."""

    def __init__(self, data: bytes, magic: bytes, what: str) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"{what} must be bytes, not {type(data).__name__}")
        self._data = bytes(data)
        self._what = what
        if self._data[: len(magic)] != magic:
            raise DecodeError(f"not a serialized {what} (bad magic)")
        if self._data[len(magic) : len(magic) + 1] != bytes([VERSION]):
            raise DecodeError(f"unsupported {what} format version")
        self._offset = len(magic) + 1

    def _take(self, size: int) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise DecodeError(f"truncated {self._what}")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def u32(self) -> int:
        return _U32.unpack(self._take(4))[0]

    def integer(self) -> int:
        return int.from_bytes(self._take(self.u32()), "big")

    def raw(self, size: int) -> bytes:
        return self._take(size)

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise DecodeError(f"trailing bytes after {self._what}")
