"""Fuzzing the public entry points of tds.policy: whatever they are given, only TdsErrors escape.

Documents are valid policies with parts replaced, removed or added, arbitrary JSON values, JSON
text with repeated keys, and raw bytes; strings include lone surrogates and profile terms. Every
policy that is accepted must survive the round trip through to_odrl and its content hash, and
every decision must be loggable as UTF-8 JSON.
"""

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tds.errors import PolicyEvaluationError, PolicySyntaxError, TdsError
from tds.policy import (
    Action,
    BoundingBox,
    Constraint,
    Day,
    Duration,
    Duty,
    DutyAction,
    InMemoryUsageState,
    LeftOperand,
    LogicalConstraint,
    LogicalOperator,
    Operator,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
    Rate,
    Request,
    UsageKey,
    Use,
    evaluate,
)
from tds.sectors import healthcare, ocean, power

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROFILE_TERMS = (Action, DutyAction, LeftOperand, LogicalOperator, Operator, PolicyType)
# Strings a policy or request is made of, and some that are not text at all.
TERMS = [
    *(term.value for kind in PROFILE_TERMS for term in kind),
    "@id",
    "@type",
    "@value",
    "@list",
    "uid",
    "rdf:value",
    "refinement",
    "constraint",
    "duty",
    "consequence",
    "Party",
    "PartyCollection",
    "Asset",
    "AssetCollection",
    "xsd:date",
    "xsd:dateTime",
    "xsd:decimal",
    "xsd:duration",
    "tds:Rate",
    "tds:BoundingBox",
    "prohibit",
    "perm",
    "P1D",
    "PT1H",
    "P1Y2M",
    "10/PT1H",
    "0/P1D",
    "120,30,123,32",
    "170,-20,-170,20",
    "2026-12-31",
    "2026-12-31+14:00",
    "2026-12-31+99:99",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "urn:ds:visits",
    "urn:party:alice",
    "https://w3id.org/tds/policy",
    "medical-research",
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "\ud83d\ude00",
    "\x00",
    "٣",
    "P٣D",
    "1e999999",
    "NaN",
]
LONE_SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
any_text = st.one_of(
    st.sampled_from(TERMS),
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.builds(str.__add__, st.sampled_from(TERMS), LONE_SURROGATES),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    any_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(any_text, inner, max_size=4)
        | st.builds(lambda value, kind: {"@value": value, "@type": kind}, inner, any_text)
        | st.builds(lambda value: {"@id": value}, inner)
        | st.builds(lambda value: {"@list": value}, inner)
    ),
    max_leaves=12,
)
zones = st.one_of(
    st.just(UTC),
    st.sampled_from(
        [ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=14)), timezone(-timedelta(hours=23))]
    ),
    st.timezones(),
)
instants = st.one_of(st.datetimes(timezones=zones), st.datetimes())
python_values = st.one_of(
    json_values,
    instants,
    st.dates(),
    st.decimals(),
    st.sampled_from(
        [Decimal("sNaN"), Decimal("1e999999"), Decimal("-0"), 10**5000, float("inf"), b"x"]
    ),
    st.builds(Duration, st.integers(0, 10**6)),
    st.tuples(scalars, scalars),
    st.frozensets(st.sampled_from(TERMS), max_size=3),
)


def base_documents() -> list[dict[str, Any]]:
    visits = healthcare.medical_research(
        uid="urn:policy:visits", assigner="urn:party:hospital", target="urn:ds:visits"
    )
    meters = power.household_aggregates(
        uid="urn:policy:meters",
        assigner="urn:party:grid",
        target="urn:ds:meters",
        assignee="urn:party:bank",
        epsilon_budget=Decimal("1.5"),
    )
    buoys = ocean.observations(
        uid="urn:policy:buoys",
        assigner="urn:party:ocean",
        target="urn:ds:buoys",
        area=BoundingBox(170, -20, -170, 20),
    )
    dated = Policy(
        uid="urn:policy:dated",
        target="urn:ds:visits",
        permissions=(
            Permission(
                action="use",
                constraints=(
                    LogicalConstraint(
                        "xone",
                        (
                            Constraint("dateTime", "lteq", Day(date(2026, 12, 31))),
                            Constraint("rate", "lteq", "2/PT1H"),
                        ),
                    ),
                ),
                duties=(Duty(action="notify", uid="urn:duty:notify"),),
            ),
        ),
        prohibitions=(
            Prohibition(
                action="read",
                constraints=(Constraint("dateTime", "gt", datetime(2026, 6, 1, tzinfo=UTC)),),
            ),
        ),
    )
    return [policy.to_odrl() for policy in (visits, meters, buoys, dated)]


