"""The one translation between protobuf messages and tds's domain types.

Nothing else in tds imports ``tds._proto``. Decoding never trusts the peer: malformed bytes,
missing fields and out-of-range values raise :class:`~tds.errors.DecodeError`, which a node
answers with INVALID_ARGUMENT.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from tds._proto.v1 import audit_pb2, catalog_pb2, job_pb2, negotiation_pb2, node_pb2
from tds.connector._agreement import SignedAgreement
from tds.connector._audit import AuditEntry, Checkpoint
from tds.connector._catalog import DatasetOffer
from tds.connector._job_store import JobStatus
from tds.connector._jobs import Contribution, JobFrame, JobSpec, JobState, check_job_id
from tds.connector._merkle import HASH_SIZE
from tds.connector._negotiation import MAX_REASON, Negotiation, NegotiationState
from tds.connector._node import NodeInfo
from tds.connector._trust import validate_node_name
from tds.errors import ConfigError, DecodeError, PolicyError
from tds.policy import Policy

__all__ = [
    "audit_pb2",
    "catalog_pb2",
    "decode",
    "encode",
    "job_pb2",
    "negotiation_pb2",
    "node_pb2",
]

_M = TypeVar("_M", bound=Message)
_MAX_ID = 128
_MAX_REASON = MAX_REASON
_MAX_DOCUMENT = 1024 * 1024
# A psi job's result lists the shared keys; the message size limit bounds it first.
_MAX_RESULT = 64 * 1024 * 1024
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


def _node_name(name: str) -> str:
    try:
        return validate_node_name(name)
    except ConfigError as error:
        raise DecodeError(f"a peer sent an invalid node name: {error}") from None


def timestamp_to_datetime(timestamp: object) -> dt.datetime:
    """A ``google.protobuf.Timestamp`` as an aware UTC datetime; DecodeError out of range."""
    try:
        return timestamp.ToDatetime(tzinfo=dt.UTC)  # type: ignore[attr-defined]
    except (ValueError, OverflowError) as error:
        raise DecodeError(f"a peer sent an invalid time: {error}") from None


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
    if not message.HasField("certificate_not_after"):
        raise DecodeError("node info: certificate_not_after is missing")
    return NodeInfo(
        name=_node_name(text_field(message.name, "node name")),
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


# -- catalog ------------------------------------------------------------------------------


def encode_list_datasets_request() -> bytes:
    return encode(catalog_pb2.ListDatasetsRequest())


def decode_list_datasets_request(data: bytes) -> None:
    decode_empty(catalog_pb2.ListDatasetsRequest, data)


def encode_get_dataset_request(dataset_id: str) -> bytes:
    return encode(catalog_pb2.GetDatasetRequest(dataset_id=dataset_id))


def decode_get_dataset_request(data: bytes) -> str:
    return text_field(decode(catalog_pb2.GetDatasetRequest, data).dataset_id, "dataset id")


def _offer_message(offer: DatasetOffer) -> catalog_pb2.DatasetOffer:
    return catalog_pb2.DatasetOffer(
        provider=offer.provider,
        dataset_id=offer.id,
        title=offer.title,
        sector=offer.sector,
        description=offer.description,
        columns=[catalog_pb2.Column(name=c.name, type=c.type.value) for c in offer.columns],
        policy_odrl=offer.policy.canonical_json,
    )


def _offer_from_message(message: catalog_pb2.DatasetOffer) -> DatasetOffer:
    return DatasetOffer.from_dict(
        {
            "provider": message.provider,
            "id": message.dataset_id,
            "title": message.title,
            "sector": message.sector,
            "description": message.description,
            "columns": [{"name": c.name, "type": c.type} for c in message.columns],
            "policy": _odrl_document(message.policy_odrl, "offer policy"),
        }
    )


def encode_dataset_offer(offer: DatasetOffer) -> bytes:
    return encode(_offer_message(offer))


def decode_dataset_offer(data: bytes) -> DatasetOffer:
    return _offer_from_message(decode(catalog_pb2.DatasetOffer, data))


def encode_dataset_offers(offers: Sequence[DatasetOffer]) -> bytes:
    return encode(catalog_pb2.ListDatasetsResponse(datasets=[_offer_message(o) for o in offers]))


def decode_dataset_offers(data: bytes) -> list[DatasetOffer]:
    message = decode(catalog_pb2.ListDatasetsResponse, data)
    return [_offer_from_message(offer) for offer in message.datasets]


def _odrl_document(text: str, what: str) -> dict:  # type: ignore[type-arg]
    if not text:
        raise DecodeError(f"{what} is missing")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise DecodeError(f"{what} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise DecodeError(f"{what} must be a JSON object (an ODRL policy)")
    return document


def _policy(text: str, what: str) -> Policy:
    try:
        return Policy.from_odrl(_odrl_document(text, what))
    except PolicyError as error:
        raise DecodeError(f"{what}: {error}") from None


# -- negotiation --------------------------------------------------------------------------

_STATES = {
    state: negotiation_pb2.NegotiationState.Value(f"NEGOTIATION_STATE_{state.value}")
    for state in NegotiationState
}
_STATES_BY_NUMBER = {number: state for state, number in _STATES.items()}


@dataclass(frozen=True)
class NegotiationReply:
    """A node's answer to a negotiation message, as the consumer records it."""

    negotiation_id: str
    dataset_id: str
    state: NegotiationState
    reason: str = ""
    policy: Policy | None = None
    agreement: SignedAgreement | None = None
    checkpoint: Checkpoint | None = None


