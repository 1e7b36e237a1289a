"""The evaluation engine: deny by default, prohibitions win, logic evaluated exactly.

Constraints evaluate to True, False or None ("could not be checked": the request lacks a fact
the constraint needs). Logical constraints combine these with Kleene's strong three-valued
logic, which coincides with ordinary and/or/xone whenever every part is known. A permission
grants only what it can show (None counts as failed); a prohibition forbids unless it can show
it does not apply (None counts as applying). Missing facts therefore never widen access.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tds.errors import PolicyEvaluationError
from tds.policy._decision import ConstraintResult, Decision, DutyResult, RuleResult
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
    OPERANDS,
    Action,
    Conflict,
    LeftOperand,
    LogicalOperator,
    Operator,
    ValueKind,
)
from tds.policy._request import Request, utc_instant
from tds.policy._state import UsageKey, UsageLedger, UsageState, Use
from tds.policy._values import BoundingBox, Day, Rate, exact_sum, format_decimal
from tds.policy._wording import (
    elapsed_words,
    instant_text,
    label,
    location_text,
    near,
    near_midnight,
    rule_name,
    show,
    verbs,
)

Verdict = bool | None


def evaluate(
    policy: Policy,
    request: Request,
    state: UsageState | None = None,
    *,
    consume: bool = True,
) -> Decision:
    """Decide whether ``request`` is permitted under ``policy``, and explain why.

    With a ``state``, a permitted request spends its use (count, rate, privacy budget) in the
    same atomic step that checks the limits; pass ``consume=False`` for a dry run. A denied
    request never spends anything. Without a state, constraints that need one fail.
    """
    if not isinstance(policy, Policy):
        raise PolicyEvaluationError(f"expected a Policy, got {type(policy).__name__}")
    if not isinstance(request, Request):
        raise PolicyEvaluationError(f"expected a Request, got {type(request).__name__}")
    if state is not None and not isinstance(state, UsageState):
        raise PolicyEvaluationError(f"expected a UsageState, got {type(state).__name__}")
    policy_hash = policy.content_hash
    agreed_at = state.agreed_at(policy_hash) if state is not None else None
    context = _Context(
        request=request,
        has_state=state is not None,
        agreed_at=None
        if agreed_at is None
        else utc_instant("the state's agreement time", agreed_at),
    )
    results: list[RuleResult] = []
    denials: list[str] = []

    # Prohibitions first: a use they forbid must not spend any counter.
    for index, prohibition in enumerate(policy.prohibitions):
        result = _prohibition_result(policy, prohibition, index, context)
        results.append(result)
        if result.active:
            denials.extend(result.reasons)
    # Where a permission and a prohibition both apply, the policy's conflict strategy decides:
    # under perm the permission stands; under prohibit and invalid nothing is granted.
    blocked = bool(denials) and policy.conflict is not Conflict.PERM

    exercised: tuple[int, Permission, RuleResult] | None = None
    consumed = False
    permission_results: list[RuleResult] = []
    for index, permission in enumerate(policy.permissions):
        # Only the first permission that grants is exercised; later ones are only reported.
        spend = consume and not blocked and exercised is None
        result, spent = _permission_result(policy, permission, index, state, context, spend)
        permission_results.append(result)
        if result.active and exercised is None:
            exercised, consumed = (index, permission, result), spent
    results[:0] = permission_results

    if exercised is not None and not blocked:
        _, permission, result = exercised
        owed = tuple(
            duty
            for duty, duty_result in zip(permission.duties, result.duties, strict=True)
            if duty_result.owed and not duty_result.prior
        )
        return Decision(
            True, (), owed, tuple(results), policy_hash, permission=result.id, consumed=consumed
        )
    reasons = denials
    if exercised is None:
        reasons += _why_no_permission_grants(policy, request, permission_results)
    elif policy.conflict is Conflict.INVALID:
        index, permission, _ = exercised
        granting = rule_name("permission", index, permission.uid)
        reasons = [
            f"{granting} and a prohibition both apply, and the policy's conflict strategy is "
            "invalid: the policy is void for this request",
            *denials,
        ]
    return Decision(False, tuple(reasons), (), tuple(results), policy_hash)


def _why_no_permission_grants(
    policy: Policy, request: Request, results: list[RuleResult]
) -> list[str]:
    if not policy.permissions:
        return [f"the policy has no permission, so {request.action} is denied by default"]
    applicable = [result for result in results if result.applies]
    if applicable:
        return [reason for result in applicable for reason in result.reasons]
    summary = f"no permission covers {request.action} on {request.target} by {request.assignee}"
    return [summary] + [reason for result in results for reason in result.reasons]


def _permission_result(
    policy: Policy,
    permission: Permission,
    index: int,
    state: UsageState | None,
    context: _Context,
    spend: bool,
) -> tuple[RuleResult, bool]:
    """How the permission fares, and whether a use was spent under it."""
    path = f"permission[{index}]"
    rule_id = permission.uid or path
    name = rule_name("permission", index, permission.uid)
    request = context.request
    mismatch = _mismatch(policy, permission, name, request)
    if mismatch is not None:
        return RuleResult(path, rule_id, "permission", False, False, reasons=(mismatch,)), False
    policy_hash = policy.content_hash
    duties = tuple(
        _duty_result(duty, f"{path}.duty[{number}]", policy_hash, state, context)
        for number, duty in enumerate(permission.duties)
    )
    key = UsageKey(policy_hash, rule_id, request.assignee)
    unmet = [duty for duty in duties if duty.owed and duty.fulfilled is False]
    checks, granted, spent = _check_permission(
        permission, path, key, state, context, spend and not unmet
    )
    # Reasons say in words which rule and which part of it failed; paths stay in the report.
    heading = f"{name} ({permission.action})"
    failed = [
        f"{heading}, {part}: {check.reason}"
        for part, check in zip(_part_names(permission), checks, strict=True)
        if check.satisfied is not True
    ]
    failed += [f"{heading}, duty {duties.index(duty) + 1}: {duty.reason}" for duty in unmet]
    active = granted and not unmet
    result = RuleResult(path, rule_id, "permission", True, active, checks, duties, tuple(failed))
    return result, spent


def _part_names(rule: Permission | Prohibition) -> list[str]:
    """How each of ``_check_rule``'s results is named in a reason."""
    return [f"refinement {i + 1} of the action" for i in range(len(rule.refinements))] + [
        f"constraint {i + 1}" for i in range(len(rule.constraints))
    ]


