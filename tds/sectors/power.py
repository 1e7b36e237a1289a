"""Power data space: smart-meter consumption and enterprise registries."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tds.policy import (
    Action,
    Constraint,
    Duty,
    DutyAction,
    Permission,
    Policy,
    Prohibition,
)
from tds.sectors._offer import offer_or_agreement

__all__ = ["household_aggregates"]


def household_aggregates(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purposes: Sequence[str] = ("carbon-accounting", "credit-assessment"),
    min_meters: int = 20,
    epsilon_budget: Decimal | float | None = None,
) -> Policy:
    """Household readings only as aggregates over at least ``min_meters`` meters.

    Reading or joining household rows is prohibited outright (a prohibition wins over any
    permission, including one added later by mistake). Every aggregate is logged; with an
    ``epsilon_budget`` the aggregates also spend a differential-privacy budget and the provider
    adds the matching noise.
    """
    constraints = [
        Constraint("purpose", "isAnyOf", purposes),
        Constraint("minCohort", "gteq", min_meters),
    ]
    duties = [Duty(action=DutyAction.LOG)]
    if epsilon_budget is not None:
        constraints.append(Constraint("dpEpsilon", "lteq", epsilon_budget))
        duties.append(Duty(action=DutyAction.ADD_NOISE))
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=(
            Permission(
                action=Action.AGGREGATE, constraints=tuple(constraints), duties=tuple(duties)
            ),
        ),
        prohibitions=(Prohibition(action=Action.READ), Prohibition(action=Action.JOIN)),
    )
