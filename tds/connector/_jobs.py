"""Joint computations between nodes: what a job asks for, its states, and who plays which role.

A job is asked for by a *requester* (the consumer of one agreement per provider) and computed
with one or more *providers* (the data owners). Every node in the job records it under the same
id. ``docs/connector-protocol.md`` describes the message flow; this module is its data model.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tds._workers import ExecutorChoice
from tds.connector._catalog import check_dataset_id
from tds.connector._transport import parse_address
from tds.connector._trust import validate_node_name
from tds.errors import ConfigError, PolicySyntaxError, StateTransitionError
from tds.he._scheme import Scheme
from tds.policy import Action, BoundingBox, Decision, Duration, DutyAction, LeftOperand
from tds.psi import Mode, _buckets

__all__ = [
    "MAX_JOB_PROVIDERS",
    "Compute",
    "Contribution",
    "JobFrame",
    "JobKind",
    "JobRole",
    "JobSpec",
    "JobState",
    "ProviderPart",
    "check_job_id",
    "check_protocol",
    "check_transition",
    "delete_by",
    "earliest",
    "new_job_id",
]

MAX_JOB_PROVIDERS = 16
# Buckets of a psi job: as fine as tds.psi allows, and no coarser than one 2^24-item join.
MIN_BUCKET_ITEMS = _buckets.MIN_BUCKET_ITEMS
MAX_BUCKET_ITEMS = 1 << 24
MAX_COLUMNS_PER_JOB = 16
MAX_PURPOSE = 256
_JOB_ID = re.compile(r"[0-9a-f]{32}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class JobKind(enum.StrEnum):
    """What a job computes."""

    AGGREGATE = "aggregate"  # sums and counts per group across providers, under encryption
    PSI = "psi"  # the shared keys (the requester learns them; the provider too with reveal)
    PSI_CARDINALITY = "psi-cardinality"  # how many keys are shared
    PSI_SUM = "psi-sum"  # how many, and the sum of the provider's values over them

    @property
    def action(self) -> Action:
        """The policy action a use of this kind is evaluated as."""
        return _ACTIONS[self]

    @property
    def two_party(self) -> bool:
        return self is not JobKind.AGGREGATE

    def psi_mode(self, *, reveal_to_provider: bool = False) -> Mode:
        """The :mod:`tds.psi` mode of a secure-join kind."""
        if self is JobKind.AGGREGATE:
            raise ConfigError("an aggregate job is not a secure join")
        if self is JobKind.PSI:
            return Mode.BOTH if reveal_to_provider else Mode.INTERSECTION
        return Mode.CARDINALITY if self is JobKind.PSI_CARDINALITY else Mode.SUM

    @property
    def provider_is_left(self) -> bool:
        """Whether the provider plays the left party of the secure join.

        The role is chosen so that the party the agreement constrains, the requester, gains as
        little as possible by deviating (``tds.psi.Disclosure.roles_for_untrusted_peer``): in
        cardinality only the right role is safe, so the requester is right and the provider
        learns the size and releases it; in intersection both roles are safe and the left is
        the one that learns the items; in sum no role is safe, and the requester is left, where
        deviating costs a curve operation per pair of items rather than a choice of values.
        """
        return self is JobKind.PSI_CARDINALITY


_ACTIONS = {
    JobKind.AGGREGATE: Action.AGGREGATE,
    JobKind.PSI: Action.JOIN,
    JobKind.PSI_CARDINALITY: Action.CARDINALITY,
    JobKind.PSI_SUM: Action.JOIN_SUM,
}


class JobRole(enum.StrEnum):
    """This node's part in a job."""

    REQUESTER = "requester"
    PROVIDER = "provider"


class JobState(enum.StrEnum):
    """Where a job stands; the last three are final."""

    PENDING = "PENDING"  # accepted, waiting to run
    AWAITING_APPROVAL = "AWAITING_APPROVAL"  # a person must approve it first
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


