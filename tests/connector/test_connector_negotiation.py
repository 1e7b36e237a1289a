"""Contract negotiation: alice provides, bob (and carol) consume, wired directly without gRPC.

Replies cross from one node to the other as they would on the wire: agreements through their
JSON, checkpoints through their bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tds.connector import serde
from tds.connector._agreement import SignedAgreement, agreement_from_offer
from tds.connector._audit import Checkpoint, EventKind
from tds.connector._catalog import Column, Dataset, DataSource, access_policy, dataset_target
from tds.connector._negotiation import (
    MAX_REASON,
    Negotiation,
    NegotiationRole,
    Negotiations,
    NegotiationState,
    NegotiationStep,
)
from tds.connector._node import OpenNode
from tds.connector._replies import new_message_id
from tds.connector._servicers import negotiation_service
from tds.connector._signing import sign_detached
from tds.connector._trust import node_uri
from tds.connector._usage import SqliteUsageState
from tds.connector._witness import StoredWitness
from tds.errors import (
    AlreadyExistsError,
    AuditProofError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotFoundError,
    StateTransitionError,
)
from tds.policy import Policy, PolicyType, Prohibition
from tds.sectors import healthcare

if TYPE_CHECKING:
    from tests.connector.conftest import DataSpace

S = NegotiationState


def _offer(dataset_id: str, provider: str = "alice", **parameters: Any) -> Policy:
    return healthcare.medical_research(
        uid=f"urn:tds:policy:{provider}:{dataset_id}",
        assigner=node_uri(provider),
        target=dataset_target(provider, dataset_id),
        **parameters,
    )


OFFER = _offer("visits")
# What bob would rather have: ten times the uses.
GREEDY = _offer("visits", max_uses=1000)
CLAIMS_OFFER = _offer("claims")


def _dataset(directory: Path, dataset_id: str, **fields: Any) -> Dataset:
    return Dataset(
        id=dataset_id,
        title=f"The {dataset_id}",
        sector="healthcare",
        columns=(Column("patient_id", "string"), Column("cost", "decimal")),
        source=DataSource("csv", directory / f"{dataset_id}.csv"),
        contract_policy=_offer(dataset_id),
        **fields,
    )


@dataclass
class Nodes:
    alice: OpenNode
    bob: OpenNode
    carol: OpenNode
    space: DataSpace

    def reopen(self) -> None:
        for name in ("alice", "bob", "carol"):
            getattr(self, name).close()
            setattr(self, name, OpenNode(self.space.node_directory(name), name=name))


@pytest.fixture
def nodes(data_space: DataSpace) -> Iterator[Nodes]:
    opened = Nodes(
        *(OpenNode(data_space.node_directory(n), name=n) for n in ("alice", "bob", "carol")),
        space=data_space,
    )
    catalog = opened.alice.catalog
    directory = data_space.root
    catalog.publish(_dataset(directory, "visits", counter_offers=True))
    catalog.publish(_dataset(directory, "claims"))
    catalog.publish(
        _dataset(directory, "private", access_policy=access_policy("alice", "private", ["carol"]))
    )
    yield opened
    for node in (opened.alice, opened.bob, opened.carol):
        node.close()


# -- moving messages between the nodes, as the Client and the servicers do ----------------------


def _wire(step: NegotiationStep) -> NegotiationStep:
    """The step as the other node decodes it from the wire."""
    return NegotiationStep(
        step.negotiation,
        agreement=None
        if step.agreement is None
        else SignedAgreement.from_json(step.agreement.to_json()),
        checkpoint=None
        if step.checkpoint is None
        else Checkpoint.from_bytes(step.checkpoint.to_bytes()),
    )


def _relay(consumer: OpenNode, step: NegotiationStep) -> NegotiationStep:
    """Record the provider's reply on the consumer, as Client._advance does."""
    record = step.negotiation
    return consumer.negotiations.record_reply(
        record.id,
        state=record.state,
        reason=record.reason,
        policy=record.policy if record.state is S.OFFERED else None,
        agreement=step.agreement,
        checkpoint=step.checkpoint,
    )


def _ask(consumer: OpenNode, provider: OpenNode, dataset_id: str, policy: Policy) -> str:
    """Start a negotiation and record the provider's answer on both sides."""
    record = consumer.negotiations.start(provider.name, dataset_id, policy)
    step = provider.negotiations.on_request(consumer.name, record.id, dataset_id, policy)
    _relay(consumer, _wire(step))
    return record.id


def _finish(consumer: OpenNode, provider: OpenNode, negotiation_id: str) -> NegotiationStep:
    verification = _wire(consumer.negotiations.verify(negotiation_id))
    assert verification.agreement is not None and verification.checkpoint is not None
    final = provider.negotiations.on_verify(
        consumer.name, negotiation_id, verification.agreement, verification.checkpoint
    )
    return _relay(consumer, _wire(final))


def _negotiate(consumer: OpenNode, provider: OpenNode, dataset_id: str = "visits") -> str:
    negotiation_id = _ask(consumer, provider, dataset_id, _offer(dataset_id, provider.name))
    _finish(consumer, provider, negotiation_id)
    return negotiation_id


def _reach(nodes: Nodes, state: NegotiationState) -> str:
    """A negotiation between bob and alice, taken as far as ``state`` on bob's side."""
    bob, alice = nodes.bob, nodes.alice
    if state is S.REQUESTED:
        return bob.negotiations.start("alice", "visits", OFFER).id
    if state in (S.OFFERED, S.ACCEPTED):
        negotiation_id = _ask(bob, alice, "visits", GREEDY)
        if state is S.ACCEPTED:
            bob.negotiations.accept(negotiation_id)
        return negotiation_id
    if state is S.TERMINATED:
        return _ask(bob, alice, "claims", _offer("claims", max_uses=1000))
    negotiation_id = _ask(bob, alice, "visits", OFFER)
    if state is S.VERIFIED:
        bob.negotiations.verify(negotiation_id)
    elif state is S.FINALIZED:
        _finish(bob, alice, negotiation_id)
    return negotiation_id


def _snapshot(node: OpenNode, negotiation_id: str) -> tuple[Any, ...]:
    return (
        node.negotiations.get(negotiation_id),
        node.negotiations.history(negotiation_id),
        node.audit_log.size,
    )


