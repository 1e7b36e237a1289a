"""Evaluation without usage state: every operand and operator, rules, prohibitions, duties."""

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tds.errors import PolicyEvaluationError, UsageDeniedError
from tds.policy import (
    Action,
    BoundingBox,
    Constraint,
    Decision,
    Duty,
    DutyAction,
    InMemoryUsageState,
    LeftOperand,
    LogicalConstraint,
    Operator,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
    Request,
    evaluate,
)

TARGET = "urn:ds:visits"
ALICE = "urn:party:alice"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))


def permit_only(*constraints, action=Action.USE, duties=(), refinements=()) -> Policy:
    return Policy(
        uid="urn:policy:test",
        target=TARGET,
        permissions=(
            Permission(
                action=action, constraints=constraints, refinements=refinements, duties=duties
            ),
        ),
    )


def request(**fields) -> Request:
    values = {"assignee": ALICE, "action": Action.AGGREGATE, "target": TARGET, "time": T0}
    values.update(fields)
    return Request(**values)


BOX = BoundingBox(120.0, 30.0, 123.0, 32.0)

# (constraint, request fields, verdict): True = satisfied, False = not, None = cannot be checked.
CASES = [
    # purpose: identifiers with a "/" hierarchy
    (("purpose", "eq", "research"), {"purpose": "research"}, True),
    (("purpose", "eq", "research"), {"purpose": "marketing"}, False),
    (("purpose", "neq", "marketing"), {"purpose": "research"}, True),
    (("purpose", "neq", "marketing"), {"purpose": "marketing"}, False),
    (("purpose", "isA", "medical-research"), {"purpose": "medical-research"}, True),
    (("purpose", "isA", "medical-research"), {"purpose": "medical-research/oncology"}, True),
    (("purpose", "isA", "medical-research"), {"purpose": "medical-researchers"}, False),
    (("purpose", "isA", "medical-research/oncology"), {"purpose": "medical-research"}, False),
    (("purpose", "isAnyOf", ["a", "b"]), {"purpose": "b"}, True),
    (("purpose", "isAnyOf", ["a", "b"]), {"purpose": "a/x"}, False),
    (("purpose", "isNoneOf", ["marketing"]), {"purpose": "research"}, True),
    (("purpose", "isNoneOf", ["marketing"]), {"purpose": "marketing"}, False),
    (("purpose", "eq", "research"), {}, None),
    # recipient
    (("recipient", "eq", "urn:party:alice"), {"recipient": "urn:party:alice"}, True),
    (("recipient", "eq", "urn:party:alice"), {"recipient": "urn:party:eve"}, False),
    (("recipient", "neq", "urn:party:eve"), {"recipient": "urn:party:alice"}, True),
    (("recipient", "neq", "urn:party:eve"), {"recipient": "urn:party:eve"}, False),
    (("recipient", "isAnyOf", ["urn:a", "urn:b"]), {"recipient": "urn:a"}, True),
    (("recipient", "isAnyOf", ["urn:a", "urn:b"]), {"recipient": "urn:c"}, False),
    (("recipient", "isNoneOf", ["urn:eve"]), {"recipient": "urn:a"}, True),
    (("recipient", "isNoneOf", ["urn:eve"]), {"recipient": "urn:eve"}, False),
    (("recipient", "isNoneOf", ["urn:eve"]), {}, None),
    # dateTime: boundary instants and time zones
    (("dateTime", "lt", T0), {"time": T0}, False),
    (("dateTime", "lt", T0), {"time": T0 - timedelta(microseconds=1)}, True),
    (("dateTime", "lteq", T0), {"time": T0}, True),
    (("dateTime", "lteq", T0), {"time": T0 + timedelta(microseconds=1)}, False),
    (("dateTime", "gt", T0), {"time": T0}, False),
    (("dateTime", "gt", T0), {"time": T0 + timedelta(seconds=1)}, True),
    (("dateTime", "gteq", T0), {"time": T0}, True),
    (("dateTime", "gteq", T0), {"time": T0 - timedelta(seconds=1)}, False),
    (("dateTime", "eq", T0), {"time": T0.astimezone(CST)}, True),  # same instant, other zone
    (("dateTime", "eq", T0), {"time": T0.replace(tzinfo=CST)}, False),  # same wall clock
    (("dateTime", "neq", T0), {"time": T0 + timedelta(hours=1)}, True),
    (("dateTime", "neq", T0), {"time": T0}, False),
    (("dateTime", "lt", T0.astimezone(CST)), {"time": T0 - timedelta(seconds=1)}, True),
    # operation: the request's action, with use as the parent of all actions
    (("operation", "eq", "aggregate"), {"action": "aggregate"}, True),
    (("operation", "eq", "aggregate"), {"action": "join-sum"}, False),
    (("operation", "neq", "read"), {"action": "aggregate"}, True),
    (("operation", "neq", "read"), {"action": "read"}, False),
    (("operation", "isA", "use"), {"action": "cardinality"}, True),
    (("operation", "isA", "join"), {"action": "join-sum"}, False),
    (("operation", "isA", "join-sum"), {"action": "join-sum"}, True),
    (("operation", "isAnyOf", ["aggregate", "join-sum"]), {"action": "join-sum"}, True),
    (("operation", "isAnyOf", ["aggregate", "join-sum"]), {"action": "join"}, False),
    (("operation", "isNoneOf", ["read", "join"]), {"action": "aggregate"}, True),
    (("operation", "isNoneOf", ["read", "join"]), {"action": "read"}, False),
    # column: the request's set of columns
    (("column", "isPartOf", ["age", "icd10", "sex"]), {"columns": ["age", "sex"]}, True),
    (("column", "isPartOf", ["age", "icd10", "sex"]), {"columns": ["age", "name"]}, False),
    (("column", "isPartOf", ["age"]), {"columns": []}, True),
    (("column", "isPartOf", ["age"]), {}, None),
    (("column", "hasPart", ["patient_id"]), {"columns": ["patient_id", "age"]}, True),
    (("column", "hasPart", ["patient_id"]), {"columns": ["age"]}, False),
    (("column", "isAllOf", ["a", "b"]), {"columns": ["a", "b", "c"]}, True),
    (("column", "isAllOf", ["a", "b"]), {"columns": ["a"]}, False),
    (("column", "isAnyOf", ["name", "phone"]), {"columns": ["age", "phone"]}, True),
    (("column", "isAnyOf", ["name", "phone"]), {"columns": []}, False),
    (("column", "isNoneOf", ["name", "phone"]), {"columns": ["age"]}, True),
    (("column", "isNoneOf", ["name", "phone"]), {"columns": ["age", "name"]}, False),
    (("column", "isNoneOf", ["name"]), {"columns": []}, True),
    # minCohort: the smallest group behind any released value
    (("minCohort", "gteq", 10), {"cohort_size": 10}, True),
    (("minCohort", "gteq", 10), {"cohort_size": 9}, False),
    (("minCohort", "gt", 10), {"cohort_size": 11}, True),
    (("minCohort", "gt", 10), {"cohort_size": 10}, False),
    (("minCohort", "lt", 10), {"cohort_size": 9}, True),
    (("minCohort", "lt", 10), {"cohort_size": 10}, False),
    (("minCohort", "lteq", 10), {"cohort_size": 10}, True),
    (("minCohort", "lteq", 10), {"cohort_size": 11}, False),
    (("minCohort", "eq", 1), {"cohort_size": 1}, True),
    (("minCohort", "eq", 1), {"cohort_size": 0}, False),
    (("minCohort", "neq", 1), {"cohort_size": 2}, True),
    (("minCohort", "neq", 1), {"cohort_size": 1}, False),
    (("minCohort", "gteq", 10), {}, None),
    # peerSetSize: the keys the other party brings to a secure join
    (("peerSetSize", "gteq", 1000), {"peer_set_size": 1000}, True),
    (("peerSetSize", "gteq", 1000), {"peer_set_size": 999}, False),
    (("peerSetSize", "gt", 1000), {"peer_set_size": 1001}, True),
    (("peerSetSize", "gt", 1000), {"peer_set_size": 1000}, False),
    (("peerSetSize", "lt", 5), {"peer_set_size": 4}, True),
    (("peerSetSize", "lt", 5), {"peer_set_size": 5}, False),
    (("peerSetSize", "lteq", 5), {"peer_set_size": 5}, True),
    (("peerSetSize", "lteq", 5), {"peer_set_size": 6}, False),
    (("peerSetSize", "eq", 3), {"peer_set_size": 3}, True),
    (("peerSetSize", "eq", 3), {"peer_set_size": 2}, False),
    (("peerSetSize", "neq", 3), {"peer_set_size": 2}, True),
    (("peerSetSize", "neq", 3), {"peer_set_size": 3}, False),
    (("peerSetSize", "gteq", 1000), {}, None),
    # spatial: inside a bounding box, edges included
    (("spatial", "isPartOf", BOX), {"location": (31.0, 121.0)}, True),
    (("spatial", "isPartOf", BOX), {"location": (32.0, 123.0)}, True),
    (("spatial", "isPartOf", BOX), {"location": (33.0, 121.0)}, False),
    (("spatial", "isPartOf", BoundingBox(170, -10, -170, 10)), {"location": (0, -179)}, True),
    (("spatial", "isPartOf", BOX), {}, None),
    # spatial over an area: inside when all of it is; partly inside is not known
    (("spatial", "isPartOf", BOX), {"location": BoundingBox(121, 30.5, 122, 31.5)}, True),
    (("spatial", "isPartOf", BOX), {"location": BOX}, True),
    (("spatial", "isPartOf", BOX), {"location": BoundingBox(124, 30.5, 125, 31.5)}, False),
    # classification: grading levels
    (("classification", "lteq", 2), {"classification": 2}, True),
    (("classification", "lteq", 2), {"classification": 3}, False),
    (("classification", "lt", 2), {"classification": 1}, True),
    (("classification", "lt", 2), {"classification": 2}, False),
    (("classification", "gt", 2), {"classification": 3}, True),
    (("classification", "gt", 2), {"classification": 2}, False),
    (("classification", "gteq", 2), {"classification": 2}, True),
    (("classification", "gteq", 2), {"classification": 1}, False),
    (("classification", "eq", 1), {"classification": 1}, True),
    (("classification", "eq", 1), {"classification": 2}, False),
    (("classification", "neq", 1), {"classification": 1}, False),
    (("classification", "neq", 1), {"classification": 0}, True),
    (("classification", "isAnyOf", [1, 2]), {"classification": 2}, True),
    (("classification", "isAnyOf", [1, 2]), {"classification": 3}, False),
    (("classification", "isNoneOf", [4]), {"classification": 3}, True),
    (("classification", "isNoneOf", [4]), {"classification": 4}, False),
    (("classification", "lteq", 2), {}, None),
    # residency: regions with a "/" hierarchy
    (("residency", "eq", "CN"), {"residency": "CN"}, True),
    (("residency", "eq", "CN"), {"residency": "CN/ZJ"}, False),
    (("residency", "neq", "US"), {"residency": "CN"}, True),
    (("residency", "neq", "US"), {"residency": "US"}, False),
    (("residency", "isPartOf", "CN"), {"residency": "CN/ZJ/Hangzhou"}, True),
    (("residency", "isPartOf", "CN"), {"residency": "CNX"}, False),
    (("residency", "isAnyOf", ["CN", "SG"]), {"residency": "SG"}, True),
    (("residency", "isAnyOf", ["CN", "SG"]), {"residency": "US"}, False),
    (("residency", "isNoneOf", ["US"]), {"residency": "CN"}, True),
    (("residency", "isNoneOf", ["US"]), {"residency": "US"}, False),
    (("residency", "isPartOf", "CN"), {}, None),
    # dataAge: the age of the newest record read, at the time of use
    (("dataAge", "gteq", "P30D"), {"data_time": T0 - timedelta(days=30)}, True),
    (
        ("dataAge", "gteq", "P30D"),
        {"data_time": T0 - timedelta(days=30) + timedelta(seconds=1)},
        False,
    ),
    (("dataAge", "gt", "P30D"), {"data_time": T0 - timedelta(days=30)}, False),
    (("dataAge", "gt", "P30D"), {"data_time": T0 - timedelta(days=31)}, True),
    (("dataAge", "lteq", "PT1H"), {"data_time": T0 - timedelta(hours=1)}, True),
    (("dataAge", "lteq", "PT1H"), {"data_time": T0 - timedelta(hours=2)}, False),
    (("dataAge", "lt", "PT1H"), {"data_time": T0 - timedelta(hours=1)}, False),
    (("dataAge", "lt", "PT1H"), {"data_time": T0 - timedelta(minutes=59)}, True),
    (("dataAge", "eq", "P1D"), {"data_time": T0 - timedelta(hours=23)}, False),
    (("dataAge", "neq", "P1D"), {"data_time": T0 - timedelta(hours=23)}, True),
    (("dataAge", "eq", "P1D"), {"data_time": (T0 - timedelta(days=1)).astimezone(CST)}, True),
    (("dataAge", "neq", "P1D"), {"data_time": T0 - timedelta(days=1)}, False),
    (("dataAge", "gteq", "P30D"), {}, None),
]


