"""The policy model: immutable values for policies, rules, duties and constraints.

Every constructor validates against the tds profile, so a policy built in Python and one read
from JSON-LD pass the same checks, and every value is stored in one canonical form (sets sorted,
instants in UTC, numbers normalized) so that equal policies have equal content hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, TypeVar

from tds.errors import PolicySyntaxError
from tds.policy._profile import (
    DUTY_PARAMETERS,
    OPERANDS,
    Action,
    Conflict,
    DutyAction,
    LeftOperand,
    LogicalOperator,
    Operator,
    PolicyType,
    ValueKind,
    resolve_term,
)
from tds.policy._values import (
    MAX_INTEGER,
    BoundingBox,
    Day,
    Duration,
    Rate,
    is_text,
    shown,
    to_decimal,
    to_utc,
)

_Term = TypeVar("_Term", Action, DutyAction, LeftOperand, LogicalOperator, Operator, PolicyType)


_LABELS: dict[type, str] = {
    Action: "action",
    DutyAction: "action",
    LeftOperand: "left operand",
    LogicalOperator: "logical operator",
    Operator: "operator",
    PolicyType: "policy type",
    Conflict: "conflict strategy",
}


def _term(kind: type[_Term], value: object, path: str) -> _Term:
    if isinstance(value, kind):
        return value
    member = resolve_term(kind, value) if isinstance(value, str) else None
    if member is None:
        raise PolicySyntaxError(f"unknown {_LABELS[kind]} {shown(value)} in the tds profile", path)
    return member


def _identifier(value: object, path: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise PolicySyntaxError(f"expected a non-empty string, got {shown(value)}", path=path)
    if not is_text(value):
        raise PolicySyntaxError(
            f"{shown(value)} holds a lone surrogate, which is not Unicode text", path=path
        )
    return value


# Value types that also accept their text form, e.g. "P30D" for a Duration.
_PARSED_TYPES: dict[ValueKind, type[Duration] | type[Rate] | type[BoundingBox]] = {
    ValueKind.DURATION: Duration,
    ValueKind.RATE: Rate,
    ValueKind.BOUNDING_BOX: BoundingBox,
}


def _scalar(kind: ValueKind, value: object, path: str) -> Any:
    """One right-operand value in canonical form, or PolicySyntaxError."""
    if kind in (ValueKind.IDENTIFIER, ValueKind.HIERARCHY, ValueKind.STRING_SET):
        return _identifier(value, path, optional=False)
    if kind is ValueKind.ACTION:
        return _term(Action, value, path)
    if kind is ValueKind.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
            raise PolicySyntaxError(
                f"expected a non-negative integer up to 2**63 - 1, got {shown(value)}", path=path
            )
        return value
    if kind is ValueKind.DECIMAL:
        return to_decimal(value, what="value")
    if kind is ValueKind.DATETIME:
        if isinstance(value, Day):
            return value
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise PolicySyntaxError("a dateTime needs a time zone", path=path)
            try:
                return to_utc(value)
            except PolicySyntaxError as error:
                raise PolicySyntaxError(str(error), path=path) from None
        if isinstance(value, date):
            return Day(value)  # a plain date is a UTC day
        raise PolicySyntaxError(
            f"expected an aware datetime, a date or a Day, got {shown(value)}", path=path
        )
    value_type = _PARSED_TYPES[kind]
    if isinstance(value, str):
        return value_type.parse(value)
    if not isinstance(value, value_type):
        raise PolicySyntaxError(f"expected a {value_type.__name__}, got {shown(value)}", path=path)
    return value


def takes_set(operand: LeftOperand, operator: Operator) -> bool:
    """Whether the constraint's right operand is a set of values."""
    return operator.takes_set or OPERANDS[operand].kind is ValueKind.STRING_SET


