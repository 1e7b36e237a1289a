"""Party and asset collections: a rule for a collection reaches its members, membership comes
from the request (the enforcing side's facts), and a missing fact never widens access."""

import pytest

from tds.errors import PolicyEvaluationError, PolicySyntaxError
from tds.policy import (
    Action,
    Collection,
    Permission,
    Policy,
    Prohibition,
    Request,
    describe,
    evaluate,
)

SPACE = "urn:tds:space:healthcare"  # the members of the healthcare data space
REGISTRY = "urn:ds:collection:registries"  # every registry dataset of a provider
ALICE = "urn:party:alice"


def for_the_space(*prohibitions: Prohibition) -> Policy:
    return Policy(
        uid="urn:policy:space",
        collections=(Collection(SPACE, "party"), Collection(REGISTRY, "asset")),
        permissions=(Permission(action=Action.AGGREGATE, target=REGISTRY, assignee=SPACE),),
        prohibitions=prohibitions,
    )


def aggregate(memberships=None, target_collections=frozenset({REGISTRY}), target="urn:ds:a"):
    return Request(
        assignee=ALICE,
        action="aggregate",
        target=target,
        memberships=memberships,
        target_collections=target_collections,
    )


def test_a_permission_for_a_collection_grants_its_members_on_its_assets() -> None:
    assert evaluate(for_the_space(), aggregate(frozenset({SPACE}))).permitted


@pytest.mark.parametrize(
    ("memberships", "target_collections", "reason"),
    [
        (frozenset(), frozenset({REGISTRY}), "members of urn:tds:space:healthcare, and it is not"),
        (None, frozenset({REGISTRY}), "does not say what it is in"),
        (frozenset({SPACE}), frozenset(), "assets in urn:ds:collection:registries, and it is not"),
        (frozenset({SPACE}), None, "does not say what it is in"),
    ],
)
def test_a_permission_for_a_collection_needs_the_fact_of_membership(
    memberships, target_collections, reason
) -> None:
    decision = evaluate(for_the_space(), aggregate(memberships, target_collections))
    assert not decision.permitted
    assert any(reason in line for line in decision.reasons)


def test_the_named_party_or_asset_itself_is_reached_without_memberships() -> None:
    policy = Policy(
        uid="urn:policy:one",
        collections=(Collection(SPACE, "party"),),
        permissions=(Permission(action=Action.USE, target="urn:ds:a", assignee=SPACE),),
    )
    assert evaluate(policy, Request(assignee=SPACE, action="read", target="urn:ds:a")).permitted


def test_a_prohibition_for_a_collection_applies_when_membership_is_unknown() -> None:
    policy = for_the_space(Prohibition(action=Action.AGGREGATE, target="urn:ds:a", assignee=SPACE))
    assert not evaluate(policy, aggregate(frozenset({SPACE}))).permitted
    # An outsider is not reached by the prohibition, and not granted by the permission either.
    outsider = evaluate(policy, aggregate(frozenset()))
    assert not outsider.permitted
    assert not any("prohibition" in line for line in outsider.reasons)


def test_describe_names_collections_as_their_members() -> None:
    policy = Policy(
        uid="urn:policy:describe",
        target="urn:ds:a",
        collections=(Collection(SPACE, "party"),),
        permissions=(Permission(action=Action.USE),),
        prohibitions=(Prohibition(action=Action.READ, assignee=SPACE),),
    )
    assert describe(policy)[1].startswith(f"For every member of {SPACE}: never")


@pytest.mark.parametrize(
    ("collections", "message"),
    [
        ((Collection(SPACE, "asset"),), "collection of assets; the assignee is a party"),
        ((Collection(SPACE, "party"), Collection(SPACE, "party")), "declared twice"),
        (("urn:x",), "Collection values"),
    ],
)
def test_collections_must_fit_where_they_stand(collections, message) -> None:
    with pytest.raises(PolicySyntaxError, match=message):
        Policy(
            uid="urn:policy:bad",
            target="urn:ds:a",
            collections=collections,
            permissions=(Permission(action=Action.USE, assignee=SPACE),),
        )


@pytest.mark.parametrize("bad", [SPACE, [1], {"": 1}, 3])
def test_memberships_are_sets_of_iris(bad) -> None:
    with pytest.raises(PolicyEvaluationError):
        Request(assignee=ALICE, action="read", target="urn:ds:a", memberships=bad)
