"""Healthcare data space: hospital visit records and insurer claims."""

from __future__ import annotations

from tds.policy import Action, Constraint, Duration, Duty, DutyAction, Permission, Policy
from tds.sectors._offer import check_uid, offer_or_agreement

__all__ = ["medical_research"]


def medical_research(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purpose: str = "medical-research",
    min_cohort: int = 10,
    max_uses: int = 100,
    valid_for: Duration | str = "P1Y",
    consent_required: bool = True,
) -> Policy:
    """Aggregates and joined sums for medical research, over cohorts of at least ``min_cohort``.

    Any use is for ``purpose`` (or a sub-purpose such as ``medical-research/oncology``), is an
    ``aggregate`` or a ``join-sum`` (never rows, never the joined identities), releases no group
    smaller than ``min_cohort`` people, happens at most ``max_uses`` times and within
    ``valid_for`` of the agreement, and is logged. With ``consent_required`` the consumer must
    have recorded the patients' consent (duty ``<uid>#consent``) before the first use.
    """
    check_uid(uid)
    duties = [Duty(action=DutyAction.LOG)]
    if consent_required:
        duties.append(Duty(action=DutyAction.OBTAIN_CONSENT, uid=f"{uid}#consent"))
    permission = Permission(
        action=Action.USE,
        constraints=(
            Constraint("purpose", "isA", purpose),
            Constraint("operation", "isAnyOf", [Action.AGGREGATE, Action.JOIN_SUM]),
            Constraint("minCohort", "gteq", min_cohort),
            Constraint("count", "lteq", max_uses),
            Constraint("elapsedTime", "lteq", valid_for),
        ),
        duties=tuple(duties),
    )
    return offer_or_agreement(
        uid=uid, assigner=assigner, target=target, assignee=assignee, permissions=(permission,)
    )