@pytest.mark.parametrize(("constraint", "fields", "verdict"), CASES)
def test_operand_and_operator(constraint, fields, verdict):
    decision = evaluate(permit_only(Constraint(*constraint)), request(**fields))
    (result,) = decision.rules[0].constraints
    assert result.satisfied is verdict
    assert result.left_operand == constraint[0] and result.operator == constraint[1]
    assert decision.permitted is (verdict is True)
    assert result.path == "permission[0].constraint[0]"
    if verdict is True:
        assert decision.reasons == ()
    else:
        assert decision.reasons == (f"permission 1 (use), constraint 1: {result.reason}",)
    if verdict is None:
        assert result.reason.startswith("cannot check that ")
        assert "the request gives no" in result.reason


STATELESS = {o for o in LeftOperand if not o.spec.stateful and o is not LeftOperand.ELAPSED_TIME}


def test_the_table_covers_every_stateless_operand_and_operator_both_ways():
    verdicts: dict[tuple[str, str], set] = {}
    for (operand, operator, _), _, verdict in CASES:
        verdicts.setdefault((operand, operator), set()).add(verdict)
    for operand in STATELESS:
        for operator in operand.spec.operators:
            assert verdicts.get((operand, operator), set()) >= {True, False}, (operand, operator)
        if operand not in (LeftOperand.DATE_TIME, LeftOperand.OPERATION):  # always in a request
            assert any(None in v for (o, _), v in verdicts.items() if o == operand), operand
    assert {operator for _, operator in verdicts} == set(Operator)


