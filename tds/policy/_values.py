"""Literal values of the tds profile that Python has no type for: days, durations, rates, boxes.

Also the one place that reads and writes the XML Schema literals used as right operands
(``xsd:dateTime``, ``xsd:date``, ``xsd:duration``, ``xsd:decimal``), so that the parser, the
model and the evaluator agree on a single canonical form.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import (
    Context,
    Decimal,
    DecimalException,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from tds.errors import PolicyEvaluationError, PolicySyntaxError

_DURATION = re.compile(
    r"P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:(Z)|([+-])(\d{2}):(\d{2}))?", re.ASCII)
_SECONDS_PER_DAY = 86400
_MICROSECONDS_PER_DAY = _SECONDS_PER_DAY * 10**6
_MAX_OFFSET = timedelta(hours=14)  # the range of xsd time zone offsets
# The largest integer or number a policy, request or ledger holds: a signed 64-bit integer, as
# in SQLite; far beyond any count, cohort, budget or duration (in seconds) that means anything.
MAX_INTEGER = 2**63 - 1


@dataclass(frozen=True)
class Day:
    """An ``xsd:date``: one calendar day at a UTC offset (``2026-12-31`` or ``2017-12-31+08:00``).

    Compared with an instant, a day is all of its instants, from the first up to, not including,
    the first instant of the next day: ``dateTime lteq 2026-12-31`` holds all day on 31 December
    and ``dateTime gt 2026-12-31`` from 1 January 00:00 on. A date written without an offset is
    a UTC day (written back with ``Z``), whatever the local time of the reader.
    """

    date: date
    offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if isinstance(self.date, datetime) or not isinstance(self.date, date):
            raise PolicySyntaxError(f"a Day needs a datetime.date, got {shown(self.date)}")
        if (
            not isinstance(self.offset, timedelta)
            or abs(self.offset) > _MAX_OFFSET
            or self.offset % timedelta(minutes=1)
        ):
            raise PolicySyntaxError(
                "a Day's offset is a timedelta of whole minutes within 14 hours: "
                f"{shown(self.offset)}"
            )

    @classmethod
    def parse(cls, text: str) -> Day:
        """Read an ``xsd:date`` such as ``2026-12-31``, ``2026-12-31Z`` or ``2017-12-31+08:00``."""
        match = _DATE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise PolicySyntaxError(
                f"not an xsd:date (YYYY-MM-DD, then Z or ±hh:mm): {shown(text)}"
            )
        year, month, day, _, sign, hours, minutes = match.groups()
        offset = timedelta(0)
        if sign is not None:
            offset = timedelta(hours=int(hours), minutes=int(minutes))
            if int(minutes) >= 60 or offset > _MAX_OFFSET:
                raise PolicySyntaxError(f"an xsd:date offset lies in -14:00..+14:00: {shown(text)}")
            offset = -offset if sign == "-" else offset
        try:
            calendar_day = date(int(year), int(month), int(day))
        except ValueError:
            raise PolicySyntaxError(f"no such day: {shown(text)}") from None
        return cls(calendar_day, offset)

    def __str__(self) -> str:
        if not self.offset:
            return f"{self.date.isoformat()}Z"
        sign = "-" if self.offset < timedelta(0) else "+"
        hours, minutes = divmod(abs(self.offset) // timedelta(minutes=1), 60)
        return f"{self.date.isoformat()}{sign}{hours:02d}:{minutes:02d}"

    def locate(self, instant: datetime) -> int:
        """-1 if the aware ``instant`` comes before this day, 0 if within it, 1 if after it."""
        offset = instant.utcoffset()
        if offset is None:
            raise PolicyEvaluationError(
                f"a naive datetime cannot be placed on a day: {shown(instant)}"
            )
        # In whole microseconds since 0001-01-01T00:00Z: exact, and no datetime can overflow.
        micro = timedelta(microseconds=1)
        at = (instant.replace(tzinfo=None) - datetime.min - offset) // micro
        begins = (self.date.toordinal() - 1) * _MICROSECONDS_PER_DAY - self.offset // micro
        if at < begins:
            return -1
        return 0 if at < begins + _MICROSECONDS_PER_DAY else 1


@dataclass(frozen=True)
class Duration:
    """An ``xsd:duration``: a number of calendar months plus an exact number of seconds.

    Months and seconds are kept apart because a month has no fixed length: ``P1M`` added to
    31 January is 28 or 29 February. Days, hours and minutes fold into seconds, so ``P1D`` and
    ``PT24H`` are the same value. Durations are added to instants in UTC.
    """

    months: int = 0
    seconds: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        months = self.months
        if (
            isinstance(months, bool)
            or not isinstance(months, int)
            or not 0 <= months <= MAX_INTEGER
        ):
            raise PolicySyntaxError(
                "duration months are out of range (an int from 0 to 2**63 - 1): "
                f"{shown(self.months)}"
            )
        seconds = to_decimal(self.seconds, what="duration seconds")
        object.__setattr__(self, "seconds", seconds)

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read an ISO 8601 / ``xsd:duration`` such as ``P1Y``, ``P30D`` or ``PT1H30M``."""
        match = _DURATION.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise PolicySyntaxError(f"not a non-negative xsd:duration: {shown(text)}")
        years, months, weeks, days, hours, minutes, seconds = match.groups()
        # int() refuses numbers past 4300 digits; anything past 19 is out of range anyway.
        if any(len(group) > 19 for group in match.groups()[:-1] if group is not None):
            raise PolicySyntaxError(f"duration is out of range: {shown(text)}")
        whole_days = 7 * int(weeks or 0) + int(days or 0)
        whole_seconds = 3600 * int(hours or 0) + 60 * int(minutes or 0)
        total = exact_sum(
            Decimal(whole_days * _SECONDS_PER_DAY + whole_seconds), Decimal(seconds or 0)
        )
        if total is None:
            raise PolicySyntaxError(
                f"duration is out of range (at most 100 significant digits): {shown(text)}"
            )
        return cls(months=12 * int(years or 0) + int(months or 0), seconds=total)

    def __str__(self) -> str:
        years, months = divmod(self.months, 12)
        # int() is exact; divmod on a Decimal fails once the quotient outgrows the precision.
        whole = int(self.seconds)
        fraction = self.seconds - whole
        days, rest = divmod(whole, _SECONDS_PER_DAY)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        date_part = "".join(
            f"{amount}{unit}"
            for amount, unit in ((years, "Y"), (months, "M"), (days, "D"))
            if amount
        )
        time_part = "".join(
            f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M")) if amount
        )
        if seconds or fraction:
            time_part += f"{format_decimal(seconds + fraction)}S"
        if not date_part and not time_part:
            return "PT0S"
        return f"P{date_part}" + (f"T{time_part}" if time_part else "")

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.seconds == 0

    def after(self, instant: datetime) -> datetime:
        """The instant this duration after ``instant`` (calendar months, then seconds).

        Past the year 9999 this is the last instant a datetime holds, which no use comes after.
        """
        try:
            return _add_months(instant.astimezone(UTC), self.months) + self._timedelta()
        except (OverflowError, ValueError):
            return datetime.max.replace(tzinfo=UTC)

    def before(self, instant: datetime) -> datetime:
        """The instant this duration before ``instant`` (before the year 1: the first instant)."""
        try:
            return _add_months(instant.astimezone(UTC) - self._timedelta(), -self.months)
        except (OverflowError, ValueError):
            return datetime.min.replace(tzinfo=UTC)

    def _timedelta(self) -> timedelta:
        return timedelta(seconds=float(self.seconds))


