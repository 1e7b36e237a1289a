"""Contract negotiation between a consumer and a provider: the Dataspace Protocol's states.

The consumer drives a negotiation and the provider answers each message at once::

    consumer                         provider
    start            REQUESTED  -->  on_request   AGREED | OFFERED | TERMINATED
    request_again    REQUESTED  -->  on_request   (a counter-request after an offer)
    accept           ACCEPTED   -->  on_accept    AGREED | TERMINATED
    record_reply     AGREED     <--  (the agreement, signed by the provider)
    verify           VERIFIED   -->  on_verify    FINALIZED (countersigned, checkpoints swapped)
    record_reply     FINALIZED  <--

Either side may terminate a negotiation that is not final. A provider agrees only to its
published offer: a request for another policy gets the offer back as a counter-offer (once
per negotiation, and only for datasets that allow counter-offers) or is refused, with the
differences explained in words.

Every transition reads, checks and writes in one store transaction together with its event
row and its audit-log entry, so the daemon's threads and a Client in another process sharing
the database never interleave, and an illegal transition (StateTransitionError) or a bad
message changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import sqlite3
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from tds.connector._agreement import (
    SignedAgreement,
    agreement_from_offer,
    agreement_policy,
    check_negotiation_id,
)
from tds.connector._audit import AuditLog, Checkpoint, EventKind, PublicVerifyingKey
from tds.connector._catalog import Catalog, check_dataset_id, check_offer_policy
from tds.connector._difference import explain_difference
from tds.connector._pki import NodeIdentity
from tds.connector._store import Store, from_microseconds, to_microseconds
from tds.connector._trust import TrustStore, validate_node_name
from tds.connector._usage import SqliteUsageState
from tds.connector._witness import StoredWitness
from tds.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotFoundError,
    StateTransitionError,
)
from tds.policy import Policy

__all__ = [
    "MAX_REASON",
    "Negotiation",
    "NegotiationEvent",
    "NegotiationRole",
    "NegotiationState",
    "NegotiationStep",
    "Negotiations",
]

# A reason is a sentence or two for people, never a document.
MAX_REASON = 1000
# How much of a negotiation's reason an error message repeats.
_REASON_IN_ERRORS = 200


class NegotiationState(enum.StrEnum):
    """The states of a negotiation, those of the Dataspace Protocol."""

    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"

    @property
    def is_final(self) -> bool:
        return self in (NegotiationState.FINALIZED, NegotiationState.TERMINATED)


class NegotiationRole(enum.StrEnum):
    """This node's side of a negotiation."""

    PROVIDER = "provider"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class Negotiation:
    """One node's record of a negotiation.

    ``policy`` is the policy on the table: the one requested, the provider's counter-offer
    while OFFERED, the agreement's once AGREED. ``reason`` says why it is in its state (always
    set once TERMINATED); ``agreement_id`` is set from AGREED on.
    """

    id: str
    role: NegotiationRole
    peer: str
    dataset_id: str
    state: NegotiationState
    policy: Policy
    reason: str
    agreement_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def explanation(self) -> str:
        """The state and its reason, as one sentence for people."""
        return f"{self.state}: {self.reason}" if self.reason else str(self.state)


@dataclass(frozen=True)
class NegotiationStep:
    """What one negotiation message led to: the record, and the agreement and audit
    checkpoint to send with the reply (when there are)."""

    negotiation: Negotiation
    agreement: SignedAgreement | None = None
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class NegotiationEvent:
    """One transition of a negotiation as this node recorded it, with its audit entry."""

    negotiation_id: str
    state: NegotiationState
    reason: str
    policy_hash: str
    audit_index: int
    at: dt.datetime


_S = NegotiationState
_CONSUMER_NEXT = {
    _S.REQUESTED: "wait for the provider's reply, or terminate",
    _S.OFFERED: "accept the counter-offer, request again under another policy, or terminate",
    _S.ACCEPTED: "wait for the provider's agreement, or terminate",
    _S.AGREED: "verify (countersign) the agreement, or terminate",
    _S.VERIFIED: "wait for the provider to finalize, or terminate",
}
_PROVIDER_NEXT = {
    _S.REQUESTED: "it answers the request",
    _S.OFFERED: "the consumer may accept the counter-offer, request again, or terminate",
    _S.ACCEPTED: "it answers the acceptance",
    _S.AGREED: "the consumer may verify the agreement, or terminate",
    _S.VERIFIED: "it finalizes the agreement",
}
# The provider's replies the consumer accepts, by the consumer's state.
_REPLIES = {
    _S.REQUESTED: (_S.OFFERED, _S.AGREED, _S.TERMINATED),
    _S.ACCEPTED: (_S.OFFERED, _S.AGREED, _S.TERMINATED),
    _S.VERIFIED: (_S.FINALIZED, _S.TERMINATED),
}
_ALL_STATES = tuple(NegotiationState)
_NOT_FINAL = tuple(state for state in NegotiationState if not state.is_final)


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _fit(details: str, conclusion: str) -> str:
    """``details`` and then ``conclusion`` within MAX_REASON, cutting the details if need be."""
    room = MAX_REASON - len(conclusion) - 2
    if len(details) > room:
        details = details[: max(room - 1, 0)] + "…"
    return _bounded(f"{details}. {conclusion}")