# -- logical constraints --------------------------------------------------------------------------

YES = Constraint("purpose", "eq", "research")
NO = Constraint("minCohort", "gteq", 100)
UNKNOWN = Constraint("recipient", "eq", "urn:party:bob")


@pytest.mark.parametrize(
    ("operator", "parts", "verdict"),
    [
        ("and", [YES, YES], True),
        ("and", [YES, NO], False),
        ("and", [YES, UNKNOWN], None),
        ("and", [NO, UNKNOWN], False),
        ("or", [NO, YES], True),
        ("or", [NO, NO], False),
        ("or", [NO, UNKNOWN], None),
        ("or", [YES, UNKNOWN], True),
        ("xone", [YES, NO], True),
        ("xone", [YES, YES], False),
        ("xone", [NO, NO], False),
        ("xone", [YES, UNKNOWN], None),
        ("xone", [YES, YES, UNKNOWN], False),
        ("and", [LogicalConstraint("or", (NO, YES)), LogicalConstraint("xone", (YES, NO))], True),
        ("or", [LogicalConstraint("and", (YES, NO)), LogicalConstraint("xone", (YES, YES))], False),
    ],
)
def test_logical_constraints(operator, parts, verdict):
    policy = permit_only(LogicalConstraint(operator, tuple(parts)))
    decision = evaluate(policy, request(purpose="research", cohort_size=20))
    (result,) = decision.rules[0].constraints
    assert result.satisfied is verdict
    assert len(result.operands) == len(parts)
    assert decision.permitted is (verdict is True)