@dataclass(frozen=True)
class _Context:
    request: Request
    has_state: bool
    agreed_at: datetime | None
    ledger: UsageLedger | None = None

    def with_ledger(self, ledger: UsageLedger) -> _Context:
        return _Context(self.request, self.has_state, self.agreed_at, ledger)


def _mismatch(
    policy: Policy, rule: Permission | Prohibition, name: str, request: Request
) -> str | None:
    """Why the rule does not govern this request, or None if it does."""
    governs = rule.action.covers(request.action)
    if isinstance(rule, Prohibition):
        # A request for use may perform any action use covers, the prohibited one included.
        governs = governs or request.action.covers(rule.action)
    if not governs:
        return f"{name} is for {rule.action}, which does not include {request.action}"
    target = policy.target_of(rule)
    assert target is not None  # the model requires one
    if not _reaches(policy, rule, target, request.target, request.target_collections):
        if policy.collection(target) is None:
            return f"{name} is for target {target}, not {request.target}"
        return f"{name} is for the assets in {target}, {_not_among(request.target_collections)}"
    assignee = policy.assignee_of(rule)
    if assignee is not None and not _reaches(
        policy, rule, assignee, request.assignee, request.memberships
    ):
        if policy.collection(assignee) is None:
            return f"{name} is assigned to {assignee}, not {request.assignee}"
        return f"{name} is assigned to the members of {assignee}, {_not_among(request.memberships)}"
    return None


def _reaches(
    policy: Policy,
    rule: Permission | Prohibition,
    uid: str,
    value: str,
    known: frozenset[str] | None,
) -> bool:
    """Whether the rule's target or assignee ``uid`` covers the request's ``value``: the same,
    or a collection the request says ``value`` is in (``known``). Where membership is not
    known, a prohibition reaches and a permission does not: missing facts never widen access."""
    if uid == value:
        return True
    if policy.collection(uid) is None:
        return False
    if known is None:
        return isinstance(rule, Prohibition)
    return uid in known


def _not_among(known: frozenset[str] | None) -> str:
    return "and the request does not say what it is in" if known is None else "and it is not one"


def _prohibition_result(
    policy: Policy, prohibition: Prohibition, index: int, context: _Context
) -> RuleResult:
    path = f"prohibition[{index}]"
    rule_id = prohibition.uid or path
    name = rule_name("prohibition", index, prohibition.uid)
    mismatch = _mismatch(policy, prohibition, name, context.request)
    if mismatch is not None:
        return RuleResult(path, rule_id, "prohibition", False, False, reasons=(mismatch,))
    checks = _check_rule(prohibition, path, context)
    verdict = _kleene_and(c.satisfied for c in checks)
    request = context.request
    if verdict is False:
        return RuleResult(path, rule_id, "prohibition", True, False, checks)
    forbids = f"{name} forbids {prohibition.action} on {request.target}"
    if not checks:
        reason = forbids
    elif verdict is None:
        unknown = "; ".join(c.reason for c in checks if c.satisfied is None)
        reason = f"{forbids} unless shown not to apply, and {unknown}"
    else:
        reason = f"{forbids} when " + "; ".join(c.reason for c in checks)
    return RuleResult(path, rule_id, "prohibition", True, True, checks, reasons=(reason,))


