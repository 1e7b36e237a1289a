"""Ocean data space: buoy and water-quality observations, fishing-vessel catch logs."""

from __future__ import annotations

from tds.policy import (
    Action,
    BoundingBox,
    Constraint,
    Duration,
    Duty,
    DutyAction,
    Permission,
    Policy,
)
from tds.sectors._offer import offer_or_agreement

__all__ = ["observations"]


def observations(
    *,
    uid: str,
    assigner: str,
    target: str,
    area: BoundingBox,
    assignee: str | None = None,
    embargo: Duration | str = "P30D",
) -> Policy:
    """Observations inside ``area``: raw rows once ``embargo`` old, aggregates at any time.

    Raw observations (``read``) are released only when the newest record read is at least
    ``embargo`` old; aggregates over the area carry no embargo. Both are logged.
    """
    inside = Constraint("spatial", "isPartOf", area)
    log = (Duty(action=DutyAction.LOG),)
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=(
            Permission(
                action=Action.READ,
                constraints=(inside, Constraint("dataAge", "gteq", embargo)),
                duties=log,
            ),
            Permission(action=Action.AGGREGATE, constraints=(inside,), duties=log),
        ),
    )