def test_logical_failure_reasons_name_each_failed_part():
    policy = permit_only(LogicalConstraint("or", (NO, Constraint("purpose", "eq", "audit"))))
    decision = evaluate(policy, request(purpose="research", cohort_size=20))
    (reason,) = decision.reasons
    assert reason == (
        "permission 1 (use), constraint 1: none of these holds: "
        "the smallest cohort 20 is not at least 100; the purpose 'research' is not equal to 'audit'"
    )
    parts = decision.rules[0].constraints[0].operands
    assert [part.path for part in parts] == [
        "permission[0].constraint[0].or[0]",
        "permission[0].constraint[0].or[1]",
    ]


def test_xone_reason_says_how_many_hold():
    decision = evaluate(
        permit_only(LogicalConstraint("xone", (YES, YES))), request(purpose="research")
    )
    assert "only one of these may hold, but 2 do" in decision.reasons[0]


# -- which rules apply ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_action", "requested", "applies"),
    # ODRL 2.2: everything is included in use but transfer and the two ways to transfer.
    [
        (Action.USE, action, action not in {Action.TRANSFER, Action.GIVE, Action.SELL})
        for action in Action
    ]
    + [
        (Action.TRANSFER, Action.SELL, True),
        (Action.TRANSFER, Action.READ, False),
        (Action.DERIVE, Action.JOIN, True),
        (Action.DERIVE, Action.READ, False),
        (Action.DISTRIBUTE, Action.JOIN_SUM, False),
        (Action.ODRL_AGGREGATE, Action.AGGREGATE, False),
        (Action.AGGREGATE, Action.AGGREGATE, True),
        (Action.AGGREGATE, Action.READ, False),
        (Action.JOIN, Action.JOIN_SUM, False),
        (Action.JOIN_SUM, Action.JOIN, False),
        (Action.CARDINALITY, Action.JOIN, False),
        (Action.READ, Action.USE, False),
    ],
)
def test_a_rule_governs_its_action_and_the_actions_under_it(rule_action, requested, applies):
    decision = evaluate(permit_only(action=rule_action), request(action=requested))
    assert decision.permitted is applies
    assert decision.rules[0].applies is applies
    if not applies:
        expected = f"permission 1 is for {rule_action}, which does not include {requested}"
        assert decision.reasons[1] == expected


def test_other_targets_and_assignees_are_not_covered():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        assignee=ALICE,
        permissions=(Permission(action=Action.USE),),
    )
    assert evaluate(policy, request()).permitted
    other_target = evaluate(policy, request(target="urn:ds:claims"))
    other_assignee = evaluate(policy, request(assignee="urn:party:eve"))
    assert not other_target.permitted and not other_assignee.permitted
    assert other_target.reasons[1] == "permission 1 is for target urn:ds:visits, not urn:ds:claims"
    assert other_assignee.reasons[1] == (
        "permission 1 is assigned to urn:party:alice, not urn:party:eve"
    )