def _check_rule(
    rule: Permission | Prohibition, path: str, context: _Context
) -> tuple[ConstraintResult, ...]:
    refinements = [
        _check(c, f"{path}.action.refinement[{i}]", context) for i, c in enumerate(rule.refinements)
    ]
    constraints = [
        _check(c, f"{path}.constraint[{i}]", context) for i, c in enumerate(rule.constraints)
    ]
    return tuple(refinements + constraints)


def _check_permission(
    permission: Permission,
    path: str,
    key: UsageKey,
    state: UsageState | None,
    context: _Context,
    spend: bool,
) -> tuple[tuple[ConstraintResult, ...], bool, bool]:
    """(results, granted, spent): the permission's constraints against request and ledger."""
    if state is None or not permission.is_stateful:
        checks = _check_rule(permission, path, context)
        return checks, _kleene_and(c.satisfied for c in checks) is True, False
    outcome: list[tuple[ConstraintResult, ...]] = []

    def check(ledger: UsageLedger) -> bool:
        checks = _check_rule(permission, path, context.with_ledger(ledger))
        outcome.append(checks)
        return _kleene_and(c.satisfied for c in checks) is True

    request = context.request
    use = Use(request.time, request.epsilon or Decimal(0)) if spend else None
    granted = state.try_consume(key, check, use)
    return outcome[-1], granted, granted and use is not None


def _duty_result(
    duty: Duty, path: str, policy_hash: str, state: UsageState | None, context: _Context
) -> DutyResult:
    duty_id = duty.uid or path
    checks = [_check(c, f"{path}.constraint[{i}]", context) for i, c in enumerate(duty.constraints)]
    # A duty whose condition cannot be checked is owed: owing too much fails closed.
    owed = _kleene_and(c.satisfied for c in checks) is not False
    prior = duty.action.is_prior
    action = f"{duty.action}" + (f" ({duty.uid})" if duty.uid is not None else "")
    if not owed:
        reason = f"{action} is not owed: " + "; ".join(c.reason for c in checks)
        return DutyResult(path, duty_id, duty.action.value, prior, False, None, reason)
    key = UsageKey(policy_hash, duty_id, context.request.assignee)
    if duty.action.may_be_violated:
        # Owed after the use; a violation on record ends the permission, no record fails closed.
        if state is None:
            reason = f"{action} is owed; no usage state was given to show it was not violated"
            return DutyResult(path, duty_id, duty.action.value, False, True, False, reason)
        if state.is_violated(key):
            reason = f"{action} was recorded as violated: no further use until it is settled"
            return DutyResult(path, duty_id, duty.action.value, False, True, False, reason)
        reason = f"{action} is owed by the consumer after the use"
        return DutyResult(path, duty_id, duty.action.value, False, True, None, reason)
    if not prior:
        reason = f"{action} must be performed with the use"
        return DutyResult(path, duty_id, duty.action.value, False, True, None, reason)
    if state is None:
        fulfilled = False
        reason = f"{action} must precede the use; no usage state was given to show it did"
    else:
        fulfilled = state.is_fulfilled(key)
        reason = f"{action} " + (
            "was fulfilled" if fulfilled else "must be fulfilled before the use and has not been"
        )
    return DutyResult(path, duty_id, duty.action.value, True, True, fulfilled, reason)


# -- constraints --------------------------------------------------------------------------------


def _kleene_and(verdicts: Iterable[Verdict]) -> Verdict:
    result: Verdict = True
    for verdict in verdicts:
        if verdict is False:
            return False
        if verdict is None:
            result = None
    return result


def _kleene_or(verdicts: Iterable[Verdict]) -> Verdict:
    result: Verdict = False
    for verdict in verdicts:
        if verdict is True:
            return True
        if verdict is None:
            result = None
    return result


def _kleene_xone(verdicts: Iterable[Verdict]) -> Verdict:
    values = list(verdicts)
    holding = values.count(True)
    if holding > 1:
        return False
    if None in values:
        return None
    return holding == 1


_COMBINE: dict[LogicalOperator, Callable[[Iterable[Verdict]], Verdict]] = {
    LogicalOperator.AND: _kleene_and,
    LogicalOperator.OR: _kleene_or,
    LogicalOperator.XONE: _kleene_xone,
}