class Negotiations:
    """The negotiations of the node ``identity``, kept in its ``store``.

    ``audit_log`` receives an entry per transition, ``catalog`` answers which datasets a peer
    may negotiate, and ``trust`` returns the current trust store (it may change while the node
    runs, when a new revocation list is installed). Thread-safe; several processes may share
    the store.
    """

    def __init__(
        self,
        store: Store,
        audit_log: AuditLog,
        identity: NodeIdentity,
        catalog: Catalog,
        trust: Callable[[], TrustStore],
    ) -> None:
        for value, kind, what in (
            (store, Store, "store"),
            (audit_log, AuditLog, "audit_log"),
            (identity, NodeIdentity, "identity"),
            (catalog, Catalog, "catalog"),
        ):
            if not isinstance(value, kind):
                raise ConfigError(f"{what} must be a {kind.__name__}, not {type(value).__name__}")
        if not callable(trust):
            raise ConfigError("trust must be a callable returning the current TrustStore")
        if catalog.node_name != identity.name or audit_log.origin != identity.name:
            raise ConfigError(
                f"the catalog ({catalog.node_name!r}) and the audit log ({audit_log.origin!r}) "
                f"must be those of node {identity.name!r}"
            )
        self._store = store
        self._audit = audit_log
        self._identity = identity
        self._catalog = catalog
        self._trust = trust
        self._usage = SqliteUsageState(store)
        self._witness = StoredWitness(store)
        self.name = identity.name

    # -- provider side: the consumer's messages, from the authenticated caller --------------

    def on_request(
        self, caller: str, negotiation_id: str, dataset_id: str, policy: Policy
    ) -> NegotiationStep:
        """``caller`` asks for ``dataset_id`` under ``policy``: a new negotiation with the id
        the consumer chose, or a counter-request on one this node counter-offered in.

        The answer is AGREED (with the signed agreement) when ``policy`` is the offer exactly,
        OFFERED (the offer, once per negotiation, for datasets that allow counter-offers) or
        TERMINATED, with the differences explained. NotFoundError when the dataset is not
        offered to ``caller``; AlreadyExistsError when the id is another negotiation's.
        """
        caller = validate_node_name(caller)
        negotiation_id = _peer_negotiation_id(negotiation_id)
        dataset_id = _peer_dataset_id(dataset_id)
        if not isinstance(policy, Policy):
            raise DecodeError(f"the requested policy must be a Policy, not {type(policy).__name__}")
        with self._store.transaction() as connection:
            existing = self._load(connection, negotiation_id)
            counter_offered = False
            if existing is not None:
                if (
                    existing.role is not NegotiationRole.PROVIDER
                    or existing.peer != caller
                    or existing.dataset_id != dataset_id
                ):
                    raise AlreadyExistsError(
                        f"negotiation id {negotiation_id} is taken by another negotiation: "
                        "start a new negotiation with a fresh id"
                    )
                self._check_state(existing, (_S.OFFERED,), "send a contract request in")
                counter_offered = self._counter_offered(connection, negotiation_id)
            dataset = self._catalog.dataset_for(dataset_id, caller)
            offer = dataset.contract_policy
            if existing is None:
                record = self._insert(
                    connection,
                    negotiation_id,
                    NegotiationRole.PROVIDER,
                    caller,
                    dataset_id,
                    policy,
                    f"{caller} asked {self.name} for dataset {dataset_id!r} under policy "
                    f"{policy.uid!r}",
                )
            else:
                record = self._move(
                    connection,
                    existing,
                    _S.REQUESTED,
                    f"{caller} answered {self.name}'s counter-offer with a request under "
                    f"policy {policy.uid!r}",
                    policy=policy,
                )
            if policy.content_hash == offer.content_hash:
                return self._agree(connection, record, offer)
            difference = explain_difference(
                policy, offer, requester=caller, provider=self.name, dataset_id=dataset_id
            )
            if dataset.counter_offers and not counter_offered:
                reason = _fit(
                    difference,
                    f"{self.name} counter-offers its published offer {offer.uid!r}: accept it, "
                    "or terminate",
                )
                return NegotiationStep(
                    self._move(
                        connection, record, _S.OFFERED, reason, policy=offer, counter_offer=True
                    )
                )
            conclusion = (
                f"{self.name} counter-offers only once per negotiation and refuses this request"
                if dataset.counter_offers
                else f"{self.name} makes no counter-offers for dataset {dataset_id!r} and "
                "refuses this request: ask for the offer as published"
            )
            return NegotiationStep(
                self._move(connection, record, _S.TERMINATED, _fit(difference, conclusion))
            )

    def on_accept(self, caller: str, negotiation_id: str) -> NegotiationStep:
        """``caller`` accepts this node's counter-offer: AGREED, with the signed agreement, or
        TERMINATED if the dataset is no longer offered to it under that policy."""
        caller = validate_node_name(caller)
        with self._store.transaction() as connection:
            record = self._require(
                connection, negotiation_id, peer=caller, role=NegotiationRole.PROVIDER
            )
            self._check_state(record, (_S.OFFERED,), "accept the counter-offer of")
            offer = record.policy
            accepted = self._move(
                connection,
                record,
                _S.ACCEPTED,
                f"{caller} accepted {self.name}'s counter-offer {offer.uid!r}",
            )
            try:
                dataset = self._catalog.dataset_for(record.dataset_id, caller)
            except NotFoundError:
                dataset = None
            if dataset is None or dataset.contract_policy.content_hash != offer.content_hash:
                reason = (
                    f"{self.name} no longer offers dataset {record.dataset_id!r} to {caller} "
                    f"under {offer.uid!r}: the dataset was withdrawn or its offer changed "
                    "since the counter-offer; start a new negotiation for the current offer"
                )
                return NegotiationStep(self._move(connection, accepted, _S.TERMINATED, reason))
            return self._agree(connection, accepted, offer)

    def on_verify(
        self,
        caller: str,
        negotiation_id: str,
        signed_agreement: SignedAgreement,
        consumer_checkpoint: Checkpoint,
    ) -> NegotiationStep:
        """``caller`` sends back the agreement, countersigned, and its audit checkpoint.

        The agreement must be exactly the one this node signed, countersigned by ``caller``;
        the checkpoint must be of ``caller``'s log, signed with its certificate's key, and
        must not contradict one seen before (AuditProofError). Then FINALIZED: the agreement
        is stored, both checkpoints are logged, and the step carries this node's checkpoint.
        """
        caller = validate_node_name(caller)
        if not isinstance(signed_agreement, SignedAgreement):
            raise DecodeError(
                f"the agreement must be a SignedAgreement, not {type(signed_agreement).__name__}"
            )
        if not isinstance(consumer_checkpoint, Checkpoint):
            raise DecodeError(
                f"the checkpoint must be a Checkpoint, not {type(consumer_checkpoint).__name__}"
            )
        with self._store.transaction() as connection:
            record = self._require(
                connection, negotiation_id, peer=caller, role=NegotiationRole.PROVIDER
            )
            self._check_state(record, (_S.AGREED,), "verify the agreement of")
            assert record.agreement_id is not None  # set on AGREED
            signed = self._load_agreement(connection, record.agreement_id)
            if (
                signed_agreement.agreement.canonical_bytes() != signed.agreement.canonical_bytes()
                or signed_agreement.provider_signature != signed.provider_signature
            ):
                raise AuthenticationError(
                    f"the agreement {caller} sent back for negotiation {record.id} is not the "
                    f"one {self.name} signed: it was altered; terminate and negotiate again"
                )
            signed_agreement.verify(self._trust(), require_consumer=True)
            assert signed_agreement.consumer_signature is not None  # verify requires it
            key = signed_agreement.consumer_signature.signer_certificate.public_key()
            self._check_peer_checkpoint(caller, consumer_checkpoint, key)  # type: ignore[arg-type]
            self._witness_checkpoint(caller, consumer_checkpoint, key)  # type: ignore[arg-type]
            self._save_agreement(connection, signed_agreement, finalized=True)
            final = self._move(
                connection,
                record,
                _S.FINALIZED,
                f"{caller} countersigned agreement {signed.id}; {self.name} and {caller} "
                "exchanged audit checkpoints",
            )
            self._record_final(signed_agreement, consumer_checkpoint)
        return NegotiationStep(
            final,
            agreement=signed_agreement,
            checkpoint=self._audit.checkpoint(self._identity.private_key),
        )

    def on_terminate(self, caller: str, negotiation_id: str, reason: str) -> Negotiation:
        """``caller`` ends a negotiation it takes part in; StateTransitionError once final."""
        caller = validate_node_name(caller)
        reason = _peer_reason(reason)
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id, peer=caller)
            self._check_state(record, _NOT_FINAL, "terminate")
            return self._move(
                connection,
                record,
                _S.TERMINATED,
                f"{caller} terminated the negotiation: {reason or 'no reason given'}",
            )

    # -- consumer side: this node's own negotiations ----------------------------------------

    def start(self, peer: str, dataset_id: str, policy: Policy) -> Negotiation:
        """A new negotiation for ``peer``'s dataset under ``policy``, REQUESTED (send it)."""
        peer = validate_node_name(peer)
        if peer == self.name:
            raise ConfigError(f"node {self.name!r} cannot negotiate with itself")
        check_dataset_id(dataset_id)
        if not isinstance(policy, Policy):
            raise ConfigError(f"ask for a dataset under a Policy, not {type(policy).__name__}")
        with self._store.transaction() as connection:
            return self._insert(
                connection,
                str(uuid.uuid4()),
                NegotiationRole.CONSUMER,
                peer,
                dataset_id,
                policy,
                f"{self.name} asked {peer} for dataset {dataset_id!r} under policy {policy.uid!r}",
            )

    def request_again(self, negotiation_id: str, policy: Policy) -> Negotiation:
        """Answer the provider's counter-offer with a request under ``policy`` (REQUESTED)."""
        if not isinstance(policy, Policy):
            raise ConfigError(f"ask for a dataset under a Policy, not {type(policy).__name__}")
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id, role=NegotiationRole.CONSUMER)
            self._check_state(record, (_S.OFFERED,), "request again in")
            return self._move(
                connection,
                record,
                _S.REQUESTED,
                f"{self.name} answered {record.peer}'s counter-offer {record.policy.uid!r} "
                f"with a request under policy {policy.uid!r}",
                policy=policy,
            )

    def accept(self, negotiation_id: str) -> Negotiation:
        """Accept the provider's counter-offer (ACCEPTED; send it)."""
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id, role=NegotiationRole.CONSUMER)
            self._check_state(record, (_S.OFFERED,), "accept the counter-offer of")
            return self._move(
                connection,
                record,
                _S.ACCEPTED,
                f"{self.name} accepted {record.peer}'s counter-offer {record.policy.uid!r}",
            )

    def record_reply(
        self,
        negotiation_id: str,
        *,
        state: NegotiationState,
        reason: str = "",
        policy: Policy | None = None,
        agreement: SignedAgreement | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> NegotiationStep:
        """Record the provider's reply, after checking it against what this node sent.

        REQUESTED or ACCEPTED take OFFERED (``policy``: an Offer by the provider for the
        dataset), AGREED (``agreement``: signed by the provider, for this node, the policy on
        the table) or TERMINATED; VERIFIED takes FINALIZED (``checkpoint``: the provider's,
        signed with its certificate's key) or TERMINATED. Anything else raises
        StateTransitionError, DecodeError or AuthenticationError and changes nothing.
        """
        state = _peer_state(state)
        reason = _peer_reason(reason)
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id, role=NegotiationRole.CONSUMER)
            expected = _REPLIES.get(record.state)
            if expected is None:
                raise StateTransitionError(
                    f"no reply from {record.peer} is expected for negotiation {record.id}: "
                    f"it is {record.state}; {self._next_steps(record)}"
                )
            if state not in expected:
                raise StateTransitionError(
                    f"{record.peer} replied {state} for negotiation {record.id}, which is "
                    f"{record.state} here; the reply may only be {_or(expected)}"
                )
            if state is _S.TERMINATED:
                return NegotiationStep(
                    self._move(
                        connection,
                        record,
                        _S.TERMINATED,
                        reason or f"{record.peer} terminated the negotiation without a reason",
                    )
                )
            if state is _S.OFFERED:
                return NegotiationStep(self._record_offer(connection, record, reason, policy))
            if state is _S.AGREED:
                return self._record_agreement(connection, record, reason, agreement)
            return self._record_final_reply(connection, record, reason, checkpoint)

    def verify(self, negotiation_id: str) -> NegotiationStep:
        """Countersign the provider's agreement (VERIFIED): the step carries the agreement
        signed by both and this node's audit checkpoint, for the provider."""
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id, role=NegotiationRole.CONSUMER)
            self._check_state(record, (_S.AGREED,), "verify the agreement of")
            assert record.agreement_id is not None  # set on AGREED
            signed = self._load_agreement(connection, record.agreement_id).countersign(
                self._identity
            )
            self._save_agreement(connection, signed, finalized=False)
            verified = self._move(
                connection,
                record,
                _S.VERIFIED,
                f"{self.name} countersigned agreement {signed.id}",
            )
        return NegotiationStep(
            verified,
            agreement=signed,
            checkpoint=self._audit.checkpoint(self._identity.private_key),
        )

    def terminate_locally(self, negotiation_id: str, reason: str) -> Negotiation:
        """End a negotiation that is not final, on this node only (tell the peer separately)."""
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError("say why the negotiation ends: the reason is empty")
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id)
            self._check_state(record, _NOT_FINAL, "terminate")
            return self._move(
                connection,
                record,
                _S.TERMINATED,
                f"{self.name} terminated the negotiation: {reason}",
            )

    # -- reading ----------------------------------------------------------------------------

    def get(self, negotiation_id: str, *, peer: str | None = None) -> Negotiation:
        """The negotiation ``negotiation_id`` (only if it is with ``peer``, when given)."""
        with self._store.transaction() as connection:
            return self._require(connection, negotiation_id, peer=peer)

    def negotiations(
        self,
        *,
        role: NegotiationRole | str | None = None,
        state: NegotiationState | str | None = None,
        peer: str | None = None,
        dataset_id: str | None = None,
    ) -> list[Negotiation]:
        """The negotiations that match every filter given, oldest first."""
        conditions, parameters = [], []
        if role is not None:
            conditions.append("role = ?")
            parameters.append(_member(NegotiationRole, role, "role").value)
        if state is not None:
            conditions.append("state = ?")
            parameters.append(_member(NegotiationState, state, "state").value)
        if peer is not None:
            conditions.append("peer = ?")
            parameters.append(validate_node_name(peer))
        if dataset_id is not None:
            conditions.append("dataset_id = ?")
            parameters.append(check_dataset_id(dataset_id))
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        with self._store.transaction() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM negotiations {where}ORDER BY created_at_us, rowid",
                parameters,
            ).fetchall()
        return [_negotiation(row) for row in rows]

    def history(self, negotiation_id: str, *, peer: str | None = None) -> list[NegotiationEvent]:
        """Every transition of a negotiation, oldest first."""
        with self._store.transaction() as connection:
            record = self._require(connection, negotiation_id, peer=peer)
            rows = connection.execute(
                "SELECT state, reason, policy_hash, audit_index, at_us FROM negotiation_events "
                "WHERE negotiation_id = ? ORDER BY id",
                (record.id,),
            ).fetchall()
        return [
            NegotiationEvent(
                record.id, _S(state), reason, policy_hash, audit_index, from_microseconds(at)
            )
            for state, reason, policy_hash, audit_index, at in rows
        ]

    def agreement(self, agreement_id: str, *, peer: str | None = None) -> SignedAgreement:
        """The agreement ``agreement_id`` as this node holds it: signed by the provider from
        AGREED on, by both once countersigned."""
        with self._store.transaction() as connection:
            signed = self._load_agreement(connection, agreement_id, peer=peer)
        return signed

    def agreements(self, *, peer: str | None = None) -> list[SignedAgreement]:
        """The finalized agreements, as provider or consumer, oldest first."""
        query = "SELECT document FROM agreements WHERE finalized_at_us IS NOT NULL"
        parameters: list[str] = []
        if peer is not None:
            query += " AND peer = ?"
            parameters.append(validate_node_name(peer))
        with self._store.transaction() as connection:
            rows = connection.execute(
                query + " ORDER BY finalized_at_us, rowid", parameters
            ).fetchall()
        return [SignedAgreement.from_json(row[0]) for row in rows]

    # -- the steps ---------------------------------------------------------------------------

    def _agree(
        self, connection: sqlite3.Connection, record: Negotiation, offer: Policy
    ) -> NegotiationStep:
        signed = SignedAgreement.sign(
            agreement_from_offer(
                offer,
                negotiation_id=record.id,
                provider=self.name,
                consumer=record.peer,
                dataset_id=record.dataset_id,
            ),
            self._identity,
        )
        self._save_agreement(connection, signed, finalized=False)
        agreed = self._move(
            connection,
            record,
            _S.AGREED,
            f"{self.name} agreed to give {record.peer} dataset {record.dataset_id!r} under "
            f"its offer {offer.uid!r} and signed agreement {signed.id}; {record.peer} is to "
            "countersign it",
            policy=signed.policy,
            agreement_id=signed.id,
        )
        return NegotiationStep(agreed, agreement=signed)

    def _record_offer(
        self,
        connection: sqlite3.Connection,
        record: Negotiation,
        reason: str,
        policy: Policy | None,
    ) -> Negotiation:
        if not isinstance(policy, Policy):
            raise DecodeError(f"{record.peer} made a counter-offer without a policy")
        try:
            check_offer_policy(policy, record.peer, record.dataset_id)
        except ConfigError as error:
            raise DecodeError(
                f"{record.peer}'s counter-offer is not an offer of its dataset "
                f"{record.dataset_id!r}: {error}"
            ) from None
        return self._move(
            connection,
            record,
            _S.OFFERED,
            reason or f"{record.peer} counter-offered policy {policy.uid!r}",
            policy=policy,
        )

    def _record_agreement(
        self,
        connection: sqlite3.Connection,
        record: Negotiation,
        reason: str,
        signed: SignedAgreement | None,
    ) -> NegotiationStep:
        if not isinstance(signed, SignedAgreement):
            raise DecodeError(f"{record.peer} replied AGREED without the signed agreement")
        agreement = signed.agreement
        if agreement.provider != record.peer or agreement.consumer != self.name:
            raise AuthenticationError(
                f"the agreement {record.peer} sent is between provider {agreement.provider!r} "
                f"and consumer {agreement.consumer!r}, not between {record.peer!r} and "
                f"{self.name!r}"
            )
        if agreement.negotiation_id != record.id or agreement.dataset_id != record.dataset_id:
            raise DecodeError(
                f"the agreement {record.peer} sent is for negotiation {agreement.negotiation_id} "
                f"on dataset {agreement.dataset_id!r}, not {record.id} on "
                f"{record.dataset_id!r}"
            )
        expected = agreement_policy(
            record.policy, agreement_id=agreement.id, provider=record.peer, consumer=self.name
        )
        if (
            agreement.policy.content_hash != expected.content_hash
            or agreement.offer_hash != record.policy.content_hash
        ):
            raise DecodeError(
                f"the agreement {record.peer} sent is not the policy on the table "
                f"({record.policy.uid!r}) made out to {self.name}: do not sign it"
            )
        if signed.consumer_signature is not None:
            raise DecodeError(
                f"the agreement {record.peer} sent already carries a consumer signature; "
                f"only {self.name} countersigns it"
            )
        signed.verify(self._trust(), require_consumer=False)
        self._save_agreement(connection, signed, finalized=False)
        agreed = self._move(
            connection,
            record,
            _S.AGREED,
            reason or f"{record.peer} agreed and signed agreement {signed.id}",
            policy=signed.policy,
            agreement_id=signed.id,
        )
        return NegotiationStep(agreed, agreement=signed)

    def _record_final_reply(
        self,
        connection: sqlite3.Connection,
        record: Negotiation,
        reason: str,
        checkpoint: Checkpoint | None,
    ) -> NegotiationStep:
        if not isinstance(checkpoint, Checkpoint):
            raise DecodeError(f"{record.peer} replied FINALIZED without its audit checkpoint")
        assert record.agreement_id is not None  # set on AGREED
        signed = self._load_agreement(connection, record.agreement_id)
        key = signed.provider_signature.signer_certificate.public_key()
        self._check_peer_checkpoint(record.peer, checkpoint, key)  # type: ignore[arg-type]
        self._save_agreement(connection, signed, finalized=True)
        final = self._move(
            connection,
            record,
            _S.FINALIZED,
            reason
            or f"{record.peer} finalized agreement {signed.id}; {self.name} and {record.peer} "
            "exchanged audit checkpoints",
        )
        self._record_final(signed, checkpoint)
        return NegotiationStep(final, agreement=signed)

    def _check_peer_checkpoint(
        self, peer: str, checkpoint: Checkpoint, key: PublicVerifyingKey
    ) -> None:
        if checkpoint.origin != peer:
            raise AuthenticationError(
                f"{peer} sent the audit checkpoint of {checkpoint.origin!r}; a node vouches "
                "only for its own log"
            )
        checkpoint.verify(key)

    def _witness_checkpoint(
        self, peer: str, checkpoint: Checkpoint, key: PublicVerifyingKey
    ) -> None:
        """Hold the peer to its checkpoints as far as no consistency proof is needed.

        The consumer sends no consistency proof, so only these rewrites show here (and raise
        AuditProofError): another root for the size last seen, and a smaller tree signed
        after a larger one. A larger tree, or an older checkpoint of a smaller one (a
        concurrent negotiation's, overtaken on the way), is logged all the same but moves
        the witness only when ``Client.verify_audit`` brings the proof.
        """
        last = self._witness.last(peer)
        if (
            last is None
            or checkpoint.size == last.size
            or (checkpoint.size < last.size and checkpoint.timestamp > last.timestamp)
        ):
            self._witness.update(peer, checkpoint, key)

    def _record_final(self, signed: SignedAgreement, peer_checkpoint: Checkpoint) -> None:
        agreement = signed.agreement
        self._audit.append(
            EventKind.AGREEMENT,
            {
                "agreement": agreement.id,
                "negotiation": agreement.negotiation_id,
                "provider": agreement.provider,
                "consumer": agreement.consumer,
                "dataset": agreement.dataset_id,
                "policy": agreement.policy.uid,
                "policy_hash": agreement.policy.content_hash,
                "offer_hash": agreement.offer_hash,
                "agreed_at": agreement.agreed_at,
            },
        )
        self._audit.record_peer_checkpoint(peer_checkpoint)
        self._usage.record_agreement(agreement.policy.content_hash, agreement.agreed_at)

    # -- records -----------------------------------------------------------------------------

    def _insert(
        self,
        connection: sqlite3.Connection,
        negotiation_id: str,
        role: NegotiationRole,
        peer: str,
        dataset_id: str,
        policy: Policy,
        reason: str,
    ) -> Negotiation:
        now = _now()
        record = Negotiation(
            id=negotiation_id,
            role=role,
            peer=peer,
            dataset_id=dataset_id,
            state=_S.REQUESTED,
            policy=policy,
            reason=_bounded(reason),
            agreement_id=None,
            created_at=now,
            updated_at=now,
        )
        connection.execute(
            f"INSERT INTO negotiations ({_COLUMNS}, counter_offered) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                record.id,
                record.role.value,
                record.peer,
                record.dataset_id,
                record.state.value,
                record.policy.canonical_json,
                record.reason,
                None,
                to_microseconds(now),
                to_microseconds(now),
            ),
        )
        self._log_event(connection, record)
        return record

    def _move(
        self,
        connection: sqlite3.Connection,
        record: Negotiation,
        state: NegotiationState,
        reason: str,
        *,
        policy: Policy | None = None,
        agreement_id: str | None = None,
        counter_offer: bool = False,
    ) -> Negotiation:
        moved = dataclasses.replace(
            record,
            state=state,
            reason=_bounded(reason),
            policy=record.policy if policy is None else policy,
            agreement_id=record.agreement_id if agreement_id is None else agreement_id,
            updated_at=_now(),
        )
        connection.execute(
            "UPDATE negotiations SET state = ?, policy = ?, reason = ?, agreement_id = ?, "
            "updated_at_us = ?, counter_offered = counter_offered OR ? WHERE id = ?",
            (
                moved.state.value,
                moved.policy.canonical_json,
                moved.reason,
                moved.agreement_id,
                to_microseconds(moved.updated_at),
                int(counter_offer),
                moved.id,
            ),
        )
        self._log_event(connection, moved)
        return moved

    def _log_event(self, connection: sqlite3.Connection, record: Negotiation) -> None:
        provider, consumer = (
            (self.name, record.peer)
            if record.role is NegotiationRole.PROVIDER
            else (record.peer, self.name)
        )
        data: dict[str, Any] = {
            "negotiation": record.id,
            "role": record.role.value,
            "provider": provider,
            "consumer": consumer,
            "dataset": record.dataset_id,
            "state": record.state.value,
            "reason": record.reason,
            "policy": record.policy.uid,
            "policy_hash": record.policy.content_hash,
        }
        if record.agreement_id is not None:
            data["agreement"] = record.agreement_id
        index = self._audit.append(EventKind.NEGOTIATION_EVENT, data, timestamp=record.updated_at)
        connection.execute(
            "INSERT INTO negotiation_events "
            "(negotiation_id, state, reason, policy_hash, audit_index, at_us) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.state.value,
                record.reason,
                record.policy.content_hash,
                index,
                to_microseconds(record.updated_at),
            ),
        )

    def _save_agreement(
        self, connection: sqlite3.Connection, signed: SignedAgreement, *, finalized: bool
    ) -> None:
        peer = signed.consumer if signed.provider == self.name else signed.provider
        finalized_at = to_microseconds(_now()) if finalized else None
        connection.execute(
            "INSERT INTO agreements "
            "(id, negotiation_id, peer, document, agreed_at_us, finalized_at_us) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "document = excluded.document, finalized_at_us = excluded.finalized_at_us",
            (
                signed.id,
                signed.negotiation_id,
                peer,
                signed.to_json(),
                to_microseconds(signed.agreed_at),
                finalized_at,
            ),
        )

    def _load_agreement(
        self, connection: sqlite3.Connection, agreement_id: str, *, peer: str | None = None
    ) -> SignedAgreement:
        if not isinstance(agreement_id, str):
            raise NotFoundError(f"{self.name} holds no agreement {agreement_id!r}")
        row = connection.execute(
            "SELECT document, peer FROM agreements WHERE id = ?", (agreement_id,)
        ).fetchone()
        if row is None or (peer is not None and row[1] != peer):
            with_peer = "" if peer is None else f" with {peer}"
            raise NotFoundError(f"{self.name} holds no agreement {agreement_id!r}{with_peer}")
        return SignedAgreement.from_json(row[0])

    def _load(self, connection: sqlite3.Connection, negotiation_id: str) -> Negotiation | None:
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM negotiations WHERE id = ?", (negotiation_id,)
        ).fetchone()
        return None if row is None else _negotiation(row)

    def _require(
        self,
        connection: sqlite3.Connection,
        negotiation_id: str,
        *,
        peer: str | None = None,
        role: NegotiationRole | None = None,
    ) -> Negotiation:
        record = self._load(connection, negotiation_id) if isinstance(negotiation_id, str) else None
        if record is None or (peer is not None and record.peer != peer):
            with_peer = "" if peer is None else f" with {peer}"
            raise NotFoundError(
                f"{self.name} has no negotiation {negotiation_id!r}{with_peer}; list them with "
                "`tds negotiation list`"
            )
        if role is not None and record.role is not role:
            raise StateTransitionError(
                f"in negotiation {record.id} {self.name} is the {record.role}, so only the "
                f"{role}'s steps apply to it: {self._next_steps(record)}"
            )
        return record

    def _counter_offered(self, connection: sqlite3.Connection, negotiation_id: str) -> bool:
        row = connection.execute(
            "SELECT counter_offered FROM negotiations WHERE id = ?", (negotiation_id,)
        ).fetchone()
        return bool(row[0])

    def _check_state(
        self, record: Negotiation, allowed: Collection[NegotiationState], action: str
    ) -> None:
        if record.state in allowed:
            return
        reason = record.reason
        if len(reason) > _REASON_IN_ERRORS:
            reason = reason[: _REASON_IN_ERRORS - 1] + "…"
        raise StateTransitionError(
            f"cannot {action} negotiation {record.id}: it is {record.state} ({reason}), and "
            f"that needs {_or(allowed)}; {self._next_steps(record)}"
        )

    def _next_steps(self, record: Negotiation) -> str:
        if record.is_final:
            return "it is final: start a new negotiation for another agreement"
        if record.role is NegotiationRole.PROVIDER:
            return f"{self.name} is the provider; next, {_PROVIDER_NEXT[record.state]}"
        return f"as the consumer, {self.name} may now: {_CONSUMER_NEXT[record.state]}"


