"""``tds.connector.Client``: a node's operations for Python services and the ``tds`` command."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tds.connector import serde
from tds.connector._agreement import SignedAgreement
from tds.connector._audit import Checkpoint, EventKind
from tds.connector._audit_check import AuditReport, consistency_proof, verify_peer_log
from tds.connector._catalog import Dataset, DatasetOffer
from tds.connector._config import NodeConfig
from tds.connector._job_provider import JobProvider
from tds.connector._job_requester import JOB_SERVICE, JobRequester, request_contribution
from tds.connector._job_store import MAX_JOB_REASON, Job, JobStatus
from tds.connector._jobs import (
    Contribution,
    JobKind,
    JobRole,
    JobSpec,
    JobState,
    ProviderPart,
    check_protocol,
    new_job_id,
)
from tds.connector._negotiation import MAX_REASON, Negotiation, NegotiationState
from tds.connector._node import NodeInfo, OpenNode
from tds.connector._peer import PeerConnection, PeerPool
from tds.connector._replies import new_message_id
from tds.connector._transport import parse_address
from tds.connector._trust import node_uri, validate_node_name
from tds.connector._witness import StoredWitness
from tds.errors import (
    ConfigError,
    DecodeError,
    NotFoundError,
    PeerUnavailableError,
    PolicySyntaxError,
    StateTransitionError,
    TdsError,
)
from tds.he import generate_keypair
from tds.he._scheme import Scheme, check_scheme
from tds.policy import BoundingBox, Policy, UsageKey
from tds.progress import ProgressCallback
from tds.psi import BUCKET_ITEMS, choose_protocol

__all__ = ["Client"]

_log = logging.getLogger("tds.connector.client")
_NODE = "tds.v1.NodeService"
_CATALOG = "tds.v1.CatalogService"
_NEGOTIATION = "tds.v1.NegotiationService"
_AUDIT = "tds.v1.AuditService"


class Client:
    """Act as the node whose ``node.toml`` is at ``config`` (or in the directory ``config``).

    The client opens the node's key, certificate and database itself; it does not need the
    node's daemon to run, and shares the database with it safely. Peers are named as in the
    ``[peers]`` table of node.toml, or given as ``NAME@HOST:PORT``. Close the client when done
    (or use it in a ``with`` block).
    """

    def __init__(self, config: str | Path | NodeConfig) -> None:
        self.config = config if isinstance(config, NodeConfig) else NodeConfig.load(config)
        self.settings = self.config.transport_settings
        self.node = OpenNode(self.config.directory, name=self.config.name)
        self._witness = StoredWitness(self.node.store)
        self._peers = PeerPool(self.node, self.settings)
        compute = self.config.compute
        self._requester = JobRequester(self.node.jobs, self._connect_part, compute)
        self._provider = JobProvider(self.node, self._contribute, compute)

    @property
    def name(self) -> str:
        """This node's name."""
        return self.node.name

    def connect(self, peer: str) -> PeerConnection:
        """The connection to ``peer`` (a name from ``[peers]``, or ``NAME@HOST:PORT``)."""
        return self._peers.get(*self._resolve(peer))

    def _connect_part(self, part: ProviderPart) -> PeerConnection:
        return self._peers.get(part.node, part.address) if part.address else self.connect(part.node)

    def _contribute(self, part: ProviderPart, job_id: str, timeout: float) -> Contribution:
        return request_contribution(self._connect_part(part), job_id, timeout)

    def _resolve(self, peer: object) -> tuple[str, str]:
        if not isinstance(peer, str):
            raise ConfigError(f"a peer is a node name or NAME@HOST:PORT, not {peer!r}")
        if "@" in peer:
            name, _, address = peer.partition("@")
            parse_address(address)
            return validate_node_name(name), address
        validate_node_name(peer)
        address = self.config.peers.get(peer)
        if address is None:
            known = ", ".join(sorted(self.config.peers)) or "none yet"
            raise NotFoundError(
                f"no address for peer {peer!r} in {self.config.path} (known peers: {known}); "
                f"add one with `tds node peer add {peer} HOST:PORT` or pass {peer}@HOST:PORT"
            )
        return peer, address

    def info(self, peer: str) -> NodeInfo:
        """What ``peer`` says about itself: name, versions, job kinds, certificate expiry."""
        reply = self.connect(peer).call(f"{_NODE}/GetInfo", serde.encode_get_info_request())
        return serde.decode_node_info(reply)

    def health(self, peer: str) -> str:
        """``peer``'s health status (``SERVING`` when its daemon takes calls)."""
        return self.connect(peer).health()

    # -- catalog ------------------------------------------------------------------------------

    def publish(self, dataset: Dataset, *, replace: bool = False) -> Dataset:
        """Offer ``dataset`` in this node's catalog (``replace`` an entry with the same id)."""
        return self.node.catalog.publish(dataset, replace=replace)

    def withdraw(self, dataset_id: str) -> None:
        """Take a dataset out of this node's catalog; agreements made on it stay."""
        self.node.catalog.withdraw(dataset_id)

    def datasets(self) -> list[Dataset]:
        """This node's own catalog, with the sources (which never leave the node)."""
        return self.node.catalog.datasets()

    def catalog(self, peer: str) -> list[DatasetOffer]:
        """The datasets ``peer`` offers to this node."""
        reply = self.connect(peer).call(
            f"{_CATALOG}/ListDatasets", serde.encode_list_datasets_request()
        )
        return serde.decode_dataset_offers(reply)

    def offer(self, peer: str, dataset_id: str) -> DatasetOffer:
        """One dataset ``peer`` offers to this node; NotFoundError if it offers none by that id."""
        reply = self.connect(peer).call(
            f"{_CATALOG}/GetDataset", serde.encode_get_dataset_request(dataset_id)
        )
        return serde.decode_dataset_offer(reply)

    # -- negotiation --------------------------------------------------------------------------

    def negotiate(self, peer: str, dataset_id: str, policy: Policy | None = None) -> Negotiation:
        """Negotiate a contract for ``peer``'s dataset and return where it ended.

        Without ``policy`` this asks for the offer in ``peer``'s catalog, which the provider
        agrees to at once: the result is FINALIZED, with an agreement both sides signed. With
        another policy the provider answers with a counter-offer (OFFERED: :meth:`accept_offer`
        or :meth:`terminate` it) or ends the negotiation (TERMINATED, with the reason).

        A failure on the way (the peer unreachable after the retries, a refusal, a signature
        that does not verify) ends the negotiation TERMINATED with the error as its reason,
        and raises that error.
        """
        connection = self.connect(peer)
        if policy is None:
            policy = self.offer(peer, dataset_id).policy
        record = self.node.negotiations.start(connection.peer, dataset_id, policy)
        reply = self._send(
            connection,
            record.id,
            "RequestContract",
            serde.encode_contract_request(new_message_id(), record.id, dataset_id, policy),
        )
        return self._advance(connection, reply)

    def accept_offer(self, negotiation_id: str) -> Negotiation:
        """Accept the provider's counter-offer; returns the negotiation, FINALIZED on success."""
        record = self.node.negotiations.get(negotiation_id)
        connection = self.connect(record.peer)
        self.node.negotiations.accept(negotiation_id)
        reply = self._send(
            connection,
            negotiation_id,
            "AcceptOffer",
            serde.encode_accept_request(new_message_id(), negotiation_id),
        )
        return self._advance(connection, reply)

    def terminate(self, negotiation_id: str, reason: str) -> Negotiation:
        """End a negotiation that is not final yet, telling the peer why.

        If the peer cannot be reached the negotiation still ends here; the peer learns it at
        its next message. StateTransitionError, changing nothing, once it is final.
        """
        record = self.node.negotiations.get(negotiation_id)
        if record.is_final:
            raise StateTransitionError(
                f"negotiation {negotiation_id} is {record.state} already: {record.explanation}"
            )
        try:
            self.connect(record.peer).call(
                f"{_NEGOTIATION}/Terminate",
                serde.encode_termination(new_message_id(), negotiation_id, reason),
            )
        except PeerUnavailableError as error:
            _log.warning("could not tell %s of the termination: %s", record.peer, error)
        return self.node.negotiations.terminate_locally(negotiation_id, reason)

    def negotiation(self, negotiation_id: str) -> Negotiation:
        """This node's record of a negotiation."""
        return self.node.negotiations.get(negotiation_id)

    def negotiations(self, **filters: str) -> list[Negotiation]:
        """This node's negotiations, oldest first (filters: role, state, peer, dataset_id)."""
        return self.node.negotiations.negotiations(**filters)  # type: ignore[arg-type]

    def agreement(self, agreement_id: str) -> SignedAgreement:
        """One agreement this node is a party to."""
        return self.node.negotiations.agreement(agreement_id)

    def agreements(self, *, peer: str | None = None) -> list[SignedAgreement]:
        """The agreements this node made, as provider or consumer, oldest first."""
        return self.node.negotiations.agreements(peer=peer)

    def record_violation(self, agreement_id: str, duty: str, reason: str) -> None:
        """Record that the consumer of an agreement this node provides violated a duty it owed
        after its uses (``compensate``): ``duty`` is the duty's uid, or its path such as
        ``permission[0].duty[0]``. From now on the permission grants that consumer nothing,
        and the audit log says who recorded it and why. ConfigError for a duty the agreement
        has not, or one of another kind; NotFoundError for an unknown agreement."""
        signed = self.agreement(agreement_id)
        if signed.provider != self.name:
            raise ConfigError(
                f"{self.name} is the consumer of {agreement_id}; only its provider records "
                "violations"
            )
        owed = {duty_id: duty.action for duty_id, duty in signed.policy.duties()}
        if not isinstance(duty, str) or duty not in owed:
            raise ConfigError(
                f"agreement {agreement_id} has no duty {duty!r:.80}; its duties: "
                f"{', '.join(owed) or 'none'}"
            )
        if not owed[duty].may_be_violated:
            raise ConfigError(
                f"{duty} is a {owed[duty]} duty; only duties owed after the use (compensate) "
                "are recorded as violated"
            )
        key = UsageKey(signed.policy.content_hash, duty, node_uri(signed.consumer))
        with self.node.store.transaction():
            self.node.usage.record_violation(key)
            self.node.audit_log.append(
                EventKind.USE_DECISION,
                {
                    "provider": self.name,
                    "consumer": signed.consumer,
                    "agreement": agreement_id,
                    "violated": {"duty": duty, "reason": _reason(reason)},
                },
            )

    def _send(
        self, connection: PeerConnection, negotiation_id: str, method: str, request: bytes
    ) -> serde.NegotiationReply:
        try:
            reply = serde.decode_negotiation_reply(
                connection.call(f"{_NEGOTIATION}/{method}", request)
            )
            if reply.negotiation_id != negotiation_id:
                raise DecodeError(
                    f"{connection.peer} answered about negotiation {reply.negotiation_id}, "
                    f"not {negotiation_id}"
                )
        except TdsError as error:
            self._end(negotiation_id, f"{method} failed: {error}")
            raise
        return reply

    def _advance(self, connection: PeerConnection, reply: serde.NegotiationReply) -> Negotiation:
        negotiations = self.node.negotiations
        negotiation_id = reply.negotiation_id
        with self._ending_on_error(negotiation_id, connection):
            step = negotiations.record_reply(
                negotiation_id,
                state=reply.state,
                reason=reply.reason,
                policy=reply.policy,
                agreement=reply.agreement,
                checkpoint=reply.checkpoint,
            )
            if step.negotiation.state is not NegotiationState.AGREED:
                return step.negotiation
            verification = negotiations.verify(negotiation_id)
            assert verification.agreement is not None and verification.checkpoint is not None
        final = self._send(
            connection,
            negotiation_id,
            "VerifyAgreement",
            serde.encode_verification(
                new_message_id(),
                negotiation_id,
                verification.agreement,
                verification.checkpoint,
            ),
        )
        with self._ending_on_error(negotiation_id, connection):
            record = negotiations.record_reply(
                negotiation_id,
                state=final.state,
                reason=final.reason,
                checkpoint=final.checkpoint,
            ).negotiation
        if final.checkpoint is not None:
            self._witness_checkpoint(connection, final.checkpoint)
        return record

    def _witness_checkpoint(self, connection: PeerConnection, checkpoint: Checkpoint) -> None:
        """Hold the provider to its checkpoint: it extends, or is a prefix of, the last seen."""
        verified = connection.verified_peer()
        if verified is None:
            return
        self._witness.advance(
            connection.peer,
            checkpoint,
            verified.certificate.public_key(),  # type: ignore[arg-type]
            lambda old, new: consistency_proof(connection, old, new),
        )

    @contextlib.contextmanager
    def _ending_on_error(self, negotiation_id: str, connection: PeerConnection) -> Iterator[None]:
        """End the negotiation, telling the peer, when a step on this side fails."""
        try:
            yield
        except TdsError as error:
            self._end(negotiation_id, str(error), tell=connection)
            raise

    def _end(self, negotiation_id: str, reason: str, *, tell: PeerConnection | None = None) -> None:
        """Terminate a negotiation that failed on this side, so it never hangs unexplained."""
        record = self.node.negotiations.get(negotiation_id)
        if record.is_final:
            return
        reason = reason[:MAX_REASON]
        if tell is not None:
            try:
                tell.call(
                    f"{_NEGOTIATION}/Terminate",
                    serde.encode_termination(new_message_id(), negotiation_id, reason),
                )
            except TdsError as error:
                _log.warning("could not tell %s of the termination: %s", tell.peer, error)
        self.node.negotiations.terminate_locally(negotiation_id, reason)

    # -- jobs ---------------------------------------------------------------------------------

    def secure_join(
        self,
        provider: str,
        dataset_id: str,
        items: Iterable[object],
        *,
        key_columns: Sequence[str],
        purpose: str,
        kind: JobKind | str = JobKind.PSI,
        value_column: str | None = None,
        min_cohort: int = 1,
        epsilon: Decimal | str | None = None,
        value_bound: int = 2**31,
        reveal_to_provider: bool = False,
        agreement_id: str | None = None,
        consent_obtained: bool = False,
        deadline_seconds: int = 600,
        progress: ProgressCallback | None = None,
        protocol: str = "auto",
        bucket_items: int | None = None,
    ) -> Job:
        """Join this node's ``items`` with ``provider``'s dataset under our agreement on it.

        ``kind`` is ``psi`` (the shared keys), ``psi-cardinality`` (how many) or ``psi-sum``
        (how many, and the sum of the provider's ``value_column`` over them). ``key_columns``
        name the provider's join key columns, in the order of each item's parts. The provider
        checks its policy before the job starts and before it releases anything; the job is
        recorded on both nodes. ``consent_obtained`` attests that this node obtained the consent
        the agreement asks for (its ``obtainConsent`` duties); the provider records the
        attestation in its audit log. Returns the job, SUCCEEDED with its ``result``; a refusal
        or failure raises, with the job recorded FAILED and the reason.

        ``protocol`` is ``ecdh``, ``oprf`` (the faster OPRF join, for ``psi`` only) or
        ``auto``: the OPRF join for a ``psi`` job from ``tds.psi.OPRF_THRESHOLD`` keys on.
        A ``psi`` job with more than ``tds.psi.BUCKET_ITEMS`` keys here runs in buckets of
        about that many; ``bucket_items`` sets the bucket size (0: one join whatever the size).
        """
        items = list(items)
        if bucket_items is None:
            bucket_items = BUCKET_ITEMS if kind == JobKind.PSI and len(items) > BUCKET_ITEMS else 0
        # Checked here, before any peer is asked; the provider's set size is not known yet.
        chosen = choose_protocol(protocol, "intersection", len(items), 0)
        if kind != JobKind.PSI and protocol == "auto":
            chosen = "ecdh"  # only a psi job may run the OPRF join
        if kind in tuple(JobKind):
            check_protocol(JobKind(kind), chosen)
        connection = self.connect(provider)
        spec = JobSpec(
            job_id=new_job_id(),
            kind=kind,  # type: ignore[arg-type]  # JobSpec checks and converts it
            requester=self.name,
            providers=(
                ProviderPart(
                    node=connection.peer,
                    agreement_id=agreement_id or self._agreement_on(connection.peer, dataset_id),
                    dataset_id=dataset_id,
                    key_columns=tuple(key_columns),
                    value_column=value_column,
                    address=connection.address,
                ),
            ),
            purpose=purpose,
            min_cohort=min_cohort,
            epsilon=epsilon,  # type: ignore[arg-type]  # JobSpec checks and converts it
            value_bound=value_bound,
            reveal_to_provider=reveal_to_provider,
            consent_obtained=consent_obtained,
            deadline_seconds=deadline_seconds,
            protocol=chosen,
            bucket_items=bucket_items,
        )
        return self._requester.run(spec, items=items, progress=progress)

    def aggregate(
        self,
        datasets: Mapping[str, str],
        *,
        purpose: str,
        sums: Sequence[str] = (),
        group_by: Sequence[str] = (),
        groups: Sequence[Sequence[str]] = (),
        min_cohort: int = 1,
        epsilon: Decimal | str | None = None,
        value_bound: int = 2**31,
        consent_obtained: bool = False,
        area: BoundingBox | str | None = None,
        period: tuple[dt.datetime, dt.datetime] | None = None,
        deadline_seconds: int = 600,
        progress: ProgressCallback | None = None,
        scheme: Scheme | None = None,
    ) -> Job:
        """Count rows and add up ``sums`` per group across providers, under encryption.

        ``datasets`` maps each provider to its dataset (one agreement on each). Every
        provider encrypts its counts and sums under a fresh key of this node's and adds them
        to those of the providers before it, so this node decrypts only the total. The key is
        of ``scheme``, ``"paillier"`` or ``"ou"`` (Okamoto-Uchiyama, several times faster);
        None takes the node's ``[compute] scheme``. Groups
        smaller than ``min_cohort`` at a provider (in rows, or in distinct subjects for a
        dataset that names its subject column) are left out there; with ``epsilon`` every
        provider adds differential-privacy noise; ``consent_obtained`` as for
        :meth:`secure_join`. ``area`` (a :class:`~tds.policy.BoundingBox` or its text
        ``west,south,east,north``) and ``period`` (``(start, end)``, aware datetimes, the end
        excluded) keep only the rows there and then, for datasets with location and time
        columns. Returns the job, SUCCEEDED with its ``result`` table (``columns`` and
        ``rows``).
        """
        if not isinstance(datasets, Mapping) or not datasets:
            raise ConfigError("datasets maps each provider to the dataset it aggregates")
        if isinstance(area, str):
            try:
                area = BoundingBox.parse(area)
            except PolicySyntaxError as error:
                raise ConfigError(f"area: {error}") from None
        scheme = self.config.compute.scheme if scheme is None else check_scheme(scheme)
        public_key, private_key = generate_keypair(scheme=scheme)
        parts = []
        for provider, dataset_id in datasets.items():
            connection = self.connect(provider)
            parts.append(
                ProviderPart(
                    node=connection.peer,
                    agreement_id=self._agreement_on(connection.peer, dataset_id),
                    dataset_id=dataset_id,
                    address=connection.address,
                )
            )
        spec = JobSpec(
            job_id=new_job_id(),
            kind=JobKind.AGGREGATE,
            requester=self.name,
            providers=tuple(parts),
            purpose=purpose,
            group_by=tuple(group_by),
            sums=tuple(sums),
            groups=tuple(tuple(group) for group in groups),
            min_cohort=min_cohort,
            epsilon=epsilon,  # type: ignore[arg-type]  # JobSpec checks and converts it
            value_bound=value_bound,
            consent_obtained=consent_obtained,
            deadline_seconds=deadline_seconds,
            requester_key=public_key.to_bytes(),
            area=area,
            period=None if period is None else tuple(period),  # type: ignore[arg-type]
        )
        first = parts[0]
        offer = self.offer(f"{first.node}@{first.address}", first.dataset_id)
        column_types = {column.name: column.type for column in offer.columns}
        return self._requester.run(
            spec, private_key=private_key, column_types=column_types, progress=progress
        )

    def _agreement_on(self, provider: str, dataset_id: str) -> str:
        """Our newest finalized agreement with ``provider`` on ``dataset_id``."""
        for signed in reversed(self.node.negotiations.agreements(peer=provider)):
            if signed.consumer == self.name and signed.dataset_id == dataset_id:
                return signed.id
        raise NotFoundError(
            f"{self.name} has no agreement with {provider} on dataset {dataset_id!r}; "
            f"negotiate one first: `tds negotiate {provider} {dataset_id}`"
        )

    def job(self, job_id: str) -> Job:
        """This node's record of a job, as requester or provider (a result the agreement
        asked this node to delete by now is deleted first)."""
        self.node.jobs.purge_expired()
        return self.node.jobs.get(job_id)

    def jobs(
        self, *, role: JobRole | str | None = None, state: JobState | str | None = None
    ) -> list[Job]:
        """This node's jobs, oldest first, optionally only in ``role`` or ``state``."""
        self.node.jobs.purge_expired()
        return self.node.jobs.jobs(
            role=None if role is None else _enum(JobRole, role, "role"),
            state=None if state is None else _enum(JobState, state, "state"),
        )

    def watch_job(
        self, job_id: str, *, peer: str | None = None, timeout: float = 3600
    ) -> Iterator[JobStatus]:
        """The job's status (state, reason, stage, done, total) now and at every change, until
        it ends or ``timeout`` seconds pass: as this node records it, or as ``peer`` (another
        node of the job) does."""
        if peer is None:
            yield from self.node.jobs.watch(job_id, timeout=timeout)
            return
        replies = self.connect(peer).replies(
            f"{JOB_SERVICE}/WatchJob", serde.encode_get_job(job_id), timeout=timeout
        )
        for reply in replies:
            status = serde.decode_job_status(reply)
            if status.job_id != job_id:
                raise DecodeError(f"{peer} sent the status of job {status.job_id}")
            yield status

    def approve_job(self, job_id: str) -> Job:
        """Approve a job that waits for a person's approval on this node (as its provider)."""
        return self._provider.approve(job_id)

    def reject_job(self, job_id: str, reason: str) -> Job:
        """Reject a job that waits for approval on this node; the requester learns the reason."""
        return self._provider.reject(job_id, _reason(reason))

    def cancel_job(self, job_id: str, reason: str) -> Job:
        """Cancel a job this node requested, telling its providers."""
        return self._requester.cancel(job_id, _reason(reason))

    # -- audit --------------------------------------------------------------------------------

    def verify_audit(self, peer: str) -> AuditReport:
        """Check ``peer``'s audit log: signed, only ever appended to since the last check, and
        holding every entry about this node that it shows, each proven included.

        Raises AuditProofError when the peer rewrote its log.
        """
        return verify_peer_log(self.connect(peer), self._witness)

    def close(self) -> None:
        """Close the connections and the node's database."""
        self._peers.close()
        self.node.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _enum(kind: type[enum.StrEnum], value: object, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ConfigError(f"unknown job {what} {value!r:.40}; use one of {known}") from None


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError("give a reason: the other nodes record it")
    if len(reason) > MAX_JOB_REASON // 2:
        raise ConfigError(f"a reason is at most {MAX_JOB_REASON // 2} characters")
    return reason