def _check(constraint: AnyConstraint, path: str, context: _Context) -> ConstraintResult:
    if isinstance(constraint, LogicalConstraint):
        return _check_logical(constraint, path, context)
    return _check_atom(constraint, path, context)


def _check_logical(constraint: LogicalConstraint, path: str, context: _Context) -> ConstraintResult:
    operator = constraint.operator
    parts = tuple(
        _check(c, f"{path}.{operator}[{i}]", context) for i, c in enumerate(constraint.constraints)
    )
    verdict = _COMBINE[operator](p.satisfied for p in parts)

    def listed(satisfied: Callable[[Verdict], bool]) -> str:
        # A nested logical constraint reads as one item, in parentheses.
        return "; ".join(
            f"({p.reason})" if p.operands else p.reason for p in parts if satisfied(p.satisfied)
        )

    holding, failing = listed(lambda v: v is True), listed(lambda v: v is not True)
    quantity = _QUANTITIES[operator]
    if verdict is True:
        reason = f"{quantity} {'hold' if operator is LogicalOperator.AND else 'holds'}: {holding}"
    elif verdict is None:
        verb = "hold" if operator is LogicalOperator.AND else "holds"
        reason = f"it cannot be decided whether {quantity} {verb}: {failing}"
    elif operator is LogicalOperator.AND:
        reason = listed(lambda v: v is False)
    elif operator is LogicalOperator.XONE and holding:
        count = sum(p.satisfied is True for p in parts)
        reason = f"only one of these may hold, but {count} do: {holding}"
    else:
        reason = f"none of these holds: {failing}"
    return ConstraintResult(path, operator, verdict, reason, operands=parts)


_QUANTITIES = {
    LogicalOperator.AND: "all of these",
    LogicalOperator.OR: "one of these",
    LogicalOperator.XONE: "exactly one of these",
}


class _Unknown(Exception):
    """The request (or state) lacks a fact the constraint needs."""


def _check_atom(constraint: Constraint, path: str, context: _Context) -> ConstraintResult:
    operand, operator, right = (
        constraint.left_operand,
        constraint.operator,
        constraint.right_operand,
    )
    right_text = _right_text(constraint)
    holding, failing = verbs(operand, operator, right)
    subject = label(operand, right)
    try:
        left, left_text = _left_value(constraint, context)
        holds = _OPERATORS[OPERANDS[operand].kind](operator, left, right)
    except _Unknown as missing:
        reason = f"cannot check that {subject} {holding} {right_text}: {missing}"
        return ConstraintResult(path, operator, None, reason, operand)
    reason = f"{subject} {left_text} {holding if holds else failing} {right_text}"
    return ConstraintResult(path, operator, holds, reason, operand)


@functools.lru_cache(maxsize=1024)
def _right_text(constraint: Constraint) -> str:
    # Constraints are immutable, so how the right operand reads can be computed once.
    return show(constraint.right_operand)


def _left_value(constraint: Constraint, context: _Context) -> tuple[Any, str]:
    """The value the constraint compares, and how to show it in a reason."""
    operand = constraint.left_operand
    right = constraint.right_operand
    request = context.request
    now = request.time
    if operand is LeftOperand.ELAPSED_TIME:
        start = _agreement_time(context)
        if now < start:
            raise _Unknown(
                f"the use at {instant_text(now, precise=near(now, start))} precedes the "
                f"agreement at {instant_text(start, precise=near(now, start))}"
            )
        deadline = right.after(start)
        return (now, deadline), f"({elapsed_words(now - start, precise=near(now, deadline))})"
    if operand is LeftOperand.DATA_AGE:
        if request.data_time is None:
            raise _Unknown("the request gives no data_time")
        deadline = right.after(request.data_time)
        age = elapsed_words(now - request.data_time, precise=near(now, deadline))
        return (now, deadline), f"({age})"
    if operand is LeftOperand.COUNT:
        uses = _ledger(context).uses + 1
        return uses, f"({uses})"
    if operand is LeftOperand.RATE:
        uses = _ledger(context).uses_after(right.period.before(now)) + 1
        return uses, f"({uses})"
    if operand is LeftOperand.DP_EPSILON:
        if request.epsilon is None:
            raise _Unknown("the request gives no epsilon")
        spent = exact_sum(_ledger(context).epsilon_spent, request.epsilon)
        if spent is None:
            raise _Unknown("the epsilon spent with this use cannot be added up exactly")
        return spent, f"({format_decimal(spent)})"
    if operand is LeftOperand.DATE_TIME:
        precise = near_midnight(now, right) if isinstance(right, Day) else near(now, right)
        return now, instant_text(now, precise=precise)
    field = OPERANDS[operand].request_field
    assert field is not None
    value = getattr(request, field)
    if value is None:
        raise _Unknown(f"the request gives no {field}")
    if operand is LeftOperand.COLUMN:
        return frozenset(value), show(tuple(sorted(set(value))))
    if operand is LeftOperand.SPATIAL:
        return value, location_text(value)
    return value, show(value)


