"""The request: one intended use, described by the enforcing connector."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from tds.errors import PolicyEvaluationError, PolicySyntaxError
from tds.policy._profile import Action, resolve_term
from tds.policy._values import MAX_INTEGER, BoundingBox, is_text, shown, to_decimal


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Request:
    """One intended use of a target by an assignee.

    Only ``assignee``, ``action`` and ``target`` are required; ``time`` defaults to now. Times
    may be in any zone and are kept in UTC, so that uses count in absolute time even across a
    daylight-saving change (two aware datetimes in one ``zoneinfo`` zone compare and subtract by
    the wall clock, one hour off around the change). Leave
    a field ``None`` when the use does not say: a constraint that needs it then fails with a
    reason (and a prohibition that needs it applies, so that missing facts never widen access).
    ``columns=()`` is a use that reads no column, which is not the same as ``None``.
    ``location`` is a point (latitude, longitude) or, for a use over an area, a
    :class:`BoundingBox`: a ``spatial`` constraint then holds when the whole box lies inside.
    ``memberships`` are the party collections the assignee belongs to and
    ``target_collections`` the asset collections the target is in, as the enforcing side knows
    them (``None``: not known, so a permission for a collection does not apply and a
    prohibition for one does).
    """

    assignee: str
    action: Action
    target: str
    time: datetime = field(default_factory=_now)
    purpose: str | None = None
    columns: tuple[str, ...] | None = None
    cohort_size: int | None = None
    peer_set_size: int | None = None
    epsilon: Decimal | None = None
    location: tuple[float, float] | BoundingBox | None = None
    classification: int | None = None
    recipient: str | None = None
    residency: str | None = None
    data_time: datetime | None = None
    memberships: frozenset[str] | None = None
    target_collections: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for name in ("assignee", "target"):
            _check_text(name, getattr(self, name), optional=False)
        for name in ("purpose", "recipient", "residency"):
            _check_text(name, getattr(self, name), optional=True)
        action = resolve_term(Action, self.action) if isinstance(self.action, str) else None
        if action is None:
            raise PolicyEvaluationError(f"unknown action {shown(self.action)}")
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "time", utc_instant("time", self.time))
        if self.data_time is not None:
            object.__setattr__(self, "data_time", utc_instant("data_time", self.data_time))
        if self.columns is not None:
            object.__setattr__(self, "columns", _columns(self.columns))
        for name in ("memberships", "target_collections"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _identifiers(name, getattr(self, name)))
        for name in ("cohort_size", "peer_set_size", "classification"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= MAX_INTEGER
            ):
                raise PolicyEvaluationError(
                    f"{name} must be an int from 0 to 2**63 - 1, got {shown(value)}"
                )
        if self.epsilon is not None:
            try:
                epsilon = to_decimal(self.epsilon, what="epsilon")
            except PolicySyntaxError as error:
                raise PolicyEvaluationError(str(error)) from None
            object.__setattr__(self, "epsilon", epsilon)
        if self.location is not None and not isinstance(self.location, BoundingBox):
            object.__setattr__(self, "location", _location(self.location))


def _identifiers(name: str, values: object) -> frozenset[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise PolicyEvaluationError(f"{name} must be a set of IRIs, got {shown(values)}")
    values = frozenset(values)
    for value in values:
        _check_text(name, value, optional=False)
    return values


def _check_text(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise PolicyEvaluationError(f"{name} must be a non-empty string, got {shown(value)}")
    if not is_text(value):
        raise PolicyEvaluationError(
            f"{name} {shown(value)} holds a lone surrogate, which is not Unicode text"
        )


def utc_instant(name: str, value: object) -> datetime:
    """``value``, an aware datetime, as the same instant in UTC; else PolicyEvaluationError."""
    if not isinstance(value, datetime):
        raise PolicyEvaluationError(f"{name} must be a datetime, got {shown(value)}")
    if value.utcoffset() is None:
        raise PolicyEvaluationError(f"{name} must be timezone-aware, got naive {shown(value)}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PolicyEvaluationError(
            f"{name} {shown(value)} is outside the years 1 to 9999 in UTC"
        ) from None


def _columns(value: object) -> tuple[str, ...]:
    # A bare string would iterate as single characters; that is always a mistake here.
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise PolicyEvaluationError(f"columns must be a list of names, got {shown(value)}")
    columns = tuple(value)
    if not all(isinstance(column, str) and column and is_text(column) for column in columns):
        raise PolicyEvaluationError(
            f"columns must be non-empty strings of Unicode text, got {shown(columns)}"
        )
    return columns


def _location(value: object) -> tuple[float, float]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise PolicyEvaluationError(f"location must be (latitude, longitude), got {shown(value)}")
    latitude, longitude = value
    for coordinate in (latitude, longitude):
        if isinstance(coordinate, bool) or not isinstance(coordinate, int | float):
            raise PolicyEvaluationError(f"location must be two numbers, got {shown(value)}")
        if not math.isfinite(coordinate):
            raise PolicyEvaluationError(f"location must be finite, got {shown(value)}")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise PolicyEvaluationError(f"location out of range (latitude, longitude): {shown(value)}")
    return float(latitude), float(longitude)