def _audit(node: OpenNode, kind: EventKind) -> list[dict[str, Any]]:
    entries = (node.audit_log.entry(index) for index in range(node.audit_log.size))
    return [entry.data for entry in entries if entry.kind is kind]


# -- the happy paths ----------------------------------------------------------------------------


def test_the_offer_as_published_is_agreed_and_finalized_on_both_sides(nodes: Nodes) -> None:
    bob, alice = nodes.bob, nodes.alice
    record = bob.negotiations.start("alice", "visits", OFFER)
    assert (record.state, record.role, record.peer) == (
        S.REQUESTED,
        NegotiationRole.CONSUMER,
        "alice",
    )
    step = alice.negotiations.on_request("bob", record.id, "visits", OFFER)
    assert step.negotiation.state is S.AGREED
    assert step.negotiation.role is NegotiationRole.PROVIDER
    assert step.agreement is not None and not step.agreement.is_countersigned
    assert "alice agreed" in step.negotiation.reason
    agreed = _relay(bob, _wire(step))
    assert agreed.negotiation.state is S.AGREED
    assert agreed.negotiation.agreement_id == step.agreement.id
    verification = bob.negotiations.verify(record.id)
    assert verification.negotiation.state is S.VERIFIED
    assert verification.agreement is not None and verification.agreement.is_countersigned
    assert verification.checkpoint is not None and verification.checkpoint.origin == "bob"
    final = alice.negotiations.on_verify(
        "bob", record.id, verification.agreement, verification.checkpoint
    )
    assert final.negotiation.state is S.FINALIZED
    assert final.checkpoint is not None and final.checkpoint.origin == "alice"
    assert final.checkpoint.size == alice.audit_log.size
    finalized = _relay(bob, _wire(final))
    assert finalized.negotiation.state is S.FINALIZED
    assert alice.negotiations.get(record.id).state is bob.negotiations.get(record.id).state


def test_both_sides_hold_the_same_agreement_and_it_verifies(nodes: Nodes) -> None:
    negotiation_id = _negotiate(nodes.bob, nodes.alice)
    [held_by_alice] = nodes.alice.negotiations.agreements()
    [held_by_bob] = nodes.bob.negotiations.agreements()
    assert held_by_alice == held_by_bob
    assert held_by_alice.to_json() == held_by_bob.to_json()
    held_by_bob.verify(nodes.space.trust_store())
    assert held_by_alice.negotiation_id == negotiation_id
    assert (held_by_alice.provider, held_by_alice.consumer) == ("alice", "bob")
    assert held_by_alice.agreement.offer_hash == OFFER.content_hash
    assert held_by_alice.policy.assignee == "urn:tds:node:bob"
    assert held_by_alice.policy.permissions == OFFER.permissions
    for node in (nodes.alice, nodes.bob):
        record = node.negotiations.get(negotiation_id)
        assert record.agreement_id == held_by_alice.id
        assert record.policy == held_by_alice.policy
        assert node.negotiations.agreement(held_by_alice.id) == held_by_alice
        # The agreement's time starts its elapsedTime clock on both sides.
        usage = SqliteUsageState(node.store)
        assert usage.agreed_at(held_by_alice.policy.content_hash) == held_by_alice.agreed_at
    assert nodes.alice.negotiations.agreements(peer="bob") == [held_by_alice]
    assert nodes.alice.negotiations.agreements(peer="carol") == []


def test_every_transition_is_an_event_and_an_audit_entry(nodes: Nodes) -> None:
    negotiation_id = _negotiate(nodes.bob, nodes.alice)
    expected = {
        nodes.alice: [S.REQUESTED, S.AGREED, S.FINALIZED],
        nodes.bob: [S.REQUESTED, S.AGREED, S.VERIFIED, S.FINALIZED],
    }
    for node, states in expected.items():
        history = node.negotiations.history(negotiation_id)
        assert [event.state for event in history] == states
        events = _audit(node, EventKind.NEGOTIATION_EVENT)
        assert [event["state"] for event in events] == [str(state) for state in states]
        for event, entry in zip(history, events, strict=True):
            assert node.audit_log.entry(event.audit_index).data == entry
            assert entry["negotiation"] == negotiation_id
            assert (entry["provider"], entry["consumer"], entry["dataset"]) == (
                "alice",
                "bob",
                "visits",
            )
            assert entry["reason"] == event.reason and entry["reason"]
            assert entry["policy_hash"] == event.policy_hash
        [agreement] = _audit(node, EventKind.AGREEMENT)
        assert agreement["negotiation"] == negotiation_id
        assert (agreement["provider"], agreement["consumer"]) == ("alice", "bob")
        assert agreement["offer_hash"] == OFFER.content_hash
        [peer_checkpoint] = _audit(node, EventKind.PEER_CHECKPOINT)
        peer = "bob" if node is nodes.alice else "alice"
        assert peer_checkpoint["checkpoint"]["origin"] == peer
    # alice witnessed bob's checkpoint.
    witnessed = StoredWitness(nodes.alice.store).last("bob")
    assert witnessed is not None and witnessed.origin == "bob"


def test_a_different_request_gets_the_offer_as_a_counter_offer_to_accept(nodes: Nodes) -> None:
    bob, alice = nodes.bob, nodes.alice
    record = bob.negotiations.start("alice", "visits", GREEDY)
    step = alice.negotiations.on_request("bob", record.id, "visits", GREEDY)
    offered = step.negotiation
    assert offered.state is S.OFFERED and step.agreement is None
    assert offered.policy == OFFER
    assert "bob asks that the number of uses including this one is at most 1000" in offered.reason
    assert "the offer that it is at most 100" in offered.reason
    assert "alice counter-offers its published offer" in offered.reason
    recorded = _relay(bob, _wire(step)).negotiation
    assert (recorded.state, recorded.policy, recorded.reason) == (S.OFFERED, OFFER, offered.reason)
    assert bob.negotiations.accept(record.id).state is S.ACCEPTED
    accepted = _wire(alice.negotiations.on_accept("bob", record.id))
    assert accepted.negotiation.state is S.AGREED and accepted.agreement is not None
    assert accepted.agreement.agreement.offer_hash == OFFER.content_hash
    assert _relay(bob, accepted).negotiation.state is S.AGREED
    assert _finish(bob, alice, record.id).negotiation.state is S.FINALIZED
    assert [e.state for e in alice.negotiations.history(record.id)] == [
        S.REQUESTED,
        S.OFFERED,
        S.ACCEPTED,
        S.AGREED,
        S.FINALIZED,
    ]


