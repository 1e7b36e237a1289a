"""Time in policies: xsd:date bounds cover whole days; instants count in absolute (UTC) time."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tds.errors import PolicySyntaxError
from tds.policy import Constraint, Day, Permission, Policy, Prohibition, Request, evaluate

TARGET = "urn:ds:1"
ALICE = "urn:party:alice"
ODRL = "http://www.w3.org/ns/odrl.jsonld"
CST = timezone(timedelta(hours=8))

# Five instants around 2026-12-31 (a UTC day): just before it, its first instant, noon, its last
# instant, and the first instant of the next day.
AROUND_THE_DAY = (
    datetime(2026, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 31, tzinfo=UTC),
    datetime(2026, 12, 31, 12, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),
)
# The truth of "use time <operator> 2026-12-31" at each of those instants.
ON_THE_DAY = {
    "lt": (True, False, False, False, False),
    "lteq": (True, True, True, True, False),
    "eq": (False, True, True, True, False),
    "neq": (True, False, False, False, True),
    "gteq": (False, True, True, True, True),
    "gt": (False, False, False, False, True),
}
CASES = [
    (operator, instant, truth)
    for operator, truths in ON_THE_DAY.items()
    for instant, truth in zip(AROUND_THE_DAY, truths, strict=True)
]
# The same day as the document may write it; with an offset the day moves by the offset.
SPELLINGS = [
    ("2026-12-31", timedelta(0)),
    ({"@value": "2026-12-31", "@type": "xsd:date"}, timedelta(0)),
    ({"@value": "2026-12-31Z", "@type": "http://www.w3.org/2001/XMLSchema#date"}, timedelta(0)),
    ({"@value": "2026-12-31+08:00", "@type": "xsd:date"}, timedelta(hours=-8)),
    ({"@value": "2026-12-31-05:30", "@type": "xsd:date"}, timedelta(hours=5, minutes=30)),
]


def document(rule: str, operator: str, day: object) -> dict:
    constraint = {"leftOperand": "dateTime", "operator": operator, "rightOperand": day}
    rules: dict = {
        "permission": [{"target": TARGET, "action": "use"}],
        rule: [{"target": TARGET, "action": "read", "constraint": [constraint]}],
    }
    return {"@context": ODRL, "@type": "Set", "uid": "urn:policy:days", **rules}


def read_at(instant: datetime) -> Request:
    return Request(assignee=ALICE, action="read", target=TARGET, time=instant)


@pytest.mark.parametrize(("day", "shift"), SPELLINGS)
@pytest.mark.parametrize(("operator", "instant", "truth"), CASES)
def test_a_date_bound_in_a_permission_covers_the_whole_day(operator, instant, truth, day, shift):
    policy = Policy.from_odrl(document("permission", operator, day))
    assert evaluate(policy, read_at(instant + shift)).permitted is truth


@pytest.mark.parametrize(("day", "shift"), SPELLINGS)
@pytest.mark.parametrize(("operator", "instant", "truth"), CASES)
def test_a_date_bound_in_a_prohibition_never_stops_early(operator, instant, truth, day, shift):
    # Every use is permitted, except a read the prohibition forbids when its constraint holds.
    policy = Policy.from_odrl(document("prohibition", operator, day))
    assert evaluate(policy, read_at(instant + shift)).permitted is not truth


def test_a_use_is_placed_on_the_day_by_its_instant_not_its_local_date():
    policy = Policy.from_odrl(document("permission", "lteq", "2026-12-31"))
    # 07:00 on 1 January at +08:00 is still 31 December in UTC, the day the date names.
    assert evaluate(policy, read_at(datetime(2027, 1, 1, 7, tzinfo=CST))).permitted
    assert not evaluate(policy, read_at(datetime(2027, 1, 1, 8, tzinfo=CST))).permitted


@pytest.mark.parametrize(
    "right",
    [
        date(2026, 12, 31),
        Day(date(2026, 12, 31)),
        Day.parse("2026-12-31"),
        Day.parse("2026-12-31Z"),
    ],
)
def test_a_day_is_written_as_an_xsd_date_and_read_back_equal(right):
    policy = Policy(
        uid="urn:p",
        target=TARGET,
        permissions=(
            Permission(action="use", constraints=(Constraint("dateTime", "lteq", right),)),
        ),
    )
    (written,) = policy.to_odrl()["permission"][0]["constraint"]
    assert written["rightOperand"] == {"@value": "2026-12-31Z", "@type": "xsd:date"}
    assert Policy.from_odrl(policy.to_odrl()) == policy
    assert policy.permissions[0].constraints[0].right_operand == Day(date(2026, 12, 31))


def test_a_day_keeps_its_offset():
    day = Day.parse("2017-12-31+08:00")
    assert day == Day(date(2017, 12, 31), timedelta(hours=8))
    assert str(day) == "2017-12-31+08:00"
    assert str(Day.parse("2017-12-31-00:00")) == "2017-12-31Z"
    assert day != Day.parse("2017-12-31")


def test_a_date_and_the_instant_its_day_begins_are_different_bounds():
    at_midnight = Constraint("dateTime", "lteq", datetime(2026, 12, 31, tzinfo=UTC))
    on_the_day = Constraint("dateTime", "lteq", date(2026, 12, 31))
    assert at_midnight != on_the_day
    noon = datetime(2026, 12, 31, 12, tzinfo=UTC)
    for constraint, permitted in ((at_midnight, False), (on_the_day, True)):
        policy = Policy(
            uid="urn:p",
            target=TARGET,
            prohibitions=(Prohibition(action="read", constraints=(constraint,)),),
            permissions=(Permission(action="use"),),
        )
        assert evaluate(policy, read_at(noon)).permitted is not permitted


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29",
        "2026-12-31+15:00",
        "2026-12-31+08:60",
        "2026-12-31+8:00",
        "26-12-31",
        "0000-01-01",
        "\u0662\u0660\u0662\u0666-12-31",  # Arabic-Indic digits are not xsd digits
        "2026-12-31T00:00:00Z",
        "2026-12-31 ",
    ],
)
def test_malformed_dates_are_refused(text):
    with pytest.raises(PolicySyntaxError):
        Day.parse(text)
    constraint = {"@value": text, "@type": "xsd:date"}
    with pytest.raises(PolicySyntaxError):
        Policy.from_odrl(document("prohibition", "lteq", constraint))


@pytest.mark.parametrize(
    ("day", "offset"),
    [
        (datetime(2026, 12, 31, tzinfo=UTC), timedelta(0)),
        ("2026-12-31", timedelta(0)),
        (date(2026, 12, 31), timedelta(hours=15)),
        (date(2026, 12, 31), timedelta(seconds=30)),
        (date(2026, 12, 31), 8),
    ],
)
def test_a_day_is_a_date_at_an_offset_of_whole_minutes_up_to_14_hours(day, offset):
    with pytest.raises(PolicySyntaxError):
        Day(day, offset)


def test_a_datetime_right_operand_still_compares_to_the_microsecond():
    bound = datetime(2026, 12, 31, 12, tzinfo=UTC)
    policy = Policy.from_odrl(document("permission", "lteq", "2026-12-31T12:00:00Z"))
    assert evaluate(policy, read_at(bound)).permitted
    assert not evaluate(policy, read_at(bound + timedelta(microseconds=1))).permitted


@given(
    day=st.dates(min_value=date(2, 1, 1), max_value=date(9998, 12, 31)),
    minutes=st.integers(-14 * 60, 14 * 60),
    instant=st.datetimes(
        min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29), timezones=st.just(UTC)
    ),
)
def test_a_day_is_the_half_open_interval_of_its_instants(day, minutes, instant):
    offset = timedelta(minutes=minutes)
    begins = datetime.combine(day, datetime.min.time(), timezone(offset))
    ends = begins + timedelta(days=1)
    expected = -1 if instant < begins else 0 if instant < ends else 1
    assert Day(day, offset).locate(instant) == expected
