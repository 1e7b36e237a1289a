"""The compensate duty: owed by the consumer after its uses; the permission holds until the
provider records the duty as violated, and never without a usage state to show it was not."""

from datetime import UTC, datetime

import pytest

from tds.errors import PolicySyntaxError
from tds.policy import (
    Duty,
    DutyAction,
    InMemoryUsageState,
    Permission,
    Policy,
    Request,
    UsageKey,
    evaluate,
)

TARGET = "urn:ds:catch"
ALICE, BOB = "urn:party:alice", "urn:party:bob"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(
    uid="urn:policy:paid",
    target=TARGET,
    permissions=(
        Permission(action="use", duties=(Duty(action="compensate", uid="urn:policy:paid#pay"),)),
    ),
)


def ask(assignee: str = ALICE) -> Request:
    return Request(assignee=assignee, action="aggregate", target=TARGET, time=T0)


def test_a_compensate_duty_is_owed_after_the_use_and_the_use_is_granted() -> None:
    decision = evaluate(POLICY, ask(), InMemoryUsageState())
    assert decision.permitted
    assert [duty.action for duty in decision.duties] == [DutyAction.COMPENSATE]
    (result,) = decision.rules[0].duties
    assert result.owed and result.fulfilled is None and not result.prior


def test_a_recorded_violation_ends_the_permission_for_that_consumer_only() -> None:
    state = InMemoryUsageState()
    state.record_violation(UsageKey(POLICY.content_hash, "urn:policy:paid#pay", ALICE))
    denied = evaluate(POLICY, ask(), state)
    assert not denied.permitted
    assert "compensate (urn:policy:paid#pay) was recorded as violated" in denied.reasons[-1]
    assert evaluate(POLICY, ask(BOB), state).permitted


def test_without_a_usage_state_the_duty_fails_closed() -> None:
    decision = evaluate(POLICY, ask())
    assert not decision.permitted
    assert "no usage state was given to show it was not violated" in decision.reasons[-1]


def test_compensate_reads_and_writes_as_odrl() -> None:
    document = POLICY.to_odrl()
    assert document["permission"][0]["duty"] == [
        {"uid": "urn:policy:paid#pay", "action": "compensate"}
    ]
    assert Policy.from_odrl(document) == POLICY


def test_a_pay_amount_is_not_checked_so_it_is_refused() -> None:
    document = POLICY.to_odrl()
    document["permission"][0]["duty"][0]["constraint"] = [
        {"leftOperand": "payAmount", "operator": "eq", "rightOperand": 5}
    ]
    with pytest.raises(PolicySyntaxError, match="payAmount") as caught:
        Policy.from_odrl(document)
    assert caught.value.path == "permission[0].duty[0].constraint[0].leftOperand"
