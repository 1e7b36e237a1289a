"""ODRL JSON-LD in and out: accepted forms, errors that name their path, canonical output."""

import copy
import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tds.errors import PolicySyntaxError
from tds.policy import (
    Action,
    Collection,
    Conflict,
    Constraint,
    Duration,
    LeftOperand,
    Permission,
    Policy,
    PolicyType,
    Request,
    evaluate,
    profile_context,
)
from tds.policy._model import MAX_NESTING
from tds.policy._profile import ODRL_NS, TDS_NS, DutyAction, term_iri
from tds.sectors import healthcare

REPO = Path(__file__).resolve().parents[2]
ODRL = "http://www.w3.org/ns/odrl.jsonld"


def policy_with(constraint: object = None, **permission: object) -> dict:
    """A minimal Set whose single permission carries ``constraint`` and ``permission`` fields."""
    rule = {"target": "urn:ds:1", "action": "use", **permission}
    if constraint is not None:
        rule["constraint"] = [constraint]
    return {"@context": ODRL, "@type": "Set", "uid": "urn:policy:1", "permission": [rule]}


def only_constraint(document: dict) -> Constraint:
    return Policy.from_odrl(document).permissions[0].constraints[0]


# -- examples from the ODRL 2.2 Information Model ------------------------------------------------


def test_odrl_example_set_with_use_is_read():
    policy = Policy.from_odrl(
        {
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Set",
            "uid": "http://example.com/policy:1010",
            "permission": [{"target": "http://example.com/asset:9898.movie", "action": "use"}],
        }
    )
    assert policy.type is PolicyType.SET
    assert policy.uid == "http://example.com/policy:1010"
    assert policy.permissions == (
        Permission(action=Action.USE, target="http://example.com/asset:9898.movie"),
    )


def test_odrl_example_compact_policy_with_policy_level_parties():
    policy = Policy.from_odrl(
        {
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Agreement",
            "uid": "http://example.com/policy:8888",
            "target": "http://example.com/music/1999.mp3",
            "assigner": "http://example.com/org/sony-music",
            "assignee": "http://example.com/people/billie",
            "permission": [{"action": "use"}],
        }
    )
    (permission,) = policy.permissions
    assert permission.target is None
    assert policy.target_of(permission) == "http://example.com/music/1999.mp3"
    assert policy.assignee_of(permission) == "http://example.com/people/billie"


def test_odrl_example_date_constraint_with_a_profile_action():
    # ODRL IM: permission "valid until the end of the year 2017", with the action in the profile.
    # (The example's own profile IRI is left out: tds refuses policies of profiles it does not
    # implement, see test_a_policy_of_another_profile_is_refused.)
    policy = Policy.from_odrl(
        {
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Offer",
            "uid": "http://example.com/policy:9090",
            "permission": [
                {
                    "target": "http://example.com/game:9090",
                    "assigner": "http://example.com/org:xyz",
                    "action": "use",
                    "constraint": [
                        {
                            "leftOperand": "dateTime",
                            "operator": "lteq",
                            "rightOperand": {"@value": "2017-12-31", "@type": "xsd:date"},
                        }
                    ],
                }
            ],
        }
    )
    constraint = policy.permissions[0].constraints[0]
    # The whole of 31 December, not its first instant.
    assert constraint == Constraint("dateTime", "lteq", date(2017, 12, 31))


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        (  # ODRL IM: action refinement with a unit, on "print".
            policy_with(
                action=[
                    {
                        "rdf:value": {"@id": "odrl:print"},
                        "refinement": [
                            {
                                "leftOperand": "resolution",
                                "operator": "lteq",
                                "rightOperand": {"@value": "1200", "@type": "xsd:integer"},
                                "unit": "http://dbpedia.org/resource/Dots_per_inch",
                            }
                        ],
                    }
                ]
            ),
            "permission[0].action.refinement[0].unit",
            "units are not supported",
        ),
        (  # ODRL IM: xone over constraints referenced by IRI.
            policy_with(
                {
                    "xone": {
                        "@list": [
                            {"@id": "http://example.com/p:88/C1"},
                            {"@id": "http://example.com/p:88/C2"},
                        ]
                    }
                }
            ),
            "permission[0].constraint[0].xone[0]",
            "referenced constraints are not supported",
        ),
        (  # ODRL IM: a compensate duty with payAmount, an operand tds does not check.
            policy_with(
                duty=[
                    {
                        "action": "compensate",
                        "constraint": [
                            {"leftOperand": "payAmount", "operator": "eq", "rightOperand": "5.00"}
                        ],
                    }
                ]
            ),
            "permission[0].duty[0].constraint[0].leftOperand",
            "unknown left operand 'odrl:payAmount'",
        ),
    ],
)
def test_odrl_examples_outside_the_profile_are_rejected_with_their_path(document, path, message):
    with pytest.raises(PolicySyntaxError, match=message) as caught:
        Policy.from_odrl(document)
    assert caught.value.path == path


