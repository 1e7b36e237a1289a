"""A policy's terms in plain English, one line per rule, for people who do not read ODRL.

A demo prints these lines under "on these terms:" and the sector docs show them next to the
ODRL JSON. Constraints read with the same labels, verbs and values as refusal reasons (from
:mod:`tds.policy._wording`), so that "the smallest cohort is at least 10" in the terms is
"the smallest cohort 8 is not at least 10" when a use is refused.

A permission reads "May <action> when <constraint>, <constraint> and <constraint>." followed by
one sentence per duty; a prohibition reads "Never <action> when ...". A rule that names its own
target or assignee, other than the policy's, starts with "On <target>, for <assignee>:".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tds.policy._model import (
    AnyConstraint,
    Constraint,
    Duty,
    LogicalConstraint,
    Permission,
    Policy,
    Prohibition,
)
from tds.policy._profile import (
    ACTIONS,
    Action,
    Conflict,
    DutyAction,
    LeftOperand,
    LogicalOperator,
    Operator,
)
from tds.policy._wording import duration_words, label, show, verbs

# When the consumer deletes a result, after the use, for each comparison of its elapsedTime.
_DELETE_WITHIN = {
    Operator.LTEQ: "within {}",
    Operator.LT: "in less than {}",
    Operator.GTEQ: "no sooner than {} after the use",
    Operator.GT: "more than {} after the use",
    Operator.EQ: "exactly {} after the use",
    Operator.NEQ: "at any time but exactly {} after the use",
}

# A set of one value reads as the value itself.
_SINGLE = {Operator.IS_ANY_OF: Operator.EQ, Operator.IS_NONE_OF: Operator.NEQ}


def describe(policy: Policy) -> tuple[str, ...]:
    """The policy's terms in plain English: one line per permission, then per prohibition,
    and a last line where a permission overrides a prohibition (conflict strategy ``perm``;
    under the others "never" means never).

    Deterministic, and never raises for a valid :class:`Policy`.
    """
    lines = [_rule(policy, rule) for _, rule in policy.rules()]
    if policy.conflict is Conflict.PERM and policy.permissions and policy.prohibitions:
        lines.append("Where a permission and a prohibition both apply, the permission wins.")
    return tuple(lines)


def _rule(policy: Policy, rule: Permission | Prohibition) -> str:
    verb = "may" if isinstance(rule, Permission) else "never"
    conditions = _when(rule.refinements + rule.constraints)
    scope = _scope(policy, rule)
    head = f"{scope}: {verb}" if scope else verb.capitalize()
    sentences = [f"{head} {ACTIONS[rule.action].words}{conditions}."]
    if isinstance(rule, Permission):
        sentences.extend(_sentence(_duty(duty)) + "." for duty in rule.duties)
    return " ".join(sentences)


def _scope(policy: Policy, rule: Permission | Prohibition) -> str:
    """ "On <target>, for <assignee>" where the rule names its own, other than the policy's."""
    parts = []
    if rule.target is not None and rule.target != policy.target:
        every = "every asset in " if policy.collection(rule.target) else ""
        parts.append(f"on {every}{_text(rule.target)}")
    if rule.assignee is not None and rule.assignee != policy.assignee:
        every = "every member of " if policy.collection(rule.assignee) else ""
        parts.append(f"for {every}{_text(rule.assignee)}")
    return _sentence(", ".join(parts)) if parts else ""


def _when(constraints: Sequence[AnyConstraint]) -> str:
    """ " when A, B and C", or nothing without constraints."""
    if not constraints:
        return ""
    grouped = len(constraints) > 1
    return " when " + _and([_constraint(part, grouped=grouped) for part in constraints])