BASES = base_documents()
POLICIES = [Policy.from_odrl(document) for document in BASES]


def slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) in a JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        yield node, key
        if isinstance(value, dict | list):
            yield from slots(value)


@st.composite
def mutated_documents(draw: Callable[..., Any]) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        container, key = draw(st.sampled_from(list(slots(document))))
        change = draw(st.sampled_from(["replace", "replace", "delete", "add", "surrogate"]))
        if change == "surrogate":
            # Into a string where one is, else into the key: the places a policy keeps text.
            value = container[key]
            if isinstance(value, str):
                cut = draw(st.integers(0, len(value)))
                container[key] = value[:cut] + draw(LONE_SURROGATES) + value[cut:]
            elif isinstance(container, dict):
                container[key + draw(LONE_SURROGATES)] = container.pop(key)
        elif change == "replace":
            container[key] = draw(json_values)
        elif change == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(any_text)] = draw(json_values)
        else:
            container.insert(key, draw(json_values))
    return document


def check_accepted(policy: Policy) -> None:
    """An accepted policy is a value that survives every way of writing it out."""
    document = policy.to_odrl()
    text = json.dumps(document, ensure_ascii=False)
    assert Policy.from_odrl(document) == policy
    assert Policy.from_odrl(text) == policy
    assert Policy.from_odrl(text.encode("utf-8")) == policy
    assert Policy.from_odrl(json.dumps(document)).content_hash == policy.content_hash
    assert len(policy.content_hash) == 64


def read(document: object) -> Policy | None:
    try:
        policy = Policy.from_odrl(document)  # type: ignore[arg-type]
    except TdsError:
        return None
    check_accepted(policy)
    return policy


@SETTINGS
@given(mutated_documents())
def test_mutated_documents_are_accepted_whole_or_refused_with_a_tds_error(document):
    read(document)


@SETTINGS
@given(json_values)
def test_arbitrary_json_values_are_refused_with_a_tds_error(value):
    read(value)
    read({"@type": "Set", "uid": "urn:p", "permission": value})


@SETTINGS
@given(mutated_documents(), st.data())
def test_json_text_and_bytes_are_refused_with_a_tds_error(document, data):
    text = json.dumps(document, ensure_ascii=data.draw(st.booleans()))
    # Repeat a key, or cut or splice the text anywhere.
    cut = data.draw(st.integers(0, len(text)))
    edits = [
        text,
        text.replace('"uid"', '"uid": "urn:again", "uid"', 1),
        text[:cut] + data.draw(any_text) + text[cut:],
        text[:cut],
    ]
    for edited in edits:
        read(edited)
        read(edited.encode("utf-8", "surrogatepass"))
    read(data.draw(st.binary(max_size=64)))


@st.composite
def requests(draw: Callable[..., Any]) -> dict[str, Any]:
    """Request fields: plausible ones, each replaced by anything at random."""
    fields = {
        "assignee": draw(st.sampled_from(["urn:party:alice", "urn:party:bank"])),
        "action": draw(st.sampled_from(["use", "read", "aggregate", "join-sum"])),
        "target": draw(st.sampled_from(["urn:ds:visits", "urn:ds:meters", "urn:ds:buoys"])),
        "time": draw(st.datetimes(timezones=zones)),
        "purpose": draw(st.sampled_from([None, "medical-research", "carbon-accounting"])),
        "columns": draw(st.none() | st.lists(st.sampled_from(["age", "icd10"]), max_size=2)),
        "cohort_size": draw(st.none() | st.integers(0, 100)),
        "epsilon": draw(st.none() | st.decimals(0, 2, places=2)),
        "location": draw(st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180))),
        "classification": draw(st.none() | st.integers(0, 5)),
        "recipient": draw(st.none() | st.just("urn:party:regulator")),
        "residency": draw(st.none() | st.just("CN/ZJ")),
        "data_time": draw(st.none() | st.datetimes(timezones=zones)),
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3)):
        fields[name] = draw(python_values)
    for name in draw(st.lists(st.sampled_from(TEXT_FIELDS), max_size=2)):
        text = fields[name] if isinstance(fields[name], str) else "urn:x"
        fields[name] = text + draw(LONE_SURROGATES)
    return fields