def encode_contract_request(
    message_id: str, negotiation_id: str, dataset_id: str, policy: Policy
) -> bytes:
    return encode(
        negotiation_pb2.ContractRequest(
            message_id=message_id,
            negotiation_id=negotiation_id,
            dataset_id=dataset_id,
            policy_odrl=policy.canonical_json,
        )
    )


def decode_contract_request(data: bytes) -> tuple[str, str, str, Policy]:
    message = decode(negotiation_pb2.ContractRequest, data)
    return (
        text_field(message.message_id, "message id"),
        text_field(message.negotiation_id, "negotiation id"),
        text_field(message.dataset_id, "dataset id"),
        _policy(message.policy_odrl, "requested policy"),
    )


def encode_accept_request(message_id: str, negotiation_id: str) -> bytes:
    return encode(
        negotiation_pb2.AcceptOfferRequest(message_id=message_id, negotiation_id=negotiation_id)
    )


def decode_accept_request(data: bytes) -> tuple[str, str]:
    message = decode(negotiation_pb2.AcceptOfferRequest, data)
    return (
        text_field(message.message_id, "message id"),
        text_field(message.negotiation_id, "negotiation id"),
    )


def encode_verification(
    message_id: str, negotiation_id: str, agreement: SignedAgreement, checkpoint: Checkpoint
) -> bytes:
    return encode(
        negotiation_pb2.AgreementVerification(
            message_id=message_id,
            negotiation_id=negotiation_id,
            signed_agreement=agreement.to_json(),
            checkpoint=checkpoint.to_bytes(),
        )
    )


def decode_verification(data: bytes) -> tuple[str, str, SignedAgreement, Checkpoint]:
    message = decode(negotiation_pb2.AgreementVerification, data)
    return (
        text_field(message.message_id, "message id"),
        text_field(message.negotiation_id, "negotiation id"),
        SignedAgreement.from_json(
            text_field(message.signed_agreement, "agreement", limit=_MAX_DOCUMENT)
        ),
        checkpoint_from_bytes(message.checkpoint, "consumer checkpoint"),
    )


def encode_termination(message_id: str, negotiation_id: str, reason: str) -> bytes:
    return encode(
        negotiation_pb2.TerminationRequest(
            message_id=message_id, negotiation_id=negotiation_id, reason=reason
        )
    )


