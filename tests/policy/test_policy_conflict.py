"""ODRL's conflict strategies: what a policy decides where a permission and a prohibition both
apply to a request, under perm, prohibit and invalid, and what is spent."""

from datetime import UTC, datetime

import pytest

from tds.policy import (
    Action,
    Conflict,
    Constraint,
    InMemoryUsageState,
    Permission,
    Policy,
    Prohibition,
    Request,
    UsageKey,
    describe,
    evaluate,
)

TARGET = "urn:ds:visits"
ALICE = "urn:party:alice"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def policy(conflict: Conflict, *prohibition_constraints: Constraint) -> Policy:
    """Use, up to 3 times, for everyone; read prohibited (when its constraints hold)."""
    return Policy(
        uid="urn:policy:conflict",
        target=TARGET,
        conflict=conflict,
        permissions=(Permission(action=Action.USE, constraints=(Constraint("count", "lteq", 3),)),),
        prohibitions=(Prohibition(action=Action.READ, constraints=prohibition_constraints),),
    )


def request(action: str) -> Request:
    return Request(assignee=ALICE, action=action, target=TARGET, time=T0)


def spent(state: InMemoryUsageState, decided: Policy) -> int:
    return state.ledger(UsageKey(decided.content_hash, "permission[0]", ALICE)).uses


@pytest.mark.parametrize("conflict", list(Conflict))
def test_without_a_conflict_every_strategy_grants_what_the_permission_allows(conflict) -> None:
    state = InMemoryUsageState()
    governed = policy(conflict)
    decision = evaluate(governed, request("aggregate"), state)
    assert decision.permitted and spent(state, governed) == 1


def test_perm_lets_the_permission_win_and_spends_its_use() -> None:
    state = InMemoryUsageState()
    governed = policy(Conflict.PERM)
    decision = evaluate(governed, request("read"), state)
    assert decision.permitted and decision.reasons == ()
    assert spent(state, governed) == 1
    prohibition = next(result for result in decision.rules if result.kind == "prohibition")
    assert prohibition.active  # the report still shows the prohibition that was overridden


def test_perm_still_denies_when_no_permission_grants() -> None:
    state = InMemoryUsageState()
    governed = policy(Conflict.PERM)
    for _ in range(3):
        assert evaluate(governed, request("read"), state).permitted
    decision = evaluate(governed, request("read"), state)
    assert not decision.permitted
    assert "prohibition 1 forbids read on urn:ds:visits" in decision.reasons


def test_prohibit_lets_the_prohibition_win_and_spends_nothing() -> None:
    state = InMemoryUsageState()
    governed = policy(Conflict.PROHIBIT)
    decision = evaluate(governed, request("read"), state)
    assert not decision.permitted
    assert decision.reasons == ("prohibition 1 forbids read on urn:ds:visits",)
    assert spent(state, governed) == 0


def test_invalid_voids_the_policy_for_the_request_and_says_so() -> None:
    state = InMemoryUsageState()
    governed = policy(Conflict.INVALID)
    decision = evaluate(governed, request("read"), state)
    assert not decision.permitted
    assert decision.reasons[0] == (
        "permission 1 and a prohibition both apply, and the policy's conflict strategy is "
        "invalid: the policy is void for this request"
    )
    assert spent(state, governed) == 0


@pytest.mark.parametrize("conflict", list(Conflict))
def test_a_prohibition_whose_constraint_fails_is_no_conflict(conflict) -> None:
    governed = policy(conflict, Constraint("purpose", "eq", "marketing"))
    research = Request(assignee=ALICE, action="read", target=TARGET, time=T0, purpose="research")
    assert evaluate(governed, research, InMemoryUsageState()).permitted


def test_a_document_without_conflict_is_judged_as_invalid() -> None:
    document = policy(Conflict.PROHIBIT).to_odrl()
    del document["conflict"]
    decision = evaluate(Policy.from_odrl(document), request("read"), InMemoryUsageState())
    assert not decision.permitted and "void for this request" in decision.reasons[0]


def test_describe_says_when_a_permission_overrides_a_prohibition() -> None:
    lines = describe(policy(Conflict.PERM))
    assert lines[-1] == "Where a permission and a prohibition both apply, the permission wins."
    for conflict in (Conflict.PROHIBIT, Conflict.INVALID):
        assert len(describe(policy(conflict))) == 2  # "never" means never
