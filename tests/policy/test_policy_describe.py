"""describe(): a policy's terms in plain English, one line per rule.

The golden lines for the sector templates are the spec: they are what a demo prints under
"on these terms:" and what the sector docs show next to the ODRL JSON.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tds.policy
from tds.policy import (
    Action,
    BoundingBox,
    Constraint,
    Day,
    Duration,
    Duty,
    DutyAction,
    LeftOperand,
    LogicalConstraint,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
    Rate,
    ValueKind,
    describe,
)
from tds.sectors import healthcare, ocean, power

AREA = BoundingBox(120.0, 36.0, 121.5, 37.0)

RESEARCH = (
    "May use the data when the purpose is a kind of medical-research, the operation is one of "
    "aggregate, join-sum, the smallest cohort is at least 10, the number of uses including this "
    "one is at most 100 and the time since the agreement is at most 1 year. Every use is logged."
)
CONSENT = " The consumer must have obtained consent before the first use."
HOUSEHOLDS = (
    "May aggregate the data when the purpose is one of carbon-accounting, credit-assessment"
)
NO_ROWS = ("Never read the rows.", "Never learn the shared keys (join).")
INSIDE = "the location is within the box west 120.0, south 36.0, east 121.5, north 37.0"


def policy_of(*permissions, prohibitions=()):
    return Policy(uid="urn:p", target="urn:t", permissions=permissions, prohibitions=prohibitions)


def permission_line(*constraints, action=Action.USE, duties=()):
    policy = policy_of(Permission(action=action, constraints=constraints, duties=duties))
    (line,) = describe(policy)
    return line


def duty_line(duty):
    return permission_line(duties=(duty,)).removeprefix("May use the data. ")


# -- the sector templates ----------------------------------------------------------------------


def test_describe_is_exported():
    assert tds.policy.describe is describe
    assert "describe" in tds.policy.__all__


def test_medical_research_with_consent():
    policy = healthcare.medical_research(uid="urn:x", assigner="urn:a", target="urn:t")
    assert describe(policy) == (RESEARCH + CONSENT,)


def test_medical_research_without_consent():
    policy = healthcare.medical_research(
        uid="urn:x", assigner="urn:a", target="urn:t", consent_required=False
    )
    assert describe(policy) == (RESEARCH,)


def test_medical_research_agreement_reads_like_the_offer():
    offer = healthcare.medical_research(uid="urn:x", assigner="urn:a", target="urn:t")
    agreement = healthcare.medical_research(
        uid="urn:x", assigner="urn:a", target="urn:t", assignee="urn:u"
    )
    assert describe(agreement) == describe(offer)


def test_ocean_observations():
    policy = ocean.observations(uid="urn:z", assigner="urn:a", target="urn:t", area=AREA)
    assert describe(policy) == (
        f"May read the rows when {INSIDE} and the age of the newest record is at least 30 days."
        " Every use is logged.",
        f"May aggregate the data when {INSIDE}. Every use is logged.",
    )


def test_household_aggregates_without_a_budget():
    policy = power.household_aggregates(uid="urn:y", assigner="urn:a", target="urn:t")
    assert describe(policy) == (
        f"{HOUSEHOLDS} and the smallest cohort is at least 20. Every use is logged.",
        *NO_ROWS,
    )


def test_household_aggregates_with_an_epsilon_budget():
    policy = power.household_aggregates(
        uid="urn:y", assigner="urn:a", target="urn:t", epsilon_budget=1
    )
    assert describe(policy) == (
        f"{HOUSEHOLDS}, the smallest cohort is at least 20 and the epsilon spent including this"
        " use is at most 1. Every use is logged. The provider adds differential-privacy noise to"
        " every result.",
        *NO_ROWS,
    )


# -- rules and actions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "words"),
    [
        (Action.USE, "use the data"),
        (Action.READ, "read the rows"),
        (Action.AGGREGATE, "aggregate the data"),
        (Action.JOIN, "learn the shared keys (join)"),
        (Action.JOIN_SUM, "sum over the shared keys (join-sum)"),
        (Action.CARDINALITY, "count the shared keys (cardinality)"),
    ],
)
def test_every_action_reads_in_words(action, words):
    assert permission_line(action=action) == f"May {words}."
    policy = policy_of(prohibitions=(Prohibition(action=action),))
    assert describe(policy) == (f"Never {words}.",)


def test_a_prohibition_with_constraints():
    prohibition = Prohibition(
        action=Action.READ,
        constraints=(
            Constraint("classification", "gteq", 3),
            Constraint("residency", "isNoneOf", ["CN", "EU"]),
        ),
    )
    assert describe(policy_of(prohibitions=(prohibition,))) == (
        "Never read the rows when the classification level is at least 3 and the residency is"
        " none of CN, EU.",
    )


def test_permissions_come_first_then_prohibitions_in_order():
    policy = policy_of(
        Permission(action=Action.AGGREGATE),
        Permission(action=Action.CARDINALITY),
        prohibitions=(Prohibition(action=Action.READ), Prohibition(action=Action.JOIN)),
    )
    assert describe(policy) == (
        "May aggregate the data.",
        "May count the shared keys (cardinality).",
        *NO_ROWS,
    )


def test_action_refinements_read_before_the_constraints():
    permission = Permission(
        action=Action.AGGREGATE,
        refinements=(Constraint("column", "isPartOf", ["icd10", "age_band"]),),
        constraints=(Constraint("purpose", "eq", "audit"),),
    )
    assert describe(policy_of(permission)) == (
        "May aggregate the data when the columns are all among age_band, icd10 and the purpose"
        " is equal to audit.",
    )


def test_a_rule_with_its_own_target_or_assignee_says_so():
    policy = Policy(
        uid="urn:p",
        type=PolicyType.AGREEMENT,
        target="urn:t",
        assigner="urn:a",
        assignee="urn:u",
        permissions=(
            Permission(action=Action.READ, target="urn:other"),
            Permission(action=Action.AGGREGATE, target="urn:t", assignee="urn:u"),
        ),
        prohibitions=(Prohibition(action=Action.JOIN, target="urn:other", assignee="urn:v"),),
    )
    assert describe(policy) == (
        "On urn:other: may read the rows.",
        "May aggregate the data.",
        "On urn:other, for urn:v: never learn the shared keys (join).",
    )


# -- constraints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "words"),
    [
        (
            Constraint("purpose", "isA", "medical-research"),
            "the purpose is a kind of medical-research",
        ),
        (Constraint("purpose", "isAnyOf", ["b", "a"]), "the purpose is one of a, b"),
        (Constraint("purpose", "isAnyOf", ["a"]), "the purpose is equal to a"),
        (Constraint("purpose", "isNoneOf", ["a"]), "the purpose is different from a"),
        (Constraint("purpose", "eq", "has space"), "the purpose is equal to has space"),
        (Constraint("purpose", "eq", " padded"), "the purpose is equal to ' padded'"),
        (Constraint("purpose", "eq", "two\nlines"), "the purpose is equal to 'two\\nlines'"),
        (
            Constraint("recipient", "neq", "urn:party:x"),
            "the recipient is different from urn:party:x",
        ),
        (Constraint("operation", "isA", "join"), "the operation is a kind of join"),
        (Constraint("column", "isAnyOf", ["ssn"]), "the columns include one of ssn"),
        (Constraint("column", "hasPart", ["a", "b"]), "the columns include all of a, b"),
        (Constraint("count", "lt", 5), "the number of uses including this one is less than 5"),
        (
            Constraint("rate", "lteq", Rate(10, Duration.parse("PT1H"))),
            "the number of uses within 1 hour including this one is at most 10",
        ),
        (
            Constraint("dpEpsilon", "lteq", Decimal("0.50")),
            "the epsilon spent including this use is at most 0.5",
        ),
        (
            Constraint("elapsedTime", "lteq", "P1Y2M3DT4H"),
            "the time since the agreement is at most 1 year 2 months 3 days 4 hours",
        ),
        (
            Constraint("dataAge", "gt", "PT90M"),
            "the age of the newest record is more than 1 hour 30 minutes",
        ),
        (
            Constraint("dateTime", "lteq", date(2026, 12, 31)),
            "the use time is on or before 2026-12-31 (UTC)",
        ),
        (
            Constraint("dateTime", "lt", datetime(2026, 3, 1, 8, tzinfo=UTC)),
            "the use time is before 2026-03-01T08:00:00Z",
        ),
        (
            Constraint("dateTime", "gteq", Day(date(2017, 12, 31), timedelta(hours=8))),
            "the use time is on or after 2017-12-31 (UTC+08:00)",
        ),
        (Constraint("spatial", "isPartOf", AREA), INSIDE),
        (
            Constraint("classification", "isAnyOf", [1, 2]),
            "the classification level is one of 1, 2",
        ),
        (Constraint("residency", "isPartOf", "CN"), "the residency is within CN"),
        (
            Constraint("peerSetSize", "gteq", 1000),
            "the number of keys the other party brings is at least 1000",
        ),
    ],
)
def test_constraints_read_as_label_verb_value(constraint, words):
    assert permission_line(constraint) == f"May use the data when {words}."


A = Constraint("purpose", "eq", "a")
B = Constraint("minCohort", "gteq", 10)
C = Constraint("residency", "eq", "CN")
A_TEXT, B_TEXT, C_TEXT = (
    "the purpose is equal to a",
    "the smallest cohort is at least 10",
    "the residency is equal to CN",
)


@pytest.mark.parametrize(
    ("constraint", "words"),
    [
        (LogicalConstraint("or", (A, B)), f"either {A_TEXT} or {B_TEXT}"),
        (LogicalConstraint("or", (A, B, C)), f"either {A_TEXT}, {B_TEXT} or {C_TEXT}"),
        (LogicalConstraint("and", (A, B)), f"both {A_TEXT} and {B_TEXT}"),
        (LogicalConstraint("and", (A, B, C)), f"all of {A_TEXT}, {B_TEXT} and {C_TEXT}"),
        (LogicalConstraint("xone", (A, B)), f"exactly one of {A_TEXT}, {B_TEXT}"),
        (LogicalConstraint("xone", (A,)), A_TEXT),
        (
            LogicalConstraint("or", (LogicalConstraint("and", (A, B)), C)),
            f"either (both {A_TEXT} and {B_TEXT}) or {C_TEXT}",
        ),
    ],
)
def test_logical_constraints_read_in_words(constraint, words):
    assert permission_line(constraint) == f"May use the data when {words}."


def test_a_logical_constraint_among_others_is_in_parentheses():
    line = permission_line(C, LogicalConstraint("xone", (A, B)))
    assert line == f"May use the data when {C_TEXT} and (exactly one of {A_TEXT}, {B_TEXT})."


# -- duties ------------------------------------------------------------------------------------


def within(duration):
    return (Constraint("elapsedTime", "lteq", duration),)


DUTY_CASES = [
    (Duty(action=DutyAction.LOG), "Every use is logged."),
    (
        Duty(action=DutyAction.COMPENSATE, uid="urn:p#pay"),
        "The consumer compensates the provider after the use.",
    ),
    (
        Duty(action=DutyAction.OBTAIN_CONSENT, uid="urn:p#consent"),
        "The consumer must have obtained consent before the first use.",
    ),
    (
        Duty(action=DutyAction.ADD_NOISE),
        "The provider adds differential-privacy noise to every result.",
    ),
    (
        Duty(
            action=DutyAction.ANONYMIZE,
            refinements=(Constraint("column", "isAllOf", ["sex", "age"]),),
        ),
        "The columns age, sex are anonymized.",
    ),
    (
        Duty(action=DutyAction.ANONYMIZE, refinements=(Constraint("column", "hasPart", ["ssn"]),)),
        "The column ssn is anonymized.",
    ),
    (
        Duty(
            action=DutyAction.ANONYMIZE, refinements=(Constraint("column", "isAnyOf", ["a", "b"]),)
        ),
        "The provider anonymizes the result, where the columns include one of a, b.",
    ),
    (Duty(action=DutyAction.ANONYMIZE), "The provider anonymizes the result."),
    (
        Duty(action=DutyAction.DELETE, refinements=within("P30D")),
        "The consumer deletes the result within 30 days.",
    ),
    (
        Duty(
            action=DutyAction.DELETE,
            refinements=(Constraint("elapsedTime", "gteq", "P1D"), *within("P30D")),
        ),
        "The consumer deletes the result no sooner than 1 day after the use and within 30 days.",
    ),
    (Duty(action=DutyAction.DELETE), "The consumer deletes the result at once."),
    (
        Duty(
            action=DutyAction.NOTIFY, refinements=(Constraint("recipient", "eq", "urn:party:dpo"),)
        ),
        "The provider notifies urn:party:dpo of every use.",
    ),
    (
        Duty(
            action=DutyAction.NOTIFY,
            refinements=(Constraint("recipient", "isAnyOf", ["urn:b", "urn:a"]),),
        ),
        "The provider sends a notice of every use, where the recipient is one of urn:a, urn:b.",
    ),
    (Duty(action=DutyAction.NOTIFY), "The provider sends a notice of every use."),
]


@pytest.mark.parametrize(("duty", "words"), DUTY_CASES)
def test_each_duty_reads_as_a_sentence(duty, words):
    assert duty_line(duty) == words


def test_the_duty_cases_cover_every_duty_action():
    assert {duty.action for duty, _ in DUTY_CASES} == set(DutyAction)


def test_a_duty_constraint_and_its_consequences():
    duty = Duty(
        action=DutyAction.DELETE,
        refinements=within("P30D"),
        constraints=(Constraint("classification", "gteq", 3),),
        consequences=(
            Duty(action=DutyAction.NOTIFY, refinements=(Constraint("recipient", "eq", "urn:a"),)),
            Duty(action=DutyAction.LOG),
        ),
    )
    assert duty_line(duty) == (
        "The consumer deletes the result within 30 days when the classification level is at"
        " least 3; failing that, the provider notifies urn:a of every use and every use is logged."
    )


def test_duties_read_in_order_after_the_rule():
    duties = (Duty(action=DutyAction.ADD_NOISE), Duty(action=DutyAction.LOG))
    assert permission_line(B, duties=duties) == (
        f"May use the data when {B_TEXT}. The provider adds differential-privacy noise to every"
        " result. Every use is logged."
    )


# -- any policy --------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
iris = st.from_regex(r"urn:[a-z]{1,4}:[a-z0-9]{1,4}", fullmatch=True)
durations = st.builds(
    Duration,
    months=st.integers(0, 2**63 - 1),
    seconds=st.decimals(0, 10**12, places=6, allow_nan=False, allow_infinity=False),
)
longitudes = st.floats(-180, 180, allow_nan=False)
boxes = st.tuples(longitudes, st.floats(-90, 90), st.floats(-90, 90), longitudes).map(
    lambda t: BoundingBox(t[0], min(t[1], t[2]), t[3], max(t[1], t[2]))
)
VALUES = {
    ValueKind.IDENTIFIER: names,
    ValueKind.HIERARCHY: names,
    ValueKind.STRING_SET: names,
    ValueKind.ACTION: st.sampled_from(list(Action)),
    ValueKind.INTEGER: st.integers(0, 2**63 - 1),
    ValueKind.DECIMAL: st.decimals(0, 10**9, places=8, allow_nan=False, allow_infinity=False),
    ValueKind.DATETIME: st.one_of(
        st.datetimes(timezones=st.just(UTC)).filter(lambda instant: instant.year > 1),
        st.builds(Day, st.dates(), st.integers(-840, 840).map(lambda m: timedelta(minutes=m))),
    ),
    ValueKind.DURATION: durations,
    ValueKind.RATE: st.builds(
        Rate, st.integers(0, 1000), durations.filter(lambda d: not d.is_zero)
    ),
    ValueKind.BOUNDING_BOX: boxes,
}
STATELESS = tuple(operand for operand in LeftOperand if not operand.spec.stateful)


@st.composite
def atoms(draw, operands=tuple(LeftOperand)):
    operand = draw(st.sampled_from(operands))
    spec = operand.spec
    operator = draw(st.sampled_from(sorted(spec.operators)))
    value = VALUES[spec.kind]
    if operator.takes_set or spec.kind is ValueKind.STRING_SET:
        return Constraint(operand, operator, draw(st.lists(value, min_size=1, max_size=3)))
    return Constraint(operand, operator, draw(value))


def constraints(operands=tuple(LeftOperand)):
    return st.recursive(
        atoms(operands),
        lambda parts: st.builds(
            LogicalConstraint,
            st.sampled_from(["and", "or", "xone"]),
            st.lists(parts, min_size=1, max_size=3).map(tuple),
        ),
        max_leaves=5,
    )


@st.composite
def duties(draw, consequences=True):
    action = draw(st.sampled_from(list(DutyAction)))
    parameters = _PARAMETERS[action]
    refinements = draw(st.lists(atoms(tuple(parameters)), max_size=2)) if parameters else []
    return Duty(
        action=action,
        refinements=tuple(refinements),
        constraints=tuple(draw(st.lists(constraints(STATELESS), max_size=2))),
        consequences=tuple(draw(st.lists(duties(False), max_size=2))) if consequences else (),
    )


_PARAMETERS = {
    DutyAction.LOG: (),
    DutyAction.ADD_NOISE: (),
    DutyAction.OBTAIN_CONSENT: (),
    DutyAction.COMPENSATE: (),
    DutyAction.NOTIFY: (LeftOperand.RECIPIENT,),
    DutyAction.DELETE: (LeftOperand.ELAPSED_TIME,),
    DutyAction.ANONYMIZE: (LeftOperand.COLUMN,),
}


@st.composite
def policies(draw):
    permissions = draw(
        st.lists(
            st.builds(
                Permission,
                action=st.sampled_from(list(Action)),
                constraints=st.lists(constraints(), max_size=3).map(tuple),
                refinements=st.lists(constraints(), max_size=2).map(tuple),
                duties=st.lists(duties(), max_size=3).map(tuple),
                target=st.none() | iris,
                assignee=st.none() | iris,
            ),
            max_size=3,
        )
    )
    prohibitions = draw(
        st.lists(
            st.builds(
                Prohibition,
                action=st.sampled_from(list(Action)),
                constraints=st.lists(constraints(STATELESS), max_size=3).map(tuple),
                refinements=st.lists(constraints(STATELESS), max_size=1).map(tuple),
                target=st.none() | iris,
                assignee=st.none() | iris,
            ),
            min_size=0 if permissions else 1,
            max_size=3,
        )
    )
    return Policy(
        uid=draw(iris),
        type=PolicyType.SET,
        target=draw(iris),
        assignee=draw(st.none() | iris),
        permissions=tuple(permissions),
        prohibitions=tuple(prohibitions),
    )


@settings(max_examples=100, deadline=None)
@given(policies())
def test_any_policy_reads_as_one_line_per_rule(policy):
    lines = describe(policy)
    assert isinstance(lines, tuple)
    assert len(lines) == len(policy.permissions) + len(policy.prohibitions)
    for line, (_, rule) in zip(lines, policy.rules(), strict=True):
        assert isinstance(line, str) and line.endswith(".")
        assert len(line.splitlines()) == 1
        assert ("may " if isinstance(rule, Permission) else "never ") in line.lower()
    assert describe(policy) == lines
    assert describe(Policy.from_odrl(policy.to_odrl())) == lines
