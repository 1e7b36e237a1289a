"""The tds ODRL profile: its terms, what each operand applies to, and where it is enforced.

Everything that decides whether a policy is inside the profile lives here, so that the JSON-LD
context in ``tds-profile.jsonld``, the parser, the model and the docs can be checked against one
table.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, TypeVar

from tds.errors import PolicyEvaluationError
from tds.policy._values import shown

ODRL_NS = "http://www.w3.org/ns/odrl/2/"
TDS_NS = "https://w3id.org/tds/policy#"
XSD_NS = "http://www.w3.org/2001/XMLSchema#"
PROFILE_IRI = "https://w3id.org/tds/policy"
CONTEXT_IRI = "https://w3id.org/tds/policy.jsonld"
ODRL_CONTEXT_IRIS = frozenset(
    {"http://www.w3.org/ns/odrl.jsonld", "https://www.w3.org/ns/odrl.jsonld"}
)
PREFIXES = {"odrl": ODRL_NS, "tds": TDS_NS, "xsd": XSD_NS}


class PolicyType(enum.StrEnum):
    """ODRL policy subclasses the profile accepts."""

    SET = "Set"
    OFFER = "Offer"
    AGREEMENT = "Agreement"


class Conflict(enum.StrEnum):
    """What a policy decides when a permission and a prohibition both apply to a request
    (ODRL's ``conflict`` property).

    ``prohibit``: the prohibition wins (what tds writes unless told otherwise). ``perm``: the
    permission wins. ``invalid``: the whole policy is void, so nothing it grants holds for the
    request; ODRL 2.2 takes this when a policy says nothing.
    """

    PERM = "perm"
    PROHIBIT = "prohibit"
    INVALID = "invalid"


class Enforcer(enum.StrEnum):
    """Which connector checks an operand or performs a duty."""

    PROVIDER = "provider"
    CONSUMER = "consumer"


class Action(enum.StrEnum):
    """Actions a permission or prohibition governs.

    ``use`` is the parent of every other action: a permission or prohibition for ``use``
    covers them all. The other actions are siblings; none includes another.
    """

    USE = "use"
    READ = "read"
    AGGREGATE = "aggregate"
    JOIN = "join"
    JOIN_SUM = "join-sum"
    CARDINALITY = "cardinality"

    @property
    def parent(self) -> Action | None:
        return None if self is Action.USE else Action.USE

    def covers(self, other: Action) -> bool:
        """Whether a rule for this action governs ``other`` (ODRL ``includedIn``)."""
        if not isinstance(other, Action):
            raise PolicyEvaluationError(f"expected an Action, got {shown(other)}")
        action: Action | None = other
        while action is not None:
            if action is self:
                return True
            action = action.parent
        return False


class DutyAction(enum.StrEnum):
    """Actions a duty can require."""

    LOG = "log"
    NOTIFY = "notify"
    DELETE = "delete"
    ADD_NOISE = "addNoise"
    ANONYMIZE = "anonymize"
    OBTAIN_CONSENT = "obtainConsent"

    @property
    def is_prior(self) -> bool:
        """True for duties that must be fulfilled before a use, not performed with it."""
        return self is DutyAction.OBTAIN_CONSENT

    @property
    def performed_by(self) -> Enforcer:
        if self in (DutyAction.DELETE, DutyAction.OBTAIN_CONSENT):
            return Enforcer.CONSUMER
        return Enforcer.PROVIDER


class Operator(enum.StrEnum):
    """ODRL constraint operators."""

    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTEQ = "gteq"
    LT = "lt"
    LTEQ = "lteq"
    IS_A = "isA"
    HAS_PART = "hasPart"
    IS_PART_OF = "isPartOf"
    IS_ALL_OF = "isAllOf"
    IS_ANY_OF = "isAnyOf"
    IS_NONE_OF = "isNoneOf"

    @property
    def takes_set(self) -> bool:
        """Whether the right operand is a set of values rather than one value."""
        return self in _SET_OPERATORS


_SET_OPERATORS = frozenset(
    {Operator.IS_ANY_OF, Operator.IS_NONE_OF, Operator.IS_ALL_OF, Operator.HAS_PART}
)


class LogicalOperator(enum.StrEnum):
    """ODRL logical constraint operands."""

    AND = "and"
    OR = "or"
    XONE = "xone"


class LeftOperand(enum.StrEnum):
    """Left operands of the tds profile; see ``OPERANDS`` for what each one means."""

    PURPOSE = "purpose"
    RECIPIENT = "recipient"
    DATE_TIME = "dateTime"
    ELAPSED_TIME = "elapsedTime"
    COUNT = "count"
    RATE = "rate"
    OPERATION = "operation"
    COLUMN = "column"
    MIN_COHORT = "minCohort"
    PEER_SET_SIZE = "peerSetSize"
    DP_EPSILON = "dpEpsilon"
    SPATIAL = "spatial"
    CLASSIFICATION = "classification"
    RESIDENCY = "residency"
    DATA_AGE = "dataAge"

    @property
    def spec(self) -> OperandSpec:
        return OPERANDS[self]

    @property
    def enforced_by(self) -> Enforcer:
        return OPERANDS[self].enforced_by


class ValueKind(enum.Enum):
    """The type of an operand's right operand (and of the request value it is compared to)."""

    IDENTIFIER = "identifier"  # a string compared exactly
    HIERARCHY = "hierarchy"  # a string whose "/"-separated prefixes are its ancestors
    ACTION = "action"  # an Action, with the action hierarchy
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATETIME = "dateTime"
    DURATION = "duration"
    RATE = "rate"
    BOUNDING_BOX = "boundingBox"
    STRING_SET = "stringSet"  # the left value is itself a set of strings


_ORDER = frozenset(
    {Operator.EQ, Operator.NEQ, Operator.GT, Operator.GTEQ, Operator.LT, Operator.LTEQ}
)
_MEMBERSHIP = frozenset({Operator.EQ, Operator.NEQ, Operator.IS_ANY_OF, Operator.IS_NONE_OF})
_LIMIT = frozenset({Operator.LT, Operator.LTEQ})


@dataclass(frozen=True)
class OperandSpec:
    """What a left operand compares, with which operators, and who enforces it."""

    namespace: str
    kind: ValueKind
    operators: frozenset[Operator]
    request_field: str | None
    enforced_by: Enforcer
    stateful: bool
    meaning: str


OPERANDS: MappingProxyType[LeftOperand, OperandSpec] = MappingProxyType(
    {
        LeftOperand.PURPOSE: OperandSpec(
            ODRL_NS,
            ValueKind.HIERARCHY,
            _MEMBERSHIP | {Operator.IS_A},
            "purpose",
            Enforcer.PROVIDER,
            False,
            "the purpose the consumer declares for the use",
        ),
        LeftOperand.RECIPIENT: OperandSpec(
            ODRL_NS,
            ValueKind.IDENTIFIER,
            _MEMBERSHIP,
            "recipient",
            Enforcer.PROVIDER,
            False,
            "the party that receives the result",
        ),
        LeftOperand.DATE_TIME: OperandSpec(
            ODRL_NS,
            ValueKind.DATETIME,
            _ORDER,
            "time",
            Enforcer.PROVIDER,
            False,
            "the instant of the use",
        ),
        LeftOperand.ELAPSED_TIME: OperandSpec(
            ODRL_NS,
            ValueKind.DURATION,
            _ORDER,
            "time",
            Enforcer.PROVIDER,
            False,
            "time since the agreement (as a delete parameter: the time allowed after the use)",
        ),
        LeftOperand.COUNT: OperandSpec(
            ODRL_NS,
            ValueKind.INTEGER,
            _LIMIT,
            None,
            Enforcer.PROVIDER,
            True,
            "the number of uses of the permission, this one included",
        ),
        LeftOperand.RATE: OperandSpec(
            TDS_NS,
            ValueKind.RATE,
            _LIMIT,
            "time",
            Enforcer.PROVIDER,
            True,
            "the number of uses of the permission in the trailing period, this one included",
        ),
        LeftOperand.OPERATION: OperandSpec(
            TDS_NS,
            ValueKind.ACTION,
            _MEMBERSHIP | {Operator.IS_A},
            "action",
            Enforcer.PROVIDER,
            False,
            "the action the request performs",
        ),
        LeftOperand.COLUMN: OperandSpec(
            TDS_NS,
            ValueKind.STRING_SET,
            frozenset(
                {
                    Operator.IS_PART_OF,
                    Operator.HAS_PART,
                    Operator.IS_ALL_OF,
                    Operator.IS_ANY_OF,
                    Operator.IS_NONE_OF,
                }
            ),
            "columns",
            Enforcer.PROVIDER,
            False,
            "the set of columns the use reads",
        ),
        LeftOperand.MIN_COHORT: OperandSpec(
            TDS_NS,
            ValueKind.INTEGER,
            _ORDER,
            "cohort_size",
            Enforcer.PROVIDER,
            False,
            "the size of the smallest group of people behind any released value",
        ),
        LeftOperand.PEER_SET_SIZE: OperandSpec(
            TDS_NS,
            ValueKind.INTEGER,
            _ORDER,
            "peer_set_size",
            Enforcer.PROVIDER,
            False,
            "the number of distinct keys the other party brings to a secure join",
        ),
        LeftOperand.DP_EPSILON: OperandSpec(
            TDS_NS,
            ValueKind.DECIMAL,
            _LIMIT,
            "epsilon",
            Enforcer.PROVIDER,
            True,
            "the differential-privacy epsilon spent under the permission, this use included",
        ),
        LeftOperand.SPATIAL: OperandSpec(
            TDS_NS,
            ValueKind.BOUNDING_BOX,
            frozenset({Operator.IS_PART_OF}),
            "location",
            Enforcer.PROVIDER,
            False,
            "where the data the use reads lies: a point (latitude, longitude) or an area",
        ),
        LeftOperand.CLASSIFICATION: OperandSpec(
            TDS_NS,
            ValueKind.INTEGER,
            _ORDER | {Operator.IS_ANY_OF, Operator.IS_NONE_OF},
            "classification",
            Enforcer.PROVIDER,
            False,
            "the grading level of the data the use reads (higher is more sensitive)",
        ),
        LeftOperand.RESIDENCY: OperandSpec(
            TDS_NS,
            ValueKind.HIERARCHY,
            _MEMBERSHIP | {Operator.IS_PART_OF},
            "residency",
            Enforcer.CONSUMER,
            False,
            "the region where the consumer processes and keeps the result",
        ),
        LeftOperand.DATA_AGE: OperandSpec(
            TDS_NS,
            ValueKind.DURATION,
            _ORDER,
            "data_time",
            Enforcer.PROVIDER,
            False,
            "the age, at the time of use, of the newest record the use reads",
        ),
    }
)

# Duties are parametrized by refinements of their action; these are the parameters each takes.
DUTY_PARAMETERS: dict[DutyAction, frozenset[LeftOperand]] = {
    DutyAction.LOG: frozenset(),
    DutyAction.NOTIFY: frozenset({LeftOperand.RECIPIENT}),
    DutyAction.DELETE: frozenset({LeftOperand.ELAPSED_TIME}),
    DutyAction.ADD_NOISE: frozenset(),
    DutyAction.ANONYMIZE: frozenset({LeftOperand.COLUMN}),
    DutyAction.OBTAIN_CONSENT: frozenset(),
}

_ACTION_NAMESPACES = {
    Action.USE: ODRL_NS,
    Action.READ: ODRL_NS,
    Action.AGGREGATE: TDS_NS,
    Action.JOIN: TDS_NS,
    Action.JOIN_SUM: TDS_NS,
    Action.CARDINALITY: TDS_NS,
    DutyAction.LOG: TDS_NS,
    DutyAction.NOTIFY: TDS_NS,
    DutyAction.DELETE: ODRL_NS,
    DutyAction.ADD_NOISE: TDS_NS,
    DutyAction.ANONYMIZE: ODRL_NS,
    DutyAction.OBTAIN_CONSENT: ODRL_NS,
}

# Datatypes of typed right-operand literals ({"@value": ..., "@type": ...}).
DATATYPES = {
    "dateTime": XSD_NS,
    "date": XSD_NS,
    "duration": XSD_NS,
    "dayTimeDuration": XSD_NS,
    "yearMonthDuration": XSD_NS,
    "integer": XSD_NS,
    "nonNegativeInteger": XSD_NS,
    "decimal": XSD_NS,
    "double": XSD_NS,
    "string": XSD_NS,
    "anyURI": XSD_NS,
    "Rate": TDS_NS,
    "BoundingBox": TDS_NS,
}

_PREFIX_OF = {namespace: prefix for prefix, namespace in PREFIXES.items()}

_Term = TypeVar("_Term", bound=enum.Enum)


def _spellings(members: dict[_Term, str]) -> dict[str, _Term]:
    """Every accepted spelling of each term: bare, prefixed and as a full IRI."""
    table: dict[str, _Term] = {}
    for member, namespace in members.items():
        local = member.value
        table[local] = member
        table[f"{_PREFIX_OF[namespace]}:{local}"] = member
        table[f"{namespace}{local}"] = member
    return table


_TERMS: dict[type[enum.Enum], dict[str, Any]] = {
    PolicyType: _spellings({member: ODRL_NS for member in PolicyType}),
    Conflict: _spellings({member: ODRL_NS for member in Conflict}),
    Action: _spellings({member: _ACTION_NAMESPACES[member] for member in Action}),
    DutyAction: _spellings({member: _ACTION_NAMESPACES[member] for member in DutyAction}),
    Operator: _spellings({member: ODRL_NS for member in Operator}),
    LogicalOperator: _spellings({member: ODRL_NS for member in LogicalOperator}),
    LeftOperand: _spellings({member: spec.namespace for member, spec in OPERANDS.items()}),
}


def resolve_term(kind: type[_Term], spelling: str) -> _Term | None:
    """The profile term ``spelling`` names (``eq``, ``odrl:eq`` or its IRI), or None."""
    return _TERMS[kind].get(spelling)


def term_iri(member: enum.Enum) -> str:
    """The full IRI of a profile term."""
    if isinstance(member, LeftOperand):
        namespace = OPERANDS[member].namespace
    elif isinstance(member, Action | DutyAction):
        namespace = _ACTION_NAMESPACES[member]
    else:
        namespace = ODRL_NS
    return f"{namespace}{member.value}"


def compact_iri(member: enum.Enum) -> str:
    """The prefixed name of a profile term, e.g. ``tds:minCohort``."""
    namespace = term_iri(member)[: -len(member.value)]
    return f"{_PREFIX_OF[namespace]}:{member.value}"


def profile_context() -> dict[str, Any]:
    """The JSON-LD context of the tds profile, as published in ``docs/tds-profile.jsonld``."""
    text = resources.files("tds.policy").joinpath("tds-profile.jsonld").read_text("utf-8")
    context: dict[str, Any] = json.loads(text)
    return context