def _add_months(instant: datetime, months: int) -> datetime:
    if months == 0:
        return instant
    month_index = instant.year * 12 + instant.month - 1 + months
    year, month = divmod(month_index, 12)
    # Clamp the day, as xsd does: 31 January plus one month is the last day of February.
    day = min(instant.day, calendar.monthrange(year, month + 1)[1])
    return instant.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` uses in any window of length ``period``; written ``10/PT1H``."""

    limit: int
    period: Duration

    def __post_init__(self) -> None:
        limit = self.limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_INTEGER:
            raise PolicySyntaxError(
                f"rate limit must be an int from 0 to 2**63 - 1: {shown(self.limit)}"
            )
        if not isinstance(self.period, Duration) or self.period.is_zero:
            raise PolicySyntaxError(
                f"rate period must be a non-zero Duration: {shown(self.period)}"
            )

    @classmethod
    def parse(cls, text: str) -> Rate:
        limit, slash, period = text.partition("/") if isinstance(text, str) else ("", "", "")
        # Only ASCII digits: isdigit() also admits "²" (which int() rejects) and "٣" (which it
        # reads as 3); int() refuses very long numbers.
        try:
            count = int(limit) if slash and limit.isascii() and limit.isdigit() else None
        except ValueError:
            count = None
        if count is None:
            raise PolicySyntaxError(f"not a rate of the form N/DURATION: {shown(text)}")
        return cls(count, Duration.parse(period))

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}"


@dataclass(frozen=True)
class BoundingBox:
    """A latitude/longitude box in WGS 84 degrees, edges included.

    Written in GeoJSON order ``west,south,east,north``. A box whose west edge lies east of
    its east edge crosses the antimeridian (e.g. ``170,-20,-170,20`` around Fiji).
    """

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        for name in ("west", "south", "east", "north"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PolicySyntaxError(f"bounding box {name} must be a number: {shown(value)}")
            if not -180 <= value <= 180:  # also refuses NaN, and ints too large for a float
                raise PolicySyntaxError(
                    f"bounding box {name} must lie in [-180, 180]: {shown(value)}"
                )
            # + 0.0 turns -0.0 into 0.0: they compare equal, so they must also be written alike.
            object.__setattr__(self, name, float(value) + 0.0)
        if not all(-180.0 <= lon <= 180.0 for lon in (self.west, self.east)):
            raise PolicySyntaxError(f"longitudes must lie in [-180, 180]: {self}")
        if not -90.0 <= self.south <= self.north <= 90.0:
            raise PolicySyntaxError(f"latitudes must satisfy -90 <= south <= north <= 90: {self}")

    @classmethod
    def parse(cls, text: str) -> BoundingBox:
        parts = text.split(",") if isinstance(text, str) else []
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
            raise PolicySyntaxError(f"not a bounding box west,south,east,north: {shown(text)}")
        return cls(*numbers)

    def __str__(self) -> str:
        return f"{self.west!r},{self.south!r},{self.east!r},{self.north!r}"

    def contains(self, latitude: float, longitude: float) -> bool:
        if not self.south <= latitude <= self.north:
            return False
        if self.west <= self.east:
            return self.west <= longitude <= self.east
        return longitude >= self.west or longitude <= self.east

    def covers(self, other: BoundingBox) -> bool:
        """Whether every point of ``other`` lies in this box."""
        if not self.south <= other.south <= other.north <= self.north:
            return False
        return _arc_covers((self.west, self.east), (other.west, other.east))

    def overlaps(self, other: BoundingBox) -> bool:
        """Whether some point lies in both boxes (a shared edge counts)."""
        if other.north < self.south or self.north < other.south:
            return False
        mine, theirs = (self.west, self.east), (other.west, other.east)
        return _arc_covers(mine, (other.west, other.west)) or _arc_covers(
            theirs, (self.west, self.west)
        )


def _arc_covers(outer: tuple[float, float], inner: tuple[float, float]) -> bool:
    # Longitude ranges go east from their west edge, across the antimeridian when west > east.
    # Measured as eastward offsets from the outer west edge, the inner range is covered when
    # its west edge comes no later than its east edge, and that no later than the outer east
    # edge. Offsets are compared, never added, so that rounding cannot tip an edge over.
    if outer == (-180.0, 180.0):
        return True

    def offset(longitude: float) -> float:
        return (longitude - outer[0]) % 360.0

    return offset(inner[0]) <= offset(inner[1]) <= offset(outer[1])


def shown(value: object, limit: int = 200) -> str:
    """``repr(value)`` for an error message: cut to ``limit`` characters, and never raising.

    A caller's value can be anything: an int past Python's 4300-digit limit on conversion to
    text, or an object whose own ``__repr__`` fails, must not turn a refusal into a crash.
    """
    try:
        text = repr(value)
    except Exception:  # whatever a foreign __repr__ raises, the refusal stands
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


# Code points a Python str can hold but UTF-8 (and so JSON, SQLite, any log) cannot encode.
_SURROGATES = re.compile("[\ud800-\udfff]")


def is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text: it holds no lone surrogate such as ``"\\ud800"``."""
    return value.isascii() or _SURROGATES.search(value) is None


def to_decimal(value: object, *, what: str) -> Decimal:
    """A finite, non-negative number up to 2**63 - 1 as an exact, normalized Decimal.

    Floats are read via their repr; a number that cannot be held exactly is refused, never
    rounded.
    """
    if isinstance(value, bool):
        raise PolicySyntaxError(f"{what} must be a number, not a bool")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float | str):
            # repr, not the binary expansion: 0.1 must mean one tenth, or budgets drift.
            number = Decimal(repr(value) if isinstance(value, float) else value.strip())
        else:
            raise PolicySyntaxError(f"{what} must be a number: {shown(value)}")
    except InvalidOperation:
        raise PolicySyntaxError(f"{what} must be a number: {shown(value)}") from None
    if not number.is_finite() or number < 0:
        raise PolicySyntaxError(f"{what} must be finite and non-negative: {shown(value)}")
    if number > MAX_INTEGER:
        raise PolicySyntaxError(f"{what} is out of range (at most 2**63 - 1): {shown(value)}")
    try:
        return number.normalize(_EXACT) if number else Decimal(0)
    except DecimalException:  # it would have to be rounded
        raise PolicySyntaxError(
            f"{what} is out of range (at most 100 significant digits): {shown(value)}"
        ) from None


_EXACT = Context(prec=100, traps=[Inexact, Overflow, InvalidOperation])


def exact_sum(*numbers: Decimal) -> Decimal | None:
    """The sum of ``numbers``, or None if it cannot be held without rounding."""
    try:
        with localcontext(_EXACT):
            return sum(numbers, Decimal(0))
    except DecimalException:
        return None


def format_decimal(number: Decimal) -> str:
    return format(number.normalize(), "f")


def parse_datetime(text: str) -> datetime:
    """An ``xsd:dateTime`` with an explicit offset, as an aware datetime in UTC."""
    if not isinstance(text, str) or "T" not in text:
        raise PolicySyntaxError(f"not an xsd:dateTime: {shown(text)}")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise PolicySyntaxError(f"not an xsd:dateTime: {shown(text)}") from None
    if instant.utcoffset() is None:
        raise PolicySyntaxError(f"xsd:dateTime needs a time zone offset (e.g. Z): {shown(text)}")
    return to_utc(instant)


def to_utc(instant: datetime) -> datetime:
    """An aware datetime as the same instant in UTC, or PolicySyntaxError past year 1 or 9999."""
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise PolicySyntaxError(f"{shown(instant)} is outside the years 1 to 9999 in UTC") from None


def format_datetime(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