def test_a_rule_level_target_overrides_the_policy_level_one():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE, target="urn:ds:claims"),),
    )
    assert evaluate(policy, request(target="urn:ds:claims")).permitted
    assert not evaluate(policy, request(target=TARGET)).permitted


def test_deny_by_default():
    policy = Policy(uid="urn:p", target=TARGET, prohibitions=(Prohibition(action=Action.READ),))
    decision = evaluate(policy, request(action="aggregate"))
    assert not decision.permitted
    assert decision.reasons == ("the policy has no permission, so aggregate is denied by default",)


def test_the_first_permission_that_grants_is_the_one_exercised():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(
            Permission(action=Action.USE, constraints=(NO,), duties=(Duty(action="notify"),)),
            Permission(action=Action.AGGREGATE, duties=(Duty(action="log"),), uid="urn:rule:agg"),
            Permission(action=Action.USE, duties=(Duty(action="anonymize"),)),
        ),
    )
    decision = evaluate(policy, request(cohort_size=5))
    assert decision.permitted and decision.permission == "urn:rule:agg"
    assert [duty.action for duty in decision.duties] == [DutyAction.LOG]
    assert [rule.active for rule in decision.rules] == [False, True, True]


# -- prohibitions ---------------------------------------------------------------------------------


def test_prohibition_beats_permission():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE),),
        prohibitions=(Prohibition(action=Action.READ),),
    )
    assert evaluate(policy, request(action="aggregate")).permitted
    decision = evaluate(policy, request(action="read"))
    assert not decision.permitted
    assert decision.reasons == ("prohibition 1 forbids read on urn:ds:visits",)
    assert decision.duties == ()


@pytest.mark.parametrize("prohibited", [Action.READ, Action.JOIN])
def test_a_request_for_use_is_forbidden_by_a_prohibition_of_any_action_it_may_perform(prohibited):
    # A request for use does not say which action it performs, so it may be the prohibited one.
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE),),
        prohibitions=(Prohibition(action=prohibited),),
    )
    decision = evaluate(policy, request(action="use"))
    assert not decision.permitted
    assert decision.reasons == (f"prohibition 1 forbids {prohibited} on urn:ds:visits",)


@pytest.mark.parametrize(
    ("constraint", "verdict"),
    [
        (("operation", "neq", "read"), None),
        (("operation", "isNoneOf", ["read", "join"]), None),
        (("operation", "eq", "aggregate"), None),
        (("operation", "isA", "use"), True),
    ],
)
def test_an_operation_constraint_on_a_request_for_use_holds_only_if_it_would_for_any_action(
    constraint, verdict
):
    decision = evaluate(permit_only(Constraint(*constraint)), request(action="use"))
    (result,) = decision.rules[0].constraints
    assert result.satisfied is verdict
    assert decision.permitted is (verdict is True)
    if verdict is None:
        assert "does not say which operation it performs" in result.reason
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE),),
        prohibitions=(Prohibition(action=Action.USE, constraints=(Constraint(*constraint),)),),
    )
    assert not evaluate(policy, request(action="use")).permitted


@pytest.mark.parametrize(
    ("fields", "permitted"),
    [
        ({"recipient": "urn:party:competitor"}, False),
        ({"recipient": "urn:party:alice"}, True),
        ({}, False),  # the prohibition cannot be shown not to apply
    ],
)
def test_a_conditional_prohibition_applies_unless_shown_not_to(fields, permitted):
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE),),
        prohibitions=(
            Prohibition(
                action=Action.USE,
                constraints=(Constraint("recipient", "eq", "urn:party:competitor"),),
            ),
        ),
    )
    decision = evaluate(policy, request(**fields))
    assert decision.permitted is permitted
    prohibition = next(rule for rule in decision.rules if rule.kind == "prohibition")
    assert prohibition.active is not permitted
    if not permitted:
        assert decision.reasons[0].startswith("prohibition 1 forbids use on urn:ds:visits")


def test_a_prohibition_with_a_refined_action_only_forbids_the_refined_use():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE),),
        prohibitions=(
            Prohibition(
                action=Action.AGGREGATE,
                refinements=(Constraint("column", "isAnyOf", ["name", "phone"]),),
            ),
        ),
    )
    assert evaluate(policy, request(columns=["age"])).permitted
    decision = evaluate(policy, request(columns=["age", "phone"]))
    assert not decision.permitted
    assert decision.reasons[0] == (
        "prohibition 1 forbids aggregate on urn:ds:visits when "
        "the columns ['age', 'phone'] include one of ['name', 'phone']"
    )
    assert decision.rules[1].constraints[0].path == "prohibition[0].action.refinement[0]"