def _agreement_time(context: _Context) -> datetime:
    if context.agreed_at is not None:
        return context.agreed_at
    if not context.has_state:
        raise _Unknown("no usage state was given to tell when the policy was agreed")
    raise _Unknown("the usage state has no agreement time for this policy")


def _ledger(context: _Context) -> UsageLedger:
    if context.ledger is None:
        raise _Unknown("no usage state was given")
    return context.ledger


def _compare(operator: Operator, left: Any, right: Any) -> bool:
    if operator is Operator.EQ:
        return bool(left == right)
    if operator is Operator.NEQ:
        return bool(left != right)
    if operator is Operator.GT:
        return bool(left > right)
    if operator is Operator.GTEQ:
        return bool(left >= right)
    if operator is Operator.LT:
        return bool(left < right)
    if operator is Operator.LTEQ:
        return bool(left <= right)
    if operator is Operator.IS_ANY_OF:
        return left in right
    if operator is Operator.IS_NONE_OF:
        return left not in right
    raise AssertionError(f"{operator} reached _compare")  # pragma: no cover - profile forbids


def _within(left: str, ancestor: str) -> bool:
    return left == ancestor or left.startswith(ancestor + "/")


def _hierarchy(operator: Operator, left: str, right: Any) -> bool:
    if operator in (Operator.IS_A, Operator.IS_PART_OF):
        return _within(left, right)
    return _compare(operator, left, right)


def _action(operator: Operator, left: Action, right: Any) -> bool:
    # A request for use may perform any action use covers; the constraint is known only when it
    # comes out the same for every one of them.
    verdicts = {_one_action(operator, action, right) for action in Action if left.covers(action)}
    if len(verdicts) > 1:
        raise _Unknown(f"the request's action {left} does not say which operation it performs")
    return verdicts.pop()


def _one_action(operator: Operator, left: Action, right: Any) -> bool:
    if operator is Operator.IS_A:
        return bool(right.covers(left))
    return _compare(operator, left, right)


def _instant(operator: Operator, left: datetime, right: datetime | Day) -> bool:
    if isinstance(right, Day):
        # Where the use falls relative to the day (-1 before, 0 on it, 1 after) against "on it".
        return _compare(operator, right.locate(left), 0)
    return _compare(operator, left, right)


def _timed(operator: Operator, left: tuple[datetime, datetime], right: Any) -> bool:
    # The elapsed time (now - start) compares with the duration exactly as now compares with
    # start + duration, which is also how calendar months are meant.
    now, deadline = left
    return _compare(operator, now, deadline)


def _rate(operator: Operator, left: int, right: Rate) -> bool:
    return _compare(operator, left, right.limit)


def _inside(
    operator: Operator, left: tuple[float, float] | BoundingBox, right: BoundingBox
) -> bool:
    if isinstance(left, BoundingBox):
        if right.covers(left):
            return True
        if not right.overlaps(left):
            return False
        # Part of the area lies inside and part outside: a permission for the box does not
        # cover it, and a prohibition on the box must still apply, so it is not known.
        raise _Unknown("the area asked for lies partly inside the box and partly outside")
    return right.contains(*left)


def _columns(operator: Operator, left: frozenset[str], right: tuple[str, ...]) -> bool:
    if operator is Operator.IS_PART_OF:
        return left <= set(right)
    if operator is Operator.IS_ANY_OF:
        return not left.isdisjoint(right)
    if operator is Operator.IS_NONE_OF:
        return left.isdisjoint(right)
    return left >= set(right)  # hasPart, isAllOf


_OPERATORS: dict[ValueKind, Callable[[Operator, Any, Any], bool]] = {
    ValueKind.IDENTIFIER: _compare,
    ValueKind.HIERARCHY: _hierarchy,
    ValueKind.ACTION: _action,
    ValueKind.INTEGER: _compare,
    ValueKind.DECIMAL: _compare,
    ValueKind.DATETIME: _instant,
    ValueKind.DURATION: _timed,
    ValueKind.RATE: _rate,
    ValueKind.BOUNDING_BOX: _inside,
    ValueKind.STRING_SET: _columns,
}