# -- accepted spellings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left_operand",
    ["minCohort", "tds:minCohort", f"{TDS_NS}minCohort", {"@id": "tds:minCohort"}],
)
@pytest.mark.parametrize("operator", ["gteq", "odrl:gteq", "http://www.w3.org/ns/odrl/2/gteq"])
@pytest.mark.parametrize(
    "right_operand",
    [
        10,
        [10],
        {"@value": 10, "@type": "xsd:integer"},
        {"@value": "10", "@type": "xsd:integer"},
        {"@value": "10", "@type": "http://www.w3.org/2001/XMLSchema#nonNegativeInteger"},
    ],
)
def test_terms_and_literals_in_every_compact_form(left_operand, operator, right_operand):
    constraint = {"leftOperand": left_operand, "operator": operator, "rightOperand": right_operand}
    assert only_constraint(policy_with(constraint)) == Constraint("minCohort", "gteq", 10)


@pytest.mark.parametrize(
    "action",
    [
        "join-sum",
        "tds:join-sum",
        f"{TDS_NS}join-sum",
        {"@id": "tds:join-sum"},
        ["join-sum"],
        {"rdf:value": {"@id": "tds:join-sum"}},
        [{"rdf:value": {"@id": "tds:join-sum"}, "refinement": []}],
    ],
)
def test_actions_in_every_compact_form(action):
    assert Policy.from_odrl(policy_with(action=action)).permissions[0].action is Action.JOIN_SUM


def test_odrl_namespace_terms_accept_the_odrl_prefix():
    constraint = {"leftOperand": "odrl:purpose", "operator": "eq", "rightOperand": "research"}
    assert only_constraint(policy_with(constraint, action="odrl:use")).left_operand is (
        LeftOperand.PURPOSE
    )


@pytest.mark.parametrize(
    ("right_operand", "expected"),
    [
        (
            {"@value": "2026-06-30T16:00:00Z", "@type": "xsd:dateTime"},
            datetime(2026, 6, 30, 16, tzinfo=UTC),
        ),
        (
            {"@value": "2026-07-01T00:00:00+08:00", "@type": "xsd:dateTime"},
            datetime(2026, 6, 30, 16, tzinfo=UTC),
        ),
        ("2026-07-01T00:00:00+08:00", datetime(2026, 6, 30, 16, tzinfo=UTC)),
    ],
)
def test_date_time_literals_are_stored_as_the_same_utc_instant(right_operand, expected):
    constraint = {"leftOperand": "dateTime", "operator": "lt", "rightOperand": right_operand}
    assert only_constraint(policy_with(constraint)).right_operand == expected


@pytest.mark.parametrize(
    ("operand", "operator", "right_operand", "expected"),
    [
        ("dpEpsilon", "lteq", 0.5, Decimal("0.5")),
        ("dpEpsilon", "lteq", {"@value": "0.50", "@type": "xsd:decimal"}, Decimal("0.5")),
        ("dpEpsilon", "lteq", {"@value": 1, "@type": "xsd:double"}, Decimal(1)),
        ("elapsedTime", "lteq", {"@value": "P1Y", "@type": "xsd:duration"}, Duration(months=12)),
        ("elapsedTime", "lteq", "PT24H", Duration(seconds=Decimal(86400))),
        ("rate", "lteq", {"@value": "10/PT1H", "@type": "tds:Rate"}, None),
        ("tds:spatial", "isPartOf", {"@value": "120,30,123,32", "@type": "tds:BoundingBox"}, None),
        ("purpose", "eq", {"@id": "https://w3id.org/dpv#ResearchAndDevelopment"}, None),
        ("purpose", "eq", {"@value": "research", "@type": "xsd:string"}, "research"),
        ("column", "isPartOf", {"@list": ["b", "a", "b"]}, ("a", "b")),
        ("column", "isPartOf", "age", ("age",)),
        (
            "operation",
            "isAnyOf",
            ["join-sum", "tds:aggregate"],
            (Action.AGGREGATE, Action.JOIN_SUM),
        ),
        ("classification", "isNoneOf", [4, 3], (3, 4)),
    ],
)
def test_right_operand_forms(operand, operator, right_operand, expected):
    constraint = {"leftOperand": operand, "operator": operator, "rightOperand": right_operand}
    parsed = only_constraint(policy_with(constraint)).right_operand
    if expected is not None:
        assert parsed == expected
    assert (
        Policy.from_odrl(policy_with(constraint)).to_odrl()
        == Policy.from_odrl(Policy.from_odrl(policy_with(constraint)).to_odrl()).to_odrl()
    )


def test_json_text_and_bytes_are_read_like_dicts():
    document = policy_with({"leftOperand": "purpose", "operator": "eq", "rightOperand": "x"})
    expected = Policy.from_odrl(document)
    assert Policy.from_odrl(json.dumps(document)) == expected
    assert Policy.from_odrl(json.dumps(document).encode()) == expected


def test_plain_policy_type_means_set_and_type_alias_is_accepted():
    document = policy_with()
    document["@type"] = "Policy"
    assert Policy.from_odrl(document).type is PolicyType.SET
    del document["@type"]
    document["type"] = "odrl:Offer"
    document["assigner"] = "urn:party:a"
    assert Policy.from_odrl(document).type is PolicyType.OFFER