def test_a_counter_request_for_the_offer_is_agreed(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.OFFERED)
    assert nodes.bob.negotiations.request_again(negotiation_id, OFFER).state is S.REQUESTED
    step = nodes.alice.negotiations.on_request("bob", negotiation_id, "visits", OFFER)
    assert step.negotiation.state is S.AGREED
    assert _relay(nodes.bob, _wire(step)).negotiation.state is S.AGREED


def test_a_counter_offer_is_made_only_once(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.OFFERED)
    still_greedy = _offer("visits", max_uses=500)
    nodes.bob.negotiations.request_again(negotiation_id, still_greedy)
    step = nodes.alice.negotiations.on_request("bob", negotiation_id, "visits", still_greedy)
    assert step.negotiation.state is S.TERMINATED
    assert "at most 500" in step.negotiation.reason
    assert "counter-offers only once" in step.negotiation.reason
    assert _relay(nodes.bob, _wire(step)).negotiation.reason == step.negotiation.reason


def test_without_counter_offers_a_different_request_is_refused_with_reasons(
    nodes: Nodes,
) -> None:
    asked = dataclasses.replace(
        _offer("claims", consent_required=False, min_cohort=5),
        prohibitions=(Prohibition(action="read"),),
    )
    record = nodes.bob.negotiations.start("alice", "claims", asked)
    step = nodes.alice.negotiations.on_request("bob", record.id, "claims", asked)
    reason = step.negotiation.reason
    assert step.negotiation.state is S.TERMINATED and step.agreement is None
    assert reason.startswith("bob asked for dataset 'claims' under a policy that differs")
    assert (
        "bob asks that the smallest cohort is at least 5, the offer that it is at least 10"
        in reason
    )
    assert "bob drops the duty to obtainConsent" in reason
    assert "bob adds prohibition 1 for 'read'" in reason
    assert "makes no counter-offers" in reason
    assert _relay(nodes.bob, _wire(step)).negotiation.state is S.TERMINATED


def test_reasons_are_bounded_and_keep_their_conclusion(nodes: Nodes) -> None:
    many = tuple(Prohibition(action="read", uid=f"urn:rule:{'x' * 40}:{i}") for i in range(60))
    asked = dataclasses.replace(_offer("claims"), prohibitions=many)
    record = nodes.bob.negotiations.start("alice", "claims", asked)
    reason = nodes.alice.negotiations.on_request(
        "bob", record.id, "claims", asked
    ).negotiation.reason
    assert len(reason) <= MAX_REASON
    assert "…" in reason
    assert reason.endswith("ask for the offer as published")


# -- what a peer may not see or do ------------------------------------------------------------


def test_a_hidden_dataset_is_not_found_and_nothing_is_recorded(nodes: Nodes) -> None:
    record = nodes.bob.negotiations.start("alice", "private", _offer("private"))
    with pytest.raises(NotFoundError) as hidden:
        nodes.alice.negotiations.on_request("bob", record.id, "private", _offer("private"))
    other = nodes.bob.negotiations.start("alice", "nothing", _offer("nothing"))
    with pytest.raises(NotFoundError) as missing:
        nodes.alice.negotiations.on_request("bob", other.id, "nothing", _offer("nothing"))
    assert str(hidden.value).replace("private", "X") == str(missing.value).replace("nothing", "X")
    assert nodes.alice.negotiations.negotiations() == []
    assert nodes.alice.audit_log.size == 0
    # carol may see it, and gets it.
    assert _negotiate(nodes.carol, nodes.alice, "private")


