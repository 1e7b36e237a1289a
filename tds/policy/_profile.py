"""The tds ODRL profile: its terms, what each operand applies to, and where it is enforced.

Everything that decides whether a policy is inside the profile lives here, so that the JSON-LD
context in ``tds-profile.jsonld``, the parser, the model and the docs can be checked against one
table.
"""

from __future__ import annotations

import enum
import functools
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

    The operations tds performs (``read`` and the four computations) and every action of the
    ODRL 2.2 Common Vocabulary, so that a policy written for another stack means the same here.
    Each action but ``use`` and ``transfer`` is included in a broader one (ODRL ``includedIn``),
    and a rule for an action governs every action under it: tds's computations are under
    ``derive`` (each creates a new result from the data), ``derive`` and ``read`` under ``use``.
    ``ACTIONS`` gives each one's parent and meaning.
    """

    USE = "use"
    TRANSFER = "transfer"
    READ = "read"
    AGGREGATE = "aggregate"
    JOIN = "join"
    JOIN_SUM = "join-sum"
    CARDINALITY = "cardinality"
    ACCEPT_TRACKING = "acceptTracking"
    # ODRL's aggregate (use as part of a composite collection), which is not tds's: the tds
    # context binds the bare name to tds:aggregate, so ODRL's is written with its prefix.
    ODRL_AGGREGATE = "odrl:aggregate"
    ANNOTATE = "annotate"
    ANONYMIZE = "anonymize"
    ARCHIVE = "archive"
    ATTRIBUTE = "attribute"
    COMPENSATE = "compensate"
    CONCURRENT_USE = "concurrentUse"
    DELETE = "delete"
    DERIVE = "derive"
    DIGITIZE = "digitize"
    DISPLAY = "display"
    DISTRIBUTE = "distribute"
    ENSURE_EXCLUSIVITY = "ensureExclusivity"
    EXECUTE = "execute"
    EXTRACT = "extract"
    GIVE = "give"
    GRANT_USE = "grantUse"
    INCLUDE = "include"
    INDEX = "index"
    INFORM = "inform"
    INSTALL = "install"
    MODIFY = "modify"
    MOVE = "move"
    NEXT_POLICY = "nextPolicy"
    OBTAIN_CONSENT = "obtainConsent"
    PLAY = "play"
    PRESENT = "present"
    PRINT = "print"
    REPRODUCE = "reproduce"
    REVIEW_POLICY = "reviewPolicy"
    SELL = "sell"
    STREAM = "stream"
    SYNCHRONIZE = "synchronize"
    TEXT_TO_SPEECH = "textToSpeech"
    TRANSFORM = "transform"
    TRANSLATE = "translate"
    UNINSTALL = "uninstall"
    WATERMARK = "watermark"

    @property
    def parent(self) -> Action | None:
        """The action this one is included in (ODRL ``includedIn``); None for use and transfer."""
        return ACTIONS[self].parent

    @property
    def performed_by_tds(self) -> bool:
        """Whether a tds operation is this action (the others occur only in policies)."""
        return ACTIONS[self].performed_by_tds

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


@dataclass(frozen=True)
class ActionSpec:
    """Where an action stands: its namespace, the action that includes it, what it means (a
    verb phrase that reads after "May" and after "Never"), and whether tds performs it."""

    namespace: str
    parent: Action | None
    words: str
    performed_by_tds: bool = False


def _odrl(parent: Action | None, words: str) -> ActionSpec:
    return ActionSpec(ODRL_NS, parent, words)


ACTIONS: MappingProxyType[Action, ActionSpec] = MappingProxyType(
    {
        Action.USE: _odrl(None, "use the data"),
        Action.TRANSFER: _odrl(None, "transfer ownership of the data"),
        Action.READ: ActionSpec(ODRL_NS, Action.USE, "read the rows", True),
        Action.AGGREGATE: ActionSpec(TDS_NS, Action.DERIVE, "aggregate the data", True),
        Action.JOIN: ActionSpec(TDS_NS, Action.DERIVE, "learn the shared keys (join)", True),
        Action.JOIN_SUM: ActionSpec(
            TDS_NS, Action.DERIVE, "sum over the shared keys (join-sum)", True
        ),
        Action.CARDINALITY: ActionSpec(
            TDS_NS, Action.DERIVE, "count the shared keys (cardinality)", True
        ),
        Action.ACCEPT_TRACKING: _odrl(Action.USE, "accept that the use is tracked"),
        Action.ODRL_AGGREGATE: _odrl(Action.USE, "use the data as part of a composite collection"),
        Action.ANNOTATE: _odrl(Action.USE, "annotate the data"),
        Action.ANONYMIZE: _odrl(Action.USE, "anonymize the data"),
        Action.ARCHIVE: _odrl(Action.USE, "archive the data"),
        Action.ATTRIBUTE: _odrl(Action.USE, "attribute the data to its owner"),
        Action.COMPENSATE: _odrl(Action.USE, "compensate the owner"),
        Action.CONCURRENT_USE: _odrl(Action.USE, "use the data concurrently"),
        Action.DELETE: _odrl(Action.USE, "delete the data"),
        Action.DERIVE: _odrl(Action.USE, "derive new data from the data"),
        Action.DIGITIZE: _odrl(Action.USE, "digitize the data"),
        Action.DISPLAY: _odrl(Action.PLAY, "display the data"),
        Action.DISTRIBUTE: _odrl(Action.USE, "distribute the data to third parties"),
        Action.ENSURE_EXCLUSIVITY: _odrl(Action.USE, "ensure exclusive use"),
        Action.EXECUTE: _odrl(Action.USE, "execute the data as a program"),
        Action.EXTRACT: _odrl(Action.REPRODUCE, "extract parts of the data"),
        Action.GIVE: _odrl(Action.TRANSFER, "give the data away"),
        Action.GRANT_USE: _odrl(Action.USE, "grant others the use of the data"),
        Action.INCLUDE: _odrl(Action.USE, "include other assets with the data"),
        Action.INDEX: _odrl(Action.USE, "index the data"),
        Action.INFORM: _odrl(Action.USE, "inform a party of the use"),
        Action.INSTALL: _odrl(Action.USE, "install the data"),
        Action.MODIFY: _odrl(Action.USE, "modify the data in place"),
        Action.MOVE: _odrl(Action.USE, "move the data"),
        Action.NEXT_POLICY: _odrl(Action.USE, "pass the data on under a further policy"),
        Action.OBTAIN_CONSENT: _odrl(Action.USE, "obtain consent"),
        Action.PLAY: _odrl(Action.USE, "play the data"),
        Action.PRESENT: _odrl(Action.USE, "present the data publicly"),
        Action.PRINT: _odrl(Action.USE, "print the data"),
        Action.REPRODUCE: _odrl(Action.USE, "copy the data"),
        Action.REVIEW_POLICY: _odrl(Action.USE, "have the policy reviewed"),
        Action.SELL: _odrl(Action.TRANSFER, "sell the data"),
        Action.STREAM: _odrl(Action.USE, "stream the data"),
        Action.SYNCHRONIZE: _odrl(Action.USE, "synchronize the data with other media"),
        Action.TEXT_TO_SPEECH: _odrl(Action.USE, "read the data aloud by speech synthesis"),
        Action.TRANSFORM: _odrl(Action.USE, "transform the data into another format"),
        Action.TRANSLATE: _odrl(Action.USE, "translate the data"),
        Action.UNINSTALL: _odrl(Action.USE, "uninstall the data"),
        Action.WATERMARK: _odrl(Action.USE, "watermark the data"),
    }
)


class DutyAction(enum.StrEnum):
    """Actions a duty can require."""

    LOG = "log"
    NOTIFY = "notify"
    DELETE = "delete"
    ADD_NOISE = "addNoise"
    ANONYMIZE = "anonymize"
    OBTAIN_CONSENT = "obtainConsent"
    COMPENSATE = "compensate"

    @property
    def is_prior(self) -> bool:
        """True for duties that must be fulfilled before a use, not performed with it."""
        return self is DutyAction.OBTAIN_CONSENT

    @property
    def may_be_violated(self) -> bool:
        """True for duties the consumer owes after the use (compensate): the provider records
        one it finds violated, and the permission grants nothing more until it is settled."""
        return self is DutyAction.COMPENSATE

    @property
    def performed_by(self) -> Enforcer:
        if self in (DutyAction.DELETE, DutyAction.OBTAIN_CONSENT, DutyAction.COMPENSATE):
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
    DutyAction.COMPENSATE: frozenset(),
}

_DUTY_NAMESPACES = {
    DutyAction.LOG: TDS_NS,
    DutyAction.NOTIFY: TDS_NS,
    DutyAction.DELETE: ODRL_NS,
    DutyAction.ADD_NOISE: TDS_NS,
    DutyAction.ANONYMIZE: ODRL_NS,
    DutyAction.OBTAIN_CONSENT: ODRL_NS,
    DutyAction.COMPENSATE: ODRL_NS,
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


def _namespace(member: enum.Enum) -> str:
    if isinstance(member, LeftOperand):
        return OPERANDS[member].namespace
    if isinstance(member, Action):
        return ACTIONS[member].namespace
    if isinstance(member, DutyAction):
        return _DUTY_NAMESPACES[member]
    return ODRL_NS


def _local_name(member: enum.Enum) -> str:
    # Only Action.ODRL_AGGREGATE carries its prefix in its value.
    return str(member.value).removeprefix("odrl:")


def _spellings(kind: type[_Term]) -> dict[str, _Term]:
    """Every accepted spelling of each term: bare, prefixed and as a full IRI."""
    table: dict[str, _Term] = {}
    for member in kind:
        namespace, local = _namespace(member), _local_name(member)
        table[member.value] = member
        table[f"{_PREFIX_OF[namespace]}:{local}"] = member
        table[f"{namespace}{local}"] = member
    return table


_TERMS: dict[type[enum.Enum], dict[str, Any]] = {
    kind: _spellings(kind)
    for kind in (PolicyType, Conflict, Action, DutyAction, Operator, LogicalOperator, LeftOperand)
}

# Actions ODRL 2.2 deprecated, read as the actions that replace them.
DEPRECATED_ACTIONS = {
    "append": Action.MODIFY,
    "appendTo": Action.MODIFY,
    "write": Action.MODIFY,
    "writeTo": Action.MODIFY,
    "copy": Action.REPRODUCE,
    "extractChar": Action.EXTRACT,
    "extractPage": Action.EXTRACT,
    "extractWord": Action.EXTRACT,
    "pay": Action.COMPENSATE,
}
for _old, _replacement in DEPRECATED_ACTIONS.items():
    for _spelling in (_old, f"odrl:{_old}", f"{ODRL_NS}{_old}"):
        _TERMS[Action][_spelling] = _replacement


def resolve_term(kind: type[_Term], spelling: str) -> _Term | None:
    """The profile term ``spelling`` names (``eq``, ``odrl:eq`` or its IRI), or None."""
    return _TERMS[kind].get(spelling)


def term_iri(member: enum.Enum) -> str:
    """The full IRI of a profile term."""
    return f"{_namespace(member)}{_local_name(member)}"


def compact_iri(member: enum.Enum) -> str:
    """The prefixed name of a profile term, e.g. ``tds:minCohort``."""
    return f"{_PREFIX_OF[_namespace(member)]}:{_local_name(member)}"


def profile_context() -> dict[str, Any]:
    """The JSON-LD context of the tds profile, as published in ``docs/tds-profile.jsonld``."""
    return {"@context": dict(bundled_terms("tds-profile.jsonld"))}


@functools.cache
def bundled_terms(name: str) -> MappingProxyType[str, Any]:
    """The term definitions of a JSON-LD context shipped in the package (read once)."""
    text = resources.files("tds.policy").joinpath(name).read_text("utf-8")
    return MappingProxyType(json.loads(text)["@context"])