def test_a_prohibition_for_another_assignee_does_not_apply():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE),),
        prohibitions=(Prohibition(action=Action.USE, assignee="urn:party:eve"),),
    )
    assert evaluate(policy, request()).permitted
    assert not evaluate(policy, request(assignee="urn:party:eve")).permitted


# -- refinements and duties -----------------------------------------------------------------------


def test_action_refinements_must_hold_like_constraints():
    policy = permit_only(refinements=(Constraint("column", "isPartOf", ["age", "sex"]),))
    assert evaluate(policy, request(columns=["age"])).permitted
    decision = evaluate(policy, request(columns=["age", "name"]))
    assert not decision.permitted
    assert decision.rules[0].constraints[0].path == "permission[0].action.refinement[0]"


def test_duties_performed_with_the_use_are_returned_with_the_permit():
    delete = Duty(
        action="delete", refinements=(Constraint("elapsedTime", "lteq", "P30D"),), uid="urn:d"
    )
    notify = Duty(
        action="notify",
        refinements=(Constraint("recipient", "eq", "urn:party:hospital"),),
        consequences=(Duty(action="log"),),
    )
    duties = (Duty(action="log"), Duty(action="addNoise"), Duty(action="anonymize"), delete, notify)
    decision = evaluate(permit_only(duties=duties), request())
    assert decision.permitted
    assert decision.duties == duties
    assert decision.duties[3].refinements[0].right_operand.after(T0) == T0 + timedelta(days=30)
    assert all(d.owed and not d.prior and d.fulfilled is None for d in decision.rules[0].duties)


def test_duties_are_not_returned_with_a_denial():
    decision = evaluate(permit_only(NO, duties=(Duty(action="log"),)), request(cohort_size=1))
    assert not decision.permitted and decision.duties == ()


@pytest.mark.parametrize(
    ("fields", "owed"),
    [({"classification": 3}, True), ({"classification": 1}, False), ({}, True)],
)
def test_a_conditional_duty_is_owed_when_its_condition_holds_or_cannot_be_checked(fields, owed):
    notify = Duty(action="notify", constraints=(Constraint("classification", "gteq", 3),))
    decision = evaluate(permit_only(duties=(notify,)), request(**fields))
    assert decision.permitted
    assert (decision.duties == (notify,)) is owed
    assert decision.rules[0].duties[0].owed is owed


def test_a_prior_duty_without_usage_state_blocks_the_permission():
    consent = Duty(action=DutyAction.OBTAIN_CONSENT, uid="urn:consent")
    decision = evaluate(permit_only(duties=(consent,)), request())
    assert not decision.permitted
    assert decision.reasons == (
        "permission 1 (use), duty 1: obtainConsent (urn:consent) must precede the use; no usage "
        "state was given to show it did",
    )


# -- the decision object --------------------------------------------------------------------------


def test_decision_report_is_json_serializable_and_complete():
    policy = Policy(
        uid="urn:p",
        type=PolicyType.OFFER,
        assigner="urn:party:hospital",
        target=TARGET,
        permissions=(
            Permission(action=Action.AGGREGATE, constraints=(YES,), duties=(Duty(action="log"),)),
        ),
        prohibitions=(Prohibition(action=Action.READ),),
    )
    report = evaluate(policy, request(purpose="research")).to_dict()
    assert json.loads(json.dumps(report)) == json.loads(json.dumps(report, default=str))
    assert report["permitted"] is True
    assert report["policy"] == policy.content_hash
    assert report["duties"] == [{"action": "log"}]
    assert [(r["path"], r["applies"], r["active"]) for r in report["rules"]] == [
        ("permission[0]", True, True),
        ("prohibition[0]", False, False),
    ]
    assert report["rules"][0]["constraints"][0]["satisfied"] is True


def test_raise_for_denial_carries_the_decision():
    denied = evaluate(permit_only(NO), request(cohort_size=3))
    with pytest.raises(UsageDeniedError, match="smallest cohort 3 is not at least 100") as caught:
        denied.raise_for_denial()
    assert caught.value.decision is denied
    evaluate(permit_only(), request()).raise_for_denial()  # permitted: no exception


# -- requests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"time": datetime(2026, 1, 1)},  # naive
        {"data_time": datetime(2026, 1, 1)},
        {"action": "download"},
        {"assignee": ""},
        {"columns": "age,sex"},
        {"columns": ["age", 3]},
        {"cohort_size": -1},
        {"cohort_size": True},
        {"classification": 1.5},
        {"epsilon": -0.5},
        {"epsilon": "1e9999999"},
        {"location": (91.0, 0.0)},
        {"location": (0.0, 181.0)},
        {"location": (1.0,)},
        {"location": (float("nan"), 0.0)},
    ],
)
def test_malformed_requests_are_rejected(fields):
    with pytest.raises(PolicyEvaluationError):
        request(**fields)


