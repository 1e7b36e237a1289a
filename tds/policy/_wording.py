"""How decisions read: values, durations, instants and comparisons in plain words.

Reasons are for the people who are refused a use, so they name rules by their position in
words ("permission 2") and never by paths such as ``permission[1]``, which stay in the
structured report. Durations read as "10 days 3 hours", instants as ISO 8601 in UTC, to the
second unless a fraction of a second decides the outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tds.policy._profile import Action, LeftOperand, Operator
from tds.policy._values import BoundingBox, Day, Duration, Rate, format_decimal

_SECONDS_PER_DAY = 86400
_ONE_SECOND = timedelta(seconds=1)

# What each operand compares, as a noun phrase without its value.
LABELS = {
    LeftOperand.PURPOSE: "the purpose",
    LeftOperand.RECIPIENT: "the recipient",
    LeftOperand.DATE_TIME: "the use time",
    LeftOperand.ELAPSED_TIME: "the time since the agreement",
    LeftOperand.COUNT: "the number of uses including this one",
    LeftOperand.RATE: "the number of uses including this one",
    LeftOperand.OPERATION: "the operation",
    LeftOperand.COLUMN: "the columns",
    LeftOperand.MIN_COHORT: "the smallest cohort",
    LeftOperand.PEER_SET_SIZE: "the number of keys the other party brings",
    LeftOperand.DP_EPSILON: "the epsilon spent including this use",
    LeftOperand.SPATIAL: "the location",
    LeftOperand.CLASSIFICATION: "the classification level",
    LeftOperand.RESIDENCY: "the residency",
    LeftOperand.DATA_AGE: "the age of the newest record",
}

# (when it holds, when it does not), for each kind of comparison.
_VERBS = {
    Operator.EQ: ("is equal to", "is not equal to"),
    Operator.NEQ: ("is different from", "is the same as"),
    Operator.GT: ("is more than", "is not more than"),
    Operator.GTEQ: ("is at least", "is not at least"),
    Operator.LT: ("is less than", "is not less than"),
    Operator.LTEQ: ("is at most", "is not at most"),
    Operator.IS_A: ("is a kind of", "is not a kind of"),
    Operator.IS_PART_OF: ("is within", "is not within"),
    Operator.IS_ANY_OF: ("is one of", "is none of"),
    Operator.IS_NONE_OF: ("is none of", "is one of"),
}
_TIME_VERBS = {
    Operator.EQ: ("is exactly", "is not exactly"),
    Operator.NEQ: ("is not exactly", "is exactly"),
    Operator.GT: ("is after", "is not after"),
    Operator.GTEQ: ("is at or after", "is before"),
    Operator.LT: ("is before", "is not before"),
    Operator.LTEQ: ("is at or before", "is after"),
}
# A day is all of its instants: "on or before 2026-12-31" includes the whole of that day.
_DAY_VERBS = {
    Operator.EQ: ("is on", "is not on"),
    Operator.NEQ: ("is not on", "is on"),
    Operator.GT: ("is after", "is not after"),
    Operator.GTEQ: ("is on or after", "is before"),
    Operator.LT: ("is before", "is not before"),
    Operator.LTEQ: ("is on or before", "is after"),
}
_COLUMN_VERBS = {
    Operator.IS_PART_OF: ("are all among", "are not all among"),
    Operator.HAS_PART: ("include all of", "do not include all of"),
    Operator.IS_ALL_OF: ("include all of", "do not include all of"),
    Operator.IS_ANY_OF: ("include one of", "include none of"),
    Operator.IS_NONE_OF: ("include none of", "include one of"),
}


def label(operand: LeftOperand, right: Any) -> str:
    if operand is LeftOperand.RATE:
        return f"the number of uses within {duration_words(right.period)} including this one"
    return LABELS[operand]


def verbs(operand: LeftOperand, operator: Operator, right: Any) -> tuple[str, str]:
    """How the comparison reads when it holds, and when it does not."""
    if operand is LeftOperand.COLUMN:
        return _COLUMN_VERBS[operator]
    if operand is LeftOperand.DATE_TIME:
        return (_DAY_VERBS if isinstance(right, Day) else _TIME_VERBS)[operator]
    return _VERBS[operator]


def _plural(amount: int | Decimal, unit: str) -> str:
    text = format_decimal(amount) if isinstance(amount, Decimal) else str(amount)
    return f"{text} {unit}" + ("" if amount == 1 else "s")


def duration_words(duration: Duration) -> str:
    """``P1Y2M3DT4H`` as "1 year 2 months 3 days 4 hours"; ``PT0S`` as "0 seconds"."""
    years, months = divmod(duration.months, 12)
    whole = int(duration.seconds)
    days, rest = divmod(whole, _SECONDS_PER_DAY)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    amounts = (
        (years, "year"),
        (months, "month"),
        (days, "day"),
        (hours, "hour"),
        (minutes, "minute"),
    )
    words = [_plural(amount, unit) for amount, unit in amounts if amount]
    second_count = seconds + (duration.seconds - whole)
    if second_count or not words:
        words.append(_plural(Decimal(second_count), "second"))
    return " ".join(words)


def elapsed_words(delta: timedelta, *, precise: bool) -> str:
    """A non-negative time span in words, to the second unless ``precise``."""
    microseconds = delta // timedelta(microseconds=1)
    if not precise:
        microseconds -= microseconds % 10**6
    return duration_words(Duration(seconds=Decimal(microseconds).scaleb(-6)))


def near(instant: datetime, *bounds: datetime) -> bool:
    """Whether ``instant`` is within a second of a bound, where a fraction of it can decide."""
    return any(abs(instant - bound) < _ONE_SECOND for bound in bounds)


def near_midnight(instant: datetime, day: Day) -> bool:
    """Whether ``instant`` (UTC) is within a second of a midnight at the day's offset."""
    micro = timedelta(microseconds=1)
    since = (instant.replace(tzinfo=None) - datetime.min + day.offset) // micro
    into_day = since % (_SECONDS_PER_DAY * 10**6)
    return into_day < 10**6 or into_day > (_SECONDS_PER_DAY - 1) * 10**6


def instant_text(instant: datetime, *, precise: bool) -> str:
    """ISO 8601 in UTC with ``Z``; fractions of a second only when ``precise``."""
    utc = instant.astimezone(UTC)
    if not precise:
        utc = utc.replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


def day_text(day: Day) -> str:
    zone = "UTC" if not day.offset else f"UTC{str(day)[len(day.date.isoformat()) :]}"
    return f"{day.date.isoformat()} ({zone})"


def show(value: Any) -> str:
    """A right operand or a request value as it reads in a reason."""
    if isinstance(value, tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, datetime):
        return instant_text(value, precise=True)
    if isinstance(value, Day):
        return day_text(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, Duration):
        return duration_words(value)
    if isinstance(value, Rate):
        return str(value.limit)
    if isinstance(value, BoundingBox):
        return (
            f"the box west {value.west!r}, south {value.south!r}, "
            f"east {value.east!r}, north {value.north!r}"
        )
    if isinstance(value, Action):
        return repr(value.value)
    return repr(value)


def location_text(location: tuple[float, float] | BoundingBox) -> str:
    if isinstance(location, BoundingBox):
        return f"({show(location)})"
    latitude, longitude = location
    return f"(latitude {latitude!r}, longitude {longitude!r})"


def rule_name(kind: str, index: int, uid: str | None) -> str:
    """``permission 2``, or ``permission 2 'urn:rule:x'`` for a rule with a uid."""
    return f"{kind} {index + 1}" + (f" {uid!r}" if uid is not None else "")