TEXT_FIELDS = ["assignee", "target", "purpose", "recipient", "residency"]


def loggable(decision: Any) -> None:
    json.dumps(decision.to_dict(), ensure_ascii=False).encode("utf-8")
    for reason in decision.reasons:
        reason.encode("utf-8")


@SETTINGS
@given(requests(), st.sampled_from(POLICIES), st.data())
def test_requests_and_evaluation_raise_only_tds_errors(fields, policy, data):
    try:
        request = Request(**fields)
    except TdsError:
        return
    state = InMemoryUsageState()
    with contextlib.suppress(TdsError):
        state.record_agreement(policy.content_hash, data.draw(instants))
    for consume in (False, True, True):
        try:
            decision = evaluate(policy, request, state, consume=consume)
        except TdsError:
            return
        loggable(decision)
    loggable(evaluate(policy, request))


@SETTINGS
@given(st.sampled_from(POLICIES), python_values, python_values, python_values)
def test_evaluate_refuses_what_is_not_a_policy_request_or_state(policy, one, two, three):
    request = Request(assignee="urn:party:alice", action="use", target="urn:ds:visits")
    for arguments in ((one, request), (policy, two), (policy, request, three)):
        with contextlib.suppress(TdsError):
            evaluate(*arguments)


@SETTINGS
@given(python_values, python_values, python_values, python_values, st.booleans())
def test_usage_state_raises_only_tds_errors(policy, rule, assignee, use, passes):
    state = InMemoryUsageState()
    calls = [
        lambda: state.try_consume(UsageKey(policy, rule, assignee), lambda ledger: passes, None),
        lambda: state.try_consume(
            UsageKey("hash", "permission[0]", "urn:party:alice"), lambda ledger: passes, use
        ),
        lambda: state.try_consume(use, lambda ledger: passes, None),
        lambda: state.try_consume(UsageKey("hash", "rule", "urn:a"), use, None),
        lambda: state.record_fulfilment(UsageKey(policy, rule, assignee)),
        lambda: state.record_fulfilment(use),
        lambda: state.record_agreement(policy, use),
        lambda: state.is_fulfilled(use),
        lambda: state.ledger(use),
        lambda: Use(use, rule),
    ]
    for call in calls:
        with contextlib.suppress(TdsError):
            call()


@SETTINGS
@given(st.data())
def test_sector_templates_with_odd_parameters_raise_only_tds_errors(data):
    required = {"uid": "urn:policy:x", "assigner": "urn:party:a", "target": "urn:ds:x"}
    templates = {
        healthcare.medical_research: [
            "uid",
            "assigner",
            "target",
            "assignee",
            "purpose",
            "min_cohort",
            "max_uses",
            "valid_for",
            "consent_required",
        ],
        power.household_aggregates: [
            "uid",
            "assigner",
            "target",
            "assignee",
            "purposes",
            "min_meters",
            "epsilon_budget",
        ],
        ocean.observations: ["uid", "assigner", "target", "area", "assignee", "embargo"],
    }
    template = data.draw(st.sampled_from(list(templates)))
    arguments: dict[str, Any] = dict(required)
    if template is ocean.observations:
        arguments["area"] = BoundingBox(0, 0, 1, 1)
    for name in data.draw(st.lists(st.sampled_from(templates[template]), min_size=1, max_size=3)):
        arguments[name] = data.draw(python_values)
    try:
        policy = template(**arguments)
    except TdsError:
        return
    check_accepted(policy)