@pytest.mark.parametrize(
    "context",
    [
        ODRL,
        [ODRL, "https://w3id.org/tds/policy.jsonld"],
        [ODRL, {"tds": TDS_NS}],
        {"odrl": "http://www.w3.org/ns/odrl/2/", "xsd": "http://www.w3.org/2001/XMLSchema#"},
    ],
)
def test_contexts_naming_the_odrl_and_tds_vocabularies_are_accepted(context):
    document = policy_with()
    document["@context"] = context
    assert Policy.from_odrl(document).uid == "urn:policy:1"


def test_from_odrl_does_not_modify_its_input():
    document = healthcare.medical_research(uid="u", assigner="a", target="t").to_odrl()
    before = copy.deepcopy(document)
    Policy.from_odrl(document)
    assert document == before


# -- errors name their path -----------------------------------------------------------------------


def with_constraint(operand, operator, right_operand):
    return policy_with(
        {"leftOperand": operand, "operator": operator, "rightOperand": right_operand}
    )


C = "permission[0].constraint[0]"


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        (with_constraint("foo", "eq", "x"), f"{C}.leftOperand", "unknown left operand 'foo'"),
        (with_constraint("odrl:minCohort", "gteq", 1), f"{C}.leftOperand", "unknown"),
        (with_constraint("tds:purpose", "eq", "x"), f"{C}.leftOperand", "unknown"),
        (with_constraint("purpose", "like", "x"), f"{C}.operator", "unknown operator 'like'"),
        (with_constraint("purpose", "gt", "x"), f"{C}.operator", "does not apply to purpose"),
        (with_constraint("count", "gteq", 5), f"{C}.operator", "does not apply to count"),
        (with_constraint("tds:spatial", "eq", "0,0,1,1"), f"{C}.operator", "does not apply"),
        (with_constraint("minCohort", "gteq", "10"), f"{C}.rightOperand", "integer"),
        (with_constraint("minCohort", "gteq", 10.5), f"{C}.rightOperand", "integer"),
        (with_constraint("minCohort", "gteq", -1), f"{C}.rightOperand", "non-negative"),
        (with_constraint("minCohort", "gteq", True), f"{C}.rightOperand", "integer"),
        (
            with_constraint("minCohort", "gteq", {"@value": "ten", "@type": "xsd:integer"}),
            f"{C}.rightOperand",
            "integer",
        ),
        (with_constraint("dateTime", "lt", "2026-01-01T00:00:00"), f"{C}.rightOperand", "offset"),
        (
            with_constraint("dateTime", "lt", {"@value": "2026-01-01", "@type": "xsd:integer"}),
            f"{C}.rightOperand",
            "datatype integer",
        ),
        (with_constraint("dateTime", "lt", 20260101), f"{C}.rightOperand", "string"),
        (with_constraint("elapsedTime", "lt", "30 days"), f"{C}.rightOperand", "xsd:duration"),
        (with_constraint("dpEpsilon", "lteq", "0.5"), f"{C}.rightOperand", "xsd:decimal"),
        (with_constraint("dpEpsilon", "lteq", -0.1), f"{C}.rightOperand", "non-negative"),
        (with_constraint("tds:spatial", "isPartOf", "1,2,3"), f"{C}.rightOperand", "bounding box"),
        (with_constraint("rate", "lteq", "ten per hour"), f"{C}.rightOperand", "rate"),
        (with_constraint("column", "isPartOf", ["a", 2]), f"{C}.rightOperand[1]", "string"),
        (
            with_constraint("operation", "isAnyOf", ["aggregate", "download"]),
            f"{C}.rightOperand[1]",
            "unknown action 'download'",
        ),
        (with_constraint("purpose", "eq", ["a", "b"]), f"{C}.rightOperand", "takes one value"),
        (with_constraint("purpose", "isAnyOf", []), f"{C}.rightOperand", "no value"),
        (
            with_constraint("minCohort", "gteq", {"@value": "\u00b2", "@type": "xsd:integer"}),
            f"{C}.rightOperand",
            "non-negative integer",
        ),
        (
            with_constraint("count", "lteq", {"@value": "9" * 5000, "@type": "xsd:integer"}),
            f"{C}.rightOperand",
            "non-negative integer",
        ),
        (
            with_constraint("rate", "lteq", {"@value": "9" * 5000 + "/PT1H", "@type": "tds:Rate"}),
            f"{C}.rightOperand",
            "not a rate",
        ),
        (
            with_constraint("dpEpsilon", "lteq", {"@value": "1e9999999", "@type": "xsd:decimal"}),
            f"{C}.rightOperand",
            "out of range",
        ),
        (
            with_constraint("purpose", "eq", {"@value": "x", "@type": "xsd:foo"}),
            f"{C}.rightOperand.@type",
            "unknown datatype",
        ),
        (
            with_constraint("purpose", "eq", {"@value": "x", "@language": "en"}),
            f"{C}.rightOperand",
            "expected a literal",
        ),
        (policy_with({"leftOperand": "purpose", "operator": "eq"}), f"{C}.rightOperand", "needs a"),
        (
            policy_with(
                {"leftOperand": "count", "operator": "lteq", "rightOperand": 1, "unit": "x"}
            ),
            f"{C}.unit",
            "units are not supported",
        ),
        (
            policy_with({"and": [], "or": []}),
            C,
            "exactly one of and, or, xone",
        ),
        (policy_with({"and": []}), f"{C}.operator", "at least one constraint"),
        (
            policy_with(
                {"andSequence": [{"leftOperand": "count", "operator": "lt", "rightOperand": 1}]}
            ),
            f"{C}.andSequence",
            "not supported",
        ),
        (
            policy_with({"or": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": 1}]}),
            f"{C}.or[0].rightOperand",
            "string",
        ),
        (policy_with(action="download"), "permission[0].action", "unknown action 'download'"),
        (policy_with(action=["use", "read"]), "permission[0].action", "exactly one value"),
        (
            policy_with(duty=[{"action": "attribute"}]),
            "permission[0].duty[0].action",
            "duty attribute is not supported",
        ),
        (
            policy_with(duty=[{"action": "teleport"}]),
            "permission[0].duty[0].action",
            "unknown action 'teleport'",
        ),
        (
            policy_with(duty=[{"action": "log", "target": "urn:x"}]),
            "permission[0].duty[0].target",
            "unknown property",
        ),
        (
            policy_with(
                duty=[
                    {
                        "action": {
                            "rdf:value": {"@id": "odrl:delete"},
                            "refinement": [
                                {"leftOperand": "recipient", "operator": "eq", "rightOperand": "x"}
                            ],
                        }
                    }
                ]
            ),
            "permission[0].duty[0].action.refinement[0].leftOperand",
            "delete takes no recipient parameter",
        ),
        (
            policy_with(
                duty=[
                    {
                        "action": "log",
                        "constraint": [
                            {"leftOperand": "count", "operator": "lt", "rightOperand": 1}
                        ],
                    }
                ]
            ),
            "permission[0].duty[0].constraint[0]",
            "cannot appear in a duty",
        ),
        (
            policy_with(
                duty=[
                    {
                        "action": "log",
                        "consequence": [{"action": "notify", "consequence": [{"action": "log"}]}],
                    }
                ]
            ),
            "permission[0].duty[0].consequence[0].consequence",
            "consequences of its own",
        ),
        (policy_with(target=["urn:a", "urn:b"]), "permission[0].target", "exactly one value"),
        (policy_with(target={"href": "urn:a"}), "permission[0].target.href", "property 'href'"),
        (policy_with(foo=1), "permission[0].foo", "unknown property 'foo'"),
    ],
)
def test_syntax_errors_name_the_offending_path(document, path, message):
    with pytest.raises(PolicySyntaxError, match=message) as caught:
        Policy.from_odrl(document)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def prohibition_policy(constraint):
    return {
        "@context": ODRL,
        "@type": "Set",
        "uid": "urn:p",
        "prohibition": [{"target": "urn:ds", "action": "read", "constraint": [constraint]}],
    }


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d.pop("uid"), "uid", "needs a uid"),
        (lambda d: d.update({"@id": "urn:other"}), "uid", "differ"),
        (lambda d: d.pop("@type"), "@type", "needs an @type"),
        (lambda d: d.update({"@type": "Ticket"}), "@type", "unknown policy type 'Ticket'"),
        (
            lambda d: d.update({"obligation": [{"action": "compensate"}]}),
            "obligation",
            "not supported",
        ),
        (lambda d: d.update({"inheritFrom": "urn:x"}), "inheritFrom", "not supported"),
        (lambda d: d.update({"conflict": "deny"}), "conflict", "unknown conflict strategy"),
        (lambda d: d.update({"@context": "http://example.com/ctx"}), "@context", "never fetches"),
        (  # A context may give a term another meaning, which tds then does not know.
            lambda d: d.update({"@context": [ODRL, {"use": "http://example.com/use"}]}),
            "permission[0].action",
            "unknown action 'http://example.com/use'",
        ),
        (lambda d: d.update({"@type": "Offer"}), "permission[0].assigner", "needs an assigner"),
        (
            lambda d: d.update({"@type": "Agreement", "assigner": "urn:a"}),
            "permission[0].assignee",
            "needs an assignee",
        ),
        (lambda d: d["permission"][0].pop("target"), "permission[0].target", "needs a target"),
        (lambda d: d["permission"][0].pop("action"), "permission[0].action", "needs an action"),
        (lambda d: d.pop("permission"), "", "at least one permission or prohibition"),
        (
            lambda d: d["permission"].append(dict(d["permission"][0])),
            "permission[1].uid",
            r"also used by permission\[0\]",
        ),
        (lambda d: d.update({"permission": ["urn:rule:1"]}), "permission[0]", "by IRI"),
        (lambda d: d.update({"permission": [3]}), "permission[0]", "JSON object"),
    ],
)
def test_policy_level_errors_name_the_offending_path(change, path, message):
    document = policy_with(uid="urn:rule:1")
    change(document)
    with pytest.raises(PolicySyntaxError, match=message) as caught:
        Policy.from_odrl(document)
    assert caught.value.path == path