def decode_termination(data: bytes) -> tuple[str, str, str]:
    message = decode(negotiation_pb2.TerminationRequest, data)
    return (
        text_field(message.message_id, "message id"),
        text_field(message.negotiation_id, "negotiation id"),
        text_field(message.reason, "termination reason", limit=_MAX_REASON),
    )


def encode_get_negotiation_request(negotiation_id: str) -> bytes:
    return encode(negotiation_pb2.GetNegotiationRequest(negotiation_id=negotiation_id))


def decode_get_negotiation_request(data: bytes) -> str:
    message = decode(negotiation_pb2.GetNegotiationRequest, data)
    return text_field(message.negotiation_id, "negotiation id")


def encode_negotiation_reply(
    negotiation: Negotiation,
    agreement: SignedAgreement | None = None,
    checkpoint: Checkpoint | None = None,
) -> bytes:
    message = negotiation_pb2.NegotiationReply(
        negotiation_id=negotiation.id,
        dataset_id=negotiation.dataset_id,
        state=_STATES[negotiation.state],
        reason=negotiation.reason,
    )
    if negotiation.state is NegotiationState.OFFERED:
        message.policy_odrl = negotiation.policy.canonical_json
    if agreement is not None:
        message.signed_agreement = agreement.to_json()
    if checkpoint is not None:
        message.checkpoint = checkpoint.to_bytes()
    return encode(message)


def decode_negotiation_reply(data: bytes) -> NegotiationReply:
    message = decode(negotiation_pb2.NegotiationReply, data)
    state = _STATES_BY_NUMBER.get(message.state)
    if state is None:
        raise DecodeError(f"unknown negotiation state number {message.state}")
    return NegotiationReply(
        negotiation_id=text_field(message.negotiation_id, "negotiation id"),
        dataset_id=text_field(message.dataset_id, "dataset id"),
        state=state,
        reason=text_field(message.reason, "reason", required=False, limit=_MAX_REASON),
        policy=_policy(message.policy_odrl, "counter-offer") if message.policy_odrl else None,
        agreement=SignedAgreement.from_json(message.signed_agreement)
        if message.signed_agreement
        else None,
        checkpoint=checkpoint_from_bytes(message.checkpoint, "checkpoint")
        if message.checkpoint
        else None,
    )


# -- jobs ---------------------------------------------------------------------------------

_JOB_STATES = {
    JobState.PENDING: job_pb2.JOB_STATE_PENDING,
    JobState.AWAITING_APPROVAL: job_pb2.JOB_STATE_AWAITING_APPROVAL,
    JobState.RUNNING: job_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: job_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: job_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: job_pb2.JOB_STATE_CANCELLED,
}
_JOB_STATES_BY_NUMBER = {number: state for state, number in _JOB_STATES.items()}


def _job_id(value: str) -> str:
    try:
        return check_job_id(value)
    except ConfigError as error:
        raise DecodeError(str(error)) from None


def _spec(text: str) -> JobSpec:
    if not text:
        raise DecodeError("the job spec is missing")
    if len(text) > _MAX_DOCUMENT:
        raise DecodeError(f"the job spec is over {_MAX_DOCUMENT} characters")
    try:
        return JobSpec.from_json(text)
    except ConfigError as error:
        raise DecodeError(f"invalid job spec: {error}") from None


def encode_start_job(spec: JobSpec) -> bytes:
    return encode(job_pb2.StartJobRequest(spec_json=spec.to_json()))


def decode_start_job(data: bytes) -> JobSpec:
    return _spec(decode(job_pb2.StartJobRequest, data).spec_json)


def encode_get_job(job_id: str) -> bytes:
    return encode(job_pb2.GetJobRequest(job_id=job_id))


def decode_get_job(data: bytes) -> str:
    return _job_id(decode(job_pb2.GetJobRequest, data).job_id)


