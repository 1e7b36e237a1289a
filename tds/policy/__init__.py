"""Usage policies: an ODRL 2.2 profile for privacy computing and its enforcement engine.

Read a policy from ODRL JSON-LD, evaluate a request against it, and get a decision that
explains itself::

    policy = Policy.from_odrl(document)
    decision = evaluate(policy, Request(assignee=..., action="aggregate", target=...), state)
    decision.raise_for_denial()
    for duty in decision.duties:
        ...  # perform it, or abandon the use

The profile (operands, operators, actions, duties and where each is enforced) is documented in
``docs/policy.md``; its JSON-LD context is ``profile_context()``. This package imports only the
standard library and :mod:`tds.errors`.
"""

from tds.policy._decision import ConstraintResult, Decision, DutyResult, RuleResult
from tds.policy._describe import describe
from tds.policy._evaluate import evaluate
from tds.policy._model import (
    Collection,
    Constraint,
    Duty,
    LogicalConstraint,
    Permission,
    Policy,
    Prohibition,
)
from tds.policy._profile import (
    Action,
    Conflict,
    DutyAction,
    Enforcer,
    LeftOperand,
    LogicalOperator,
    OperandSpec,
    Operator,
    PolicyType,
    ValueKind,
    profile_context,
)
from tds.policy._request import Request
from tds.policy._state import InMemoryUsageState, UsageKey, UsageLedger, UsageState, Use
from tds.policy._values import BoundingBox, Day, Duration, Rate

__all__ = [
    "Action",
    "BoundingBox",
    "Collection",
    "Conflict",
    "Constraint",
    "ConstraintResult",
    "Day",
    "Decision",
    "Duration",
    "Duty",
    "DutyAction",
    "DutyResult",
    "Enforcer",
    "InMemoryUsageState",
    "LeftOperand",
    "LogicalConstraint",
    "LogicalOperator",
    "OperandSpec",
    "Operator",
    "Permission",
    "Policy",
    "PolicyType",
    "Prohibition",
    "Rate",
    "Request",
    "RuleResult",
    "UsageKey",
    "UsageLedger",
    "UsageState",
    "Use",
    "ValueKind",
    "describe",
    "evaluate",
    "profile_context",
]