@pytest.mark.parametrize(
    ("negotiation_id", "dataset_id", "policy", "message"),
    [
        ("not-a-uuid", "visits", OFFER, "not a negotiation id"),
        ("0B7E3F9C-5A61-4F0E-9D8A-2C4B6E1F3A57", "visits", OFFER, "not a negotiation id"),
        (42, "visits", OFFER, "not a negotiation id"),
        ("0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57", "Visits!", OFFER, "not a dataset id"),
        ("0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57", "visits", "policy", "must be a Policy"),
    ],
)
def test_a_malformed_request_is_a_decode_error(
    nodes: Nodes, negotiation_id: Any, dataset_id: str, policy: Any, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        nodes.alice.negotiations.on_request("bob", negotiation_id, dataset_id, policy)
    assert nodes.alice.negotiations.negotiations() == []


def test_another_peer_cannot_touch_a_negotiation(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.OFFERED)
    alice = nodes.alice.negotiations
    before = _snapshot(nodes.alice, negotiation_id)
    unknown = "0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57"
    calls: list[Callable[[str], object]] = [
        lambda nid: alice.on_accept("carol", nid),
        lambda nid: alice.on_terminate("carol", nid, "mine now"),
        lambda nid: alice.get(nid, peer="carol"),
        lambda nid: alice.history(nid, peer="carol"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as theirs:
            call(negotiation_id)
        with pytest.raises(NotFoundError) as nobodys:
            call(unknown)
        assert str(theirs.value).replace(negotiation_id, "N") == str(nobodys.value).replace(
            unknown, "N"
        )
    assert _snapshot(nodes.alice, negotiation_id) == before
    agreed = _reach(nodes, S.VERIFIED)
    signed = nodes.bob.negotiations.agreement(nodes.bob.negotiations.get(agreed).agreement_id)
    checkpoint = nodes.carol.audit_log.checkpoint(nodes.carol.identity.private_key)
    before = _snapshot(nodes.alice, agreed)
    with pytest.raises(NotFoundError):
        alice.on_verify("carol", agreed, signed, checkpoint)
    with pytest.raises(NotFoundError):
        alice.agreement(signed.id, peer="carol")
    assert _snapshot(nodes.alice, agreed) == before
    assert alice.agreement(signed.id, peer="bob") == dataclasses.replace(
        signed, consumer_signature=None
    )


def test_negotiation_ids_cannot_be_reused(nodes: Nodes) -> None:
    finalized = _reach(nodes, S.FINALIZED)
    alice = nodes.alice.negotiations
    before = _snapshot(nodes.alice, finalized)
    with pytest.raises(StateTransitionError, match="it is FINALIZED"):
        alice.on_request("bob", finalized, "visits", OFFER)
    with pytest.raises(AlreadyExistsError, match="fresh id"):
        alice.on_request("carol", finalized, "visits", OFFER)
    with pytest.raises(AlreadyExistsError, match="fresh id"):
        alice.on_request("bob", finalized, "claims", CLAIMS_OFFER)
    assert _snapshot(nodes.alice, finalized) == before
    # alice's own negotiation as a consumer cannot be taken over by a request to her.
    own = nodes.alice.negotiations.start("carol", "stuff", _offer("stuff", "carol"))
    with pytest.raises(AlreadyExistsError, match="fresh id"):
        alice.on_request("carol", own.id, "stuff", _offer("stuff", "carol"))


def test_only_the_consumer_side_steps_apply_to_a_consumer_record(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.OFFERED)
    with pytest.raises(StateTransitionError, match="alice is the provider"):
        nodes.alice.negotiations.accept(negotiation_id)
    with pytest.raises(StateTransitionError, match="bob is the consumer"):
        nodes.bob.negotiations.on_accept("alice", negotiation_id)
    with pytest.raises(StateTransitionError, match="alice is the provider"):
        nodes.alice.negotiations.record_reply(negotiation_id, state=S.TERMINATED, reason="x")


# -- illegal transitions --------------------------------------------------------------------------


def _some_agreement(nodes: Nodes) -> tuple[SignedAgreement, Checkpoint]:
    other = _reach(nodes, S.FINALIZED)
    signed = nodes.bob.negotiations.agreement(nodes.bob.negotiations.get(other).agreement_id)
    return signed, nodes.bob.audit_log.checkpoint(nodes.bob.identity.private_key)


PROVIDER_REFUSALS = [
    ("on_request", S.AGREED, "OFFERED"),
    ("on_request", S.FINALIZED, "OFFERED"),
    ("on_request", S.TERMINATED, "OFFERED"),
    ("on_accept", S.AGREED, "OFFERED"),
    ("on_accept", S.FINALIZED, "OFFERED"),
    ("on_accept", S.TERMINATED, "OFFERED"),
    ("on_verify", S.OFFERED, "AGREED"),
    ("on_verify", S.FINALIZED, "AGREED"),
    ("on_verify", S.TERMINATED, "AGREED"),
    ("on_terminate", S.FINALIZED, "REQUESTED, OFFERED, ACCEPTED, AGREED or VERIFIED"),
    ("on_terminate", S.TERMINATED, "REQUESTED, OFFERED, ACCEPTED, AGREED or VERIFIED"),
]


@pytest.mark.parametrize(("method", "state", "allowed"), PROVIDER_REFUSALS)
def test_the_provider_refuses_messages_out_of_turn(
    nodes: Nodes, method: str, state: NegotiationState, allowed: str
) -> None:
    signed, checkpoint = _some_agreement(nodes)
    negotiation_id = _reach(nodes, state)
    record = nodes.alice.negotiations.get(negotiation_id)
    provider_state, dataset_id = record.state, record.dataset_id
    arguments: dict[str, tuple[Any, ...]] = {
        "on_request": (negotiation_id, dataset_id, _offer(dataset_id)),
        "on_accept": (negotiation_id,),
        "on_verify": (negotiation_id, signed, checkpoint),
        "on_terminate": (negotiation_id, "changed my mind"),
    }
    before = _snapshot(nodes.alice, negotiation_id)
    with pytest.raises(StateTransitionError) as refused:
        getattr(nodes.alice.negotiations, method)("bob", *arguments[method])
    message = str(refused.value)
    assert f"it is {provider_state}" in message
    assert f"needs {allowed}" in message
    assert _snapshot(nodes.alice, negotiation_id) == before


CONSUMER_REFUSALS = [
    ("accept", S.REQUESTED, "OFFERED"),
    ("accept", S.AGREED, "OFFERED"),
    ("accept", S.FINALIZED, "OFFERED"),
    ("request_again", S.REQUESTED, "OFFERED"),
    ("request_again", S.ACCEPTED, "OFFERED"),
    ("request_again", S.VERIFIED, "OFFERED"),
    ("verify", S.REQUESTED, "AGREED"),
    ("verify", S.OFFERED, "AGREED"),
    ("verify", S.VERIFIED, "AGREED"),
    ("verify", S.FINALIZED, "AGREED"),
    ("terminate_locally", S.FINALIZED, "REQUESTED, OFFERED, ACCEPTED, AGREED or VERIFIED"),
    ("terminate_locally", S.TERMINATED, "REQUESTED, OFFERED, ACCEPTED, AGREED or VERIFIED"),
]


@pytest.mark.parametrize(("method", "state", "allowed"), CONSUMER_REFUSALS)
def test_the_consumer_refuses_steps_out_of_turn(
    nodes: Nodes, method: str, state: NegotiationState, allowed: str
) -> None:
    negotiation_id = _reach(nodes, state)
    arguments: dict[str, tuple[Any, ...]] = {
        "accept": (),
        "request_again": (OFFER,),
        "verify": (),
        "terminate_locally": ("changed my mind",),
    }
    before = _snapshot(nodes.bob, negotiation_id)
    with pytest.raises(StateTransitionError) as refused:
        getattr(nodes.bob.negotiations, method)(negotiation_id, *arguments[method])
    message = str(refused.value)
    assert f"it is {state}" in message and f"needs {allowed}" in message
    assert "may now" in message or "it is final" in message
    assert _snapshot(nodes.bob, negotiation_id) == before


@pytest.mark.parametrize(
    ("state", "reply", "message"),
    [
        (S.REQUESTED, S.FINALIZED, "may only be OFFERED, AGREED or TERMINATED"),
        (S.REQUESTED, S.VERIFIED, "may only be OFFERED, AGREED or TERMINATED"),
        (S.REQUESTED, S.REQUESTED, "may only be OFFERED, AGREED or TERMINATED"),
        (S.ACCEPTED, S.ACCEPTED, "may only be OFFERED, AGREED or TERMINATED"),
        (S.VERIFIED, S.AGREED, "may only be FINALIZED or TERMINATED"),
        (S.OFFERED, S.AGREED, "no reply from alice is expected"),
        (S.AGREED, S.FINALIZED, "no reply from alice is expected"),
        (S.FINALIZED, S.TERMINATED, "no reply from alice is expected"),
        (S.TERMINATED, S.AGREED, "no reply from alice is expected"),
    ],
)
def test_replies_out_of_turn_are_refused(
    nodes: Nodes, state: NegotiationState, reply: NegotiationState, message: str
) -> None:
    negotiation_id = _reach(nodes, state)
    before = _snapshot(nodes.bob, negotiation_id)
    with pytest.raises(StateTransitionError, match=message):
        nodes.bob.negotiations.record_reply(negotiation_id, state=reply, reason="late")
    assert _snapshot(nodes.bob, negotiation_id) == before


@pytest.mark.parametrize(
    ("state", "reply", "message"),
    [
        (S.REQUESTED, S.OFFERED, "counter-offer without a policy"),
        (S.REQUESTED, S.AGREED, "without the signed agreement"),
        (S.VERIFIED, S.FINALIZED, "without its audit checkpoint"),
        (S.REQUESTED, "DONE", "not a negotiation state"),
    ],
)
def test_replies_missing_their_payload_are_decode_errors(
    nodes: Nodes, state: NegotiationState, reply: Any, message: str
) -> None:
    negotiation_id = _reach(nodes, state)
    before = _snapshot(nodes.bob, negotiation_id)
    with pytest.raises(DecodeError, match=message):
        nodes.bob.negotiations.record_reply(negotiation_id, state=reply)
    with pytest.raises(DecodeError, match="at most"):
        nodes.bob.negotiations.record_reply(
            negotiation_id, state=S.TERMINATED, reason="x" * (MAX_REASON + 1)
        )
    assert _snapshot(nodes.bob, negotiation_id) == before


def test_a_counter_offer_must_be_the_providers_offer_of_the_dataset(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.REQUESTED)
    before = _snapshot(nodes.bob, negotiation_id)
    for policy in (
        _offer("visits", "carol"),
        CLAIMS_OFFER,
        dataclasses.replace(OFFER, type=PolicyType.SET),
    ):
        with pytest.raises(DecodeError, match="not an offer of its dataset 'visits'"):
            nodes.bob.negotiations.record_reply(negotiation_id, state=S.OFFERED, policy=policy)
    assert _snapshot(nodes.bob, negotiation_id) == before


# -- tampering ------------------------------------------------------------------------------------


def _agreed_by_alice(nodes: Nodes) -> tuple[str, SignedAgreement]:
    record = nodes.bob.negotiations.start("alice", "visits", OFFER)
    step = nodes.alice.negotiations.on_request("bob", record.id, "visits", OFFER)
    assert step.agreement is not None
    return record.id, step.agreement


def test_the_consumer_refuses_an_agreement_with_a_bad_signature(nodes: Nodes) -> None:
    negotiation_id, signed = _agreed_by_alice(nodes)
    before = _snapshot(nodes.bob, negotiation_id)
    later = dataclasses.replace(signed.agreement, agreed_at=signed.agreed_at + dt.timedelta(days=1))
    by_carol = sign_detached(
        signed.agreement.canonical_bytes(), nodes.carol.identity, context="odrl-agreement"
    )
    for bad in (
        dataclasses.replace(signed, agreement=later),
        dataclasses.replace(signed, provider_signature=by_carol),
    ):
        with pytest.raises(AuthenticationError, match="provider signature"):
            nodes.bob.negotiations.record_reply(negotiation_id, state=S.AGREED, agreement=bad)
    assert _snapshot(nodes.bob, negotiation_id) == before
    nodes.bob.negotiations.record_reply(negotiation_id, state=S.AGREED, agreement=signed)


def test_the_consumer_refuses_an_agreement_other_than_the_one_on_the_table(
    nodes: Nodes,
) -> None:
    negotiation_id, signed = _agreed_by_alice(nodes)
    alice = nodes.alice.identity

    def made(offer: Policy = OFFER, **fields: Any) -> SignedAgreement:
        parameters = {
            "negotiation_id": negotiation_id,
            "provider": "alice",
            "consumer": "bob",
            "dataset_id": "visits",
            **fields,
        }
        return SignedAgreement.sign(agreement_from_offer(offer, **parameters), alice)

    cases: list[tuple[SignedAgreement, type[Exception], str]] = [
        (made(GREEDY), DecodeError, "not the policy on the table"),
        (made(CLAIMS_OFFER, dataset_id="claims"), DecodeError, "on dataset 'claims'"),
        (
            made(negotiation_id="0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57"),
            DecodeError,
            "for negotiation",
        ),
        (made(consumer="carol"), AuthenticationError, "consumer 'carol'"),
        (signed.countersign(nodes.bob.identity), DecodeError, "already carries a consumer"),
    ]
    before = _snapshot(nodes.bob, negotiation_id)
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            nodes.bob.negotiations.record_reply(negotiation_id, state=S.AGREED, agreement=bad)
    carols = SignedAgreement.sign(
        agreement_from_offer(
            _offer("visits", "carol"),
            negotiation_id=negotiation_id,
            provider="carol",
            consumer="bob",
            dataset_id="visits",
        ),
        nodes.carol.identity,
    )
    with pytest.raises(AuthenticationError, match="provider 'carol'"):
        nodes.bob.negotiations.record_reply(negotiation_id, state=S.AGREED, agreement=carols)
    assert _snapshot(nodes.bob, negotiation_id) == before


def _verification(nodes: Nodes) -> tuple[str, SignedAgreement, Checkpoint]:
    negotiation_id = _reach(nodes, S.VERIFIED)
    record = nodes.bob.negotiations.get(negotiation_id)
    signed = nodes.bob.negotiations.agreement(record.agreement_id)
    return negotiation_id, signed, nodes.bob.audit_log.checkpoint(nodes.bob.identity.private_key)


def test_the_provider_refuses_an_altered_or_wrongly_countersigned_agreement(nodes: Nodes) -> None:
    negotiation_id, signed, checkpoint = _verification(nodes)
    later = dataclasses.replace(signed.agreement, agreed_at=signed.agreed_at + dt.timedelta(days=1))
    data = signed.agreement.canonical_bytes()
    by_carol = sign_detached(data, nodes.carol.identity, context="odrl-agreement")
    by_bob_elsewhere = sign_detached(b"other", nodes.bob.identity, context="odrl-agreement")
    cases = [
        (dataclasses.replace(signed, agreement=later), "not the one alice signed"),
        (
            dataclasses.replace(signed, provider_signature=signed.consumer_signature),
            "not the one alice signed",
        ),
        (dataclasses.replace(signed, consumer_signature=None), "not countersigned"),
        (dataclasses.replace(signed, consumer_signature=by_carol), "expected node 'bob'"),
        (dataclasses.replace(signed, consumer_signature=by_bob_elsewhere), "does not verify"),
    ]
    before = _snapshot(nodes.alice, negotiation_id)
    for bad, message in cases:
        with pytest.raises(AuthenticationError, match=message):
            nodes.alice.negotiations.on_verify("bob", negotiation_id, bad, checkpoint)
    with pytest.raises(DecodeError, match="SignedAgreement"):
        nodes.alice.negotiations.on_verify("bob", negotiation_id, signed.to_json(), checkpoint)  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="Checkpoint"):
        nodes.alice.negotiations.on_verify("bob", negotiation_id, signed, b"checkpoint")  # type: ignore[arg-type]
    assert _snapshot(nodes.alice, negotiation_id) == before
    assert nodes.alice.negotiations.agreements() == []
    final = nodes.alice.negotiations.on_verify("bob", negotiation_id, signed, checkpoint)
    assert final.negotiation.state is S.FINALIZED


def test_the_provider_refuses_a_checkpoint_of_another_log_or_key(nodes: Nodes) -> None:
    negotiation_id, signed, checkpoint = _verification(nodes)
    carols = nodes.carol.audit_log.checkpoint(nodes.carol.identity.private_key)
    forged = Checkpoint.sign(
        "bob", checkpoint.size, checkpoint.root, nodes.carol.identity.private_key
    )
    altered = dataclasses.replace(checkpoint, size=checkpoint.size + 1)
    before = _snapshot(nodes.alice, negotiation_id)
    for bad, message in (
        (carols, "checkpoint of 'carol'"),
        (forged, "bad signature"),
        (altered, "bad signature"),
    ):
        with pytest.raises(AuthenticationError, match=message):
            nodes.alice.negotiations.on_verify("bob", negotiation_id, signed, bad)
    assert _snapshot(nodes.alice, negotiation_id) == before


def test_a_rewritten_consumer_log_is_caught(nodes: Nodes) -> None:
    _negotiate(nodes.bob, nodes.alice)
    seen = StoredWitness(nodes.alice.store).last("bob")
    assert seen is not None
    bob_key = nodes.bob.identity.private_key
    fork = Checkpoint.sign("bob", seen.size, bytes(32), bob_key)
    shrunk = Checkpoint.sign("bob", seen.size - 1, bytes(32), bob_key)
    for rewritten in (fork, shrunk):
        negotiation_id, signed, _ = _verification(nodes)
        before = _snapshot(nodes.alice, negotiation_id)
        with pytest.raises(AuditProofError, match="rewritten"):
            nodes.alice.negotiations.on_verify("bob", negotiation_id, signed, rewritten)
        assert _snapshot(nodes.alice, negotiation_id) == before
    # A checkpoint taken before the last one seen (a concurrent negotiation's) is no rewrite.
    negotiation_id, signed, _ = _verification(nodes)
    older = Checkpoint.sign(
        "bob",
        seen.size - 1,
        nodes.bob.audit_log.root(seen.size - 1),
        bob_key,
        timestamp=seen.timestamp - dt.timedelta(seconds=1),
    )
    final = nodes.alice.negotiations.on_verify("bob", negotiation_id, signed, older)
    assert final.negotiation.state is S.FINALIZED


def test_the_consumer_refuses_a_final_checkpoint_that_is_not_the_providers(
    nodes: Nodes,
) -> None:
    negotiation_id, signed, checkpoint = _verification(nodes)
    final = _wire(nodes.alice.negotiations.on_verify("bob", negotiation_id, signed, checkpoint))
    assert final.checkpoint is not None
    before = _snapshot(nodes.bob, negotiation_id)
    carols = nodes.carol.audit_log.checkpoint(nodes.carol.identity.private_key)
    forged = Checkpoint.sign(
        "alice", final.checkpoint.size, final.checkpoint.root, nodes.carol.identity.private_key
    )
    for bad, message in ((carols, "checkpoint of 'carol'"), (forged, "bad signature")):
        with pytest.raises(AuthenticationError, match=message):
            nodes.bob.negotiations.record_reply(negotiation_id, state=S.FINALIZED, checkpoint=bad)
    assert _snapshot(nodes.bob, negotiation_id) == before
    assert nodes.bob.negotiations.agreements() == []
    assert _relay(nodes.bob, final).negotiation.state is S.FINALIZED


# -- termination ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.REQUESTED, S.OFFERED, S.ACCEPTED, S.AGREED, S.VERIFIED])
def test_the_consumer_may_terminate_until_final(nodes: Nodes, state: NegotiationState) -> None:
    negotiation_id = _reach(nodes, state)
    ended = nodes.bob.negotiations.terminate_locally(negotiation_id, "budget cut")
    assert ended.state is S.TERMINATED
    assert ended.reason == "bob terminated the negotiation: budget cut"
    assert nodes.bob.negotiations.history(negotiation_id)[-1].state is S.TERMINATED
    with pytest.raises(StateTransitionError, match="it is TERMINATED"):
        nodes.bob.negotiations.terminate_locally(negotiation_id, "again")


@pytest.mark.parametrize("state", [S.OFFERED, S.AGREED, S.VERIFIED])
def test_the_provider_records_the_consumers_termination(
    nodes: Nodes, state: NegotiationState
) -> None:
    negotiation_id = _reach(nodes, state)
    ended = nodes.alice.negotiations.on_terminate("bob", negotiation_id, "  found another source ")
    assert ended.state is S.TERMINATED
    assert ended.reason == "bob terminated the negotiation: found another source"
    [event] = _audit(nodes.alice, EventKind.NEGOTIATION_EVENT)[-1:]
    assert event["state"] == "TERMINATED" and "found another source" in event["reason"]
    with pytest.raises(StateTransitionError, match="it is final"):
        nodes.alice.negotiations.on_terminate("bob", negotiation_id, "again")
    with pytest.raises(StateTransitionError):
        nodes.alice.negotiations.on_verify("bob", negotiation_id, *_some_agreement(nodes))


def test_the_provider_may_terminate_the_consumers_negotiation(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.AGREED)
    ended = nodes.bob.negotiations.on_terminate("alice", negotiation_id, "")
    assert ended.state is S.TERMINATED
    assert ended.reason == "alice terminated the negotiation: no reason given"


def test_termination_reasons_are_checked(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.OFFERED)
    before = _snapshot(nodes.alice, negotiation_id)
    with pytest.raises(DecodeError, match="at most"):
        nodes.alice.negotiations.on_terminate("bob", negotiation_id, "x" * (MAX_REASON + 1))
    with pytest.raises(DecodeError, match="text"):
        nodes.alice.negotiations.on_terminate("bob", negotiation_id, None)  # type: ignore[arg-type]
    assert _snapshot(nodes.alice, negotiation_id) == before
    with pytest.raises(ConfigError, match="reason is empty"):
        nodes.bob.negotiations.terminate_locally(negotiation_id, " ")
    long = nodes.bob.negotiations.terminate_locally(negotiation_id, "y" * (2 * MAX_REASON))
    assert len(long.reason) == MAX_REASON


def test_a_withdrawn_or_changed_offer_ends_the_negotiation_on_accept(nodes: Nodes) -> None:
    withdrawn = _reach(nodes, S.ACCEPTED)
    changed = _reach(nodes, S.ACCEPTED)
    nodes.alice.catalog.withdraw("visits")
    step = nodes.alice.negotiations.on_accept("bob", withdrawn)
    assert step.negotiation.state is S.TERMINATED and step.agreement is None
    assert "no longer offers dataset 'visits'" in step.negotiation.reason
    assert _relay(nodes.bob, _wire(step)).negotiation.state is S.TERMINATED
    dataset = _dataset(nodes.space.root, "visits", counter_offers=True)
    nodes.alice.catalog.publish(
        dataclasses.replace(dataset, contract_policy=_offer("visits", max_uses=5))
    )
    assert nodes.alice.negotiations.on_accept("bob", changed).negotiation.state is S.TERMINATED
    # A withdrawn dataset cannot be negotiated anew.
    nodes.alice.catalog.withdraw("visits")
    record = nodes.bob.negotiations.start("alice", "visits", OFFER)
    with pytest.raises(NotFoundError):
        nodes.alice.negotiations.on_request("bob", record.id, "visits", OFFER)


# -- persistence, listing and concurrency --------------------------------------------------------


def test_records_survive_reopening_the_store(nodes: Nodes) -> None:
    finalized = _negotiate(nodes.bob, nodes.alice)
    offered = _reach(nodes, S.OFFERED)
    saved = {
        name: (
            getattr(nodes, name).negotiations.negotiations(),
            [getattr(nodes, name).negotiations.history(i) for i in (finalized, offered)],
            getattr(nodes, name).negotiations.agreements(),
            getattr(nodes, name).audit_log.root(),
        )
        for name in ("alice", "bob")
    }
    nodes.reopen()
    for name, (records, histories, agreements, root) in saved.items():
        node = getattr(nodes, name)
        assert node.negotiations.negotiations() == records
        assert [node.negotiations.history(i) for i in (finalized, offered)] == histories
        assert node.negotiations.agreements() == agreements
        assert node.audit_log.root() == root
    # The counter-offer made before the restart still counts.
    nodes.bob.negotiations.request_again(offered, GREEDY)
    step = nodes.alice.negotiations.on_request("bob", offered, "visits", GREEDY)
    assert "only once" in step.negotiation.reason


def test_a_negotiation_continues_after_a_restart(nodes: Nodes) -> None:
    negotiation_id = _reach(nodes, S.AGREED)
    nodes.reopen()
    assert _finish(nodes.bob, nodes.alice, negotiation_id).negotiation.state is S.FINALIZED
    assert len(nodes.alice.negotiations.agreements()) == 1


def test_listing_filters_and_orders(nodes: Nodes) -> None:
    first = _negotiate(nodes.bob, nodes.alice)
    second = _reach(nodes, S.OFFERED)
    third = _negotiate(nodes.carol, nodes.alice, "private")
    own = nodes.alice.negotiations.start("carol", "stuff", _offer("stuff", "carol"))
    alice = nodes.alice.negotiations
    assert [n.id for n in alice.negotiations()] == [first, second, third, own.id]
    assert [n.id for n in alice.negotiations(role="provider")] == [first, second, third]
    assert [n.id for n in alice.negotiations(role=NegotiationRole.CONSUMER)] == [own.id]
    assert [n.id for n in alice.negotiations(state="FINALIZED")] == [first, third]
    assert [n.id for n in alice.negotiations(peer="carol")] == [third, own.id]
    assert [n.id for n in alice.negotiations(dataset_id="visits", state=S.OFFERED)] == [second]
    assert [a.negotiation_id for a in alice.agreements()] == [first, third]
    with pytest.raises(ConfigError, match="not a negotiation role"):
        alice.negotiations(role="broker")
    with pytest.raises(ConfigError, match="not a negotiation state"):
        alice.negotiations(state="DONE")
    with pytest.raises(ConfigError, match="not a node name"):
        alice.negotiations(peer="Carol!")


def test_reading_what_does_not_exist_is_not_found(nodes: Nodes) -> None:
    with pytest.raises(NotFoundError, match="no negotiation"):
        nodes.bob.negotiations.get("0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57")
    with pytest.raises(NotFoundError, match="no negotiation"):
        nodes.bob.negotiations.get(7)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no agreement"):
        nodes.bob.negotiations.agreement("urn:tds:agreement:0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57")


def test_starting_checks_its_arguments(nodes: Nodes) -> None:
    bob = nodes.bob.negotiations
    with pytest.raises(ConfigError, match="with itself"):
        bob.start("bob", "visits", OFFER)
    with pytest.raises(ConfigError, match="not a node name"):
        bob.start("Alice", "visits", OFFER)
    with pytest.raises(ConfigError, match="not a dataset id"):
        bob.start("alice", "", OFFER)
    with pytest.raises(ConfigError, match="under a Policy"):
        bob.start("alice", "visits", OFFER.to_odrl())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="under a Policy"):
        bob.request_again(_reach(nodes, S.OFFERED), None)  # type: ignore[arg-type]
    assert nodes.bob.negotiations.negotiations(state="REQUESTED") == []


def test_negotiations_needs_the_parts_of_one_node(nodes: Nodes) -> None:
    alice, bob = nodes.alice, nodes.bob
    with pytest.raises(ConfigError, match="must be those of node 'alice'"):
        Negotiations(alice.store, alice.audit_log, alice.identity, bob.catalog, alice.trust.current)
    with pytest.raises(ConfigError, match="callable"):
        Negotiations(alice.store, alice.audit_log, alice.identity, alice.catalog, alice.trust)
    with pytest.raises(ConfigError, match="store must be a Store"):
        Negotiations("node.db", alice.audit_log, alice.identity, alice.catalog, alice.trust.current)  # type: ignore[arg-type]


def test_many_negotiations_at_once_from_threads_and_two_connections(nodes: Nodes) -> None:
    # The daemon's threads share one connection; a Client of the same node holds another.
    second_alice = OpenNode(nodes.space.node_directory("alice"), name="alice")
    failures: list[BaseException] = []
    finished: list[str] = []

    def run(index: int) -> None:
        try:
            provider = nodes.alice if index % 2 else second_alice
            for _ in range(3):
                finished.append(_negotiate(nodes.bob, provider))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        second_alice.close()
    assert failures == []
    assert len(finished) == 18
    for node in (nodes.alice, nodes.bob):
        assert {n.state for n in node.negotiations.negotiations()} == {S.FINALIZED}
        assert len(node.negotiations.agreements()) == 18
        indexes = [
            event.audit_index
            for negotiation_id in finished
            for event in node.negotiations.history(negotiation_id)
        ]
        assert len(set(indexes)) == len(indexes)
        per_negotiation = 3 if node is nodes.alice else 4
        assert node.audit_log.size == 18 * (per_negotiation + 2)


_OTHER_PROCESS = """
import sys
from tds.connector._catalog import dataset_target
from tds.connector._node import OpenNode
from tds.connector._trust import node_uri
from tds.sectors import healthcare

root, rounds = sys.argv[1], int(sys.argv[2])
offer = healthcare.medical_research(
    uid="urn:tds:policy:alice:private",
    assigner=node_uri("alice"),
    target=dataset_target("alice", "private"),
)
alice = OpenNode(root + "/alice", name="alice")
carol = OpenNode(root + "/carol", name="carol")
print("ready", flush=True)
for _ in range(rounds):
    record = carol.negotiations.start("alice", "private", offer)
    step = alice.negotiations.on_request("carol", record.id, "private", offer)
    carol.negotiations.record_reply(
        record.id, state=step.negotiation.state, agreement=step.agreement
    )
    verification = carol.negotiations.verify(record.id)
    final = alice.negotiations.on_verify(
        "carol", record.id, verification.agreement, verification.checkpoint
    )
    carol.negotiations.record_reply(
        record.id, state=final.negotiation.state, checkpoint=final.checkpoint
    )
alice.close()
carol.close()
"""


def test_two_processes_negotiate_on_one_node_at_once(nodes: Nodes) -> None:
    rounds = 8
    nodes.carol.close()
    other = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(nodes.space.root), str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        # Start once the other process is about to, so that the two overlap.
        other.stdout.readline()
        mine = [_negotiate(nodes.bob, nodes.alice) for _ in range(rounds)]
    finally:
        _, errors = other.communicate(timeout=120)
        nodes.carol = OpenNode(nodes.space.node_directory("carol"), name="carol")
    assert other.returncode == 0, errors
    alice = nodes.alice
    records = alice.negotiations.negotiations()
    assert len(records) == 2 * rounds and {r.state for r in records} == {S.FINALIZED}
    assert [r.id for r in alice.negotiations.negotiations(peer="bob")] == mine
    assert alice.audit_log.size == 2 * rounds * (3 + 2)
    # Every entry still matches its leaf hash, and the tree is the one both peers witnessed.
    for index in range(alice.audit_log.size):
        alice.audit_log.entry_bytes(index)
    assert len(nodes.carol.negotiations.agreements()) == rounds


def test_the_servicers_and_serde_carry_a_whole_negotiation(nodes: Nodes) -> None:
    methods = negotiation_service(nodes.alice).methods
    bob = nodes.bob.negotiations
    record = bob.start("alice", "visits", GREEDY)
    request = serde.encode_contract_request(new_message_id(), record.id, "visits", GREEDY)
    first = methods["RequestContract"](request, "bob")
    assert methods["RequestContract"](request, "bob") == first  # a replay changes nothing
    reply = serde.decode_negotiation_reply(first)
    assert reply.state is S.OFFERED and reply.policy == OFFER
    bob.record_reply(record.id, state=reply.state, reason=reply.reason, policy=reply.policy)
    bob.accept(record.id)
    reply = serde.decode_negotiation_reply(
        methods["AcceptOffer"](serde.encode_accept_request(new_message_id(), record.id), "bob")
    )
    assert reply.state is S.AGREED and reply.agreement is not None
    bob.record_reply(record.id, state=reply.state, agreement=reply.agreement)
    verification = bob.verify(record.id)
    assert verification.agreement is not None and verification.checkpoint is not None
    reply = serde.decode_negotiation_reply(
        methods["VerifyAgreement"](
            serde.encode_verification(
                new_message_id(), record.id, verification.agreement, verification.checkpoint
            ),
            "bob",
        )
    )
    assert reply.state is S.FINALIZED and reply.checkpoint is not None
    assert (
        bob.record_reply(
            record.id, state=reply.state, checkpoint=reply.checkpoint
        ).negotiation.state
        is S.FINALIZED
    )
    shown = serde.decode_negotiation_reply(
        methods["GetNegotiation"](serde.encode_get_negotiation_request(record.id), "bob")
    )
    assert shown.state is S.FINALIZED
    assert shown.agreement == nodes.bob.negotiations.agreements()[0]
    with pytest.raises(NotFoundError):
        methods["GetNegotiation"](serde.encode_get_negotiation_request(record.id), "carol")
    with pytest.raises(StateTransitionError):
        methods["Terminate"](serde.encode_termination(new_message_id(), record.id, "late"), "bob")


def test_a_negotiation_record_explains_itself(nodes: Nodes) -> None:
    record: Negotiation = nodes.alice.negotiations.get(_reach(nodes, S.TERMINATED))
    assert record.is_final
    assert record.explanation.startswith("TERMINATED: bob asked for dataset 'claims'")