def test_stateful_operands_are_rejected_in_prohibitions():
    with pytest.raises(PolicySyntaxError, match="cannot appear in a prohibition") as caught:
        Policy.from_odrl(
            prohibition_policy({"leftOperand": "count", "operator": "lt", "rightOperand": 3})
        )
    assert caught.value.path == "prohibition[0].constraint[0]"


@pytest.mark.parametrize("document", ["{not json", "[]", "3", b"\xff"])
def test_documents_that_are_not_json_objects_are_rejected(document):
    with pytest.raises(PolicySyntaxError):
        Policy.from_odrl(document)


# -- canonical output -----------------------------------------------------------------------------


def test_to_odrl_declares_contexts_profile_and_conflict_strategy():
    document = Policy.from_odrl(policy_with()).to_odrl()
    assert document["@context"] == [ODRL, "https://w3id.org/tds/policy.jsonld"]
    assert document["profile"] == "https://w3id.org/tds/policy"
    assert document["conflict"] == "invalid"  # read without one: ODRL's default
    built = Policy(uid="urn:p", permissions=(Permission(action=Action.USE, target="urn:a"),))
    assert built.to_odrl()["conflict"] == "prohibit"  # tds's default, written out
    assert document["permission"] == [{"target": "urn:ds:1", "action": "use"}]


