"""The node's gRPC services: each method decodes, calls the domain layer, encodes."""

from __future__ import annotations

from collections.abc import Iterator

from tds.connector import serde
from tds.connector._audit import AuditEntry, EventKind
from tds.connector._job_provider import JobProvider
from tds.connector._negotiation import NegotiationStep
from tds.connector._node import OpenNode
from tds.connector._replies import ReplyLog
from tds.connector._rpc import Service
from tds.errors import DecodeError

__all__ = [
    "audit_service",
    "catalog_service",
    "job_service",
    "negotiation_service",
    "node_service",
    "node_services",
]

# A caller pages through a long log rather than asking for all of it at once.
MAX_ENTRIES_PER_CALL = 1000


def node_services(node: OpenNode, jobs: JobProvider) -> list[Service]:
    """Every service a node serves to its peers."""
    return [
        node_service(node),
        catalog_service(node),
        negotiation_service(node),
        job_service(jobs),
        audit_service(node),
    ]


def node_service(node: OpenNode) -> Service:
    def get_info(request: bytes, caller: str) -> bytes:
        serde.decode_get_info_request(request)
        return serde.encode_node_info(node.info())

    return Service("tds.v1.NodeService", {"GetInfo": get_info})


def catalog_service(node: OpenNode) -> Service:
    catalog = node.catalog

    def list_datasets(request: bytes, caller: str) -> bytes:
        serde.decode_list_datasets_request(request)
        return serde.encode_dataset_offers(catalog.offers_for(caller))

    def get_dataset(request: bytes, caller: str) -> bytes:
        dataset_id = serde.decode_get_dataset_request(request)
        return serde.encode_dataset_offer(catalog.offer_for(dataset_id, caller))

    return Service(
        "tds.v1.CatalogService", {"ListDatasets": list_datasets, "GetDataset": get_dataset}
    )


def negotiation_service(node: OpenNode) -> Service:
    negotiations = node.negotiations
    replies = ReplyLog(node.store)

    def request_contract(request: bytes, caller: str) -> bytes:
        message_id, negotiation_id, dataset_id, policy = serde.decode_contract_request(request)
        return replies.once(
            caller,
            "RequestContract",
            message_id,
            lambda: _reply(negotiations.on_request(caller, negotiation_id, dataset_id, policy)),
        )

    def accept_offer(request: bytes, caller: str) -> bytes:
        message_id, negotiation_id = serde.decode_accept_request(request)
        return replies.once(
            caller,
            "AcceptOffer",
            message_id,
            lambda: _reply(negotiations.on_accept(caller, negotiation_id)),
        )

    def verify_agreement(request: bytes, caller: str) -> bytes:
        message_id, negotiation_id, agreement, checkpoint = serde.decode_verification(request)
        return replies.once(
            caller,
            "VerifyAgreement",
            message_id,
            lambda: _reply(negotiations.on_verify(caller, negotiation_id, agreement, checkpoint)),
        )

    def terminate(request: bytes, caller: str) -> bytes:
        message_id, negotiation_id, reason = serde.decode_termination(request)
        return replies.once(
            caller,
            "Terminate",
            message_id,
            lambda: serde.encode_negotiation_reply(
                negotiations.on_terminate(caller, negotiation_id, reason)
            ),
        )

    def get_negotiation(request: bytes, caller: str) -> bytes:
        negotiation_id = serde.decode_get_negotiation_request(request)
        record = negotiations.get(negotiation_id, peer=caller)
        agreement = (
            None
            if record.agreement_id is None
            else negotiations.agreement(record.agreement_id, peer=caller)
        )
        return serde.encode_negotiation_reply(record, agreement)

    return Service(
        "tds.v1.NegotiationService",
        {
            "RequestContract": request_contract,
            "AcceptOffer": accept_offer,
            "VerifyAgreement": verify_agreement,
            "Terminate": terminate,
            "GetNegotiation": get_negotiation,
        },
    )


def _reply(step: NegotiationStep) -> bytes:
    return serde.encode_negotiation_reply(step.negotiation, step.agreement, step.checkpoint)


def job_service(jobs: JobProvider) -> Service:
    def start_job(request: bytes, caller: str) -> bytes:
        job = jobs.start(caller, serde.decode_start_job(request))
        return serde.encode_job_status(job.status)

    def get_job(request: bytes, caller: str) -> bytes:
        job = jobs.jobs.get(serde.decode_get_job(request), peer=caller)
        return serde.encode_job_status(job.status)

    def watch_job(request: bytes, caller: str) -> Iterator[bytes]:
        for status in jobs.watch(caller, serde.decode_get_job(request)):
            yield serde.encode_job_status(status)

    def cancel_job(request: bytes, caller: str) -> bytes:
        job_id, reason = serde.decode_cancel_job(request)
        return serde.encode_job_status(jobs.cancel(caller, job_id, reason).status)

    def contribute(request: bytes, caller: str) -> bytes:
        job_id = serde.decode_contribute_request(request)
        return serde.encode_contribution(job_id, jobs.contribute(caller, job_id))

    def exchange(requests: Iterator[bytes], caller: str) -> Iterator[bytes]:
        frames = (serde.decode_job_frame(request) for request in requests)
        for frame in jobs.exchange(caller, frames):
            yield serde.encode_job_frame(frame)

    return Service(
        "tds.v1.JobService",
        {
            "StartJob": start_job,
            "GetJob": get_job,
            "CancelJob": cancel_job,
            "Contribute": contribute,
        },
        streams={"Exchange": exchange},
        replies={"WatchJob": watch_job},
    )


def audit_service(node: OpenNode) -> Service:
    log = node.audit_log

    def get_checkpoint(request: bytes, caller: str) -> bytes:
        serde.decode_checkpoint_request(request)
        return serde.encode_checkpoint(log.checkpoint(node.identity.private_key))

    def get_consistency_proof(request: bytes, caller: str) -> bytes:
        old_size, new_size = serde.decode_consistency_request(request)
        return serde.encode_proof(log.consistency_proof(old_size, new_size))

    def get_inclusion_proof(request: bytes, caller: str) -> bytes:
        index, tree_size = serde.decode_inclusion_request(request)
        return serde.encode_proof(log.inclusion_proof(index, tree_size))

    def list_entries(request: bytes, caller: str) -> bytes:
        start, end = serde.decode_entries_request(request)
        size = log.size
        end = size if end == 0 else end
        if not start < end <= size:
            raise DecodeError(f"entries [{start}, {end}) are outside the log of {size} entries")
        end = min(end, start + MAX_ENTRIES_PER_CALL)
        entries = [
            (index, raw)
            for index in range(start, end)
            if caller in concerned_nodes(raw := log.entry_bytes(index))
        ]
        return serde.encode_entries(entries, size, end)

    return Service(
        "tds.v1.AuditService",
        {
            "GetCheckpoint": get_checkpoint,
            "GetConsistencyProof": get_consistency_proof,
            "GetInclusionProof": get_inclusion_proof,
            "ListEntries": list_entries,
        },
    )


def concerned_nodes(raw_entry: bytes) -> set[str]:
    """The nodes an audit entry is about: the parties it names."""
    entry = AuditEntry.from_bytes(raw_entry)
    data = entry.data
    if entry.kind is EventKind.PEER_CHECKPOINT:
        data = data.get("checkpoint", {})
    named = {
        value
        for key in ("peer", "provider", "consumer", "origin")
        if isinstance(value := data.get(key), str)
    }
    providers = data.get("providers")
    if isinstance(providers, list):
        named.update(value for value in providers if isinstance(value, str))
    return named
