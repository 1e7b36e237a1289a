"""Building policies in Python: the same profile checks as JSON-LD, canonical values."""

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tds.errors import PolicyEvaluationError, PolicySyntaxError
from tds.policy import (
    Action,
    BoundingBox,
    Constraint,
    Duration,
    Duty,
    DutyAction,
    Enforcer,
    LeftOperand,
    LogicalConstraint,
    Operator,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
    Rate,
)
from tds.policy._model import MAX_NESTING

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("minCohort", "gteq", 10), (LeftOperand.MIN_COHORT, Operator.GTEQ, 10)),
        (("tds:minCohort", "odrl:gteq", 10), (LeftOperand.MIN_COHORT, Operator.GTEQ, 10)),
        (
            (LeftOperand.COLUMN, Operator.IS_PART_OF, ["b", "a", "b"]),
            ("column", "isPartOf", ("a", "b")),
        ),
        (("column", "isPartOf", {"x"}), ("column", "isPartOf", ("x",))),
        (
            ("dateTime", "lt", datetime(2026, 1, 1, 8, tzinfo=CST)),
            ("dateTime", "lt", datetime(2026, 1, 1, tzinfo=UTC)),
        ),
        (("elapsedTime", "lteq", "P1Y"), ("elapsedTime", "lteq", Duration(months=12))),
        (("rate", "lteq", "5/PT1M"), ("rate", "lteq", Rate(5, Duration(seconds=Decimal(60))))),
        (("spatial", "isPartOf", "1,2,3,4"), ("spatial", "isPartOf", BoundingBox(1, 2, 3, 4))),
        (("dpEpsilon", "lt", 0.1), ("dpEpsilon", "lt", Decimal("0.1"))),
        (
            ("operation", "isAnyOf", ["read", Action.AGGREGATE]),
            ("operation", "isAnyOf", (Action.AGGREGATE, Action.READ)),
        ),
    ],
)
def test_constraints_are_stored_canonically(arguments, expected):
    constraint = Constraint(*arguments)
    assert (constraint.left_operand, constraint.operator, constraint.right_operand) == expected
    assert constraint.right_operand.__class__ is expected[2].__class__


@pytest.mark.parametrize(
    ("arguments", "path", "message"),
    [
        (("cohort", "gteq", 10), "leftOperand", "unknown left operand 'cohort'"),
        (("minCohort", "atLeast", 10), "operator", "unknown operator 'atLeast'"),
        (("minCohort", "isA", 10), "operator", "does not apply to minCohort"),
        (("purpose", "isAnyOf", "research"), "rightOperand", "takes a list"),
        (("purpose", "eq", ["research"]), "rightOperand", "takes one value"),
        (("purpose", "isAnyOf", []), "rightOperand", "at least one value"),
        (("purpose", "eq", ""), "rightOperand", "non-empty string"),
        (("minCohort", "gteq", True), "rightOperand", "non-negative integer"),
        (("minCohort", "gteq", 2.0), "rightOperand", "non-negative integer"),
        (("dateTime", "lt", datetime(2026, 1, 1)), "rightOperand", "time zone"),
        (("dateTime", "lt", "2026-01-01T00:00:00Z"), "rightOperand", "expected an aware datetime"),
        (("elapsedTime", "lt", 30), "rightOperand", "expected a Duration"),
        (("operation", "eq", "download"), "rightOperand", "unknown action 'download'"),
        (("dpEpsilon", "lteq", float("nan")), "", "finite"),
    ],
)
def test_constraints_reject_values_outside_the_profile(arguments, path, message):
    with pytest.raises(PolicySyntaxError, match=message) as caught:
        Constraint(*arguments)
    assert caught.value.path == path


def test_logical_constraints_need_constraints():
    with pytest.raises(PolicySyntaxError, match="at least one constraint"):
        LogicalConstraint("and", ())
    with pytest.raises(PolicySyntaxError, match="expected a constraint") as caught:
        LogicalConstraint("or", (Constraint("purpose", "eq", "x"), "purpose eq x"))
    assert caught.value.path == "or[1]"
    with pytest.raises(PolicySyntaxError, match="unknown logical operator 'andSequence'"):
        LogicalConstraint("andSequence", (Constraint("purpose", "eq", "x"),))


def test_logical_constraints_nest_no_deeper_than_the_limit():
    constraint = Constraint("purpose", "eq", "x")
    for _ in range(MAX_NESTING):
        constraint = LogicalConstraint("or", (constraint, Constraint("purpose", "eq", "y")))
    with pytest.raises(PolicySyntaxError, match="nest more than"):
        LogicalConstraint("and", (constraint,))


@pytest.mark.parametrize(
    ("action", "parameter", "accepted"),
    [
        (DutyAction.DELETE, Constraint("elapsedTime", "lteq", "P30D"), True),
        (DutyAction.NOTIFY, Constraint("recipient", "eq", "urn:party:dpo"), True),
        (DutyAction.ANONYMIZE, Constraint("column", "isAllOf", ["name", "phone"]), True),
        (DutyAction.LOG, Constraint("recipient", "eq", "urn:x"), False),
        (DutyAction.ADD_NOISE, Constraint("dpEpsilon", "lteq", 1), False),
        (DutyAction.DELETE, Constraint("dateTime", "lt", datetime(2027, 1, 1, tzinfo=UTC)), False),
        (DutyAction.OBTAIN_CONSENT, Constraint("purpose", "eq", "research"), False),
    ],
)
def test_duty_parameters_depend_on_the_duty_action(action, parameter, accepted):
    if accepted:
        assert Duty(action=action, refinements=(parameter,)).refinements == (parameter,)
        return
    with pytest.raises(PolicySyntaxError, match=f"{action} takes no") as caught:
        Duty(action=action, refinements=(parameter,))
    assert caught.value.path == "action.refinement[0].leftOperand"


