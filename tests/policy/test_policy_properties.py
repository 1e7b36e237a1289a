"""Properties: logical constraints follow their truth tables; ODRL round-trips are lossless."""

import itertools
import json
from datetime import UTC, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

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
    Request,
    ValueKind,
    evaluate,
)

SETTINGS = settings(max_examples=150, deadline=None)

# -- truth tables ---------------------------------------------------------------------------------

ATOM = {
    True: Constraint("purpose", "eq", "research"),
    False: Constraint("purpose", "eq", "marketing"),
    None: Constraint("recipient", "eq", "urn:party:bob"),  # the request names no recipient
}
REQUEST = Request(assignee="urn:a", action="aggregate", target="urn:t", purpose="research")
TWO_VALUED = {
    "and": all,
    "or": any,
    "xone": lambda values: sum(values) == 1,
}


def verdict(operator: str, values: list) -> bool | None:
    constraint = LogicalConstraint(operator, tuple(ATOM[v] for v in values))
    policy = Policy(
        uid="urn:p",
        target="urn:t",
        permissions=(Permission(action=Action.USE, constraints=(constraint,)),),
    )
    return evaluate(policy, REQUEST).rules[0].constraints[0].satisfied


@SETTINGS
@given(st.sampled_from(sorted(TWO_VALUED)), st.lists(st.booleans(), min_size=1, max_size=6))
def test_logical_constraints_match_their_truth_tables(operator, values):
    assert verdict(operator, values) is TWO_VALUED[operator](values)


@SETTINGS
@given(
    st.sampled_from(sorted(TWO_VALUED)),
    st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=5),
)
def test_unknown_parts_decide_only_when_every_completion_agrees(operator, values):
    # Kleene's strong logic as supervaluation: fill each unknown both ways; the result is known
    # exactly when all completions agree.
    unknown = [i for i, v in enumerate(values) if v is None]
    outcomes = set()
    for filling in itertools.product([True, False], repeat=len(unknown)):
        completed = list(values)
        for index, value in zip(unknown, filling, strict=True):
            completed[index] = value
        outcomes.add(TWO_VALUED[operator](completed))
    expected = outcomes.pop() if len(outcomes) == 1 else None
    assert verdict(operator, values) is expected


# -- round trip -----------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
iris = st.from_regex(r"urn:[a-z]{1,6}:[a-z0-9]{1,6}", fullmatch=True)
instants = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])).filter(
    lambda instant: instant.year > 1
)
days = st.builds(
    Day, st.dates(), st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))
)
durations = st.builds(
    Duration,
    months=st.integers(0, 240),
    seconds=st.decimals(0, 10**8, places=3, allow_nan=False, allow_infinity=False),
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
    ValueKind.INTEGER: st.integers(0, 10**9),
    ValueKind.DECIMAL: st.decimals(0, 10**6, places=4, allow_nan=False, allow_infinity=False),
    ValueKind.DATETIME: st.one_of(instants, days),
    ValueKind.DURATION: durations,
    ValueKind.RATE: st.builds(
        Rate, st.integers(0, 1000), durations.filter(lambda d: not d.is_zero)
    ),
    ValueKind.BOUNDING_BOX: boxes,
}


@st.composite
def atoms(draw, operands=tuple(LeftOperand)):
    operand = draw(st.sampled_from(operands))
    spec = operand.spec
    operator = draw(st.sampled_from(sorted(spec.operators)))
    value = VALUES[spec.kind]
    if operator.takes_set or spec.kind is ValueKind.STRING_SET:
        right = draw(st.lists(value, min_size=1, max_size=3))
    else:
        right = draw(value)
    return Constraint(operand, operator, right, uid=draw(st.none() | iris))


def constraints(operands=tuple(LeftOperand)):
    return st.recursive(
        atoms(operands),
        lambda parts: st.builds(
            LogicalConstraint,
            st.sampled_from(["and", "or", "xone"]),
            st.lists(parts, min_size=1, max_size=3).map(tuple),
        ),
        max_leaves=4,
    )


STATELESS = tuple(o for o in LeftOperand if not o.spec.stateful)
DUTIES = st.one_of(
    st.builds(Duty, action=st.sampled_from([DutyAction.LOG, DutyAction.ADD_NOISE])),
    st.builds(
        Duty,
        action=st.just(DutyAction.DELETE),
        refinements=st.tuples(
            st.builds(Constraint, st.just("elapsedTime"), st.just("lteq"), durations)
        ),
    ),
    st.builds(
        Duty,
        action=st.just(DutyAction.NOTIFY),
        refinements=st.tuples(st.builds(Constraint, st.just("recipient"), st.just("eq"), iris)),
        consequences=st.lists(st.builds(Duty, action=st.just(DutyAction.LOG)), max_size=1).map(
            tuple
        ),
    ),
    st.builds(
        Duty,
        action=st.just(DutyAction.OBTAIN_CONSENT),
        constraints=st.lists(constraints(STATELESS), max_size=1).map(tuple),
    ),
)


@st.composite
def policies(draw):
    permissions = draw(
        st.lists(
            st.builds(
                Permission,
                action=st.sampled_from(list(Action)),
                constraints=st.lists(constraints(), max_size=3).map(tuple),
                refinements=st.lists(constraints(), max_size=1).map(tuple),
                duties=st.lists(DUTIES, max_size=2).map(tuple),
                assignee=st.none() | iris,
            ),
            max_size=2,
        )
    )
    prohibitions = draw(
        st.lists(
            st.builds(
                Prohibition,
                action=st.sampled_from(list(Action)),
                constraints=st.lists(constraints(STATELESS), max_size=2).map(tuple),
                target=st.none() | iris,
            ),
            min_size=0 if permissions else 1,
            max_size=2,
        )
    )
    return Policy(
        uid=draw(iris),
        type=draw(st.sampled_from(list(PolicyType))),
        target=draw(iris),
        assigner=draw(iris),
        assignee=draw(iris),
        permissions=tuple(permissions),
        prohibitions=tuple(prohibitions),
    )


@settings(max_examples=60, deadline=None)
@given(policies())
def test_from_odrl_inverts_to_odrl(policy):
    document = policy.to_odrl()
    assert Policy.from_odrl(document) == policy
    text = json.dumps(document, ensure_ascii=False)
    reread = Policy.from_odrl(text)
    assert reread == policy
    assert reread.content_hash == policy.content_hash
    assert reread.to_odrl() == document


@SETTINGS
@given(atoms(), atoms())
def test_equal_constraints_have_equal_hashes_and_json(first, second):
    if first == second:
        assert hash(first) == hash(second)
    same_json = (
        Policy(
            uid="urn:p",
            target="urn:t",
            permissions=(Permission(action="use", constraints=(first,)),),
        ).to_odrl()
        == Policy(
            uid="urn:p",
            target="urn:t",
            permissions=(Permission(action="use", constraints=(second,)),),
        ).to_odrl()
    )
    assert same_json is (first == second)


def test_decimal_values_are_normalized_so_equal_numbers_serialize_equally():
    assert Constraint("dpEpsilon", "lteq", Decimal("1.50")) == Constraint("dpEpsilon", "lteq", 1.5)