@SETTINGS
@given(python_values, python_values, python_values, python_values)
def test_model_constructors_raise_only_tds_errors(one, two, three, four):
    calls = [
        lambda: Constraint(one, two, three),
        lambda: Constraint("purpose", "isAnyOf", one),
        lambda: Constraint("dateTime", "lteq", one),
        lambda: Constraint("count", "lteq", one),
        lambda: Constraint("dpEpsilon", "lteq", one),
        lambda: LogicalConstraint(one, two),
        lambda: Duty(action=one, uid=two),
        lambda: Permission(action="use", target=one, assignee=two, uid=three),
        lambda: Prohibition(action=one, constraints=two),
        lambda: Policy(uid=one, target=two, permissions=(Permission(action="use"),)),
        lambda: Policy(uid="urn:p", target="urn:t", permissions=one, prohibitions=two),
        lambda: Duration(one, two),
        lambda: Duration.parse(one),
        lambda: Rate(one, two),
        lambda: Rate.parse(one),
        lambda: BoundingBox(one, two, three, four),
        lambda: BoundingBox.parse(one),
        lambda: Day(one, two),
        lambda: Day.parse(one),
    ]
    for call in calls:
        try:
            value = call()
        except TdsError:
            continue
        if isinstance(value, Policy):
            check_accepted(value)


# -- what fuzzing found, pinned ------------------------------------------------------------------


def minimal(**fields: Any) -> dict[str, Any]:
    rule = {"target": "urn:ds:1", "action": "use", **fields}
    return {"@type": "Set", "uid": "urn:p", "permission": [rule]}


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({**minimal(), "uid": "urn:\ud800"}, "uid"),
        (minimal(assignee="urn:party:\udfff"), "permission[0].assignee"),
        (
            minimal(
                constraint=[{"leftOperand": "purpose", "operator": "eq", "rightOperand": "a\udc00"}]
            ),
            "permission[0].constraint[0].rightOperand",
        ),
        (json.dumps(minimal(target="urn:\ud800")), "permission[0].target"),
        ({**minimal(), "x\ud800": 1}, "x\\ud800"),
    ],
)
def test_lone_surrogates_in_a_document_are_a_syntax_error(document, path):
    with pytest.raises(PolicySyntaxError, match="lone surrogate") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == path
    str(caught.value).encode("utf-8")  # the error itself can be logged


@pytest.mark.parametrize(
    "build",
    [
        lambda: Policy(uid="urn:\ud800", target="urn:t", permissions=(Permission(action="use"),)),
        lambda: Permission(action="use", target="urn:\ud800"),
        lambda: Constraint("purpose", "isAnyOf", ["research", "\udfff"]),
        lambda: Duty(action="log", uid="urn:duty:\ud800"),
        lambda: healthcare.medical_research(uid="urn:\ud800", assigner="urn:a", target="urn:t"),
    ],
)
def test_lone_surrogates_in_a_policy_built_in_python_are_a_syntax_error(build):
    with pytest.raises(PolicySyntaxError, match="lone surrogate"):
        build()


@pytest.mark.parametrize(
    "fields",
    [
        {"assignee": "urn:\ud800"},
        {"target": "urn:\udfff"},
        {"purpose": "research\ud800"},
        {"recipient": "\udc00"},
        {"residency": "CN\ud800"},
        {"columns": ("age", "\ud800")},
    ],
)
def test_lone_surrogates_in_a_request_are_an_evaluation_error(fields):
    values = {"assignee": "urn:party:alice", "action": "use", "target": "urn:ds:1", **fields}
    with pytest.raises(PolicyEvaluationError, match="Unicode text"):
        Request(**values)


def test_text_beyond_the_basic_plane_is_fine_everywhere():
    policy = Policy.from_odrl(minimal(assignee="urn:party:\U0001f600"))
    request = Request(assignee="urn:party:\U0001f600", action="use", target="urn:ds:1")
    decision = evaluate(policy, request, InMemoryUsageState())
    assert decision.permitted
    loggable(decision)
    check_accepted(policy)