def test_request_time_defaults_to_now_in_utc():
    before = datetime.now(UTC)
    made = Request(assignee=ALICE, action="read", target=TARGET)
    assert before <= made.time <= datetime.now(UTC)


def test_evaluate_rejects_arguments_of_the_wrong_type():
    with pytest.raises(PolicyEvaluationError):
        evaluate(permit_only().to_odrl(), request())  # type: ignore[arg-type]
    with pytest.raises(PolicyEvaluationError):
        evaluate(permit_only(), {"assignee": ALICE})  # type: ignore[arg-type]
    with pytest.raises(PolicyEvaluationError):
        evaluate(permit_only(), request(), state={})  # type: ignore[arg-type]


# -- reasons read in words ------------------------------------------------------------------------

# What end users must not have to decode: paths such as permission[0], str(timedelta) such as
# "10 days, 0:00:00.000031", "+00:00" offsets, ISO durations, and ODRL operator names.
JARGON = re.compile(
    r"\w\[\d+\]|\d+ days?, \d+:\d\d|\d:\d\d:\d\d\.\d+(?![\dZ])|\+00:00|\bPT?\d|"
    r"\b(?:eq|neq|gt|gteq|lt|lteq|isA|hasPart|isPartOf|isAllOf|isAnyOf|isNoneOf|xone)\b"
)
IN_A_YEAR = Constraint("elapsedTime", "lteq", "P1Y")


def agreed(policy: Policy, at: datetime = T0) -> InMemoryUsageState:
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, at)
    return state


def denials() -> list[Decision]:
    """Denied decisions of every kind: each operand and operator, logic, duties, rule matching."""
    decisions = [
        evaluate(permit_only(Constraint(*constraint)), request(**fields))
        for constraint, fields, verdict in CASES
        if verdict is not True
    ]
    year = permit_only(IN_A_YEAR, Constraint("count", "lteq", 0), Constraint("rate", "lt", "1/P1D"))
    decisions.append(evaluate(year, request(time=T0 + timedelta(days=400)), agreed(year)))
    decisions.append(evaluate(year, request(time=T0 - timedelta(seconds=1)), agreed(year)))
    decisions.append(evaluate(year, request()))
    for operator in ("and", "or", "xone"):
        for parts in ((NO, NO), (YES, YES), (NO, Constraint("purpose", "eq", "x"))):
            logic = LogicalConstraint(operator, (LogicalConstraint("or", parts), NO))
            decisions.append(evaluate(permit_only(logic), request(purpose="research")))
            decisions.append(evaluate(permit_only(logic), request()))
    consent = Duty(action=DutyAction.OBTAIN_CONSENT)
    decisions.append(evaluate(permit_only(duties=(consent,)), request(), InMemoryUsageState()))
    decisions.append(evaluate(permit_only(duties=(consent,)), request()))
    decisions.append(evaluate(permit_only(action="read"), request(target="urn:ds:claims")))
    prohibited = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action="use"),),
        prohibitions=(
            Prohibition(
                action="read", constraints=(Constraint("dateTime", "gt", date(2026, 1, 1)),)
            ),
            Prohibition(action="use", constraints=(Constraint("purpose", "isA", "marketing"),)),
        ),
    )
    decisions.append(evaluate(prohibited, request(action="read")))
    decisions.append(evaluate(prohibited, request(action="read", purpose="marketing/email")))
    return [decision for decision in decisions if not decision.permitted]


def test_no_reason_shows_paths_timedeltas_offsets_or_operator_names():
    decisions = denials()
    assert len(decisions) > 70
    reasons = [reason for decision in decisions for reason in decision.reasons]
    jargon = [reason for reason in reasons if JARGON.search(reason)]
    assert not jargon


def test_reasons_name_rules_in_words_and_the_report_keeps_their_paths():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(
            Permission(action="read"),
            Permission(action="use", uid="urn:rule:research", constraints=(YES, NO)),
        ),
        prohibitions=(Prohibition(action="join", uid="urn:rule:no-join"),),
    )
    decision = evaluate(policy, request(action="aggregate", purpose="research", cohort_size=8))
    assert decision.reasons == (
        "permission 2 'urn:rule:research' (use), constraint 2: the smallest cohort 8 is not at "
        "least 100",
    )
    research = decision.rules[1]
    assert (research.path, research.id) == ("permission[1]", "urn:rule:research")
    assert research.constraints[1].path == "permission[1].constraint[1]"
    assert research.constraints[1].reason == "the smallest cohort 8 is not at least 100"
    joined = evaluate(policy, request(action="join"))
    assert joined.reasons[0] == "prohibition 1 'urn:rule:no-join' forbids join on urn:ds:visits"
    assert joined.rules[2].path == "prohibition[0]"