_S = JobState
_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    _S.PENDING: frozenset({_S.AWAITING_APPROVAL, _S.RUNNING, _S.FAILED, _S.CANCELLED}),
    _S.AWAITING_APPROVAL: frozenset({_S.PENDING, _S.FAILED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.CANCELLED}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def check_transition(job_id: str, current: JobState, target: JobState) -> None:
    """Raise StateTransitionError unless a job may move from ``current`` to ``target``."""
    if target not in _TRANSITIONS[current]:
        if current.is_final:
            raise StateTransitionError(f"job {job_id} is already {current}; it cannot change")
        raise StateTransitionError(f"job {job_id} is {current}; it cannot become {target}")


@dataclass(frozen=True)
class Compute:
    """Where a node runs the batch cryptography of its jobs: ``executor`` (``"local"``,
    ``"ray"`` or a ``concurrent.futures.Executor``) split into ``workers`` tasks (None: every
    core of the machine, or every CPU of the Ray cluster); and ``scheme``, the additive scheme
    of the keys the node makes (``"paillier"`` or ``"ou"``)."""

    executor: ExecutorChoice = "local"
    workers: int | None = None
    scheme: Scheme = "paillier"

    def options(self) -> dict[str, Any]:
        """The ``executor`` and ``workers`` arguments of a secure join's party."""
        return {"executor": self.executor, "workers": self.workers}


def new_job_id() -> str:
    """A fresh job id: 128 random bits as 32 lowercase hex digits."""
    return secrets.token_hex(16)


def check_protocol(kind: JobKind, protocol: object) -> str:
    """``protocol`` if a job of ``kind`` may run it, else ConfigError."""
    if protocol not in ("ecdh", "oprf"):
        raise ConfigError(f"a secure join's protocol is ecdh or oprf, not {protocol!r:.40}")
    if protocol == "oprf" and kind is not JobKind.PSI:
        raise ConfigError(
            f"a {kind} job runs on ECDH: the OPRF join lets the requester see which of its "
            "keys matched, which that kind must hide"
        )
    return protocol


def check_job_id(job_id: object) -> str:
    """``job_id`` if it is 32 lowercase hex digits, else ConfigError."""
    if not isinstance(job_id, str) or _JOB_ID.fullmatch(job_id) is None:
        raise ConfigError(f"{job_id!r:.80} is not a job id (32 lowercase hex digits)")
    return job_id


def _columns(value: object, what: str, *, at_most: int = MAX_COLUMNS_PER_JOB) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{what} must be a list of column names, not {value!r:.80}")
    if len(value) > at_most:
        raise ConfigError(f"{what} names {len(value)} columns; at most {at_most}")
    for column in value:
        if not isinstance(column, str) or _COLUMN.fullmatch(column) is None:
            raise ConfigError(f"{column!r:.80} in {what} is not a column name")
    if len(set(value)) != len(value):
        raise ConfigError(f"{what} repeats a column: {', '.join(value)}")
    return tuple(value)


@dataclass(frozen=True)
class ProviderPart:
    """One provider of a job: the node, the agreement the requester holds with it, and the
    columns of its dataset the job reads (join keys, or group and sum columns).

    ``address`` (``HOST:PORT``) is where the other providers of an aggregation reach this
    one: each provider of the chain asks its predecessor for the sum so far.
    """

    node: str
    agreement_id: str
    dataset_id: str
    key_columns: tuple[str, ...] = ()
    value_column: str | None = None
    address: str = ""

    def __post_init__(self) -> None:
        validate_node_name(self.node)
        if not isinstance(self.address, str):
            raise ConfigError(f"the address of {self.node} must be HOST:PORT text")
        if self.address:
            parse_address(self.address)
        if not isinstance(self.agreement_id, str) or not 0 < len(self.agreement_id) <= 128:
            raise ConfigError(f"{self.agreement_id!r:.80} is not an agreement id")
        check_dataset_id(self.dataset_id)
        object.__setattr__(self, "key_columns", _columns(self.key_columns, "key_columns"))
        if self.value_column is not None:
            _columns([self.value_column], "value_column")

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "agreement_id": self.agreement_id,
            "dataset_id": self.dataset_id,
            "key_columns": list(self.key_columns),
            "value_column": self.value_column,
            "address": self.address,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ProviderPart:
        _expect(
            data, {"node", "agreement_id", "dataset_id", "key_columns", "value_column", "address"}
        )
        return cls(
            node=data["node"],
            agreement_id=data["agreement_id"],
            dataset_id=data["dataset_id"],
            key_columns=_as_tuple(data["key_columns"], "key_columns"),
            value_column=data["value_column"],
            address=data["address"],
        )


@dataclass(frozen=True)
class JobSpec:
    """What a job asks for: the same on every node of the job.

    ``providers`` are in chain order for an aggregation (one for a secure join). ``purpose``
    is the purpose the requester declares to every provider's policy. For an aggregation,
    ``group_by`` and ``sums`` name columns every provider's dataset has, ``groups`` lists
    the groups asked for (as text), and ``min_cohort`` is the smallest group that may be
    released: the providers suppress smaller ones before anything leaves them, and the
    provider of a secure join releases nothing about fewer shared keys. ``epsilon`` (a
    differential-privacy budget for this job) makes every provider add discrete Laplace noise
    calibrated to it, with ``value_bound`` (in the units summed: hundredths for a decimal
    column) clipping each summed value. ``reveal_to_provider`` makes a ``psi`` job tell the
    provider the shared keys too. ``requester_set_size`` is how many distinct keys the
    requester brings to a secure join (0: not declared), for policies that demand a minimum
    (``peerSetSize``); the provider checks it against the keys that arrive.
    ``consent_obtained`` is the requester's attestation that it obtained the consent its
    agreements require (``obtainConsent`` duties); each provider records it in its audit log.
    ``deadline_seconds`` bounds the run. A ``psi`` job runs the ECDH protocol, or with
    ``protocol="oprf"`` the faster OPRF join of :mod:`tds.psi` (the other kinds need ECDH);
    with ``bucket_items`` (0: one join) it splits the sets into buckets of about that many
    items of the larger set, each a join of ``protocol`` (``docs/scale-out.md``).
    An aggregation may ask for the rows in an ``area``
    (a :class:`~tds.policy.BoundingBox` over the dataset's location columns) and a ``period``
    (``(start, end)``, aware datetimes, the end excluded, over its time column): the
    providers' policies see the area as the use's location and the period's end as the time of
    the newest data read, so ``spatial`` and ``dataAge`` constraints are decided before
    anything is read.
    """

    job_id: str
    kind: JobKind
    requester: str
    providers: tuple[ProviderPart, ...]
    purpose: str
    group_by: tuple[str, ...] = ()
    sums: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    min_cohort: int = 1
    epsilon: Decimal | None = None
    value_bound: int = 2**31
    reveal_to_provider: bool = False
    requester_set_size: int = 0
    consent_obtained: bool = False
    deadline_seconds: int = 600
    requester_key: bytes = field(default=b"", repr=False)  # aggregate: the Paillier public key
    area: BoundingBox | None = None
    period: tuple[dt.datetime, dt.datetime] | None = None
    protocol: str = "ecdh"
    bucket_items: int = 0

    def __post_init__(self) -> None:
        check_job_id(self.job_id)
        try:
            object.__setattr__(self, "kind", JobKind(self.kind))
        except ValueError:
            kinds = ", ".join(kind.value for kind in JobKind)
            raise ConfigError(f"unknown job kind {self.kind!r:.40}; use one of {kinds}") from None
        validate_node_name(self.requester)
        providers = self.providers
        if not isinstance(providers, tuple | list) or not all(
            isinstance(p, ProviderPart) for p in providers
        ):
            raise ConfigError("providers must be a sequence of ProviderPart")
        object.__setattr__(self, "providers", tuple(providers))
        self._check_parties()
        if not isinstance(self.purpose, str) or not 0 < len(self.purpose) <= MAX_PURPOSE:
            raise ConfigError(f"a job declares a purpose of 1 to {MAX_PURPOSE} characters")
        object.__setattr__(self, "group_by", _columns(self.group_by, "group_by", at_most=4))
        object.__setattr__(self, "sums", _columns(self.sums, "sums"))
        self._check_numbers()
        self._check_kind()

    def _check_parties(self) -> None:
        nodes = [part.node for part in self.providers]
        if not 1 <= len(nodes) <= MAX_JOB_PROVIDERS:
            raise ConfigError(f"a job has 1 to {MAX_JOB_PROVIDERS} providers, not {len(nodes)}")
        if len(set(nodes)) != len(nodes):
            raise ConfigError(f"a provider appears twice: {', '.join(nodes)}")
        if self.requester in nodes:
            raise ConfigError(f"{self.requester} cannot be requester and provider of one job")

    def _check_numbers(self) -> None:
        for name, low, high in (
            ("min_cohort", 1, 2**31),
            ("value_bound", 1, 2**40),
            ("requester_set_size", 0, 2**32),
            ("deadline_seconds", 1, 7 * 24 * 3600),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be an integer from {low} to {high}, not {value!r}")
        if self.epsilon is not None:
            if isinstance(self.epsilon, bool):
                raise ConfigError("epsilon must be a number, not True or False")
            try:
                epsilon = Decimal(self.epsilon)
            except (InvalidOperation, TypeError, ValueError):
                raise ConfigError(f"epsilon must be a number, not {self.epsilon!r:.40}") from None
            if not epsilon.is_finite() or not 0 < epsilon <= 100:
                raise ConfigError(f"epsilon must be above 0 and at most 100, not {epsilon}")
            # Normalized, so that equal specs have equal text.
            object.__setattr__(self, "epsilon", epsilon.normalize())
        for flag in ("reveal_to_provider", "consent_obtained"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False")
        if not isinstance(self.requester_key, bytes):
            raise ConfigError("requester_key must be bytes")

    def _check_kind(self) -> None:
        kind = self.kind
        if kind is JobKind.AGGREGATE:
            groups = self.groups
            if not isinstance(groups, tuple | list) or not all(
                isinstance(g, tuple | list) and all(isinstance(v, str) for v in g) for g in groups
            ):
                raise ConfigError("groups must be a list of groups, each a list of texts")
            object.__setattr__(self, "groups", tuple(tuple(g) for g in groups))
            if len(set(self.groups)) != len(self.groups):
                raise ConfigError("a group is listed twice")
            if any(len(g) != len(self.group_by) for g in self.groups):
                raise ConfigError(f"every group has one value per group_by column {self.group_by}")
            if self.group_by and not self.groups:
                raise ConfigError("an aggregation grouped by columns lists the groups it asks for")
            if any(p.key_columns or p.value_column for p in self.providers):
                raise ConfigError("an aggregation has no join key or value column")
            if self.reveal_to_provider or self.requester_set_size:
                raise ConfigError("reveal_to_provider and requester_set_size are for secure joins")
            if not self.sums and not self.group_by:
                raise ConfigError(
                    "an aggregation counts rows by group_by columns, sums columns, or both"
                )
            if not self.requester_key:
                raise ConfigError("an aggregation carries the requester's Paillier public key")
            if self.protocol != "ecdh" or self.bucket_items:
                raise ConfigError("an aggregation has no secure-join protocol or buckets")
            self._check_where()
            return
        if len(self.providers) != 1:
            raise ConfigError(f"a {kind} job is between the requester and one provider")
        if self.group_by or self.sums or self.groups:
            raise ConfigError(f"a {kind} job has no group_by, sums or groups")
        object.__setattr__(self, "groups", ())
        part = self.providers[0]
        if not part.key_columns:
            raise ConfigError(f"a {kind} job names the provider's join key columns")
        if (kind is JobKind.PSI_SUM) != (part.value_column is not None):
            raise ConfigError("a psi-sum job, and only it, names the provider's value column")
        if self.reveal_to_provider and kind is not JobKind.PSI:
            raise ConfigError("reveal_to_provider applies to a psi job only")
        if self.requester_key:
            raise ConfigError("only an aggregation carries the requester's Paillier key")
        if self.epsilon is not None and kind is not JobKind.PSI_SUM:
            raise ConfigError(f"a {kind} job releases no noisy value; it takes no epsilon")
        if self.area is not None or self.period is not None:
            raise ConfigError("area and period select the rows of an aggregation only")
        check_protocol(kind, self.protocol)
        if isinstance(self.bucket_items, bool) or not isinstance(self.bucket_items, int):
            raise ConfigError("bucket_items is a number of items (0: one join)")
        if self.bucket_items:
            if kind is not JobKind.PSI:
                raise ConfigError(
                    f"a {kind} job runs as one join: buckets would tell how many keys each "
                    "bucket shares"
                )
            if not MIN_BUCKET_ITEMS <= self.bucket_items <= MAX_BUCKET_ITEMS:
                raise ConfigError(
                    f"bucket_items must be 0 or from {MIN_BUCKET_ITEMS} to {MAX_BUCKET_ITEMS}"
                )

    def _check_where(self) -> None:
        if self.area is not None and not isinstance(self.area, BoundingBox):
            raise ConfigError(f"area must be a BoundingBox, not {self.area!r:.80}")
        if self.period is None:
            return
        if not isinstance(self.period, tuple | list) or len(self.period) != 2:
            raise ConfigError("period is (start, end): two timezone-aware datetimes")
        start, end = self.period
        for instant in (start, end):
            if not isinstance(instant, dt.datetime) or instant.utcoffset() is None:
                raise ConfigError(
                    f"period bounds are timezone-aware datetimes, not {instant!r:.80}"
                )
        if not start < end:
            raise ConfigError(f"a period starts before it ends, not {start} to {end}")
        object.__setattr__(self, "period", (start.astimezone(dt.UTC), end.astimezone(dt.UTC)))

    @property
    def data_time(self) -> dt.datetime | None:
        """The newest data an aggregation over ``period`` can read: the period's end."""
        return None if self.period is None else self.period[1]

    def part(self, node: str) -> ProviderPart:
        """The part of provider ``node``; ConfigError if it is not one."""
        for part in self.providers:
            if part.node == node:
                return part
        raise ConfigError(f"{node} is not a provider of job {self.job_id}")

    def columns_for(self, part: ProviderPart) -> tuple[str, ...]:
        """The columns of ``part``'s dataset the job reads, as the provider's policy sees them."""
        if self.kind is JobKind.AGGREGATE:
            return (*self.group_by, *self.sums)
        value = () if part.value_column is None else (part.value_column,)
        return (*part.key_columns, *value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.kind.value,
            "requester": self.requester,
            "providers": [part.to_dict() for part in self.providers],
            "purpose": self.purpose,
            "group_by": list(self.group_by),
            "sums": list(self.sums),
            "groups": [list(group) for group in self.groups],
            "min_cohort": self.min_cohort,
            "epsilon": None if self.epsilon is None else format(self.epsilon, "f"),
            "value_bound": self.value_bound,
            "reveal_to_provider": self.reveal_to_provider,
            "requester_set_size": self.requester_set_size,
            "consent_obtained": self.consent_obtained,
            "deadline_seconds": self.deadline_seconds,
            "requester_key": self.requester_key.hex(),
            "protocol": self.protocol,
            "bucket_items": self.bucket_items,
            "area": None if self.area is None else str(self.area),
            "period": None
            if self.period is None
            else [instant.isoformat() for instant in self.period],
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces; equal specs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> JobSpec:
        # Specs recorded before areas, periods, protocols and buckets lack those keys.
        optional = frozenset({"area", "period", "protocol", "bucket_items"})
        _expect(data, set(_SPEC_KEYS), optional=optional)
        try:
            key = bytes.fromhex(data["requester_key"])
        except (TypeError, ValueError):
            raise ConfigError("requester_key must be hex") from None
        providers = data["providers"]
        if not isinstance(providers, list):
            raise ConfigError("providers must be a list")
        epsilon = data["epsilon"]
        return cls(
            job_id=data["job_id"],
            kind=data["kind"],
            requester=data["requester"],
            providers=tuple(ProviderPart.from_dict(part) for part in providers),
            purpose=data["purpose"],
            group_by=_as_tuple(data["group_by"], "group_by"),
            sums=_as_tuple(data["sums"], "sums"),
            groups=tuple(_as_tuple(group, "a group") for group in _list(data["groups"])),
            min_cohort=data["min_cohort"],
            epsilon=None if epsilon is None else _decimal(epsilon),
            value_bound=data["value_bound"],
            reveal_to_provider=data["reveal_to_provider"],
            requester_set_size=data["requester_set_size"],
            consent_obtained=data["consent_obtained"],
            deadline_seconds=data["deadline_seconds"],
            requester_key=key,
            area=_area(data.get("area")),
            period=_period(data.get("period")),
            protocol=data.get("protocol", "ecdh"),
            bucket_items=data.get("bucket_items", 0),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> JobSpec:
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise ConfigError(f"a job spec is JSON: {error}") from None
        return cls.from_dict(document)


_SPEC_KEYS = (
    "job_id",
    "kind",
    "requester",
    "providers",
    "purpose",
    "group_by",
    "sums",
    "groups",
    "min_cohort",
    "epsilon",
    "value_bound",
    "reveal_to_provider",
    "requester_set_size",
    "consent_obtained",
    "deadline_seconds",
    "requester_key",
    "area",
    "period",
    "protocol",
    "bucket_items",
)


def _area(value: Any) -> BoundingBox | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("area is written as west,south,east,north text")
    try:
        return BoundingBox.parse(value)
    except PolicySyntaxError as error:
        raise ConfigError(f"area: {error}") from None


def _period(value: Any) -> tuple[dt.datetime, dt.datetime] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise ConfigError("period is written as two ISO 8601 times")
    try:
        start, end = (dt.datetime.fromisoformat(text) for text in value)
    except ValueError as error:
        raise ConfigError(f"period: {error}") from None
    return start, end


def _expect(data: Any, keys: set[str], optional: frozenset[str] = frozenset()) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"expected an object, not {type(data).__name__}")
    if not keys - optional <= set(data) <= keys:
        missing, extra = sorted(keys - optional - set(data)), sorted(set(data) - keys)
        raise ConfigError(f"job spec keys: missing {missing}, unexpected {extra}")


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"expected a list, not {type(value).__name__}")
    return value


def _as_tuple(value: Any, what: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{what} must be a list")
    return tuple(value)


def _decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ConfigError("epsilon is written as a decimal string")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"epsilon {value!r:.40} is not a number") from None


@dataclass(frozen=True)
class Contribution:
    """An aggregation's encrypted sum so far: the vector's bytes, how many providers it sums,
    and the earliest time any of them asks the requester to have deleted the result by."""

    vector: bytes
    providers: int
    delete_by: dt.datetime | None = None


def delete_by(decision: Decision) -> dt.datetime | None:
    """When the requester must have deleted what this use releases, if a ``delete`` duty of
    the decision says so: within its ``elapsedTime`` of now, or at once without one."""
    now = dt.datetime.now(dt.UTC)
    deadlines = []
    for duty in decision.duties:
        if duty.action is not DutyAction.DELETE:
            continue
        periods = [
            refinement.right_operand
            for refinement in duty.refinements
            if refinement.left_operand is LeftOperand.ELAPSED_TIME
            and isinstance(refinement.right_operand, Duration)
        ]
        deadlines.append(min((period.after(now) for period in periods), default=now))
    return min(deadlines, default=None)


def earliest(*deadlines: dt.datetime | None) -> dt.datetime | None:
    """The earliest of the deadlines given, ignoring None."""
    return min((deadline for deadline in deadlines if deadline is not None), default=None)


@dataclass(frozen=True)
class JobFrame:
    """One message of a job's exchange stream: the requester's opening frame, a ``tds.psi``
    message in its own bytes, or the provider's released result (its last frame)."""

    job_id: str
    open: bool = False
    psi_message: bytes = b""
    result: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_job_id(self.job_id)
        bodies = (self.open, bool(self.psi_message), self.result is not None)
        if sum(bodies) != 1:
            raise ConfigError("a job frame carries exactly one of: open, a psi message, a result")
