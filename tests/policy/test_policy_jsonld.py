"""Policies in the JSON-LD forms other stacks write (Eclipse EDC's management API and catalog,
expanded JSON-LD, prefixed names under any prefix), read through a JSON-LD processor with the
contexts bundled and the network out of reach."""

import socket

import pytest
from hypothesis import given, settings
from pyld import jsonld

from tds.errors import PolicySyntaxError
from tds.policy import (
    Action,
    Collection,
    Conflict,
    Constraint,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
    Request,
    evaluate,
)
from tds.policy._jsonld import _loader
from tds.sectors import healthcare
from tests.policy.test_policy_properties import policies

ODRL = "http://www.w3.org/ns/odrl.jsonld"
TDS = "https://w3id.org/tds/policy.jsonld"
EDC_CONTEXT = {
    "@vocab": "https://w3id.org/edc/v0.0.1/ns/",
    "edc": "https://w3id.org/edc/v0.0.1/ns/",
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "dspace": "https://w3id.org/dspace/v0.8/",
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Reading a policy never opens a socket, whatever context the document names."""

    def refuse(*args, **kwargs):
        raise AssertionError("policy parsing tried to reach the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_an_edc_policy_definition_from_the_management_api_reads() -> None:
    document = {
        "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
        "@type": "PolicyDefinition",
        "@id": "research-only",
        "policy": {
            "@context": ODRL,
            "@type": "Set",
            "target": "urn:ds:visits",
            "permission": [
                {
                    "action": "use",
                    "constraint": {
                        "leftOperand": "purpose",
                        "operator": "eq",
                        "rightOperand": "medical-research",
                    },
                }
            ],
            "prohibition": [],
            "obligation": [],
        },
    }
    policy = Policy.from_odrl(document)
    assert policy == Policy(
        uid="research-only",
        type=PolicyType.SET,
        target="urn:ds:visits",
        conflict=Conflict.INVALID,
        permissions=(
            Permission(
                action=Action.USE,
                constraints=(Constraint("purpose", "eq", "medical-research"),),
            ),
        ),
    )


def test_an_edc_catalog_offer_in_prefixed_form_reads_and_decides() -> None:
    document = {
        "@context": EDC_CONTEXT,
        "@id": "b2ZmZXItMQ==:dmlzaXRz:MQ==",
        "@type": "odrl:Offer",
        "odrl:assigner": {"@id": "urn:party:hospital"},
        "odrl:target": {"@id": "urn:ds:visits"},
        "odrl:permission": {
            "odrl:action": {"@id": "odrl:use"},
            "odrl:constraint": {
                "odrl:leftOperand": {"@id": "odrl:purpose"},
                "odrl:operator": {"@id": "odrl:eq"},
                "odrl:rightOperand": "medical-research",
            },
        },
        "odrl:prohibition": {"odrl:action": {"@id": "odrl:distribute"}},
        "odrl:obligation": [],
    }
    policy = Policy.from_odrl(document)
    assert policy.type is PolicyType.OFFER and policy.assigner == "urn:party:hospital"
    assert policy.prohibitions[0].action is Action.DISTRIBUTE

    def asked(purpose: str) -> Request:
        return Request(
            assignee="urn:party:university",
            action="join-sum",
            target="urn:ds:visits",
            purpose=purpose,
        )

    assert evaluate(policy, asked("medical-research")).permitted
    assert not evaluate(policy, asked("marketing")).permitted


def test_an_edc_property_tds_does_not_know_is_named_by_its_iri() -> None:
    document = {
        "@context": EDC_CONTEXT,
        "@id": "urn:p",
        "@type": "odrl:Set",
        "odrl:target": {"@id": "urn:ds:visits"},
        "odrl:permission": {"odrl:action": {"@id": "odrl:use"}, "priority": 3},
    }
    with pytest.raises(PolicySyntaxError, match=r"https://w3id\.org/edc/v0\.0\.1/ns/priority"):
        Policy.from_odrl(document)


TEMPLATES = [
    healthcare.medical_research(
        uid="urn:policy:visits",
        assigner="urn:party:hospital",
        assignee="urn:party:uni",
        target="urn:ds:visits",
    ),
    Policy(
        uid="urn:policy:space",
        target="urn:ds:catch",
        conflict=Conflict.PERM,
        collections=(
            Collection("urn:space:ocean", "party", "urn:ca:ocean"),
            Collection("urn:ds:all-catch", "asset"),
        ),
        permissions=(Permission(action=Action.DERIVE, assignee="urn:space:ocean"),),
        prohibitions=(
            Prohibition(action=Action.READ, target="urn:ds:all-catch"),
            Prohibition(action=Action.ODRL_AGGREGATE),
            Prohibition(action=Action.SYNCHRONIZE),
        ),
    ),
]


def renamed_prefixes(document: dict) -> dict:
    """``document`` compacted under prefixes named o, t and x instead of odrl, tds and xsd."""
    context = {
        "o": "http://www.w3.org/ns/odrl/2/",
        "t": "https://w3id.org/tds/policy#",
        "x": "http://www.w3.org/2001/XMLSchema#",
    }
    options = {"documentLoader": _loader()}
    return jsonld.compact(jsonld.expand(document, options), context, options)


def expanded(document: dict) -> dict:
    (node,) = jsonld.expand(document, {"documentLoader": _loader()})
    return node


@pytest.mark.parametrize("policy", TEMPLATES, ids=lambda p: p.uid)
@pytest.mark.parametrize("form", [expanded, renamed_prefixes])
def test_every_type_survives_other_json_ld_forms(policy, form) -> None:
    document = form(policy.to_odrl())
    assert Policy.from_odrl(document) == policy


@settings(max_examples=40, deadline=None)
@given(policies())
@pytest.mark.parametrize("form", [expanded, renamed_prefixes])
def test_any_policy_reads_back_equal_from_other_json_ld_forms(form, policy) -> None:
    assert Policy.from_odrl(form(policy.to_odrl())) == policy


def permission_for(action: str, context: object) -> dict:
    document = {
        "@type": "Set",
        "uid": "urn:p",
        "permission": [{"target": "urn:t", "action": action}],
    }
    if context is not None:
        document["@context"] = context
    return document


@pytest.mark.parametrize(
    ("context", "meaning"),
    [
        (None, Action.AGGREGATE),
        ([ODRL, TDS], Action.AGGREGATE),
        (ODRL, Action.ODRL_AGGREGATE),
        ([TDS, ODRL], Action.ODRL_AGGREGATE),
    ],
)
def test_a_bare_aggregate_means_what_the_last_context_defining_it_says(context, meaning) -> None:
    assert Policy.from_odrl(permission_for("aggregate", context)).permissions[0].action is meaning


def test_an_inline_context_may_rename_a_term() -> None:
    context = [ODRL, {"derive-from": "odrl:derive"}]
    policy = Policy.from_odrl(permission_for("derive-from", context))
    assert policy.permissions[0].action is Action.DERIVE


@pytest.mark.parametrize(
    "context", ["https://example.com/context.jsonld", [ODRL, "https://w3id.org/edc/v0.0.1"]]
)
def test_a_context_tds_does_not_bundle_is_refused_without_a_fetch(context) -> None:
    with pytest.raises(PolicySyntaxError, match="never fetches") as caught:
        Policy.from_odrl(permission_for("use", context))
    assert caught.value.path == "@context"


def test_what_json_ld_would_drop_is_refused_with_its_path() -> None:
    document = permission_for("use", ODRL)
    document["permission"][0]["comment"] = "x"
    with pytest.raises(
        PolicySyntaxError, match="property 'comment': no @context defines"
    ) as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "permission[0].comment"


def test_a_term_the_document_maps_to_null_is_refused_too() -> None:
    document = {**permission_for("use", [ODRL, {"note": None}]), "note": "x"}
    with pytest.raises(PolicySyntaxError, match="a property mapped to null"):
        Policy.from_odrl(document)


@pytest.mark.parametrize(
    "document",
    [
        {"@context": {"@version": 2.0}, "@type": "Set", "uid": "urn:p"},
        {"@context": {"odrl": 3}, "@type": "Set", "uid": "urn:p"},
        {"@type": "Set", "uid": "urn:p", "@id": "urn:q"},
        {"@graph": [permission_for("use", None), permission_for("read", None)]},
    ],
)
def test_malformed_json_ld_is_a_policy_syntax_error(document) -> None:
    with pytest.raises(PolicySyntaxError):
        Policy.from_odrl(document)


def test_an_edc_policy_definition_holds_one_policy() -> None:
    document = {
        "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
        "@type": "PolicyDefinition",
        "@id": "two",
        "policy": [permission_for("use", ODRL), permission_for("read", ODRL)],
    }
    with pytest.raises(PolicySyntaxError, match="exactly one policy"):
        Policy.from_odrl(document)


def test_reading_the_same_document_twice_gives_the_same_policy() -> None:
    document = TEMPLATES[1].to_odrl()
    assert Policy.from_odrl(document) is Policy.from_odrl(dict(document))


def test_odrl_spatial_under_the_odrl_context_alone_says_what_to_write() -> None:
    document = permission_for("use", ODRL)
    document["permission"][0]["constraint"] = {
        "leftOperand": "spatial",
        "operator": "isPartOf",
        "rightOperand": {"@value": "120,30,123,32", "@type": "tds:BoundingBox"},
    }
    with pytest.raises(PolicySyntaxError, match="write tds:spatial") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "permission[0].constraint[0].leftOperand"
    document["@context"] = [ODRL, TDS]
    assert Policy.from_odrl(document).permissions[0].constraints[0].left_operand == "spatial"


def flattened(policy: Policy) -> list:
    """``policy`` as RDF tools write JSON-LD: every node at top level, referenced by @id."""
    options = {"documentLoader": _loader()}
    return jsonld.flatten(policy.to_odrl(), None, options)


@pytest.mark.parametrize("policy", TEMPLATES, ids=lambda p: p.uid)
def test_a_flattened_graph_reads_back_equal(policy) -> None:
    nodes = flattened(policy)
    assert len(nodes) > 2
    assert Policy.from_odrl(nodes) == policy


def test_a_graph_of_two_policies_is_refused() -> None:
    both = [policy.to_odrl() for policy in TEMPLATES]
    nodes = jsonld.flatten(both, None, {"documentLoader": _loader()})
    with pytest.raises(PolicySyntaxError, match=r"exactly one policy .* holds 2"):
        Policy.from_odrl({"@graph": nodes})


def test_a_graph_of_no_policy_is_refused() -> None:
    with pytest.raises(PolicySyntaxError, match="holds 0"):
        Policy.from_odrl(
            [
                {"@id": "urn:a", "@type": "odrl:Permission", "odrl:action": {"@id": "odrl:use"}},
                {"@id": "urn:b", "@type": "odrl:Duty", "odrl:action": {"@id": "tds:log"}},
            ]
        )


def test_dublin_core_descriptions_are_read_and_restricting_terms_are_not() -> None:
    document = permission_for("use", ODRL)
    document["dct:title"] = "Visits for research"
    document["permission"][0]["dct:description"] = "Any use of the visits."
    assert Policy.from_odrl(document) == Policy.from_odrl(permission_for("use", ODRL))
    document["dct:valid"] = "2026-01-01/2026-12-31"
    with pytest.raises(PolicySyntaxError, match="unknown property 'dct:valid'"):
        Policy.from_odrl(document)