_COLUMNS = (
    "id, role, peer, dataset_id, state, policy, reason, agreement_id, created_at_us, updated_at_us"
)


def _negotiation(row: tuple[Any, ...]) -> Negotiation:
    (id_, role, peer, dataset_id, state, policy, reason, agreement_id, created, updated) = row
    return Negotiation(
        id=id_,
        role=NegotiationRole(role),
        peer=peer,
        dataset_id=dataset_id,
        state=NegotiationState(state),
        policy=Policy.from_odrl(policy),
        reason=reason,
        agreement_id=agreement_id,
        created_at=from_microseconds(created),
        updated_at=from_microseconds(updated),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _or(states: Collection[NegotiationState]) -> str:
    names = [str(state) for state in _ALL_STATES if state in states]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _member(kind: type[enum.StrEnum], value: object, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ConfigError(f"{value!r} is not a negotiation {what}; use one of {known}") from None


def _peer_negotiation_id(value: object) -> str:
    try:
        return check_negotiation_id(value)
    except ConfigError as error:
        raise DecodeError(str(error)) from None


def _peer_dataset_id(value: object) -> str:
    try:
        return check_dataset_id(value)
    except ConfigError as error:
        raise DecodeError(str(error)) from None


def _peer_state(value: object) -> NegotiationState:
    if isinstance(value, NegotiationState):
        return value
    try:
        return NegotiationState(value)
    except ValueError:
        raise DecodeError(f"{value!r} is not a negotiation state") from None


def _peer_reason(value: object) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"a reason is text, not {type(value).__name__}")
    if len(value) > MAX_REASON:
        raise DecodeError(f"a reason is at most {MAX_REASON} characters, not {len(value)}")
    return value.strip()
