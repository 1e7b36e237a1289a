"""Decisions and the compliance report that explains them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from tds.errors import UsageDeniedError
from tds.policy._model import Duty


@dataclass(frozen=True)
class ConstraintResult:
    """How one constraint (or refinement) fared against the request.

    ``satisfied`` is None when the constraint could not be checked, e.g. because the request
    lacks a field it needs; a permission then fails and a prohibition applies. ``reason`` says
    in words what was compared; ``path`` names the constraint in the policy document.
    """

    path: str
    operator: str
    satisfied: bool | None
    reason: str
    left_operand: str | None = None  # None for a logical constraint
    operands: tuple[ConstraintResult, ...] = ()  # the parts of a logical constraint


@dataclass(frozen=True)
class DutyResult:
    """Whether a duty is owed for this use and, for duties that precede use, fulfilled; for a
    duty owed after the use (compensate), ``fulfilled`` is False once it was recorded
    violated."""

    path: str
    id: str
    action: str
    prior: bool  # must be fulfilled before the use, rather than performed with it
    owed: bool
    fulfilled: bool | None  # None for duties performed with or after the use
    reason: str


@dataclass(frozen=True)
class RuleResult:
    """How one permission or prohibition fared against the request.

    ``applies``: the rule's action covers the request's, and its target and assignee match.
    ``active``: for a permission, it grants the use; for a prohibition, it forbids it.
    """

    path: str
    id: str
    kind: Literal["permission", "prohibition"]
    applies: bool
    active: bool
    constraints: tuple[ConstraintResult, ...] = ()
    duties: tuple[DutyResult, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The outcome of ``evaluate``.

    When ``permitted``, the caller owes every duty in ``duties`` for this use and must perform
    them or abandon the use; ``permission`` names the permission exercised and ``consumed``
    says whether a use was recorded against its counters. When denied, ``reasons`` says why,
    one line in words per failed constraint, unmet duty or applying prohibition, naming the rule
    as e.g. ``permission 2 (use)``; ``rules`` holds the machine paths.
    """

    permitted: bool
    reasons: tuple[str, ...]
    duties: tuple[Duty, ...]
    rules: tuple[RuleResult, ...]
    policy: str
    permission: str | None = None
    consumed: bool = False

    def raise_for_denial(self) -> None:
        """Raise UsageDeniedError (carrying this decision) unless the use is permitted."""
        if not self.permitted:
            summary = "; ".join(self.reasons) or "denied by default"
            raise UsageDeniedError(f"use denied: {summary}", decision=self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form of the decision and its report, e.g. for an audit log."""
        from tds.policy._odrl import duty_to_odrl

        return {
            "permitted": self.permitted,
            "reasons": list(self.reasons),
            "duties": [duty_to_odrl(duty) for duty in self.duties],
            "rules": [asdict(rule) for rule in self.rules],
            "policy": self.policy,
            "permission": self.permission,
            "consumed": self.consumed,
        }