def encode_cancel_job(job_id: str, reason: str) -> bytes:
    return encode(job_pb2.CancelJobRequest(job_id=job_id, reason=reason))


def decode_cancel_job(data: bytes) -> tuple[str, str]:
    message = decode(job_pb2.CancelJobRequest, data)
    reason = text_field(message.reason, "reason", limit=_MAX_REASON)
    return _job_id(message.job_id), reason


def encode_job_status(status: JobStatus) -> bytes:
    return encode(
        job_pb2.JobReply(
            job_id=status.job_id,
            state=_JOB_STATES[status.state],
            reason=status.reason,
            stage=status.stage,
            done=status.done,
            total=status.total,
        )
    )


def decode_job_status(data: bytes) -> JobStatus:
    message = decode(job_pb2.JobReply, data)
    state = _JOB_STATES_BY_NUMBER.get(message.state)
    if state is None:
        raise DecodeError(f"unknown job state number {message.state}")
    return JobStatus(
        job_id=_job_id(message.job_id),
        state=state,
        reason=text_field(message.reason, "reason", required=False, limit=_MAX_REASON),
        stage=text_field(message.stage, "stage", required=False),
        done=message.done,
        total=message.total,
    )


def encode_job_frame(frame: JobFrame) -> bytes:
    message = job_pb2.JobFrame(job_id=frame.job_id)
    if frame.open:
        message.open = True
    elif frame.psi_message:
        message.psi_message = frame.psi_message
    else:
        message.result_json = json.dumps(frame.result, sort_keys=True)
    return encode(message)


def decode_job_frame(data: bytes) -> JobFrame:
    message = decode(job_pb2.JobFrame, data)
    job_id = _job_id(message.job_id)
    body = message.WhichOneof("body")
    if body == "open" and message.open:
        return JobFrame(job_id, open=True)
    if body == "psi_message" and message.psi_message:
        return JobFrame(job_id, psi_message=message.psi_message)
    if body == "result_json":
        if len(message.result_json) > _MAX_RESULT:
            raise DecodeError(f"a job result is over {_MAX_RESULT} characters")
        try:
            result = json.loads(message.result_json)
        except (ValueError, RecursionError) as error:
            raise DecodeError(f"a job result is not JSON: {error}") from None
        if not isinstance(result, dict):
            raise DecodeError("a job result is a JSON object")
        return JobFrame(job_id, result=result)
    raise DecodeError("a job frame carries no body")


def encode_contribute_request(job_id: str) -> bytes:
    return encode(job_pb2.ContributeRequest(job_id=job_id))


def decode_contribute_request(data: bytes) -> str:
    return _job_id(decode(job_pb2.ContributeRequest, data).job_id)


def encode_contribution(job_id: str, contribution: Contribution) -> bytes:
    deadline = contribution.delete_by
    return encode(
        job_pb2.Contribution(
            job_id=job_id,
            vector=contribution.vector,
            providers=contribution.providers,
            delete_by="" if deadline is None else deadline.isoformat(),
        )
    )


def decode_contribution(data: bytes) -> tuple[str, Contribution]:
    message = decode(job_pb2.Contribution, data)
    if not message.vector:
        raise DecodeError("the contribution carries no vector")
    deadline = parse_deadline(message.delete_by) if message.delete_by else None
    return _job_id(message.job_id), Contribution(message.vector, message.providers, deadline)


def parse_deadline(text: object) -> dt.datetime:
    """A ``delete_by`` time from a peer: RFC 3339 with its offset, as UTC."""
    if not isinstance(text, str) or len(text) > 64:
        raise DecodeError(f"a delete_by time is RFC 3339 text, not {text!r:.40}")
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DecodeError(f"delete_by {text!r:.40} is not an RFC 3339 time") from None
    if instant.utcoffset() is None:
        raise DecodeError(f"delete_by {text!r:.40} has no UTC offset")
    return instant.astimezone(dt.UTC)
