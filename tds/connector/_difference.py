"""How a requested contract policy differs from the offer, in words for people.

A provider that refuses a request, or answers it with a counter-offer, says why: which rules
the requester added or dropped, and which constraints or duties it changed, e.g. "permission
1: bob asks that the number of uses including this one is at most 1000, the offer that it is
at most 100". Rules are paired by position within permissions and within prohibitions.
"""

from __future__ import annotations

from collections.abc import Sequence

from tds.policy import Constraint, Duty, LogicalConstraint, Permission, Policy, Prohibition
from tds.policy._odrl import duty_to_odrl
from tds.policy._wording import label, rule_name, show, verbs

__all__ = ["constraint_text", "explain_difference", "policy_differences"]

_LOGICAL_WORDS = {"and": "all of", "or": "any of", "xone": "exactly one of"}


def policy_differences(requested: Policy, offered: Policy, *, requester: str) -> list[str]:
    """One phrase per way ``requested`` differs from ``offered``, told as what ``requester``
    asked for; empty when the two policies have the same content."""
    if requested.content_hash == offered.content_hash:
        return []
    phrases: list[str] = []
    if requested.type is not offered.type:
        phrases.append(
            f"{requester} asks for a policy of type {requested.type}, the offer is of type "
            f"{offered.type}"
        )
    if requested.uid != offered.uid:
        phrases.append(
            f"{requester} asks for policy {requested.uid!r}, the offer is {offered.uid!r}"
        )
    phrases += _rule_differences(
        "permission", requested, offered, requested.permissions, offered.permissions, requester
    )
    phrases += _rule_differences(
        "prohibition", requested, offered, requested.prohibitions, offered.prohibitions, requester
    )
    if not phrases:
        phrases.append(
            f"{requester}'s policy differs from the offer in its details (content hash "
            f"{requested.content_hash[:12]}…, the offer's {offered.content_hash[:12]}…)"
        )
    return phrases


def explain_difference(
    requested: Policy, offered: Policy, *, requester: str, provider: str, dataset_id: str
) -> str:
    """A sentence saying how ``requester``'s policy differs from ``provider``'s offer."""
    phrases = policy_differences(requested, offered, requester=requester)
    if not phrases:
        return f"{requester} asked for dataset {dataset_id!r} under {provider}'s offer as published"
    return (
        f"{requester} asked for dataset {dataset_id!r} under a policy that differs from "
        f"{provider}'s offer {offered.uid!r}: " + "; ".join(phrases)
    )


def _rule_differences(
    kind: str,
    requested_policy: Policy,
    offered_policy: Policy,
    requested: Sequence[Permission | Prohibition],
    offered: Sequence[Permission | Prohibition],
    who: str,
) -> list[str]:
    phrases = []
    for index in range(max(len(requested), len(offered))):
        if index >= len(offered):
            rule = requested[index]
            phrases.append(f"{who} adds {rule_name(kind, index, rule.uid)} for {show(rule.action)}")
        elif index >= len(requested):
            rule = offered[index]
            phrases.append(
                f"{who} drops {rule_name(kind, index, rule.uid)} for {show(rule.action)}"
            )
        else:
            name = rule_name(kind, index, None)
            phrases += [
                f"{name}: {phrase}"
                for phrase in _paired_rule_differences(
                    requested_policy, offered_policy, requested[index], offered[index], who
                )
            ]
    return phrases


def _paired_rule_differences(
    requested_policy: Policy,
    offered_policy: Policy,
    requested: Permission | Prohibition,
    offered: Permission | Prohibition,
    who: str,
) -> list[str]:
    phrases = []
    if requested.uid != offered.uid:
        phrases.append(f"{who} names it {requested.uid!r}, the offer {offered.uid!r}")
    if requested.action is not offered.action:
        phrases.append(
            f"{who} asks for {show(requested.action)}, the offer is for {show(offered.action)}"
        )
    for role in ("target", "assigner", "assignee"):
        asked = getattr(requested_policy, f"{role}_of")(requested)
        given = getattr(offered_policy, f"{role}_of")(offered)
        if asked != given:
            phrases.append(f"{who} names the {role} {asked!r}, the offer {given!r}")
    phrases += _constraint_differences(
        "constraint", requested.constraints, offered.constraints, who
    )
    phrases += _constraint_differences(
        "action refinement", requested.refinements, offered.refinements, who
    )
    if isinstance(requested, Permission) and isinstance(offered, Permission):
        phrases += _duty_differences(requested.duties, offered.duties, who)
    return phrases


def _constraint_differences(
    what: str,
    requested: Sequence[Constraint | LogicalConstraint],
    offered: Sequence[Constraint | LogicalConstraint],
    who: str,
) -> list[str]:
    asked = [_clause(c) for c in requested]
    given = [_clause(c) for c in offered]
    added = [clause for clause in asked if clause not in given]
    dropped = [clause for clause in given if clause not in asked]
    phrases = []
    for clause in list(added):
        subject, predicate = clause
        same_subject = [other for other in dropped if other[0] == subject]
        if predicate and len(same_subject) == 1:
            dropped.remove(same_subject[0])
            added.remove(clause)
            phrases.append(
                f"{who} asks that {subject} {predicate}, the offer that it {same_subject[0][1]}"
            )
    phrases += [f"{who} adds the {what} that {_joined(clause)}" for clause in added]
    phrases += [f"{who} drops the {what} that {_joined(clause)}" for clause in dropped]
    return phrases


def _clause(constraint: Constraint | LogicalConstraint) -> tuple[str, str]:
    """What a constraint is about and what it says of it; a logical constraint is all subject."""
    if isinstance(constraint, LogicalConstraint):
        return constraint_text(constraint), ""
    operand, operator = constraint.left_operand, constraint.operator
    right = constraint.right_operand
    try:
        verb = verbs(operand, operator, right)[0]
    except KeyError:
        verb = f"is {operator.value}"
    return label(operand, right), f"{verb} {show(right)}"


def _joined(clause: tuple[str, str]) -> str:
    return " ".join(part for part in clause if part)


def constraint_text(constraint: Constraint | LogicalConstraint) -> str:
    """A constraint as a clause, e.g. "the smallest cohort is at least 10"."""
    if isinstance(constraint, LogicalConstraint):
        parts = "; ".join(constraint_text(c) for c in constraint.constraints)
        return f"{_LOGICAL_WORDS[constraint.operator.value]} ({parts})"
    return _joined(_clause(constraint))


def _duty_differences(requested: Sequence[Duty], offered: Sequence[Duty], who: str) -> list[str]:
    asked = [(duty.action.value, duty_to_odrl(duty)) for duty in requested]
    given = [(duty.action.value, duty_to_odrl(duty)) for duty in offered]
    added = [item for item in asked if item not in given]
    dropped = [item for item in given if item not in asked]
    phrases = []
    for action, document in list(added):
        same_action = [item for item in dropped if item[0] == action]
        if len(same_action) == 1:
            dropped.remove(same_action[0])
            added.remove((action, document))
            phrases.append(f"{who} words the duty to {action} differently from the offer")
    phrases += [f"{who} adds the duty to {action}" for action, _ in added]
    phrases += [f"{who} drops the duty to {action}" for action, _ in dropped]
    return phrases