@pytest.mark.parametrize(
    ("after", "reason"),
    [
        # A fraction of a second that cannot matter is not shown ...
        (
            timedelta(days=10, microseconds=31),
            "the time since the agreement (10 days) is at most 1 year",
        ),
        (
            timedelta(days=400, hours=3, minutes=2, seconds=1, microseconds=5),
            "the time since the agreement (400 days 3 hours 2 minutes 1 second) is not at most "
            "1 year",
        ),
        # ... one that decides the outcome is.
        (
            timedelta(days=365, microseconds=1),
            "the time since the agreement (365 days 0.000001 seconds) is not at most 1 year",
        ),
        (timedelta(0), "the time since the agreement (0 seconds) is at most 1 year"),
    ],
)
def test_elapsed_time_reads_in_words(after, reason):
    policy = permit_only(IN_A_YEAR)
    decision = evaluate(policy, request(time=T0 + after), agreed(policy))
    assert decision.rules[0].constraints[0].reason == reason


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        ("P1Y2M3DT4H5M6.5S", "1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds"),
        ("P2W", "14 days"),
        ("PT1S", "1 second"),
        ("PT0S", "0 seconds"),
        ("P25M", "2 years 1 month"),
    ],
)
def test_durations_read_in_words(duration, words):
    policy = permit_only(Constraint("dataAge", "gteq", duration))
    decision = evaluate(policy, request(data_time=T0))
    assert decision.rules[0].constraints[0].reason.endswith(f" at least {words}")


@pytest.mark.parametrize(
    ("time", "bound", "reason"),
    [
        (
            T0 + timedelta(microseconds=123456),
            datetime(2027, 1, 1, tzinfo=UTC),
            "the use time 2026-03-01T12:00:00Z is before 2027-01-01T00:00:00Z",
        ),
        (
            (T0 + timedelta(seconds=1, microseconds=5)).astimezone(CST),
            T0 + timedelta(seconds=1),
            "the use time 2026-03-01T12:00:01.000005Z is not before 2026-03-01T12:00:01Z",
        ),
        (
            datetime(2027, 1, 1, 0, 0, 0, 200000, tzinfo=UTC),
            date(2026, 12, 31),
            "the use time 2027-01-01T00:00:00.200000Z is not before 2026-12-31 (UTC)",
        ),
        (
            datetime(2026, 12, 31, 12, 0, 0, 200000, tzinfo=UTC),
            date(2027, 12, 31),
            "the use time 2026-12-31T12:00:00Z is before 2027-12-31 (UTC)",
        ),
    ],
)
def test_instants_read_in_utc_to_the_second_unless_a_fraction_decides(time, bound, reason):
    decision = evaluate(permit_only(Constraint("dateTime", "lt", bound)), request(time=time))
    assert decision.rules[0].constraints[0].reason == reason


def test_a_use_before_the_agreement_says_when_each_happened():
    policy = permit_only(IN_A_YEAR)
    decision = evaluate(policy, request(time=T0 - timedelta(days=2)), agreed(policy))
    assert decision.reasons == (
        "permission 1 (use), constraint 1: cannot check that the time since the agreement is at "
        "most 1 year: the use at 2026-02-27T12:00:00Z precedes the agreement at "
        "2026-03-01T12:00:00Z",
    )


def test_an_area_partly_inside_the_box_is_not_known_to_be_inside():
    decision = evaluate(
        permit_only(Constraint("spatial", "isPartOf", BOX)),
        request(location=BoundingBox(122, 30.5, 124, 31.5)),
    )
    (result,) = decision.rules[0].constraints
    assert result.satisfied is None and not decision.permitted
    assert result.reason.endswith("lies partly inside the box and partly outside")


def test_a_prohibition_on_a_box_applies_to_an_area_reaching_into_it():
    # "Never aggregate in the restricted zone": an area that covers the zone and more must not
    # slip past the prohibition because it is not wholly inside.
    zone = BoundingBox(121.0, 30.5, 121.5, 31.0)
    policy = Policy(
        uid="urn:policy:zone",
        assigner="urn:party:ranch",
        target="urn:ds:observations",
        permissions=(Permission(action=Action.AGGREGATE),),
        prohibitions=(
            Prohibition(
                action=Action.AGGREGATE, constraints=(Constraint("spatial", "isPartOf", zone),)
            ),
        ),
    )

    def decide(area: BoundingBox) -> bool:
        request = Request(
            assignee="urn:party:port",
            action=Action.AGGREGATE,
            target="urn:ds:observations",
            location=area,
        )
        return evaluate(policy, request).permitted

    assert decide(BoundingBox(122.0, 30.0, 123.0, 32.0))  # beside the zone
    assert not decide(BoundingBox(121.1, 30.6, 121.2, 30.7))  # inside it
    assert not decide(BoundingBox(120.0, 30.0, 123.0, 32.0))  # around it
    assert not decide(BoundingBox(121.4, 30.9, 122.0, 31.5))  # across its edge
