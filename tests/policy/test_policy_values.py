"""Literal values of the profile: durations, rates, bounding boxes, dates and decimals."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tds.errors import PolicySyntaxError
from tds.policy import BoundingBox, Day, Duration, Rate
from tds.policy._values import format_datetime, parse_datetime, to_decimal

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("text", "canonical", "months", "seconds"),
    [
        ("P1Y", "P1Y", 12, 0),
        ("P18M", "P1Y6M", 18, 0),
        ("P30D", "P30D", 0, 30 * 86400),
        ("P1W", "P7D", 0, 7 * 86400),
        ("PT24H", "P1D", 0, 86400),
        ("PT90M", "PT1H30M", 0, 5400),
        ("PT0.5S", "PT0.5S", 0, Decimal("0.5")),
        ("P1Y2M3DT4H5M6.25S", "P1Y2M3DT4H5M6.25S", 14, 3 * 86400 + 4 * 3600 + 5 * 60 + 6.25),
        ("P0D", "PT0S", 0, 0),
    ],
)
def test_duration_parses_to_months_and_seconds(text, canonical, months, seconds):
    duration = Duration.parse(text)
    assert (duration.months, duration.seconds) == (months, Decimal(str(seconds)))
    assert str(duration) == canonical
    assert Duration.parse(canonical) == duration


@pytest.mark.parametrize("text", ["", "P", "PT", "1D", "-P1D", "P1.5D", "P1H", "PT1D", "p1d", 30])
def test_duration_rejects_malformed_text(text):
    with pytest.raises(PolicySyntaxError):
        Duration.parse(text)


@pytest.mark.parametrize(
    ("duration", "start", "after"),
    [
        ("P1M", datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        ("P1M", datetime(2023, 1, 31, tzinfo=UTC), datetime(2023, 2, 28, tzinfo=UTC)),
        ("P1Y", datetime(2024, 2, 29, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)),
        ("P1D", datetime(2026, 1, 1, 23, tzinfo=UTC), datetime(2026, 1, 2, 23, tzinfo=UTC)),
        # Offsets are honoured: 08:00 at +08:00 is midnight UTC.
        ("PT1H", datetime(2026, 1, 1, 8, tzinfo=CST), datetime(2026, 1, 1, 1, tzinfo=UTC)),
    ],
)
def test_duration_adds_calendar_months_then_seconds(duration, start, after):
    assert Duration.parse(duration).after(start) == after


def test_duration_before_is_the_inverse_for_day_times():
    instant = datetime(2026, 5, 5, 12, tzinfo=UTC)
    assert Duration.parse("PT1H").before(instant) == instant - timedelta(hours=1)
    assert Duration.parse("P1M").before(datetime(2026, 3, 31, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )


def test_durations_past_the_last_representable_instant_end_after_every_use():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for text in ("P9000Y", "P100000000D", "P99999999999999D", "P99999999999999M"):
        duration = Duration.parse(text)
        assert duration.after(start) == datetime.max.replace(tzinfo=UTC)
        assert duration.before(start) == datetime.min.replace(tzinfo=UTC)


def test_the_longest_duration_is_still_written_and_a_longer_one_refused():
    duration = Duration.parse(f"P{2**63 - 1}M" + "T" + str(2**63 - 1) + "S")
    assert Duration.parse(str(duration)) == duration
    for longer in ("PT" + "9" * 30 + "S", f"P{2**63}M", f"PT{2**63 - 1}.5S"):
        with pytest.raises(PolicySyntaxError, match="out of range"):
            Duration.parse(longer)


def test_a_decimal_is_held_exactly_or_refused():
    assert Duration.parse("PT0." + "0" * 97 + "1S").seconds == Decimal("1e-98")
    with pytest.raises(PolicySyntaxError, match="significant digits"):
        Duration.parse("PT1." + "0" * 100 + "1S")


def test_rate_round_trips_and_rejects_bad_forms():
    rate = Rate.parse("10/PT1H")
    assert (rate.limit, rate.period) == (10, Duration(seconds=Decimal(3600)))
    assert str(rate) == "10/PT1H"
    for bad in ["10", "/PT1H", "x/PT1H", "10/P", "10/PT0S", "-1/PT1H", "\u00b2/PT1H"]:
        with pytest.raises(PolicySyntaxError):
            Rate.parse(bad)


@pytest.mark.parametrize(
    ("box", "point", "inside"),
    [
        ("120,30,123,32", (31.0, 121.5), True),
        ("120,30,123,32", (30.0, 120.0), True),  # edges are inside
        ("120,30,123,32", (32.0, 123.0), True),
        ("120,30,123,32", (29.999, 121.0), False),
        ("120,30,123,32", (31.0, 123.001), False),
        ("170,-20,-170,20", (0.0, 179.5), True),  # crosses the antimeridian
        ("170,-20,-170,20", (0.0, -175.0), True),
        ("170,-20,-170,20", (0.0, 0.0), False),
    ],
)
def test_bounding_box_contains(box, point, inside):
    assert BoundingBox.parse(box).contains(*point) is inside


@pytest.mark.parametrize(
    "text", ["1,2,3", "a,b,c,d", "0,10,1,5", "-181,0,0,1", "0,-91,1,0", "0,0,1,nan", "0,0,1,inf"]
)
def test_bounding_box_rejects_malformed_text(text):
    with pytest.raises(PolicySyntaxError):
        BoundingBox.parse(text)


def test_bounding_box_rejects_bool_coordinates():
    with pytest.raises(PolicySyntaxError):
        BoundingBox(True, 0, 1, 1)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T08:00:00+08:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.5-01:00", datetime(2026, 1, 1, 1, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_datetimes_need_an_offset_and_become_utc(text, instant):
    parsed = parse_datetime(text)
    assert parsed == instant and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00",
        "2026-01-01",
        "yesterday",
        "2026-13-01T00:00Z",
        "0001-01-01T00:00:00+01:00",  # before the year 1 in UTC
        "9999-12-31T23:00:00-01:00",  # after the year 9999 in UTC
    ],
)
def test_datetime_rejects_naive_or_malformed(text):
    with pytest.raises(PolicySyntaxError):
        parse_datetime(text)


@pytest.mark.parametrize(
    ("text", "begins"),
    [
        ("2017-12-31", datetime(2017, 12, 31, tzinfo=UTC)),
        ("2017-12-31Z", datetime(2017, 12, 31, tzinfo=UTC)),
        ("2017-12-31+08:00", datetime(2017, 12, 30, 16, tzinfo=UTC)),
    ],
)
def test_days_begin_at_midnight_utc_unless_an_offset_says_otherwise(text, begins):
    day = Day.parse(text)
    assert day.locate(begins) == 0
    assert day.locate(begins - timedelta(microseconds=1)) == -1
    assert day.locate(begins + timedelta(days=1)) == 1


def test_days_at_the_ends_of_the_calendar_locate_every_instant():
    first, last = Day(date.min, timedelta(hours=14)), Day(date.max, timedelta(hours=-14))
    assert first.locate(datetime.min.replace(tzinfo=UTC)) == 0
    assert last.locate(datetime.max.replace(tzinfo=UTC)) == 0
    assert Day(date.max).locate(datetime.max.replace(tzinfo=CST)) == 0


@pytest.mark.parametrize("text", ["2017-02-30", "2017-1-1", "20171231"])
def test_date_rejects_malformed(text):
    with pytest.raises(PolicySyntaxError):
        Day.parse(text)


def test_format_datetime_writes_utc_with_z():
    assert format_datetime(datetime(2026, 1, 1, 8, tzinfo=CST)) == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, Decimal("0.1")),
        (1, Decimal(1)),
        ("2.50", Decimal("2.5")),
        (Decimal("1E+2"), Decimal(100)),
    ],
)
def test_to_decimal_reads_floats_by_their_repr(value, expected):
    assert to_decimal(value, what="x") == expected


@pytest.mark.parametrize(
    "value",
    [-1, float("nan"), float("inf"), True, "abc", None, [1], "1e9999999", Decimal("1e9999999")],
)
def test_to_decimal_rejects_non_numbers_and_negatives(value):
    with pytest.raises(PolicySyntaxError):
        to_decimal(value, what="x")


@pytest.mark.parametrize(
    ("outer", "inner", "covered"),
    [
        ("120,36,123,38", "120.5,36.5,121,37", True),
        ("120,36,123,38", "120,36,123,38", True),  # edges included
        ("120,36,123,38", "119.9,36.5,121,37", False),  # west edge outside
        ("120,36,123,38", "120.5,35.9,121,37", False),  # south edge outside
        ("120,36,123,38", "120.5,36.5,123.1,37", False),
        ("120,36,123,38", "122,36.5,121,37", False),  # inner wraps the globe the long way
        ("170,-20,-170,20", "175,-5,-175,5", True),  # both cross the antimeridian
        ("170,-20,-170,20", "171,-5,179,5", True),
        ("170,-20,-170,20", "-179,-5,-171,5", True),
        ("170,-20,-170,20", "160,-5,175,5", False),
        ("-180,-90,180,90", "170,-20,-170,20", True),  # the whole globe covers anything
        ("120,36,123,38", "170,-20,-170,20", False),
    ],
)
def test_bounding_box_covers(outer, inner, covered):
    assert BoundingBox.parse(outer).covers(BoundingBox.parse(inner)) is covered


def _longitude(hundredths: int) -> float:
    return ((hundredths + 18000) % 36000 - 18000) / 100


@given(
    st.integers(-18000, 18000),
    st.integers(0, 35999),
    st.integers(0, 35999),
    st.integers(0, 35999),
    st.integers(-90, 89),
)
def test_a_box_covers_what_lies_inside_it(west, width, start, length, south):
    # In hundredths of a degree, so that the boxes are exact and the arithmetic too.
    start, length = start % (width + 1), length % (width + 1)
    length = min(length, width - start)
    outer = BoundingBox(_longitude(west), south, _longitude(west + width), south + 1)
    inner = BoundingBox(
        _longitude(west + start), south, _longitude(west + start + length), south + 1
    )
    assert outer.covers(inner)
    assert outer.contains(south, inner.west) and outer.contains(south + 1, inner.east)
    beyond = BoundingBox(_longitude(west + start), south, _longitude(west + width + 1), south + 1)
    assert width == 35999 or not outer.covers(beyond)


@pytest.mark.parametrize(
    ("one", "other", "overlap"),
    [
        ("120,36,123,38", "122,37,125,39", True),
        ("120,36,123,38", "123,38,124,39", True),  # a shared corner
        ("120,36,123,38", "124,37,125,39", False),
        ("120,36,123,38", "121,39,122,40", False),
        ("120,36,123,38", "119,35,124,39", True),  # around it
        ("170,-20,-170,20", "-175,0,-160,1", True),
        ("170,-20,-170,20", "160,0,171,1", True),
        ("170,-20,-170,20", "-160,0,160,1", False),
        ("-180,-90,180,90", "10,10,11,11", True),
    ],
)
def test_bounding_box_overlaps(one, other, overlap):
    first, second = BoundingBox.parse(one), BoundingBox.parse(other)
    assert first.overlaps(second) is overlap
    assert second.overlaps(first) is overlap
