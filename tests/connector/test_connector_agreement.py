"""Signed agreements: how they are made, signed, verified offline and read from JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tds.connector._agreement import (
    AGREEMENT_FORMAT,
    MAX_AGREEMENT_BYTES,
    Agreement,
    SignedAgreement,
    agreement_from_offer,
    agreement_id_for,
)
from tds.connector._catalog import dataset_target
from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node, install_crl
from tds.connector._signing import sign_detached
from tds.connector._trust import TrustStore, node_uri
from tds.errors import AlreadyExistsError, AuthenticationError, ConfigError, DecodeError
from tds.policy import (
    Action,
    Collection,
    Conflict,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
)
from tds.sectors import healthcare

if TYPE_CHECKING:
    from tests.connector.conftest import DataSpace

NEGOTIATION = "0b7e3f9c-5a61-4f0e-9d8a-2c4b6e1f3a57"


def _offer(provider: str = "alice", dataset_id: str = "visits", **parameters: Any) -> Policy:
    return healthcare.medical_research(
        uid=f"urn:tds:policy:{provider}:{dataset_id}",
        assigner=node_uri(provider),
        target=dataset_target(provider, dataset_id),
        **parameters,
    )


def _agreement(**changes: Any) -> Agreement:
    agreement = agreement_from_offer(
        _offer(),
        negotiation_id=NEGOTIATION,
        provider="alice",
        consumer="bob",
        dataset_id="visits",
        agreed_at=dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
    )
    return dataclasses.replace(agreement, **changes) if changes else agreement


@pytest.fixture
def alice(data_space: DataSpace) -> NodeIdentity:
    return data_space.identity("alice")


@pytest.fixture
def bob(data_space: DataSpace) -> NodeIdentity:
    return data_space.identity("bob")


@pytest.fixture
def trust(data_space: DataSpace) -> TrustStore:
    return data_space.trust_store()


@pytest.fixture
def signed(alice: NodeIdentity, bob: NodeIdentity) -> SignedAgreement:
    return SignedAgreement.sign(_agreement(), alice).countersign(bob)


def _document(signed: SignedAgreement) -> dict[str, Any]:
    return json.loads(signed.to_json())


# -- the agreement ----------------------------------------------------------------------------


def test_an_agreement_is_the_offer_made_out_to_the_consumer() -> None:
    offer = _offer()
    agreement = _agreement()
    assert agreement.id == f"urn:tds:agreement:{NEGOTIATION}" == agreement_id_for(NEGOTIATION)
    assert agreement.offer_hash == offer.content_hash
    policy = agreement.policy
    assert policy.type is PolicyType.AGREEMENT
    assert policy.uid == agreement.id
    assert policy.permissions == offer.permissions
    assert policy.prohibitions == offer.prohibitions
    for _, rule in policy.rules():
        assert policy.assigner_of(rule) == "urn:tds:node:alice"
        assert policy.assignee_of(rule) == "urn:tds:node:bob"
        assert policy.target_of(rule) == "urn:tds:dataset:alice:visits"


def test_agreed_at_is_kept_in_utc() -> None:
    local = dt.datetime(2030, 1, 2, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    agreement = _agreement(agreed_at=local)
    assert agreement.agreed_at.tzinfo is dt.UTC
    assert agreement.agreed_at == local
    assert agreement.to_dict()["agreed_at"] == "2030-01-02T03:00:00.000000Z"


def test_the_canonical_bytes_are_sorted_compact_json() -> None:
    agreement = _agreement()
    data = agreement.canonical_bytes()
    assert (
        data
        == json.dumps(
            agreement.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert Agreement.from_dict(json.loads(data)).canonical_bytes() == data


@pytest.mark.parametrize(
    ("offer", "provider", "dataset_id", "message"),
    [
        (_offer("carol"), "alice", "visits", "assigned by urn:tds:node:carol"),
        (_offer(dataset_id="claims"), "alice", "visits", "targets urn:tds:dataset:alice:claims"),
        (
            dataclasses.replace(_offer(), type=PolicyType.SET),
            "alice",
            "visits",
            "must be an Offer",
        ),
    ],
)
def test_an_agreement_is_made_only_from_the_providers_offer_of_the_dataset(
    offer: Policy, provider: str, dataset_id: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        agreement_from_offer(
            offer,
            negotiation_id=NEGOTIATION,
            provider=provider,
            consumer="bob",
            dataset_id=dataset_id,
        )


def test_an_agreement_from_an_offer_needs_a_policy_and_a_negotiation_id() -> None:
    with pytest.raises(ConfigError, match="from a Policy"):
        agreement_from_offer(
            "offer",  # type: ignore[arg-type]
            negotiation_id=NEGOTIATION,
            provider="alice",
            consumer="bob",
            dataset_id="visits",
        )
    with pytest.raises(ConfigError, match="not a negotiation id"):
        agreement_from_offer(
            _offer(), negotiation_id="42", provider="alice", consumer="bob", dataset_id="visits"
        )


def _other_policy(**changes: Any) -> Policy:
    policy = _agreement().policy
    return dataclasses.replace(policy, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "urn:tds:agreement:other"}, "named after its negotiation"),
        ({"negotiation_id": NEGOTIATION.upper()}, "not a negotiation id"),
        ({"consumer": "alice"}, "with itself"),
        ({"consumer": "Bob"}, "not a node name"),
        ({"dataset_id": "Visits"}, "not a dataset id"),
        ({"offer_hash": "ab" * 31}, "64 lowercase hex"),
        ({"agreed_at": dt.datetime(2030, 1, 1)}, "timezone-aware"),
        ({"policy": "a policy"}, "is a Policy"),
        ({"policy": _other_policy(type=PolicyType.OFFER, assignee=None)}, "must be an Agreement"),
        ({"policy": _other_policy(uid="urn:other")}, "with uid 'urn:other'"),
        ({"policy": _other_policy(assignee="urn:tds:node:carol")}, "has assignee"),
        ({"policy": _other_policy(assigner="urn:tds:node:carol")}, "has assigner"),
        ({"policy": _other_policy(target="urn:tds:dataset:alice:claims")}, "has target"),
    ],
)
def test_an_agreement_checks_every_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _agreement(**changes)


def test_a_rule_level_party_is_checked_too() -> None:
    policy = _agreement().policy
    rule = Permission(action="read", assignee="urn:tds:node:carol")
    with pytest.raises(ConfigError, match=r"permission\[1\] has assignee"):
        _agreement(policy=dataclasses.replace(policy, permissions=(*policy.permissions, rule)))


# -- signing and verifying ------------------------------------------------------------------


def test_both_signatures_verify_and_name_the_parties(
    signed: SignedAgreement, trust: TrustStore
) -> None:
    signed.verify(trust)
    assert signed.is_countersigned
    assert (signed.id, signed.provider, signed.consumer) == (
        f"urn:tds:agreement:{NEGOTIATION}",
        "alice",
        "bob",
    )
    assert signed.negotiation_id == NEGOTIATION
    assert signed.dataset_id == "visits"
    assert signed.policy == signed.agreement.policy
    assert signed.agreed_at == signed.agreement.agreed_at
    assert signed.provider_signature.context == "odrl-agreement"
    assert signed.consumer_signature is not None
    assert signed.consumer_signature.context == "odrl-agreement"


def test_an_agreement_signed_by_the_provider_alone_verifies_only_when_allowed(
    alice: NodeIdentity, trust: TrustStore
) -> None:
    signed = SignedAgreement.sign(_agreement(), alice)
    assert not signed.is_countersigned
    signed.verify(trust, require_consumer=False)
    with pytest.raises(AuthenticationError, match="not countersigned by its consumer 'bob'"):
        signed.verify(trust)


def test_only_the_parties_sign_in_their_roles(alice: NodeIdentity, bob: NodeIdentity) -> None:
    with pytest.raises(ConfigError, match=r"cannot sign .* as its provider"):
        SignedAgreement.sign(_agreement(), bob)
    provider_signed = SignedAgreement.sign(_agreement(), alice)
    with pytest.raises(ConfigError, match=r"cannot sign .* as its consumer"):
        provider_signed.countersign(alice)
    with pytest.raises(ConfigError, match="NodeIdentity"):
        provider_signed.countersign("bob")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expected an Agreement"):
        SignedAgreement.sign("agreement", alice)  # type: ignore[arg-type]


def test_countersigning_makes_a_new_object_once(alice: NodeIdentity, bob: NodeIdentity) -> None:
    provider_signed = SignedAgreement.sign(_agreement(), alice)
    countersigned = provider_signed.countersign(bob)
    assert provider_signed.consumer_signature is None
    assert countersigned.provider_signature == provider_signed.provider_signature
    with pytest.raises(AlreadyExistsError, match="countersigned already"):
        countersigned.countersign(bob)


def test_an_altered_agreement_does_not_verify(signed: SignedAgreement, trust: TrustStore) -> None:
    document = _document(signed)
    document["agreement"]["agreed_at"] = "2031-01-02T03:04:05.678901Z"
    altered = SignedAgreement.from_dict(document)
    with pytest.raises(AuthenticationError, match=r"provider signature .* does not verify"):
        altered.verify(trust)


def test_a_loosened_policy_does_not_verify(signed: SignedAgreement, trust: TrustStore) -> None:
    document = _document(signed)
    [permission] = document["agreement"]["policy"]["permission"]
    count = next(c for c in permission["constraint"] if c["leftOperand"] == "count")
    count["rightOperand"] = 1_000_000
    altered = SignedAgreement.from_dict(document)
    assert altered.policy != signed.policy
    with pytest.raises(AuthenticationError, match="provider signature"):
        altered.verify(trust)


def test_a_signature_by_someone_else_is_refused(
    signed: SignedAgreement, alice: NodeIdentity, data_space: DataSpace, trust: TrustStore
) -> None:
    data = signed.agreement.canonical_bytes()
    by_carol = sign_detached(data, data_space.identity("carol"), context="odrl-agreement")
    with pytest.raises(AuthenticationError, match=r"consumer signature .*expected node 'bob'"):
        dataclasses.replace(signed, consumer_signature=by_carol).verify(trust)
    # The provider's own signature moved to the consumer's place names the wrong node too.
    swapped = dataclasses.replace(signed, consumer_signature=signed.provider_signature)
    with pytest.raises(AuthenticationError, match="consumer signature"):
        swapped.verify(trust)


def test_a_signature_for_another_purpose_is_refused(
    signed: SignedAgreement, bob: NodeIdentity, trust: TrustStore
) -> None:
    data = signed.agreement.canonical_bytes()
    other = sign_detached(data, bob, context="odrl-offer")
    with pytest.raises(AuthenticationError, match="made for 'odrl-offer'"):
        dataclasses.replace(signed, consumer_signature=other).verify(trust)


def test_a_signature_over_another_agreement_is_refused(
    signed: SignedAgreement, alice: NodeIdentity, trust: TrustStore
) -> None:
    other = _agreement(agreed_at=dt.datetime(2030, 5, 5, tzinfo=dt.UTC))
    signature = SignedAgreement.sign(other, alice).provider_signature
    with pytest.raises(AuthenticationError, match="provider signature"):
        dataclasses.replace(signed, provider_signature=signature).verify(trust)


def test_a_revoked_signer_fails_offline_verification(
    signed: SignedAgreement, data_space: DataSpace, tmp_path: Path
) -> None:
    path = tmp_path / "agreement.json"
    path.write_text(signed.to_json())
    SignedAgreement.from_json(path.read_text()).verify(TrustStore.load(data_space.ca_directory))
    data_space.ca().revoke("bob")
    with pytest.raises(AuthenticationError, match=r"consumer signature .* revoked"):
        SignedAgreement.from_json(path.read_text()).verify(TrustStore.load(data_space.ca_directory))
    # A node that installs the new list refuses it as well, even when it asks for the
    # provider's signature alone: a signature that is present must verify.
    trust = install_crl(data_space.node_directory("alice"), data_space.ca().crl_pem)
    with pytest.raises(AuthenticationError, match="revoked"):
        SignedAgreement.from_json(path.read_text()).verify(trust, require_consumer=False)
    dataclasses.replace(signed, consumer_signature=None).verify(trust, require_consumer=False)


def test_signers_from_another_data_space_fail(
    signed: SignedAgreement, trust: TrustStore, tmp_path: Path
) -> None:
    other = CertificateAuthority.create(tmp_path / "other-ca", "Other space")
    with pytest.raises(AuthenticationError, match=r"provider signature .* another CA"):
        signed.verify(other.trust_store())
    # Same name, other CA: the name alone proves nothing.
    impostor = SignedAgreement.sign(_agreement(), enroll_node(tmp_path / "a", "alice", other))
    impostor.verify(other.trust_store(), require_consumer=False)
    with pytest.raises(AuthenticationError, match="another CA"):
        impostor.verify(trust, require_consumer=False)


def test_verification_needs_a_trust_store(signed: SignedAgreement) -> None:
    with pytest.raises(ConfigError, match="TrustStore"):
        signed.verify("ca-cert.pem")  # type: ignore[arg-type]


def test_verification_checks_validity_at_the_time_given(
    signed: SignedAgreement, trust: TrustStore
) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with pytest.raises(AuthenticationError, match="expired"):
        signed.verify(trust, valid_at=later)


# -- JSON ------------------------------------------------------------------------------------


def test_the_json_round_trip_keeps_everything(signed: SignedAgreement, trust: TrustStore) -> None:
    text = signed.to_json()
    again = SignedAgreement.from_json(text)
    assert again == signed
    assert again.to_json() == text
    assert SignedAgreement.from_json(text.encode()) == signed
    again.verify(trust)
    document = json.loads(text)
    assert document["format"] == AGREEMENT_FORMAT == "tds-signed-agreement-v1"
    assert set(document) == {"format", "agreement", "provider_signature", "consumer_signature"}
    assert set(document["agreement"]) == {
        "id",
        "negotiation_id",
        "provider",
        "consumer",
        "dataset_id",
        "policy",
        "offer_hash",
        "agreed_at",
    }


def test_an_agreement_not_countersigned_yet_round_trips(alice: NodeIdentity) -> None:
    signed = SignedAgreement.sign(_agreement(), alice)
    assert json.loads(signed.to_json())["consumer_signature"] is None
    assert SignedAgreement.from_json(signed.to_json()) == signed


def _edited(signed: SignedAgreement, edit: Any) -> str:
    document = _document(signed)
    edit(document)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("consumer_signature"), "exactly the fields"),
        (lambda d: d.update(extra=1), "exactly the fields"),
        (lambda d: d.update(format="tds-signed-agreement-v2"), "unknown signed agreement format"),
        (lambda d: d["agreement"].pop("offer_hash"), "exactly the fields"),
        (lambda d: d["agreement"].update(provider=7), "not a node name"),
        (lambda d: d["agreement"].update(agreed_at="2030-01-02 03:04:05"), "agreed_at must be"),
        (lambda d: d["agreement"].update(agreed_at="2030-02-30T03:04:05.000000Z"), "not a real"),
        (lambda d: d["agreement"].update(policy="policy"), "malformed agreement"),
        (lambda d: d["agreement"]["policy"].update(permission=[]), "malformed agreement"),
        (lambda d: d["agreement"].update(id="urn:tds:agreement:x"), "malformed agreement"),
        (lambda d: d["provider_signature"].pop("signer"), "detached signature"),
        (lambda d: d["provider_signature"].update(signer="not a certificate"), "X.509"),
        (lambda d: d["provider_signature"].update(signature="%%%"), "base64"),
        (lambda d: d.update(consumer_signature="signature"), "detached signature"),
        (lambda d: d.update(agreement=[]), "exactly the fields"),
    ],
)
def test_malformed_documents_raise_decode_error(
    signed: SignedAgreement, edit: Any, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        SignedAgreement.from_json(_edited(signed, edit))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "UTF-8 JSON"),
        ("{", "UTF-8 JSON"),
        ("[]", "exactly the fields"),
        ("null", "exactly the fields"),
        ('{"format": NaN}', "UTF-8 JSON"),
        (b"\xff\xfe{}", "UTF-8 JSON"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply|UTF-8 JSON"),
    ],
)
def test_text_that_is_not_a_document_raises_decode_error(text: str | bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        SignedAgreement.from_json(text)


def test_repeated_keys_are_refused(signed: SignedAgreement) -> None:
    text = signed.to_json().replace('{\n  "agreement"', '{\n  "format": "x",\n  "agreement"', 1)
    with pytest.raises(DecodeError, match="repeated"):
        SignedAgreement.from_json(text)


def test_oversized_documents_and_other_types_are_refused() -> None:
    with pytest.raises(DecodeError, match="over the"):
        SignedAgreement.from_json(" " * (MAX_AGREEMENT_BYTES + 1))
    with pytest.raises(DecodeError, match="JSON text"):
        SignedAgreement.from_json(42)  # type: ignore[arg-type]


def test_a_fresh_agreement_is_timestamped_now() -> None:
    before = dt.datetime.now(dt.UTC)
    agreement = agreement_from_offer(
        _offer(),
        negotiation_id=str(uuid.uuid4()),
        provider="alice",
        consumer="bob",
        dataset_id="visits",
    )
    assert before <= agreement.agreed_at <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("conflict", list(Conflict))
def test_the_agreement_keeps_the_offers_conflict_strategy_and_collections(conflict) -> None:
    space = "urn:tds:space:healthcare"
    offer = dataclasses.replace(
        _offer(),
        conflict=conflict,
        collections=(Collection(space, "party"),),
        prohibitions=(Prohibition(action=Action.READ, assignee=space),),
    )
    policy = agreement_from_offer(
        offer, negotiation_id=NEGOTIATION, provider="alice", consumer="bob", dataset_id="visits"
    ).policy
    assert policy.conflict is conflict
    assert policy.collections == offer.collections
    assert policy.prohibitions[0].assignee == space  # the collection, not the consumer