@pytest.mark.parametrize(
    "arguments",
    [("hash", "rule", "\ud800"), ("", "rule", "urn:a"), ("hash", 5, "urn:a"), (["h"], "r", "a")],
)
def test_usage_keys_hold_text(arguments):
    with pytest.raises(PolicyEvaluationError):
        UsageKey(*arguments)


def test_the_in_memory_state_refuses_what_is_not_a_key_check_or_use():
    state, key = InMemoryUsageState(), UsageKey("hash", "rule", "urn:a")
    for call in (
        lambda: state.try_consume(("hash", "rule", "urn:a"), lambda ledger: True, None),
        lambda: state.try_consume(key, None, None),
        lambda: state.try_consume(key, lambda ledger: True, datetime(2026, 1, 1, tzinfo=UTC)),
        lambda: state.record_fulfilment("hash"),
        lambda: state.record_agreement(b"hash", datetime(2026, 1, 1, tzinfo=UTC)),
    ):
        with pytest.raises(PolicyEvaluationError):
            call()
    assert state.ledger(key).uses == 0


HUGE = 10**5000  # its repr() raises ValueError: Python refuses to write ints past 4300 digits


@pytest.mark.parametrize(
    "build",
    [
        lambda: Constraint("count", "lteq", HUGE),
        lambda: Constraint("count", "lteq", 2**63),
        lambda: Constraint("purpose", "eq", HUGE),
        lambda: Constraint("dpEpsilon", "lteq", 2**63),
        lambda: Duration(months=2**63),
        lambda: Duration.parse("P" + "9" * 5000 + "D"),
        lambda: Rate(HUGE, Duration.parse("P1D")),
        lambda: BoundingBox(10**400, 0, 0, 0),
        lambda: healthcare.medical_research(uid=HUGE, assigner="urn:a", target="urn:t"),
        lambda: healthcare.medical_research(
            uid="urn:p", assigner="urn:a", target="urn:t", max_uses=HUGE
        ),
    ],
)
def test_numbers_beyond_64_bits_are_a_syntax_error(build):
    with pytest.raises(PolicySyntaxError):
        build()


def test_the_largest_integer_is_accepted_and_written_out():
    constraint = Constraint("count", "lteq", 2**63 - 1)
    policy = Policy(
        uid="urn:p",
        target="urn:t",
        permissions=(Permission(action="use", constraints=(constraint,)),),
    )
    check_accepted(policy)


@pytest.mark.parametrize("field", ["cohort_size", "classification"])
def test_request_integers_beyond_64_bits_are_an_evaluation_error(field):
    with pytest.raises(PolicyEvaluationError):
        Request(assignee="urn:a", action="use", target="urn:t", **{field: HUGE})


@pytest.mark.parametrize("text", ["P\u0663D", "PT\u0661H", "\u0663/P1D", "1/P\u0661D"])
def test_durations_and_rates_take_ascii_digits_only(text):
    # int() reads Arabic-Indic digits, so "P٣D" used to mean three days.
    parse = Rate.parse if "/" in text else Duration.parse
    with pytest.raises(PolicySyntaxError):
        parse(text)


def test_an_epsilon_that_cannot_be_added_exactly_does_not_slip_under_the_budget():
    policy = Policy(
        uid="urn:p",
        target="urn:t",
        permissions=(Permission(action="use", constraints=(Constraint("dpEpsilon", "lteq", 1),)),),
    )
    state = InMemoryUsageState()

    def spend(epsilon: str) -> bool:
        request = Request(assignee="urn:a", action="use", target="urn:t", epsilon=Decimal(epsilon))
        return evaluate(policy, request, state).permitted

    assert spend("1")
    # 1 + 1e-200 is more than the budget of 1, but rounds to 1 at Decimal's default precision.
    assert not spend("1e-200")
    key = UsageKey(policy.content_hash, "permission[0]", "urn:a")
    assert state.ledger(key).epsilon_spent == 1
    with pytest.raises(PolicyEvaluationError, match="cannot be added up exactly"):
        state.try_consume(
            key, lambda ledger: True, Use(datetime(2026, 1, 1, tzinfo=UTC), Decimal("1e-200"))
        )
    assert state.ledger(key).uses == 1
