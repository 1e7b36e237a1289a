"""The one translation between protobuf messages and tds's domain types.

Nothing else in tds imports ``tds._proto``. Decoding never trusts the peer: malformed bytes,
missing fields and out-of-range values raise :class:`~tds.errors.DecodeError`, which a node
answers with INVALID_ARGUMENT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from tds._proto.v1 import audit_pb2, catalog_pb2, negotiation_pb2, node_pb2
from tds.connector._audit import AuditEntry, Checkpoint
from tds.connector._merkle import HASH_SIZE
from tds.connector._node import NodeInfo
from tds.connector._trust import validate_node_name
from tds.errors import DecodeError

__all__ = [
    "audit_pb2",
    "catalog_pb2",
    "decode",
    "encode",
    "negotiation_pb2",
    "node_pb2",
]

_M = TypeVar("_M", bound=Message)
_MAX_ID = 128
# A proof of a tree of 2**64 entries has at most 2 * 64 hashes.
_MAX_PROOF_HASHES = 128


def decode(message_type: type[_M], data: bytes) -> _M:
    """Parse ``data`` as ``message_type``; DecodeError naming the message if it is malformed."""
    message = message_type()
    try:
        message.ParseFromString(data)
    except (ProtobufDecodeError, RuntimeError, ValueError) as error:
        raise DecodeError(f"malformed {message_type.DESCRIPTOR.name} message: {error}") from None
    return message


def encode(message: Message) -> bytes:
    """The wire bytes of ``message``."""
    return message.SerializeToString()


def text_field(value: str, what: str, *, required: bool = True, limit: int = _MAX_ID) -> str:
    """A string field checked for presence and length."""
    if required and not value:
        raise DecodeError(f"{what} is missing")
    if len(value) > limit:
        raise DecodeError(f"{what} is {len(value)} characters long, over the {limit} allowed")
    return value


def timestamp_to_datetime(timestamp: object) -> dt.datetime:
    """A ``google.protobuf.Timestamp`` as an aware UTC datetime."""
    return timestamp.ToDatetime(tzinfo=dt.UTC)  # type: ignore[attr-defined]


def checkpoint_from_bytes(data: bytes, what: str) -> Checkpoint:
    """A peer's checkpoint; DecodeError if it is missing or malformed (not yet verified)."""
    if not data:
        raise DecodeError(f"{what} is missing")
    return Checkpoint.from_bytes(data)


# -- node ---------------------------------------------------------------------------------


def encode_node_info(info: NodeInfo) -> bytes:
    message = node_pb2.NodeInfo(
        name=info.name,
        software_version=info.software_version,
        protocol_versions=info.protocol_versions,
        job_kinds=info.job_kinds,
        crl_number=info.crl_number,
    )
    message.certificate_not_after.FromDatetime(info.certificate_not_after)
    return encode(message)


def decode_node_info(data: bytes) -> NodeInfo:
    message = decode(node_pb2.NodeInfo, data)
    return NodeInfo(
        name=validate_node_name(text_field(message.name, "node name")),
        software_version=text_field(message.software_version, "software version"),
        protocol_versions=tuple(message.protocol_versions),
        job_kinds=tuple(message.job_kinds),
        certificate_not_after=timestamp_to_datetime(message.certificate_not_after),
        crl_number=message.crl_number,
    )


# -- audit --------------------------------------------------------------------------------


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    return encode(audit_pb2.CheckpointReply(checkpoint=checkpoint.to_bytes()))


def decode_checkpoint(data: bytes) -> Checkpoint:
    return checkpoint_from_bytes(decode(audit_pb2.CheckpointReply, data).checkpoint, "checkpoint")


def encode_consistency_request(old_size: int, new_size: int) -> bytes:
    return encode(audit_pb2.ConsistencyProofRequest(old_size=old_size, new_size=new_size))


def decode_consistency_request(data: bytes) -> tuple[int, int]:
    message = decode(audit_pb2.ConsistencyProofRequest, data)
    return message.old_size, message.new_size


def encode_inclusion_request(index: int, tree_size: int) -> bytes:
    return encode(audit_pb2.InclusionProofRequest(index=index, tree_size=tree_size))


def decode_inclusion_request(data: bytes) -> tuple[int, int]:
    message = decode(audit_pb2.InclusionProofRequest, data)
    return message.index, message.tree_size


def encode_proof(hashes: Sequence[bytes]) -> bytes:
    return encode(audit_pb2.ProofReply(hashes=hashes))


def decode_proof(data: bytes) -> list[bytes]:
    hashes = list(decode(audit_pb2.ProofReply, data).hashes)
    if len(hashes) > _MAX_PROOF_HASHES or any(len(h) != HASH_SIZE for h in hashes):
        raise DecodeError(f"a proof is at most {_MAX_PROOF_HASHES} hashes of {HASH_SIZE} bytes")
    return hashes


def encode_entries_request(start: int, end: int) -> bytes:
    return encode(audit_pb2.ListEntriesRequest(start=start, end=end))


def decode_entries_request(data: bytes) -> tuple[int, int]:
    message = decode(audit_pb2.ListEntriesRequest, data)
    return message.start, message.end


def encode_entries(entries: Sequence[tuple[int, bytes]], tree_size: int, next_start: int) -> bytes:
    return encode(
        audit_pb2.ListEntriesResponse(
            entries=[audit_pb2.AuditEntryRecord(index=i, entry=e) for i, e in entries],
            tree_size=tree_size,
            next_start=next_start,
        )
    )


def decode_entries(data: bytes, start: int) -> tuple[list[tuple[int, AuditEntry]], int]:
    """The entries of one page and where the next page starts (always past ``start``)."""
    message = decode(audit_pb2.ListEntriesResponse, data)
    entries = [(record.index, AuditEntry.from_bytes(record.entry)) for record in message.entries]
    if message.next_start <= start or any(
        not start <= index < message.next_start for index, _ in entries
    ):
        raise DecodeError("a page of audit entries lies outside the range asked for")
    return entries, message.next_start


def decode_empty(message_type: type[Message], data: bytes) -> None:
    """Check that a request without fields is well formed."""
    decode(message_type, data)


def encode_get_info_request() -> bytes:
    return encode(node_pb2.GetInfoRequest())


def decode_get_info_request(data: bytes) -> None:
    decode_empty(node_pb2.GetInfoRequest, data)


def encode_checkpoint_request() -> bytes:
    return encode(audit_pb2.GetCheckpointRequest())


def decode_checkpoint_request(data: bytes) -> None:
    decode_empty(audit_pb2.GetCheckpointRequest, data)
