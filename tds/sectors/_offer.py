"""What every template shares: Offer or Agreement, depending on whether an assignee is named."""

from __future__ import annotations

from tds.errors import PolicySyntaxError
from tds.policy import Permission, Policy, PolicyType, Prohibition


def check_uid(uid: object) -> str:
    """The template's policy uid, checked before other ids are derived from it."""
    if not isinstance(uid, str) or not uid:
        raise PolicySyntaxError(f"uid must be a non-empty string, got {type(uid).__name__}", "uid")
    return uid


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