def _constraint(constraint: AnyConstraint, *, grouped: bool = False) -> str:
    """An atomic constraint as "<label> <verb> <value>"; a logical one in words.

    ``grouped`` puts a logical constraint in parentheses, as it is when it stands in a list.
    """
    if isinstance(constraint, Constraint):
        operand, operator, right = (
            constraint.left_operand,
            constraint.operator,
            constraint.right_operand,
        )
        if operand is not LeftOperand.COLUMN and isinstance(right, tuple) and len(right) == 1:
            # "the purpose is equal to x", not "the purpose is one of x"
            operator = _SINGLE.get(operator, operator)
        return f"{label(operand, right)} {verbs(operand, operator, right)[0]} {_text(right)}"
    parts = constraint.constraints
    if len(parts) == 1:
        return _constraint(parts[0], grouped=grouped)
    texts = [_constraint(part, grouped=True) for part in parts]
    text = _logical(constraint, texts)
    return f"({text})" if grouped else text


def _logical(constraint: LogicalConstraint, texts: list[str]) -> str:
    if constraint.operator is LogicalOperator.OR:
        return "either " + _joined(texts, "or")
    if constraint.operator is LogicalOperator.AND:
        return ("both " if len(texts) == 2 else "all of ") + _and(texts)
    return "exactly one of " + ", ".join(texts)


def _duty(duty: Duty) -> str:
    """One duty as a clause: what is done, when it is owed, and what is owed failing it."""
    clause = _duty_action(duty)
    if duty.constraints:
        clause += _when(duty.constraints)
    if duty.consequences:
        clause += "; failing that, " + _and(
            [_duty(consequence) for consequence in duty.consequences]
        )
    return clause


def _duty_action(duty: Duty) -> str:
    """What the duty's action does, with its parameters; starts with a lower-case word."""
    refinements = duty.refinements
    action = duty.action
    if action is DutyAction.LOG:
        return "every use is logged" + _where(refinements)
    if action is DutyAction.ADD_NOISE:
        return "the provider adds differential-privacy noise to every result" + _where(refinements)
    if action is DutyAction.OBTAIN_CONSENT:
        return "the consumer must have obtained consent before the first use" + _where(refinements)
    if action is DutyAction.COMPENSATE:
        return "the consumer compensates the provider after the use" + _where(refinements)
    if action is DutyAction.DELETE:
        if not refinements:
            return "the consumer deletes the result at once"
        return "the consumer deletes the result " + _and([_deadline(part) for part in refinements])
    if action is DutyAction.NOTIFY:
        if len(refinements) == 1 and refinements[0].operator is Operator.EQ:
            return f"the provider notifies {_text(refinements[0].right_operand)} of every use"
        return "the provider sends a notice of every use" + _where(refinements)
    if len(refinements) == 1 and refinements[0].operator in (Operator.IS_ALL_OF, Operator.HAS_PART):
        columns = refinements[0].right_operand
        if len(columns) == 1:
            return f"the column {_text(columns)} is anonymized"
        return f"the columns {_text(columns)} are anonymized"
    return "the provider anonymizes the result" + _where(refinements)


def _where(refinements: Sequence[Constraint]) -> str:
    """Duty parameters that have no wording of their own, as ", where A and B"."""
    if not refinements:
        return ""
    return ", where " + _and([_constraint(part) for part in refinements])


def _deadline(refinement: Constraint) -> str:
    """When a delete duty's result is deleted, from one elapsedTime parameter."""
    if refinement.left_operand is not LeftOperand.ELAPSED_TIME:
        return _constraint(refinement)
    return _DELETE_WITHIN[refinement.operator].format(duration_words(refinement.right_operand))


def _text(value: Any) -> str:
    """A right operand in words: sets as comma lists, names without quotes."""
    if isinstance(value, tuple):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, Action):
        return value.value
    if isinstance(value, str):
        # Plain names read as themselves; quotes only show what would otherwise be invisible
        # or break the line.
        return value if value.isprintable() and value == value.strip() else repr(value)
    return show(value)


def _and(texts: Sequence[str]) -> str:
    return _joined(texts, "and")


def _joined(texts: Iterable[str], conjunction: str) -> str:
    """ "A", "A and B", "A, B and C"."""
    items = list(texts)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {conjunction} {items[-1]}"


def _sentence(clause: str) -> str:
    """The clause with its first letter upper case; clauses here start with our own words."""
    return clause[:1].upper() + clause[1:]
