"""Time in policies: xsd:date bounds cover whole days; instants count in absolute (UTC) time."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tds.errors import PolicyEvaluationError, PolicySyntaxError
from tds.policy import (
    Constraint,
    Day,
    InMemoryUsageState,
    Permission,
    Policy,
    Prohibition,
    Request,
    UsageKey,
    Use,
    evaluate,
)

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


# -- instants count in absolute time, whatever zone the connector uses ---------------------------

BERLIN = ZoneInfo("Europe/Berlin")
# 2026-10-25: at 03:00 CEST the clocks go back to 02:00 CET, so 02:00-03:00 happens twice; fold=0
# is the first time (CEST, UTC+2), fold=1 the second (CET, UTC+1).
FIRST_0250 = datetime(2026, 10, 25, 2, 50, tzinfo=BERLIN)  # 00:50Z
SECOND_0205 = datetime(2026, 10, 25, 2, 5, fold=1, tzinfo=BERLIN)  # 01:05Z
SECOND_0255 = datetime(2026, 10, 25, 2, 55, fold=1, tzinfo=BERLIN)  # 01:55Z
# 2026-03-29: at 02:00 CET the clocks go forward to 03:00 CEST.
BEFORE_GAP = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)  # 00:30Z
AFTER_GAP = datetime(2026, 3, 29, 3, 20, tzinfo=BERLIN)  # 01:20Z, 50 minutes later


def test_the_zone_database_knows_berlin_daylight_saving():
    assert FIRST_0250.utcoffset() == timedelta(hours=2)
    assert SECOND_0205.utcoffset() == timedelta(hours=1)
    assert AFTER_GAP.utcoffset() == timedelta(hours=2) and BEFORE_GAP.utcoffset() == timedelta(
        hours=1
    )


def rate_limited(rate: str) -> Policy:
    return Policy(
        uid="urn:policy:rate",
        target=TARGET,
        permissions=(Permission(action="use", constraints=(Constraint("rate", "lteq", rate),)),),
    )


def test_rate_windows_count_absolute_time_across_the_october_fold():
    # Uses at 00:50Z and 01:05Z (02:50 CEST, then 02:05 CET: earlier on the wall clock).
    policy, state = rate_limited("1/PT1H"), InMemoryUsageState()
    key = UsageKey(policy.content_hash, "permission[0]", ALICE)
    for instant in (FIRST_0250, SECOND_0205):
        assert state.try_consume(key, lambda ledger: True, Use(instant))
    # At 01:55Z the use at 01:05Z is 50 minutes old: a second use within the hour.
    decision = evaluate(policy, read_at(SECOND_0255), state)
    assert not decision.permitted
    assert [use.tzinfo for use in state.ledger(key).times] == [UTC, UTC]


def test_rate_windows_count_absolute_time_across_the_march_gap():
    policy, state = rate_limited("1/PT1H"), InMemoryUsageState()
    assert evaluate(policy, read_at(BEFORE_GAP), state).permitted
    # 03:20 CEST is 1 h 50 min after 01:30 CET on the wall clock, but only 50 minutes later.
    assert not evaluate(policy, read_at(AFTER_GAP), state).permitted
    assert evaluate(policy, read_at(AFTER_GAP + timedelta(minutes=10)), state).permitted


def within_a_day_of_the_agreement(agreed: datetime) -> tuple[Policy, InMemoryUsageState]:
    policy = Policy(
        uid="urn:policy:elapsed",
        target=TARGET,
        permissions=(
            Permission(action="use", constraints=(Constraint("elapsedTime", "lteq", "P1D"),)),
        ),
    )
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, agreed)
    return policy, state


def test_a_use_before_the_agreement_is_not_after_it_in_the_fold_hour():
    # Agreed at 01:05Z (02:05 CET); the use at 00:50Z (02:50 CEST) comes 15 minutes before it.
    policy, state = within_a_day_of_the_agreement(SECOND_0205)
    decision = evaluate(policy, read_at(FIRST_0250), state)
    assert not decision.permitted
    assert "precedes the agreement" in decision.reasons[0]


def test_a_use_after_the_agreement_is_not_before_it_in_the_fold_hour():
    # Agreed at 00:50Z (02:50 CEST); the use at 01:05Z (02:05 CET) comes 15 minutes after it.
    policy, state = within_a_day_of_the_agreement(FIRST_0250)
    assert evaluate(policy, read_at(SECOND_0205), state).permitted


# PEP 495: a time in the repeated hour (fold=1) never equals a time in another zone, so the
# expected instants are spelled out in UTC.
UTC_0105 = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)


def test_request_and_agreement_times_are_kept_in_utc():
    request = read_at(SECOND_0205)
    assert request.time == UTC_0105 and request.time.tzinfo is UTC
    data = Request(assignee=ALICE, action="read", target=TARGET, data_time=FIRST_0250)
    assert data.data_time == datetime(2026, 10, 25, 0, 50, tzinfo=UTC)
    assert data.data_time.tzinfo is UTC
    assert Use(SECOND_0205).time == UTC_0105 and Use(SECOND_0205).time.tzinfo is UTC
    policy, state = within_a_day_of_the_agreement(SECOND_0205)
    assert state.agreed_at(policy.content_hash) == UTC_0105


@pytest.mark.parametrize("rule", ["permission", "prohibition"])
def test_a_use_in_the_repeated_hour_equals_its_utc_instant(rule):
    policy = Policy.from_odrl(document(rule, "eq", "2026-10-25T01:05:00Z"))
    assert evaluate(policy, read_at(SECOND_0205)).permitted is (rule == "permission")


@pytest.mark.parametrize(
    "instant",
    [
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    ],
)
def test_instants_outside_the_utc_calendar_are_refused(instant):
    with pytest.raises(PolicyEvaluationError, match="outside the years"):
        read_at(instant)
    with pytest.raises(PolicyEvaluationError, match="outside the years"):
        Use(instant)
    with pytest.raises(PolicyEvaluationError, match="outside the years"):
        InMemoryUsageState().record_agreement("hash", instant)


def test_a_naive_use_time_is_refused():
    with pytest.raises(PolicyEvaluationError, match="timezone-aware"):
        Use(datetime(2026, 1, 1))


def test_an_agreement_time_a_state_reports_in_another_zone_counts_in_absolute_time():
    class BerlinState(InMemoryUsageState):
        def agreed_at(self, content_hash: str) -> datetime | None:
            return SECOND_0205  # as a state backed by local-time storage might

    policy, _ = within_a_day_of_the_agreement(SECOND_0205)
    decision = evaluate(policy, read_at(FIRST_0250), BerlinState())
    assert not decision.permitted


def test_a_naive_agreement_time_from_a_state_is_refused():
    class NaiveState(InMemoryUsageState):
        def agreed_at(self, content_hash: str) -> datetime | None:
            return datetime(2026, 1, 1)

    policy, _ = within_a_day_of_the_agreement(SECOND_0205)
    with pytest.raises(PolicyEvaluationError, match="agreement time"):
        evaluate(policy, read_at(FIRST_0250), NaiveState())