def check_operator(operand: LeftOperand, operator: Operator) -> None:
    """Raise PolicySyntaxError unless ``operator`` applies to ``operand``."""
    allowed = OPERANDS[operand].operators
    if operator not in allowed:
        raise PolicySyntaxError(
            f"operator {operator} does not apply to {operand}; use one of: "
            + ", ".join(sorted(allowed)),
            path="operator",
        )


def _right_operand(operand: LeftOperand, operator: Operator, value: object) -> Any:
    spec = OPERANDS[operand]
    check_operator(operand, operator)
    if not takes_set(operand, operator):
        if isinstance(value, list | tuple | set | frozenset):
            raise PolicySyntaxError(
                f"{operator} takes one value, got {shown(value)}", "rightOperand"
            )
        return _scalar(spec.kind, value, "rightOperand")
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise PolicySyntaxError(
            f"{operator} takes a list of values, got {shown(value)}", "rightOperand"
        )
    members = {_scalar(spec.kind, item, "rightOperand") for item in value}
    if not members:
        raise PolicySyntaxError(f"{operator} needs at least one value", path="rightOperand")
    return tuple(sorted(members))


@dataclass(frozen=True)
class Constraint:
    """An atomic constraint: ``left_operand operator right_operand``.

    Set-valued right operands are stored as sorted tuples without duplicates.
    """

    left_operand: LeftOperand
    operator: Operator
    right_operand: Any
    uid: str | None = None

    def __post_init__(self) -> None:
        operand = _term(LeftOperand, self.left_operand, "leftOperand")
        operator = _term(Operator, self.operator, "operator")
        object.__setattr__(self, "left_operand", operand)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(
            self, "right_operand", _right_operand(operand, operator, self.right_operand)
        )
        _identifier(self.uid, "uid")

    def atoms(self) -> Iterator[Constraint]:
        yield self


@dataclass(frozen=True)
class LogicalConstraint:
    """``and`` / ``or`` / ``xone`` over other constraints, evaluated exactly."""

    operator: LogicalOperator
    constraints: tuple[Constraint | LogicalConstraint, ...]
    uid: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", _term(LogicalOperator, self.operator, "operator"))
        constraints = _constraints(self.constraints, str(self.operator))
        if not constraints:
            raise PolicySyntaxError(f"{self.operator} needs at least one constraint", "operator")
        if 1 + max(map(_nesting, constraints)) > MAX_NESTING:
            raise PolicySyntaxError(
                f"logical constraints nest more than {MAX_NESTING} deep", "operator"
            )
        object.__setattr__(self, "constraints", constraints)
        _identifier(self.uid, "uid")

    def atoms(self) -> Iterator[Constraint]:
        for constraint in self.constraints:
            yield from constraint.atoms()


AnyConstraint = Constraint | LogicalConstraint

# Evaluation, serialization and the parser recurse once per level; the bound keeps them all far
# from Python's recursion limit.
MAX_NESTING = 32


def _nesting(constraint: AnyConstraint) -> int:
    if isinstance(constraint, Constraint):
        return 0
    return 1 + max(map(_nesting, constraint.constraints))


