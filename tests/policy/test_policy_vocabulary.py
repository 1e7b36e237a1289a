"""The ODRL 2.2 Common Vocabulary actions: their includedIn hierarchy, where tds's operations
stand in it, and policies written for other stacks meaning the same here."""

from datetime import UTC, datetime

import pytest

from tds.errors import PolicySyntaxError
from tds.policy import Action, Permission, Policy, Prohibition, Request, describe, evaluate

ODRL = "http://www.w3.org/ns/odrl.jsonld"
ODRL_NS = "http://www.w3.org/ns/odrl/2/"
TARGET = "urn:ds:visits"
ALICE = "urn:party:alice"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPERATIONS = ["read", "aggregate", "join", "join-sum", "cardinality"]
COMPUTATIONS = ["aggregate", "join", "join-sum", "cardinality"]

# The ODRL 2.2 vocabulary (ODRL22.ttl), written out independently of tds's table: each action
# and the one it is included in. use and transfer are the two top-level actions.
VOCABULARY = {
    "use": None,
    "transfer": None,
    "acceptTracking": "use",
    "aggregate": "use",
    "annotate": "use",
    "anonymize": "use",
    "archive": "use",
    "attribute": "use",
    "compensate": "use",
    "concurrentUse": "use",
    "delete": "use",
    "derive": "use",
    "digitize": "use",
    "display": "play",
    "distribute": "use",
    "ensureExclusivity": "use",
    "execute": "use",
    "extract": "reproduce",
    "give": "transfer",
    "grantUse": "use",
    "include": "use",
    "index": "use",
    "inform": "use",
    "install": "use",
    "modify": "use",
    "move": "use",
    "nextPolicy": "use",
    "obtainConsent": "use",
    "play": "use",
    "present": "use",
    "print": "use",
    "read": "use",
    "reproduce": "use",
    "reviewPolicy": "use",
    "sell": "transfer",
    "stream": "use",
    "synchronize": "use",
    "textToSpeech": "use",
    "transform": "use",
    "translate": "use",
    "uninstall": "use",
    "watermark": "use",
}


def odrl_action(name: str) -> Action:
    """The Action an ODRL vocabulary IRI names."""
    return Action(Request(assignee=ALICE, action=ODRL_NS + name, target=TARGET).action)


@pytest.mark.parametrize(("name", "parent"), VOCABULARY.items())
def test_every_vocabulary_action_reads_by_its_iri_under_its_odrl_parent(name, parent) -> None:
    action = odrl_action(name)
    expected = None if parent is None else odrl_action(parent)
    assert action.parent is expected


def test_tds_adds_only_its_operations_to_the_vocabulary() -> None:
    vocabulary = {odrl_action(name) for name in VOCABULARY}
    assert {action.value for action in set(Action) - vocabulary} == set(COMPUTATIONS)
    assert {action for action in Action if action.performed_by_tds} == {
        Action(name) for name in OPERATIONS
    }


def test_odrl_aggregate_and_tds_aggregate_are_different_actions() -> None:
    assert odrl_action("aggregate") is Action.ODRL_AGGREGATE is Action("odrl:aggregate")
    assert Action("aggregate") is Action.AGGREGATE
    assert not Action.ODRL_AGGREGATE.covers(Action.AGGREGATE)
    assert not Action.AGGREGATE.covers(Action.ODRL_AGGREGATE)


def decide(permitted: str, prohibited: str | None, requested: str) -> bool:
    policy = Policy(
        uid="urn:policy:vocabulary",
        target=TARGET,
        permissions=(Permission(action=permitted),),
        prohibitions=() if prohibited is None else (Prohibition(action=prohibited),),
    )
    request = Request(assignee=ALICE, action=requested, target=TARGET, time=T0)
    return evaluate(policy, request).permitted


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    "prohibited", ["distribute", "reproduce", "transfer", "sell", "print", "odrl:aggregate"]
)
def test_prohibiting_what_tds_never_does_forbids_no_tds_operation(prohibited, operation) -> None:
    assert decide("use", prohibited, operation)


@pytest.mark.parametrize("operation", COMPUTATIONS)
def test_prohibiting_derive_forbids_every_computation(operation) -> None:
    assert not decide("use", "derive", operation)


def test_prohibiting_derive_leaves_read_alone_and_prohibiting_read_leaves_derive() -> None:
    assert decide("use", "derive", "read")
    assert decide("use", "read", "join-sum")


@pytest.mark.parametrize("operation", COMPUTATIONS)
def test_a_permission_to_derive_grants_every_computation_but_not_read(operation) -> None:
    assert decide("derive", None, operation)
    assert not decide("derive", None, "read")


@pytest.mark.parametrize("permitted", ["distribute", "transfer", "reproduce", "odrl:aggregate"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_permission_for_what_tds_never_does_grants_no_operation(permitted, operation) -> None:
    assert not decide(permitted, None, operation)


def test_the_odrl_information_model_examples_read_and_decide_as_odrl_says() -> None:
    # ODRL IM section 2.1: permission to read, prohibition to reproduce; section 2.3.2: play.
    document = {
        "@context": ODRL,
        "@type": "Set",
        "uid": "http://example.com/policy:1010",
        "permission": [{"target": "http://example.com/asset:9898", "action": "read"}],
        "prohibition": [{"target": "http://example.com/asset:9898", "action": "reproduce"}],
    }
    policy = Policy.from_odrl(document)
    asked = {"assignee": ALICE, "target": "http://example.com/asset:9898", "time": T0}
    assert evaluate(policy, Request(action="read", **asked)).permitted
    assert not evaluate(policy, Request(action="extract", **asked)).permitted
    offer = {
        "@context": ODRL,
        "@type": "Offer",
        "uid": "http://example.com/policy:1011",
        "permission": [
            {
                "target": "http://example.com/asset:9898.movie",
                "assigner": "http://example.com/party:org:abc",
                "action": "play",
            }
        ],
    }
    assert Policy.from_odrl(offer).permissions[0].action is Action.PLAY


@pytest.mark.parametrize("action", list(Action))
def test_every_action_round_trips_and_reads_in_words(action) -> None:
    policy = Policy(uid="urn:p", target=TARGET, prohibitions=(Prohibition(action=action),))
    assert Policy.from_odrl(policy.to_odrl()) == policy
    (line,) = describe(policy)
    assert line.startswith("Never ") and line.split("Never ", 1)[1][0].islower()


@pytest.mark.parametrize("spelling", ["download", "odrl:lease", "tds:print", "odrl:join"])
def test_actions_outside_the_vocabulary_and_the_profile_stay_errors(spelling) -> None:
    document = {
        "@type": "Set",
        "uid": "urn:p",
        "target": TARGET,
        "permission": [{"action": spelling}],
    }
    with pytest.raises(PolicySyntaxError, match="unknown action"):
        Policy.from_odrl(document)


@pytest.mark.parametrize(
    ("deprecated", "replacement"),
    [
        ("write", "modify"),
        ("appendTo", "modify"),
        ("copy", "reproduce"),
        ("extractPage", "extract"),
    ],
)
def test_actions_odrl_deprecated_read_as_their_replacements(deprecated, replacement) -> None:
    document = {
        "@type": "Set",
        "uid": "urn:p",
        "target": TARGET,
        "permission": [{"action": f"odrl:{deprecated}"}],
    }
    policy = Policy.from_odrl(document)
    assert policy.permissions[0].action is odrl_action(replacement)
    assert policy.to_odrl()["permission"][0]["action"] == replacement
    assert Request(assignee=ALICE, action=ODRL_NS + deprecated, target=TARGET).action is (
        odrl_action(replacement)
    )