def test_to_odrl_writes_refinements_and_typed_literals_canonically():
    document = with_constraint("dpEpsilon", "lteq", 0.50)
    document["permission"][0]["action"] = {
        "rdf:value": {"@id": "aggregate"},
        "refinement": [
            {"leftOperand": "column", "operator": "isPartOf", "rightOperand": ["b", "a"]}
        ],
    }
    rule = Policy.from_odrl(document).to_odrl()["permission"][0]
    assert rule["action"] == {
        "rdf:value": {"@id": "tds:aggregate"},
        "refinement": [
            {"leftOperand": "column", "operator": "isPartOf", "rightOperand": ["a", "b"]}
        ],
    }
    assert rule["constraint"] == [
        {
            "leftOperand": "dpEpsilon",
            "operator": "lteq",
            "rightOperand": {"@value": "0.5", "@type": "xsd:decimal"},
        }
    ]


def test_equivalent_documents_have_the_same_content_hash():
    plain = with_constraint("operation", "isAnyOf", ["aggregate", "join-sum"])
    spelled_out = with_constraint(
        "tds:operation",
        "odrl:isAnyOf",
        [{"@id": "tds:join-sum"}, "https://w3id.org/tds/policy#aggregate"],
    )
    spelled_out["@type"] = "odrl:Set"
    spelled_out["@id"] = spelled_out.pop("uid")
    assert Policy.from_odrl(plain) == Policy.from_odrl(spelled_out)
    assert Policy.from_odrl(plain).content_hash == Policy.from_odrl(spelled_out).content_hash


def test_content_hash_is_sha256_hex_and_changes_with_any_term():
    base = Policy.from_odrl(with_constraint("minCohort", "gteq", 10))
    changed = Policy.from_odrl(with_constraint("minCohort", "gteq", 11))
    assert len(base.content_hash) == 64 and int(base.content_hash, 16) >= 0
    assert base.content_hash != changed.content_hash


def test_content_hash_is_sha256_of_the_documented_canonical_json():
    # Pinned byte for byte: a change here changes the hash of every signed agreement.
    canonical = (
        '{"@context":["http://www.w3.org/ns/odrl.jsonld","https://w3id.org/tds/policy.jsonld"],'
        '"@type":"Set","conflict":"prohibit","permission":[{"action":"use","constraint":'
        '[{"leftOperand":"minCohort","operator":"gteq","rightOperand":10}],"target":"urn:ds:1"}],'
        '"profile":"https://w3id.org/tds/policy","uid":"urn:policy:1"}'
    )
    document = with_constraint("minCohort", "gteq", 10) | {"conflict": "prohibit"}
    assert Policy.from_odrl(document).content_hash == hashlib.sha256(canonical.encode()).hexdigest()
    # Without a conflict property the policy is ODRL's default, invalid, and hashes as such.
    silent = canonical.replace('"conflict":"prohibit"', '"conflict":"invalid"')
    policy = Policy.from_odrl(with_constraint("minCohort", "gteq", 10))
    assert policy.content_hash == hashlib.sha256(silent.encode()).hexdigest()


def test_round_trip_of_every_sector_template():
    from tds.policy import BoundingBox
    from tds.sectors import ocean, power

    templates = [
        healthcare.medical_research(uid="urn:h", assigner="urn:hospital", target="urn:visits"),
        power.household_aggregates(
            uid="urn:p",
            assigner="urn:grid",
            target="urn:meters",
            assignee="urn:bank",
            epsilon_budget=1,
        ),
        ocean.observations(
            uid="urn:o", assigner="urn:buoys", target="urn:obs", area=BoundingBox(120, 30, 123, 32)
        ),
    ]
    for policy in templates:
        document = policy.to_odrl()
        assert Policy.from_odrl(document) == policy
        assert Policy.from_odrl(json.dumps(document)).content_hash == policy.content_hash