def _sequence(values: object, path: str) -> tuple[Any, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise PolicySyntaxError(f"expected a list, got {shown(values)}", path)
    return tuple(values)


def _constraints(values: Iterable[object], path: str) -> tuple[AnyConstraint, ...]:
    result = _sequence(values, path)
    for index, value in enumerate(result):
        if not isinstance(value, Constraint | LogicalConstraint):
            raise PolicySyntaxError(
                f"expected a constraint, got {shown(value)}", f"{path}[{index}]"
            )
    return result


def _reject_stateful(constraints: Iterable[AnyConstraint], path: str, where: str) -> None:
    for index, constraint in enumerate(constraints):
        for atom in constraint.atoms():
            if OPERANDS[atom.left_operand].stateful:
                raise PolicySyntaxError(
                    f"{atom.left_operand} counts uses of a permission and cannot appear in {where}",
                    path=f"{path}[{index}]",
                )


@dataclass(frozen=True, kw_only=True)
class Duty:
    """An obligation attached to a permission.

    ``refinements`` parametrize the duty's action (``delete`` within ``elapsedTime``, ``notify``
    a ``recipient``, ``anonymize`` some ``column``s); ``constraints`` say when the duty is owed;
    ``consequences`` are owed instead if the duty is not fulfilled.
    """

    action: DutyAction
    refinements: tuple[Constraint, ...] = ()
    constraints: tuple[AnyConstraint, ...] = ()
    consequences: tuple[Duty, ...] = ()
    uid: str | None = None

    def __post_init__(self) -> None:
        action = _term(DutyAction, self.action, "action")
        object.__setattr__(self, "action", action)
        refinements = _constraints(self.refinements, "action.refinement")
        for index, refinement in enumerate(refinements):
            path = f"action.refinement[{index}]"
            if not isinstance(refinement, Constraint):
                raise PolicySyntaxError("duty parameters must be atomic constraints", path)
            if refinement.left_operand not in DUTY_PARAMETERS[action]:
                allowed = ", ".join(sorted(DUTY_PARAMETERS[action])) or "none"
                raise PolicySyntaxError(
                    f"{action} takes no {refinement.left_operand} parameter (it takes: {allowed})",
                    path=f"{path}.leftOperand",
                )
        object.__setattr__(self, "refinements", refinements)
        constraints = _constraints(self.constraints, "constraint")
        _reject_stateful(constraints, "constraint", "a duty")
        object.__setattr__(self, "constraints", constraints)
        consequences = _sequence(self.consequences, "consequence")
        for index, consequence in enumerate(consequences):
            if not isinstance(consequence, Duty):
                raise PolicySyntaxError(
                    f"expected a Duty, got {shown(consequence)}", f"consequence[{index}]"
                )
            if consequence.consequences:
                raise PolicySyntaxError(
                    "a consequence cannot have consequences of its own",
                    path=f"consequence[{index}].consequence",
                )
        object.__setattr__(self, "consequences", consequences)
        _identifier(self.uid, "uid")


@dataclass(frozen=True, kw_only=True)
class Permission:
    """The ability to perform ``action`` on ``target``, under constraints and duties."""

    action: Action
    target: str | None = None
    assigner: str | None = None
    assignee: str | None = None
    constraints: tuple[AnyConstraint, ...] = ()
    refinements: tuple[AnyConstraint, ...] = ()
    duties: tuple[Duty, ...] = ()
    uid: str | None = None

    def __post_init__(self) -> None:
        _init_rule(self)
        duties = _sequence(self.duties, "duty")
        for index, duty in enumerate(duties):
            if not isinstance(duty, Duty):
                raise PolicySyntaxError(f"expected a Duty, got {shown(duty)}", f"duty[{index}]")
        object.__setattr__(self, "duties", duties)

    @cached_property
    def is_stateful(self) -> bool:
        """Whether evaluating this permission reads or spends usage counters."""
        return any(
            OPERANDS[atom.left_operand].stateful
            for constraint in self.constraints + self.refinements
            for atom in constraint.atoms()
        )


@dataclass(frozen=True, kw_only=True)
class Prohibition:
    """The inability to perform ``action`` on ``target`` when its constraints hold."""

    action: Action
    target: str | None = None
    assigner: str | None = None
    assignee: str | None = None
    constraints: tuple[AnyConstraint, ...] = ()
    refinements: tuple[AnyConstraint, ...] = ()
    uid: str | None = None

    def __post_init__(self) -> None:
        _init_rule(self)
        _reject_stateful(self.constraints, "constraint", "a prohibition")
        _reject_stateful(self.refinements, "action.refinement", "a prohibition")


def _init_rule(rule: Permission | Prohibition) -> None:
    object.__setattr__(rule, "action", _term(Action, rule.action, "action"))
    for name in ("target", "assigner", "assignee", "uid"):
        _identifier(getattr(rule, name), name)
    object.__setattr__(rule, "constraints", _constraints(rule.constraints, "constraint"))
    object.__setattr__(rule, "refinements", _constraints(rule.refinements, "action.refinement"))


Rule = Permission | Prohibition
_PolicyPart = TypeVar("_PolicyPart", Permission, Prohibition)


@dataclass(frozen=True)
class Collection:
    """A party collection or an asset collection (ODRL ``PartyCollection``,
    ``AssetCollection``), named by ``uid``, with the ``source`` that lists its members if the
    policy names one. A rule assigned to a party collection applies to each of its members, a
    rule on an asset collection to each asset in it. Who is a member is a fact the enforcing
    side supplies in the :class:`~tds.policy.Request`, never the requester's claim.
    """

    uid: str
    kind: str  # "party" or "asset"
    source: str | None = None

    def __post_init__(self) -> None:
        _identifier(self.uid, "uid", optional=False)
        if self.kind not in ("party", "asset"):
            raise PolicySyntaxError(f"a collection holds parties or assets, not {shown(self.kind)}")
        _identifier(self.source, "source")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """An ODRL policy (Set, Offer or Agreement) inside the tds profile.

    ``target``, ``assigner`` and ``assignee`` at policy level apply to every rule that does
    not name its own (the ODRL compact form). ``conflict`` says what wins where a permission
    and a prohibition both apply (:class:`Conflict`; tds's default, ``prohibit``, is written
    out with the policy). Policies are values: equal policies have the same ``content_hash``,
    which is how an agreement proves it is the policy that was offered.
    """

    uid: str
    type: PolicyType = PolicyType.SET
    permissions: tuple[Permission, ...] = ()
    prohibitions: tuple[Prohibition, ...] = ()
    target: str | None = None
    assigner: str | None = None
    assignee: str | None = None
    conflict: Conflict = Conflict.PROHIBIT
    collections: tuple[Collection, ...] = ()

    def __post_init__(self) -> None:
        _identifier(self.uid, "uid", optional=False)
        object.__setattr__(self, "type", _term(PolicyType, self.type, "@type"))
        object.__setattr__(self, "conflict", _term(Conflict, self.conflict, "conflict"))
        for name in ("target", "assigner", "assignee"):
            _identifier(getattr(self, name), name)
        object.__setattr__(self, "permissions", _rules(self.permissions, Permission, "permission"))
        object.__setattr__(
            self, "prohibitions", _rules(self.prohibitions, Prohibition, "prohibition")
        )
        if not self.permissions and not self.prohibitions:
            raise PolicySyntaxError("a policy needs at least one permission or prohibition")
        self._check_collections()
        rule_ids: dict[str, str] = {}
        for path, rule in self.rules():
            self._check_parties(path, rule)
            _claim_id(rule_ids, rule.uid or path, path)
            if isinstance(rule, Permission):
                for index, duty in enumerate(rule.duties):
                    duty_path = f"{path}.duty[{index}]"
                    _claim_id(rule_ids, duty.uid or duty_path, duty_path)

    def _check_collections(self) -> None:
        collections = _sequence(self.collections, "collections")
        if not all(isinstance(collection, Collection) for collection in collections):
            raise PolicySyntaxError("collections must be Collection values", "collections")
        uids = [collection.uid for collection in collections]
        if len(set(uids)) != len(uids):
            raise PolicySyntaxError("a collection is declared twice", "collections")
        object.__setattr__(self, "collections", tuple(sorted(collections, key=_by_uid)))
        kinds = {collection.uid: collection.kind for collection in collections}
        places = [("", self)] + [(f"{path}.", rule) for path, rule in self.rules()]
        allowed = {
            "target": ("asset", "an asset or a collection of assets"),
            "assignee": ("party", "a party or a collection of parties"),
            "assigner": (None, "one party"),
        }
        for prefix, owner in places:
            for name, (kind, what) in allowed.items():
                uid = getattr(owner, name)
                if uid in kinds and kinds[uid] != kind:
                    raise PolicySyntaxError(
                        f"{uid} is a collection of {_PLURALS[kinds[uid]]}; the {name} is {what}",
                        prefix + name,
                    )

    def collection(self, uid: str | None) -> Collection | None:
        """The collection ``uid`` names in this policy, or None for a single party or asset."""
        return next((c for c in self.collections if c.uid == uid), None)

    def _check_parties(self, path: str, rule: Rule) -> None:
        if self.target_of(rule) is None:
            raise PolicySyntaxError("every rule needs a target", path=f"{path}.target")
        if self.type is not PolicyType.SET and self.assigner_of(rule) is None:
            raise PolicySyntaxError(
                f"every rule of an {self.type} needs an assigner", f"{path}.assigner"
            )
        if self.type is PolicyType.AGREEMENT and self.assignee_of(rule) is None:
            raise PolicySyntaxError(
                "every rule of an Agreement needs an assignee", f"{path}.assignee"
            )

    def rules(self) -> Iterator[tuple[str, Rule]]:
        """Each permission and prohibition with its path, e.g. ``permission[0]``."""
        for index, permission in enumerate(self.permissions):
            yield f"permission[{index}]", permission
        for index, prohibition in enumerate(self.prohibitions):
            yield f"prohibition[{index}]", prohibition

    def duties(self) -> Iterator[tuple[str, Duty]]:
        """Each permission's duties with its id: its uid, or its path such as
        ``permission[0].duty[1]`` (as usage states and compliance reports name it)."""
        for path, rule in self.rules():
            if isinstance(rule, Permission):
                for index, duty in enumerate(rule.duties):
                    yield duty.uid or f"{path}.duty[{index}]", duty

    def target_of(self, rule: Rule) -> str | None:
        return rule.target or self.target

    def assigner_of(self, rule: Rule) -> str | None:
        return rule.assigner or self.assigner

    def assignee_of(self, rule: Rule) -> str | None:
        return rule.assignee or self.assignee

    @classmethod
    def from_odrl(cls, document: dict[str, Any] | list[Any] | str | bytes) -> Policy:
        """Read an ODRL JSON-LD policy (a dict or a list of nodes, or its JSON text as str or
        bytes).

        Raises PolicySyntaxError, naming the offending path, for anything outside the tds
        profile: unknown terms, wrongly typed right operands, unsupported ODRL features.
        """
        from tds.policy._odrl import policy_from_odrl

        return policy_from_odrl(document)

    def to_odrl(self) -> dict[str, Any]:
        """The policy as ODRL JSON-LD in the one canonical compact form tds emits."""
        from tds.policy._odrl import policy_to_odrl

        return policy_to_odrl(self)

    @cached_property
    def canonical_json(self) -> str:
        """``to_odrl()`` as canonical JSON text: sorted keys, no spaces, not ASCII-escaped."""
        return json.dumps(self.to_odrl(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of :attr:`canonical_json` in UTF-8."""
        return hashlib.sha256(self.canonical_json.encode("utf-8")).hexdigest()


_PLURALS = {"party": "parties", "asset": "assets"}


def _by_uid(collection: Collection) -> str:
    return collection.uid


def _rules(values: Iterable[object], kind: type[_PolicyPart], path: str) -> tuple[_PolicyPart, ...]:
    rules = _sequence(values, path)
    for index, rule in enumerate(rules):
        if not isinstance(rule, kind):
            raise PolicySyntaxError(
                f"expected a {kind.__name__}, got {shown(rule)}", f"{path}[{index}]"
            )
    return rules


def _claim_id(ids: dict[str, str], rule_id: str, path: str) -> None:
    if rule_id in ids:
        raise PolicySyntaxError(
            f"rule id {shown(rule_id)} is also used by {ids[rule_id]}", f"{path}.uid"
        )
    ids[rule_id] = path