def test_duty_parameters_are_atomic():
    with pytest.raises(PolicySyntaxError, match="atomic"):
        Duty(
            action="delete",
            refinements=(LogicalConstraint("or", (Constraint("elapsedTime", "lt", "P1D"),)),),
        )


def test_rules_take_the_profile_actions_only():
    with pytest.raises(PolicySyntaxError, match="unknown action 'log'"):
        Permission(action="log")
    with pytest.raises(PolicySyntaxError, match="unknown action 'aggregate'"):
        Duty(action="aggregate")
    with pytest.raises(PolicySyntaxError, match="expected a Duty") as caught:
        Permission(action="use", duties=("log",))
    assert caught.value.path == "duty[0]"


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"permissions": ()}, "", "at least one permission or prohibition"),
        ({"uid": ""}, "uid", "non-empty string"),
        ({"type": "Ticket"}, "@type", "unknown policy type"),
        ({"target": None}, "permission[0].target", "needs a target"),
        ({"type": PolicyType.OFFER}, "permission[0].assigner", "needs an assigner"),
        (
            {"type": PolicyType.AGREEMENT, "assigner": "urn:a"},
            "permission[0].assignee",
            "needs an assignee",
        ),
        (
            {
                "permissions": (
                    Permission(action="use", uid="x"),
                    Permission(action="read", uid="x"),
                )
            },
            "permission[1].uid",
            "also used",
        ),
        (
            {
                "permissions": (
                    Permission(action="use", duties=(Duty(action="log", uid="permission[0]"),)),
                )
            },
            "permission[0].duty[0].uid",
            "also used",
        ),
        ({"permissions": (Prohibition(action="use"),)}, "permission[0]", "expected a Permission"),
    ],
)
def test_policy_level_checks(fields, path, message):
    arguments = {"uid": "urn:p", "target": "urn:t", "permissions": (Permission(action="use"),)}
    arguments.update(fields)
    with pytest.raises(PolicySyntaxError, match=message) as caught:
        Policy(**arguments)
    assert caught.value.path == path


def test_rule_level_parties_satisfy_offer_and_agreement_requirements():
    rule = Permission(action="use", target="urn:t", assigner="urn:a", assignee="urn:b")
    for policy_type in PolicyType:
        assert Policy(uid="urn:p", type=policy_type, permissions=(rule,)).type is policy_type


def test_policies_are_immutable_hashable_values():
    def build(purpose_spelling: str) -> Policy:
        return Policy(
            uid="urn:p",
            target="urn:t",
            permissions=(
                Permission(
                    action="use", constraints=(Constraint(purpose_spelling, "isAnyOf", ["b", "a"]),)
                ),
            ),
        )

    first, second = build("purpose"), build("odrl:purpose")
    assert first == second and hash(first) == hash(second) and len({first, second}) == 1
    assert first.content_hash == second.content_hash
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.uid = "urn:other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.permissions[0].constraints[0].right_operand = ("c",)  # type: ignore[misc]


def test_equal_bounding_boxes_give_equal_content_hashes():
    def build(west: float) -> Policy:
        box = BoundingBox(west, 0.0, 1.0, 1.0)
        return Policy(
            uid="urn:p",
            target="urn:t",
            permissions=(
                Permission(action="use", constraints=(Constraint("spatial", "isPartOf", box),)),
            ),
        )

    assert build(0.0) == build(-0.0)
    assert build(0.0).content_hash == build(-0.0).content_hash


def test_action_hierarchy():
    transferring = {Action.TRANSFER, Action.GIVE, Action.SELL}
    assert {action for action in Action if not Action.USE.covers(action)} == transferring
    assert [a for a in Action if a.covers(Action.JOIN_SUM)] == [
        Action.USE,
        Action.JOIN_SUM,
        Action.DERIVE,
    ]
    assert Action.USE.parent is None and Action.READ.parent is Action.USE
    with pytest.raises(PolicyEvaluationError):
        Action.USE.covers("read")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: Permission(action="use", constraints=None), "constraint"),
        (lambda: Prohibition(action="use", refinements=3), "action.refinement"),
        (lambda: Permission(action="use", duties=None), "duty"),
        (lambda: Duty(action="log", consequences=None), "consequence"),
        (lambda: Duty(action="log", refinements=None), "action.refinement"),
        (lambda: LogicalConstraint("and", None), "and"),
        (lambda: Policy(uid="urn:p", permissions=None), "permission"),
        (lambda: Policy(uid="urn:p", permissions=(), prohibitions=1), "prohibition"),
    ],
)
def test_sequence_fields_reject_non_sequences(build, path):
    with pytest.raises(PolicySyntaxError, match="expected a list") as caught:
        build()
    assert caught.value.path == path


def test_every_operand_and_duty_says_who_enforces_it():
    assert {operand.enforced_by for operand in LeftOperand} == {
        Enforcer.PROVIDER,
        Enforcer.CONSUMER,
    }
    assert LeftOperand.RESIDENCY.enforced_by is Enforcer.CONSUMER
    assert LeftOperand.MIN_COHORT.enforced_by is Enforcer.PROVIDER
    assert DutyAction.DELETE.performed_by is Enforcer.CONSUMER
    assert DutyAction.ADD_NOISE.performed_by is Enforcer.PROVIDER
    assert [duty for duty in DutyAction if duty.is_prior] == [DutyAction.OBTAIN_CONSENT]
    assert {o for o in LeftOperand if o.spec.stateful} == {
        LeftOperand.COUNT,
        LeftOperand.RATE,
        LeftOperand.DP_EPSILON,
    }
