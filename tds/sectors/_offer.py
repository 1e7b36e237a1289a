"""What every template shares: Offer or Agreement, depending on whether an assignee is named."""

from __future__ import annotations

from tds.policy import Permission, Policy, PolicyType, Prohibition


def offer_or_agreement(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None,
    permissions: tuple[Permission, ...],
    prohibitions: tuple[Prohibition, ...] = (),
) -> Policy:
    return Policy(
        uid=uid,
        type=PolicyType.OFFER if assignee is None else PolicyType.AGREEMENT,
        assigner=assigner,
        assignee=assignee,
        target=target,
        permissions=permissions,
        prohibitions=prohibitions,
    )
