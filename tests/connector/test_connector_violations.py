"""A compensate duty through the connector: the provider records the consumer's violation,
and the consumer's next job under the agreement is refused with the reason; nothing else is."""

from __future__ import annotations

from pathlib import Path

import pytest
from provider_space import join, provider_space, visits_dataset

from tds.connector import Client, JobState
from tds.connector._audit import EventKind
from tds.errors import ConfigError, NotFoundError, UsageDeniedError
from tds.policy import Action, Duty, DutyAction, Permission

PATIENTS = [f"P{number:06d}" for number in range(0, 2000)]
PAY = "urn:tds:policy:hospital:visits#pay"


def test_a_recorded_violation_refuses_the_next_job(tmp_path: Path) -> None:
    permission = Permission(
        action=Action.USE, duties=(Duty(action=DutyAction.COMPENSATE, uid=PAY),)
    )
    dataset = visits_dataset(tmp_path, PATIENTS, (permission,))
    for space in provider_space(tmp_path, dataset, provider="hospital", requester="insurer"):
        assert join(space, PATIENTS[500:900]).state is JobState.SUCCEEDED
        with Client(space.provider) as hospital:
            (agreement,) = hospital.agreements()
            with pytest.raises(ConfigError, match="no duty 'urn:other'"):
                hospital.record_violation(agreement.id, "urn:other", "unpaid")
            with pytest.raises(NotFoundError):
                hospital.record_violation("urn:tds:agreement:nope", PAY, "unpaid")
            hospital.record_violation(agreement.id, PAY, "invoice 2026-17 unpaid")
            log = hospital.node.audit_log
            last = log.entry(log.size - 1)
            assert last.kind is EventKind.USE_DECISION
            assert last.data["violated"] == {"duty": PAY, "reason": "invoice 2026-17 unpaid"}
        with pytest.raises(UsageDeniedError, match="recorded as violated"):
            join(space, PATIENTS[500:900])
        with Client(space.requester) as insurer, pytest.raises(ConfigError, match="consumer"):
            insurer.record_violation(agreement.id, PAY, "not mine to say")