# -- the published JSON-LD context ----------------------------------------------------------------


def test_docs_context_is_the_packaged_context():
    packaged = REPO / "tds" / "policy" / "tds-profile.jsonld"
    assert (REPO / "docs" / "tds-profile.jsonld").read_bytes() == packaged.read_bytes()


def test_context_defines_exactly_the_tds_terms():
    context = profile_context()["@context"]
    assert context["tds"] == TDS_NS
    tds_terms = {
        member.value
        for member in [*LeftOperand, *Action, *DutyAction]
        if term_iri(member).startswith(TDS_NS)
    }
    defined = {term for term in context if term not in ("odrl", "tds", "xsd")}
    # ODRL's own terms (use, read, purpose, count, ...) come from the ODRL context unchanged.
    assert defined == tds_terms | {"Rate", "BoundingBox"}
    for term in defined:
        assert context[term] == f"tds:{term}"


def nested(depth: int) -> dict:
    constraint: dict = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "x"}
    for _ in range(depth):
        constraint = {"and": [constraint]}
    return policy_with(constraint)


def test_logical_constraints_nest_up_to_the_limit_and_no_deeper():
    policy = Policy.from_odrl(nested(MAX_NESTING))
    assert Policy.from_odrl(policy.to_odrl()) == policy
    with pytest.raises(PolicySyntaxError, match="nest more than") as caught:
        Policy.from_odrl(nested(MAX_NESTING + 1))
    assert caught.value.path == C + ".and[0]" * MAX_NESTING
    with pytest.raises(PolicySyntaxError, match="nest more than"):
        Policy.from_odrl(nested(5000))


def test_json_nested_past_the_parser_limit_is_a_syntax_error():
    with pytest.raises(PolicySyntaxError, match="not valid JSON"):
        Policy.from_odrl("[" * 100_000)


PURPOSE = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}


@pytest.mark.parametrize(
    ("constraint", "fields", "path"),
    [
        (None, {"@type": "Prohibition"}, "permission[0].@type"),
        (None, {"@type": "odrl:Duty"}, "permission[0].@type"),
        ({"@type": "Duty", **PURPOSE}, {}, "permission[0].constraint[0].@type"),
        (None, {"duty": [{"@type": "Permission", "action": "log"}]}, "permission[0].duty[0].@type"),
        ({"@type": "Constraint", "or": [PURPOSE]}, {}, "permission[0].constraint[0].@type"),
    ],
)
def test_a_type_that_contradicts_the_position_is_rejected(constraint, fields, path):
    with pytest.raises(PolicySyntaxError) as raised:
        Policy.from_odrl(policy_with(constraint, **fields))
    assert raised.value.path == path


def test_types_that_agree_with_the_position_are_accepted():
    document = policy_with(
        {"@type": "http://www.w3.org/ns/odrl/2/Constraint", **PURPOSE},
        duty=[{"@type": "Duty", "action": "log"}],
    )
    document["permission"][0]["@type"] = "odrl:Permission"
    assert Policy.from_odrl(document).permissions[0].duties[0].action == DutyAction.LOG


# -- ambiguous or unmodelled input is refused, never silently resolved ---------------------------

# The last of repeated keys wins in json.loads: here the prohibition would vanish.
REPEATED_PROHIBITION = (
    '{"@type": "Set", "uid": "urn:p",'
    ' "prohibition": [{"target": "urn:ds", "action": "read"}],'
    ' "prohibition": [],'
    ' "permission": [{"target": "urn:ds", "action": "use"}]}'
)


@pytest.mark.parametrize("text", [REPEATED_PROHIBITION, REPEATED_PROHIBITION.encode()])
def test_a_repeated_key_is_refused_with_its_path(text):
    with pytest.raises(PolicySyntaxError, match="'prohibition' appears more than once") as caught:
        Policy.from_odrl(text)
    assert caught.value.path == "prohibition"


def test_a_repeated_key_deep_inside_is_refused_with_its_path():
    text = (
        '{"@type": "Set", "uid": "urn:p", "prohibition": [{"target": "urn:ds", "action": "read",'
        ' "constraint": [{"leftOperand": "purpose", "operator": "eq",'
        ' "rightOperand": "marketing", "rightOperand": "nothing"}]}]}'
    )
    with pytest.raises(PolicySyntaxError, match="'rightOperand' appears more than once") as caught:
        Policy.from_odrl(text)
    assert caught.value.path == "prohibition[0].constraint[0].rightOperand"


