"""Stateful evaluation: counters, rates, privacy budgets, agreement times, prior duties."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tds.errors import PolicyEvaluationError, PolicySyntaxError
from tds.policy import (
    Action,
    Constraint,
    Duty,
    DutyAction,
    InMemoryUsageState,
    LogicalConstraint,
    Permission,
    Policy,
    Prohibition,
    Request,
    UsageKey,
    Use,
    evaluate,
)

TARGET = "urn:ds:meters"
ALICE = "urn:party:alice"
BOB = "urn:party:bob"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def permit_only(*constraints, uid="urn:policy:test", duties=()) -> Policy:
    return Policy(
        uid=uid,
        target=TARGET,
        permissions=(Permission(action=Action.USE, constraints=constraints, duties=duties),),
    )


def request(**fields) -> Request:
    values = {"assignee": ALICE, "action": Action.AGGREGATE, "target": TARGET, "time": T0}
    values.update(fields)
    return Request(**values)


def key(policy: Policy, assignee: str = ALICE, rule: str = "permission[0]") -> UsageKey:
    return UsageKey(policy.content_hash, rule, assignee)


# -- count ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "limit", "allowed"), [("lteq", 3, 3), ("lt", 3, 2), ("lteq", 0, 0)]
)
def test_count_allows_exactly_the_limit(operator, limit, allowed):
    policy, state = permit_only(Constraint("count", operator, limit)), InMemoryUsageState()
    outcomes = [evaluate(policy, request(), state).permitted for _ in range(allowed + 2)]
    assert outcomes == [True] * allowed + [False, False]
    assert state.ledger(key(policy)).uses == allowed


def test_count_denial_explains_which_use_it_would_be():
    policy, state = permit_only(Constraint("count", "lteq", 1)), InMemoryUsageState()
    assert evaluate(policy, request(), state).consumed
    denied = evaluate(policy, request(), state)
    assert denied.reasons == (
        "permission 1 (use), constraint 1: the number of uses including this one (2) is not at "
        "most 1",
    )
    assert not denied.consumed


def test_counters_are_scoped_by_policy_assignee_and_permission():
    policy, state = permit_only(Constraint("count", "lteq", 1)), InMemoryUsageState()
    other_policy = permit_only(Constraint("count", "lteq", 1), uid="urn:policy:other")
    assert evaluate(policy, request(), state).permitted
    assert not evaluate(policy, request(), state).permitted
    assert evaluate(policy, request(assignee=BOB), state).permitted
    assert evaluate(other_policy, request(), state).permitted

    two_permissions = Policy(
        uid="urn:policy:two",
        target=TARGET,
        permissions=(
            Permission(action=Action.AGGREGATE, constraints=(Constraint("count", "lteq", 1),)),
            Permission(
                action=Action.USE, constraints=(Constraint("count", "lteq", 1),), uid="urn:rule:any"
            ),
        ),
    )
    first = evaluate(two_permissions, request(), state)
    second = evaluate(two_permissions, request(), state)
    third = evaluate(two_permissions, request(), state)
    assert (first.permission, second.permission, third.permitted) == (
        "permission[0]",
        "urn:rule:any",
        False,
    )
    assert state.ledger(key(two_permissions, rule="urn:rule:any")).uses == 1


def test_dry_runs_and_denials_consume_nothing():
    policy = permit_only(Constraint("count", "lteq", 1), Constraint("minCohort", "gteq", 10))
    state = InMemoryUsageState()
    assert evaluate(policy, request(cohort_size=50), state, consume=False).permitted
    assert not evaluate(policy, request(cohort_size=5), state).permitted
    assert state.ledger(key(policy)).uses == 0
    assert evaluate(policy, request(cohort_size=50), state).consumed
    assert state.ledger(key(policy)).uses == 1


def test_a_prohibited_use_consumes_nothing():
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(Permission(action=Action.USE, constraints=(Constraint("count", "lteq", 5),)),),
        prohibitions=(Prohibition(action=Action.READ),),
    )
    state = InMemoryUsageState()
    assert not evaluate(policy, request(action="read"), state).permitted
    assert state.ledger(key(policy)).uses == 0


def test_without_state_a_stateful_constraint_fails_with_a_reason():
    decision = evaluate(permit_only(Constraint("count", "lteq", 5)), request())
    assert not decision.permitted
    assert decision.reasons == (
        "permission 1 (use), constraint 1: cannot check that the number of uses including this "
        "one is at most 5: no usage state was given",
    )


def test_a_count_inside_a_logical_constraint_is_checked_and_spent_atomically():
    policy = permit_only(
        LogicalConstraint(
            "or", (Constraint("purpose", "eq", "audit"), Constraint("count", "lteq", 1))
        )
    )
    state = InMemoryUsageState()
    assert evaluate(policy, request(purpose="research"), state).permitted
    assert not evaluate(policy, request(purpose="research"), state).permitted
    assert evaluate(policy, request(purpose="audit"), state).permitted  # the other branch
    assert state.ledger(key(policy)).uses == 2  # every exercised use counts


# -- rate -----------------------------------------------------------------------------------------


def test_rate_limits_uses_in_a_trailing_window():
    policy, state = permit_only(Constraint("rate", "lteq", "2/PT1H")), InMemoryUsageState()
    at = [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), T0 + timedelta(minutes=60)]
    outcomes = [evaluate(policy, request(time=t), state).permitted for t in at]
    # At exactly one hour the first use has left the window (it is not strictly after T0).
    assert outcomes == [True, True, False, True]
    denied = evaluate(policy, request(time=T0 + timedelta(minutes=65)), state)
    assert denied.reasons == (
        "permission 1 (use), constraint 1: the number of uses within 1 hour including this one "
        "(3) is not at most 2",
    )


def test_rate_with_lt_allows_one_less():
    policy, state = permit_only(Constraint("rate", "lt", "2/P1D")), InMemoryUsageState()
    outcomes = [
        evaluate(policy, request(time=T0 + timedelta(hours=h)), state).permitted for h in (0, 1)
    ]
    assert outcomes == [True, False]


# -- dpEpsilon ------------------------------------------------------------------------------------


def test_epsilon_budget_is_exact_in_decimal():
    policy, state = permit_only(Constraint("dpEpsilon", "lteq", 0.3)), InMemoryUsageState()
    outcomes = [evaluate(policy, request(epsilon=0.1), state).permitted for _ in range(4)]
    # 0.1 + 0.1 + 0.1 exceeds 0.3 in binary floating point; budgets must not lose a use to that.
    assert outcomes == [True, True, True, False]
    assert state.ledger(key(policy)).epsilon_spent == Decimal("0.3")


def test_epsilon_budget_denies_a_request_that_would_overspend_but_not_a_smaller_one():
    policy, state = permit_only(Constraint("dpEpsilon", "lteq", 1)), InMemoryUsageState()
    assert evaluate(policy, request(epsilon=0.75), state).permitted
    denied = evaluate(policy, request(epsilon=0.5), state)
    assert denied.reasons == (
        "permission 1 (use), constraint 1: the epsilon spent including this use (1.25) is not at "
        "most 1",
    )
    assert evaluate(policy, request(epsilon=0.25), state).permitted
    assert not evaluate(policy, request(epsilon=0.0001), state).permitted


def test_epsilon_budget_needs_the_request_epsilon():
    decision = evaluate(
        permit_only(Constraint("dpEpsilon", "lt", 1)), request(), InMemoryUsageState()
    )
    assert not decision.permitted
    assert "the request gives no epsilon" in decision.reasons[0]


# -- elapsedTime ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "use_at", "permitted"),
    [
        ("lteq", T0 + timedelta(days=365), True),  # P1Y from 2026-03-01 is 2027-03-01
        ("lteq", T0 + timedelta(days=365, microseconds=1), False),
        ("lt", T0 + timedelta(days=365), False),
        ("lt", T0 + timedelta(days=364), True),
        ("gteq", T0 + timedelta(days=365), True),
        ("gt", T0 + timedelta(days=365), False),
        ("lteq", T0 - timedelta(seconds=1), False),  # before the agreement
    ],
)
def test_elapsed_time_counts_from_the_agreement(operator, use_at, permitted):
    policy = permit_only(Constraint("elapsedTime", operator, "P1Y"))
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, T0)
    assert evaluate(policy, request(time=use_at), state).permitted is permitted


@pytest.mark.parametrize(("operator", "permitted"), [("lteq", True), ("gt", False)])
def test_durations_that_end_after_the_year_9999_are_evaluated_not_raised(operator, permitted):
    policy = permit_only(
        Constraint("elapsedTime", operator, "P9000Y"),
        Constraint("rate", "lteq", "1/P9000Y"),
        Constraint("dataAge", "lteq" if permitted else "gteq", "P99999999999999D"),
    )
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, T0)
    assert evaluate(policy, request(data_time=T0), state).permitted is permitted
    if permitted:
        assert not evaluate(policy, request(data_time=T0), state).permitted  # the rate


def test_elapsed_time_without_an_agreement_time_fails_with_a_reason():
    policy = permit_only(Constraint("elapsedTime", "lteq", "P1Y"))
    unknown = evaluate(policy, request(), InMemoryUsageState())
    assert "the usage state has no agreement time for this policy" in unknown.reasons[0]
    stateless = evaluate(policy, request())
    assert "no usage state was given to tell when the policy was agreed" in stateless.reasons[0]


def test_agreement_times_must_be_aware():
    with pytest.raises(PolicyEvaluationError):
        InMemoryUsageState().record_agreement("hash", datetime(2026, 1, 1))
    with pytest.raises(PolicyEvaluationError):
        InMemoryUsageState().record_agreement("hash", "2026-01-01T00:00:00Z")  # type: ignore[arg-type]


# -- prior duties ---------------------------------------------------------------------------------


def test_a_permission_whose_consent_is_not_recorded_is_not_granted():
    consent = Duty(action=DutyAction.OBTAIN_CONSENT, uid="urn:consent:1")
    policy = permit_only(Constraint("count", "lteq", 5), duties=(consent, Duty(action="log")))
    state = InMemoryUsageState()
    denied = evaluate(policy, request(), state)
    assert not denied.permitted
    assert denied.reasons == (
        "permission 1 (use), duty 1: obtainConsent (urn:consent:1) must be fulfilled before the "
        "use and has not been",
    )
    assert state.ledger(key(policy)).uses == 0

    state.record_fulfilment(UsageKey(policy.content_hash, "urn:consent:1", BOB))
    assert not evaluate(policy, request(), state).permitted  # Bob's consent is not Alice's
    state.record_fulfilment(UsageKey(policy.content_hash, "urn:consent:1", ALICE))
    granted = evaluate(policy, request(), state)
    assert granted.permitted
    assert [duty.action for duty in granted.duties] == [DutyAction.LOG]  # consent is not owed again
    assert granted.rules[0].duties[0].fulfilled is True


def test_a_duty_without_uid_is_identified_by_its_path():
    policy = permit_only(duties=(Duty(action=DutyAction.OBTAIN_CONSENT),))
    state = InMemoryUsageState()
    state.record_fulfilment(UsageKey(policy.content_hash, "permission[0].duty[0]", ALICE))
    assert evaluate(policy, request(), state).permitted


# -- concurrency ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "fields", "expected"),
    [
        (Constraint("count", "lteq", 25), {}, 25),
        (Constraint("dpEpsilon", "lteq", 1), {"epsilon": 0.1}, 10),
        (Constraint("rate", "lteq", "7/P1D"), {}, 7),
    ],
)
def test_concurrent_requests_never_overspend(constraint, fields, expected):
    policy, state = permit_only(constraint), InMemoryUsageState()
    threads, attempts = 8, 20
    start = threading.Barrier(threads)
    permits: list[bool] = []
    permits_lock = threading.Lock()

    def worker() -> None:
        start.wait()
        outcomes = [evaluate(policy, request(**fields), state).permitted for _ in range(attempts)]
        with permits_lock:
            permits.extend(outcomes)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(permits) == threads * attempts
    assert permits.count(True) == expected
    assert state.ledger(key(policy)).uses == expected


def test_usage_state_try_consume_rechecks_under_the_lock():
    state, usage = InMemoryUsageState(), UsageKey("hash", "permission[0]", ALICE)
    seen: list[int] = []

    def check(ledger) -> bool:
        seen.append(ledger.uses)
        return ledger.uses < 1

    assert state.try_consume(usage, check, Use(T0))
    assert not state.try_consume(usage, check, Use(T0))
    assert state.try_consume(UsageKey("hash", "permission[0]", BOB), check, None)  # dry run
    assert seen == [0, 1, 0]
    assert state.ledger(usage).uses == 1


def test_stateful_operands_are_not_allowed_outside_permissions():
    with pytest.raises(PolicySyntaxError, match="cannot appear in a prohibition"):
        Prohibition(action=Action.USE, constraints=(Constraint("dpEpsilon", "lteq", 1),))
    with pytest.raises(PolicySyntaxError, match="cannot appear in a duty"):
        Duty(action="log", constraints=(Constraint("rate", "lteq", "1/PT1H"),))