def test_the_same_key_in_different_objects_is_not_repeated():
    text = json.dumps(policy_with(uid="urn:rule:1"))
    assert Policy.from_odrl(text) == Policy.from_odrl(policy_with(uid="urn:rule:1"))


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(policy_with()).encode("utf-16"),  # JSON exchanged between systems is UTF-8
        json.dumps(policy_with())
        .replace("urn:policy:1", "urn:\ud800")
        .encode("utf-8", "surrogatepass"),
    ],
    ids=["utf-16", "cesu-surrogate"],
)
def test_bytes_must_be_utf_8(data):
    with pytest.raises(PolicySyntaxError, match="UTF-8"):
        Policy.from_odrl(data)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant):
    text = json.dumps(policy_with()).replace('"urn:policy:1"', constant)
    with pytest.raises(PolicySyntaxError, match=f"{constant} is not JSON"):
        Policy.from_odrl(text)


def test_keys_must_be_strings():
    document = policy_with()
    document["permission"][0][1] = "x"
    with pytest.raises(PolicySyntaxError, match="keys must be strings") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "permission[0]"


def collection_policy(assignee: object) -> dict:
    """Use for everyone; read prohibited to the ``assignee`` of the prohibition (prohibit wins)."""
    return {
        "@context": ODRL,
        "@type": "Set",
        "uid": "urn:policy:collections",
        "conflict": "prohibit",
        "permission": [{"target": "urn:ds:1", "action": "use"}],
        "prohibition": [{"target": "urn:ds:1", "action": "read", "assignee": assignee}],
    }


def test_a_prohibition_for_a_party_collection_reaches_its_members():
    # The fail-open this guards against: the collection read as one plain party, so that a
    # member's read passes. Membership is the enforcing side's fact, in the request.
    document = collection_policy({"@type": "PartyCollection", "uid": "urn:group:staff"})
    policy = Policy.from_odrl(document)
    assert policy.collections == (Collection("urn:group:staff", "party"),)

    def read(memberships):
        request = Request(
            assignee="urn:party:alice", action="read", target="urn:ds:1", memberships=memberships
        )
        return evaluate(policy, request)

    member = read(frozenset({"urn:group:staff"}))
    assert not member.permitted
    assert member.reasons == ("prohibition 1 forbids read on urn:ds:1",)
    assert read(frozenset()).permitted  # known not to be a member
    assert not read(None).permitted  # not known: the prohibition applies
    # The type survives the round trip, and with it the prohibition's reach.
    assert policy.to_odrl()["prohibition"][0]["assignee"] == {
        "@type": "PartyCollection",
        "uid": "urn:group:staff",
    }
    assert Policy.from_odrl(policy.to_odrl()) == policy


@pytest.mark.parametrize(
    ("where", "value", "message", "at"),
    [
        (
            "assigner",
            {"@type": "PartyCollection", "uid": "urn:g"},
            "assigner is one party",
            "@type",
        ),
        (
            "assignee",
            {"@type": "PartyCollection", "uid": "urn:g", "refinement": []},
            "refinements of a collection",
            "refinement",
        ),
        ("assignee", {"@type": "PartyCollection", "uid": "urn:g", "size": 3}, "size", "size"),
        ("assignee", {"@type": "vcard:Group", "uid": "urn:g"}, "tds models a party", "@type"),
        ("assignee", {"@type": "Asset", "uid": "urn:g"}, "tds models a party", "@type"),
        ("assignee", {"@type": "AssetCollection", "uid": "urn:g"}, "tds models a party", "@type"),
        ("target", {"@type": "Party", "uid": "urn:ds:1"}, "tds models an asset", "@type"),
        ("target", {"@type": "PartyCollection", "uid": "urn:x"}, "tds models an asset", "@type"),
    ],
)
def test_unmodelled_party_and_asset_types_are_refused(where, value, message, at):
    document = policy_with()
    document["permission"][0][where] = value
    with pytest.raises(PolicySyntaxError, match=message) as caught:
        Policy.from_odrl(document)
    assert caught.value.path == f"permission[0].{where}.{at}"


@pytest.mark.parametrize(
    ("where", "value", "kind"),
    [
        ("target", {"@type": "AssetCollection", "uid": "urn:ds:all"}, "asset"),
        ("target", {"@type": "odrl:AssetCollection", "@id": "urn:ds:all"}, "asset"),
        ("assignee", {"@type": f"{ODRL_NS}PartyCollection", "@id": "urn:g"}, "party"),
    ],
)
def test_collections_read_in_any_spelling(where, value, kind):
    document = policy_with()
    document["permission"][0][where] = value
    policy = Policy.from_odrl(document)
    (collection,) = policy.collections
    assert (collection.kind, getattr(policy.permissions[0], where)) == (kind, collection.uid)


def test_a_collection_at_policy_level_with_its_source():
    document = policy_with()
    document["assignee"] = {
        "@type": "PartyCollection",
        "uid": "urn:group:staff",
        "source": "urn:list:staff",
    }
    policy = Policy.from_odrl(document)
    assert policy.collections == (Collection("urn:group:staff", "party", "urn:list:staff"),)
    assert policy.to_odrl()["assignee"]["source"] == "urn:list:staff"


def test_one_collection_declared_two_ways_is_refused():
    document = policy_with()
    document["assignee"] = {"@type": "PartyCollection", "uid": "urn:g", "source": "urn:a"}
    document["permission"][0]["assignee"] = {"@type": "PartyCollection", "uid": "urn:g"}
    with pytest.raises(PolicySyntaxError, match="declared differently") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "permission[0].assignee"


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("target", {"@type": "Asset", "uid": "urn:ds:1"}),
        ("target", {"@type": "odrl:Asset", "@id": "urn:ds:1"}),
        ("assignee", {"@type": f"{ODRL_NS}Party", "uid": "urn:party:a"}),
        ("assignee", {"@id": "urn:party:a"}),
    ],
)
def test_plain_parties_and_assets_may_say_so(where, value):
    document = policy_with()
    document["permission"][0][where] = value
    permission = Policy.from_odrl(document).permissions[0]
    assert getattr(permission, where) == value.get("uid", value.get("@id"))


def test_an_action_with_a_foreign_type_is_refused():
    document = policy_with(action={"@type": "odrl:Duty", "rdf:value": {"@id": "odrl:use"}})
    with pytest.raises(PolicySyntaxError, match="expected @type Action") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "permission[0].action.@type"
    document["permission"][0]["action"]["@type"] = "odrl:Action"
    assert Policy.from_odrl(document).permissions[0].action is Action.USE


def test_type_and_at_type_together_are_two_types_and_refused():
    # "type" is the ODRL context's alias of "@type": with both, the policy has two types.
    document = policy_with()
    document["type"] = "Agreement"
    with pytest.raises(PolicySyntaxError, match="exactly one value, got 2") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "@type"


@pytest.mark.parametrize(
    "profile",
    [
        "http://example.com/odrl:profile:07",
        ["https://w3id.org/tds/policy", "http://example.com/other-profile"],
        {"@id": "http://example.com/other-profile"},
    ],
)
def test_a_policy_of_another_profile_is_refused(profile):
    # ODRL: a processor that does not understand a policy's profile must not process it.
    document = policy_with()
    document["profile"] = profile
    with pytest.raises(PolicySyntaxError, match="only policies of the tds profile") as caught:
        Policy.from_odrl(document)
    assert caught.value.path.startswith("profile")


@pytest.mark.parametrize(
    "profile", ["https://w3id.org/tds/policy", ["https://w3id.org/tds/policy"], []]
)
def test_the_tds_profile_or_none_is_accepted(profile):
    document = policy_with()
    document["profile"] = profile
    assert Policy.from_odrl(document) == Policy.from_odrl(policy_with())


@pytest.mark.parametrize("conflict", ["deny", "odrl:deny", "Perm", {"@id": "odrl:permit"}, [], 1])
def test_an_unknown_conflict_strategy_is_refused(conflict):
    document = policy_with()
    document["conflict"] = conflict
    with pytest.raises(PolicySyntaxError) as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "conflict"


@pytest.mark.parametrize("strategy", list(Conflict))
@pytest.mark.parametrize("spelling", ["{}", "odrl:{}", f"{ODRL_NS}{{}}", "@id"])
def test_every_conflict_strategy_reads_in_any_spelling_and_round_trips(strategy, spelling):
    document = policy_with()
    value = strategy.value
    document["conflict"] = {"@id": value} if spelling == "@id" else spelling.format(value)
    policy = Policy.from_odrl(document)
    assert policy.conflict is strategy
    assert policy.to_odrl()["conflict"] == value
    assert Policy.from_odrl(policy.to_odrl()) == policy


def test_a_policy_without_conflict_takes_the_odrl_default_invalid():
    assert "conflict" not in policy_with()
    assert Policy.from_odrl(policy_with()).conflict is Conflict.INVALID


def test_the_odrl_im_agreement_with_conflict_perm_now_reads():
    document = {
        "@context": ODRL,
        "@type": "Agreement",
        "uid": "http://example.com/policy:5555",
        "conflict": "perm",
        "permission": [
            {
                "target": "http://example.com/photoAlbum:55",
                "action": "use",
                "assigner": "http://example.com/MyPix:55",
                "assignee": "http://example.com/assignee:55",
            }
        ],
    }
    assert Policy.from_odrl(document).conflict is Conflict.PERM


@pytest.mark.parametrize(
    ("duty", "hint"),
    [
        ("attribute", "publishes a result"),
        ("acceptTracking", "tds:log"),
        ("inform", "tds:notify"),
        ("nextPolicy", "one policy per agreement"),
        ("reviewPolicy", "one policy per agreement"),
        ("watermark", "never hands the asset out"),
        ("ensureExclusivity", "never hands the asset out"),
        ("install", "never hands the asset out"),
        ("uninstall", "never hands the asset out"),
        ("include", "never hands the asset out"),
    ],
)
@pytest.mark.parametrize("spelling", ["{}", "odrl:{}", f"{ODRL_NS}{{}}", "@id"])
def test_odrl_duties_tds_cannot_check_are_refused_with_a_reason(duty, hint, spelling):
    action = {"@id": f"odrl:{duty}"} if spelling == "@id" else spelling.format(duty)
    with pytest.raises(PolicySyntaxError, match=hint) as caught:
        Policy.from_odrl(policy_with(duty=[{"action": action}]))
    assert caught.value.path == "permission[0].duty[0].action"
