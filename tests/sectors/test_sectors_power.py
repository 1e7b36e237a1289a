"""The power sector's synthetic data: what generate() writes, and that the connector can read it."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.connector._catalog import ColumnType, dataset_target
from tds.connector._dataset_file import load_dataset_file
from tds.connector._tables import read_columns, to_units
from tds.connector._trust import node_uri
from tds.errors import ConfigError
from tds.sectors import power
from tds.sectors._tables import CHUNK_ROWS, GeneratedTable

END = np.datetime64("2026-11-30")
CST = np.timedelta64(8, "h")  # the city keeps China Standard Time


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedTable, ...]:
    return power.generate(tmp_path_factory.mktemp("power"))


def table(tables: tuple[GeneratedTable, ...], name: str) -> GeneratedTable:
    (found,) = [t for t in tables if t.schema.name == name]
    return found


def columns(path: Path) -> dict[str, list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


def numbers(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


@pytest.fixture(scope="module")
def meters(tables) -> dict[str, np.ndarray]:
    """The meter readings as arrays, with the local (CST) hour and weekday of each."""
    data = columns(table(tables, "meter-readings").path)
    read_at = np.array([text.removesuffix("Z") for text in data["read_at"]], "datetime64[s]")
    local = read_at + CST
    day = local.astype("datetime64[D]")
    return {
        "household": np.array(data["household_id"]),
        "district": np.array(data["district"]),
        "read_at": read_at,
        "hour": ((local - day).astype(np.int64) // 3600),
        "weekend": (day.astype(np.int64) + 3) % 7 >= 5,  # 1970-01-01 was a Thursday
        "kwh": numbers(data["kwh"]),
    }


@pytest.fixture(scope="module")
def enterprises(tables) -> dict[str, object]:
    """The enterprise consumption and the loan book, column by column."""
    consumption = columns(table(tables, "enterprise-consumption").path)
    loans = columns(table(tables, "loan-book").path)
    return {"consumption": consumption, "loans": loans}


def test_generate_writes_each_partys_tables(tables) -> None:
    assert [(t.node, t.schema) for t in tables] == [
        ("eastgrid", power.METER_READINGS),
        ("eastgrid", power.ENTERPRISE_CONSUMPTION),
        ("harbour-bank", power.LOAN_BOOK),
    ]
    assert [t.path.name for t in tables] == [
        "eastgrid-meter-readings.csv",
        "eastgrid-enterprise-consumption.csv",
        "harbour-bank-loan-book.csv",
    ]
    meter, consumption, loans = (t.rows for t in tables)
    assert meter == 600 * 7 * 24
    assert consumption % 12 == 0 and 0.8 * 4_000 <= consumption / 12 <= 0.9 * 4_000
    assert loans == 1_500
    assert (power.GRID, power.BANK, power.ENERGY_OFFICE) == (
        "eastgrid",
        "harbour-bank",
        "energy-office",
    )
    assert len(set(power.DISTRICTS)) == len(power.DISTRICTS) == 8
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", name) for name in power.DISTRICTS)


def test_rows_and_headers_match_the_files(tables) -> None:
    for generated in tables:
        lines = generated.path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == ",".join(generated.schema.header)
        assert len(lines) - 1 == generated.rows
        assert all(line.count(",") == len(generated.schema.columns) - 1 for line in lines)
    assert not list(tables[0].path.parent.glob("*.partial"))


def test_the_same_seed_writes_the_same_bytes(tables, tmp_path: Path) -> None:
    again = power.generate(tmp_path / "again")
    assert [t.path.read_bytes() for t in again] == [t.path.read_bytes() for t in tables]
    other = power.generate(tmp_path / "other", seed=7)
    assert all(
        a.path.read_bytes() != b.path.read_bytes() for a, b in zip(other, tables, strict=True)
    )


def test_every_file_loads_through_the_connector(tables) -> None:
    policies = {
        "meter-readings": power.household_aggregates(uid="urn:p", assigner="urn:a", target="urn:t"),
        "enterprise-consumption": power.enterprise_indicators(
            uid="urn:p", assigner="urn:a", target="urn:t"
        ),
        "loan-book": power.enterprise_indicators(uid="urn:p", assigner="urn:a", target="urn:t"),
    }
    for generated in tables:
        schema = generated.schema
        dataset = schema.dataset(
            generated.path, sector="power", contract_policy=policies[schema.name]
        )
        assert (dataset.id, dataset.subject_column, dataset.time_column) == (
            schema.name,
            schema.subject_column,
            schema.time_column,
        )
        values = read_columns(dataset, schema.header)
        assert [len(column) for column in values] == [generated.rows] * len(schema.header)
        for column, texts in zip(schema.columns, values, strict=True):
            if column.type is ColumnType.DECIMAL:
                units = to_units(texts, column.type, column.name)
                assert len(units) == generated.rows and min(units) >= 0
            elif column.type is ColumnType.DATE:
                np.array(texts, dtype="datetime64[D]")
            elif column.type is ColumnType.TIMESTAMP:
                assert all(text.endswith("Z") for text in texts)
                np.array([text[:-1] for text in texts], dtype="datetime64[s]")
            else:
                assert all(texts)


def test_a_dataset_file_offers_consumption_under_the_indicators_template(
    tables, tmp_path: Path
) -> None:
    consumption = table(tables, "enterprise-consumption")
    kinds = "\n".join(f'{c.name} = "{c.type.value}"' for c in power.ENTERPRISE_CONSUMPTION.columns)
    (tmp_path / "consumption.toml").write_text(
        f"""\
id = "enterprise-consumption"
title = "Enterprise consumption"
sector = "power"
subject_column = "uscc"
time_column = "month"

[source]
csv = "{consumption.path.as_posix()}"

[columns]
{kinds}

[policy]
template = "power.enterprise_indicators"
purposes = ["credit-assessment", "green-finance"]
min_shared = 20
min_peer_set = 100
""",
        encoding="utf-8",
    )
    dataset = load_dataset_file(tmp_path / "consumption.toml", "eastgrid")
    assert dataset.contract_policy == power.enterprise_indicators(
        uid="urn:tds:policy:eastgrid:enterprise-consumption",
        assigner=node_uri("eastgrid"),
        target=dataset_target("eastgrid", "enterprise-consumption"),
        purposes=("credit-assessment", "green-finance"),
        min_shared=20,
        min_peer_set=100,
    )
    assert len(read_columns(dataset, ["uscc"])[0]) == consumption.rows


# -- meter readings --------------------------------------------------------------------------


def test_one_reading_per_household_per_hour_over_the_last_days(meters) -> None:
    households = np.unique(meters["household"])
    hours = np.unique(meters["read_at"])
    assert len(households) == 600 and len(hours) == 7 * 24
    pairs = collections.Counter(zip(meters["household"], meters["read_at"], strict=True))
    assert len(pairs) == len(meters["kwh"]) == 600 * 7 * 24
    assert set(pairs.values()) == {1}
    # Local midnight of 24 November to 23:00 on 30 November, in UTC.
    assert str(hours[0]) == "2026-11-23T16:00:00"
    assert str(hours[-1]) == "2026-11-30T15:00:00"
    assert np.all(np.diff(hours).astype(np.int64) == 3600)


def test_every_household_stays_in_its_district(meters, tmp_path: Path) -> None:
    homes = collections.defaultdict(set)
    for household, district in zip(meters["household"], meters["district"], strict=True):
        homes[household].add(district)
    assert all(len(districts) == 1 for districts in homes.values())
    counts = collections.Counter(next(iter(d)) for d in homes.values())
    assert set(counts) == set(power.DISTRICTS)
    assert max(counts.values()) > 2 * min(counts.values())  # districts differ in size

    (few,) = [
        t
        for t in power.generate(tmp_path, households=40, districts=3, days=1, loans=0)
        if t.schema is power.METER_READINGS
    ]
    assert set(columns(few.path)["district"]) == set(power.DISTRICTS[:3])


def test_readings_follow_a_daily_load_curve(meters) -> None:
    kwh, hour, weekend = meters["kwh"], meters["hour"], meters["weekend"]
    assert kwh.min() >= 0 and 0.0 < np.median(kwh) < 2.0
    night = kwh[(hour >= 3) & (hour < 5)].mean()
    evening = kwh[(hour >= 19) & (hour < 21)].mean()
    morning = kwh[hour == 7][~weekend[hour == 7]].mean()
    midday = kwh[(hour >= 10) & (hour < 15)]
    assert evening > 3 * night
    assert morning > 1.5 * night
    # Hourly means: the lowest is at night, the highest in the evening.
    means = np.array([kwh[hour == h].mean() for h in range(24)])
    assert 2 <= means.argmin() <= 5 and 18 <= means.argmax() <= 21
    # People are at home on the weekend: more use in the middle of the day.
    in_day = (hour >= 10) & (hour < 15)
    assert midday[weekend[in_day]].mean() > 1.2 * midday[~weekend[in_day]].mean()
    # Households differ: the biggest uses several times what the median household does.
    per_home = collections.defaultdict(float)
    for household, value in zip(meters["household"], kwh, strict=True):
        per_home[household] += value
    totals = np.array(list(per_home.values()))
    assert totals.max() > 3 * np.median(totals)


# -- unified social credit codes -------------------------------------------------------------

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def test_check_characters_computed_by_hand() -> None:
    # Organization code MA2H4KQ7 (GB 11714): letters count from A = 10, so M = 22, H = 17,
    # K = 20 and Q = 26; weights 3 7 9 10 5 8 4 2.
    values = [22, 10, 2, 17, 4, 20, 26, 7]
    products = [v * w for v, w in zip(values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True)]
    assert products == [66, 70, 18, 170, 20, 160, 104, 14]
    assert sum(products) == 622 and 622 % 11 == 6  # check 11 - 6 = 5
    code17 = "91" + "330212" + "MA2H4KQ7" + "5"
    # The whole code's values are the positions in the 31-character alphabet, which skips I,
    # O, S, V and Z: M = 21, A = 10, H = 17, K = 19, Q = 24.
    values = [9, 1, 3, 3, 0, 2, 1, 2, 21, 10, 2, 17, 4, 19, 24, 7, 5]
    assert values == [ALPHABET.index(c) for c in code17]
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(v * w for v, w in zip(values, weights, strict=True))
    assert total == 2281 and total % 31 == 18  # check 31 - 18 = 13, which is D
    assert power.uscc_check_character(code17) == "D"
    assert power.is_valid_uscc(code17 + "D")

    # An organization code whose check is 10, written X: 3 x 4 = 12, and 12 mod 11 = 1.
    code17 = "91330212" + "00000030" + "X"
    values = [9, 1, 3, 3, 0, 2, 1, 2, 0, 0, 0, 0, 0, 0, 3, 0, ALPHABET.index("X")]
    total = sum(v * w for v, w in zip(values, weights, strict=True))
    # 9 + 3 + 27 + 81 + 52 + 16 + 34 = 222 for 91330212, 3 x 10 = 30, and X = 29, x 28 = 812.
    assert ALPHABET.index("X") == 29 and total == 1064 and total % 31 == 10  # 31 - 10 = 21: M
    assert power.uscc_check_character(code17) == "M"
    assert power.is_valid_uscc(code17 + "M")
    # And one whose organization check is 11, written 0: all zeros; 222 % 31 = 5, 31 - 5 = 26.
    assert ALPHABET[26] == "T"
    assert power.is_valid_uscc("91330212" + "00000000" + "0" + "T")

    # The example of GB 32100-2015 itself.
    assert power.uscc_check_character("91350100M000100Y4") == "3"
    assert power.is_valid_uscc("91350100M000100Y43")


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # the wrong check character
        "91350100M000100Y53",  # the wrong organization-code check
        "91330212MA2H4KQ76D",  # the organization code's check changed
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",
        "91350100m000100Y43",  # lower case
        "913501I0M000100Y43",  # I is not in the alphabet
        "91350A00M000100Y43",  # a letter in the division code
        "",
        "\uff191350100M000100Y43",  # a fullwidth digit nine
    ],
)
def test_malformed_codes_are_not_valid(code: str) -> None:
    assert power.is_valid_uscc(code) is False


def test_a_wrong_organization_check_is_caught_even_with_a_matching_final_check() -> None:
    code17 = "91330212MA2H4KQ76"  # the organization code's check is 5, not 6
    assert not power.is_valid_uscc(code17 + power.uscc_check_character(code17))


def test_is_valid_uscc_never_raises() -> None:
    for value in (None, 91350100, b"91350100M000100Y43", ["9"] * 18, "\ud800" * 18):
        assert power.is_valid_uscc(value) is False  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="17 characters"):
        power.uscc_check_character("9135")
    with pytest.raises(ConfigError, match="outside"):
        power.uscc_check_character("91350100M000100I4")


@settings(max_examples=60, deadline=None)
@given(
    indices=st.lists(st.integers(0, 10**8 - 1), min_size=1, max_size=40, unique=True),
    data=st.data(),
)
def test_vectorised_codes_are_valid_and_one_changed_character_breaks_them(indices, data) -> None:
    codes = [str(code) for code in power.enterprise_codes(np.array(indices))]
    assert len(set(codes)) == len(codes)
    assert all(power.is_valid_uscc(code) for code in codes)
    assert all(code[:2] == "91" and code[2:8].startswith("3302") for code in codes)
    assert codes == [str(power.enterprise_codes(np.array([i]))[0]) for i in indices]
    code = data.draw(st.sampled_from(codes))
    position = data.draw(st.integers(0, 17))
    replacement = data.draw(
        st.sampled_from([c for c in ALPHABET + "IOSVZa" if c != code[position]])
    )
    assert not power.is_valid_uscc(code[:position] + replacement + code[position + 1 :])


def test_enterprise_codes_are_unique_over_many_and_mix_old_and_new_style() -> None:
    codes = power.enterprise_codes(np.arange(200_000))
    assert codes.shape == (200_000,) and len(np.unique(codes)) == 200_000
    new_style = np.strings.startswith(codes.astype(str), "MA", 8)
    assert 0.5 < new_style.mean() < 0.7
    assert all(power.is_valid_uscc(str(code)) for code in codes[::997])
    assert power.enterprise_codes(np.array([], dtype=np.int64)).shape == (0,)
    for bad in (np.array([-1]), np.array([10**8]), np.array([1.5]), np.array([[1]])):
        with pytest.raises(ConfigError, match="enterprise indices"):
            power.enterprise_codes(bad)


def test_every_code_in_the_files_is_valid(enterprises) -> None:
    consumption, loans = enterprises["consumption"], enterprises["loans"]
    population = {str(code) for code in power.enterprise_codes(np.arange(4_000))}
    for codes in (consumption["uscc"], loans["uscc"]):
        assert all(power.is_valid_uscc(code) for code in set(codes))
        assert set(codes) <= population


# -- enterprises and loans -------------------------------------------------------------------


def test_consumption_is_monthly_by_industry_and_season(enterprises) -> None:
    data = enterprises["consumption"]
    months = sorted(set(data["month"]))
    assert months == [str(m) + "-01" for m in np.arange("2025-12", "2026-12", dtype="M8[M]")]
    per_enterprise = collections.Counter(data["uscc"])
    assert set(per_enterprise.values()) == {12}
    assert all(re.fullmatch(r"[A-T] [a-z]+(-[a-z]+)*", name) for name in set(data["industry"]))
    kwh, peak = numbers(data["kwh"]), numbers(data["peak_kw"])
    industry, month = np.array(data["industry"]), np.array(data["month"])
    assert np.all(peak > 0) and np.all(kwh >= 0)
    first = np.array(data["month"], "M8[D]")
    hours = ((first.astype("M8[M]") + 1).astype("M8[D]") - first).astype(np.int64) * 24
    big = kwh > 100  # (a peak is rounded to 0.01 kW)
    assert np.all(peak[big] * hours[big] > kwh[big])  # no enterprise draws its peak all month
    manufacturing = industry == "C manufacturing"
    services = industry == "F wholesale-retail"
    assert manufacturing.sum() > 0.2 * len(kwh)
    assert np.median(kwh[manufacturing]) > 5 * np.median(kwh[services])
    # Shops cool in summer; factories slow down over the Spring Festival.
    assert kwh[services & (month == "2026-08-01")].mean() > 1.2 * (
        kwh[services & (month == "2026-04-01")].mean()
    )
    assert kwh[manufacturing & (month == "2026-02-01")].mean() < 0.85 * (
        kwh[manufacturing & (month == "2026-03-01")].mean()
    )
    arrears = numbers(data["arrears"])
    assert 0.8 < (arrears == 0).mean() < 1.0


def test_loans_are_well_formed(enterprises) -> None:
    loans = enterprises["loans"]
    assert set(loans["status"]) == set(power.LOAN_STATUSES)
    assert len(set(loans["loan_id"])) == 1_500
    assert all(re.fullmatch(r"HB20\d\d-\d{6}", loan_id) for loan_id in loans["loan_id"])
    issued = np.array(loans["issued_on"], dtype="datetime64[D]")
    assert issued.max() <= END and issued.min() >= END - np.timedelta64(5 * 365, "D")
    principal, outstanding = numbers(loans["principal"]), numbers(loans["outstanding"])
    assert np.all(principal >= 50_000) and np.all(outstanding <= principal)
    assert np.all(outstanding >= 0)
    status = collections.Counter(loans["status"])
    assert status["performing"] > 0.6 * 1_500 and status["default"] < 0.1 * 1_500


def test_some_but_not_all_borrowers_are_grid_customers(enterprises) -> None:
    customers = set(enterprises["consumption"]["uscc"])
    borrowers = collections.Counter(enterprises["loans"]["uscc"])
    assert len(borrowers) == 1_200  # 1,500 loans; 300 are a borrower's second
    assert set(borrowers.values()) == {1, 2}
    shared = len(set(borrowers) & customers)
    assert 0 < shared < len(borrowers)
    assert 0.65 < shared / len(borrowers) < 0.85


def test_distressed_borrowers_show_in_the_grid_companys_data(enterprises) -> None:
    consumption, loans = enterprises["consumption"], enterprises["loans"]
    arrears = collections.defaultdict(float)
    early, late = collections.defaultdict(float), collections.defaultdict(float)
    for code, month, kwh, owed in zip(
        consumption["uscc"],
        consumption["month"],
        numbers(consumption["kwh"]),
        numbers(consumption["arrears"]),
        strict=True,
    ):
        arrears[code] += owed
        if month < "2026-03":
            early[code] += kwh
        elif month >= "2026-09":
            late[code] += kwh
    status = {}
    for code, state in zip(loans["uscc"], loans["status"], strict=True):
        if code in arrears:  # a grid customer; the worse status of a borrower's two loans
            worst = max(power.LOAN_STATUSES.index(state), status.get(code, 0))
            status[code] = worst

    def borrowers(state: str) -> list[str]:
        return [code for code, s in status.items() if power.LOAN_STATUSES[s] == state]

    performing, default = borrowers("performing"), borrowers("default")
    assert len(default) >= 10
    mean_arrears = {
        name: np.mean([arrears[c] for c in group])
        for name, group in (("performing", performing), ("default", default))
    }
    assert mean_arrears["default"] > 3 * mean_arrears["performing"]
    owing = {
        name: np.mean([arrears[c] > 0 for c in group])
        for name, group in (("performing", performing), ("default", default))
    }
    assert owing["default"] > 2 * owing["performing"]
    trend = {
        name: np.mean([late[c] / early[c] for c in group if early[c] > 0])
        for name, group in (("performing", performing), ("default", default))
    }
    assert trend["default"] < 0.9 * trend["performing"]


# -- memory, arguments -----------------------------------------------------------------------


@pytest.mark.slow
def test_generation_holds_one_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The writer is replaced by a sink that drains each chunk as write_csv would (holding the
    # last one while the next is made), so that tracemalloc sees the generator's memory alone.
    generated = {"bytes": 0, "rows": 0}

    def sink(path, schema, chunks) -> int:
        rows = 0
        for chunk in chunks:
            generated["bytes"] += sum(np.asarray(values).nbytes for values in chunk.values())
            rows += len(chunk[schema.header[0]])
        generated["rows"] += rows
        return rows

    monkeypatch.setattr(power, "write_csv", sink)

    def peak(households: int) -> int:
        generated.update(bytes=0, rows=0)
        tracemalloc.start()
        try:
            power.generate(tmp_path, households=households, days=7, loans=10)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # Two chunks of meter readings, then eight (2 million rows); per-household arrays grow
    # with the households, a few dozen bytes each.
    assert CHUNK_ROWS < 3_000 * 7 * 24 <= 2 * CHUNK_ROWS < 8 * CHUNK_ROWS <= 12_500 * 7 * 24
    small = peak(households=3_000)
    large = peak(households=12_500)
    assert generated["rows"] > 12_500 * 7 * 24
    assert large < 1.2 * small
    assert large < generated["bytes"] / 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"households": 0}, "households must be from 1"),
        ({"households": 2.0}, "households must be an integer"),
        ({"districts": 0}, "districts must be from 1 to 8"),
        ({"districts": 9}, "districts must be from 1 to 8"),
        ({"days": 0}, "days must be from 1"),
        ({"days": True}, "days must be an integer"),
        ({"enterprises": 0}, "enterprises must be from 1"),
        ({"enterprises": 10**8 + 1}, "enterprises must be from 1 to 100000000"),
        ({"loans": -1}, "loans must be from 0"),
        ({"enterprises": 100, "loans": 200}, "160 distinct enterprises, more than the 100"),
        ({"seed": -1}, "seed must be from 0"),
        ({"seed": "2026"}, "seed must be an integer"),
        ({"end": "30 November"}, "end is not a date"),
        ({"end": 20261130}, "end must be a date"),
        ({"end": np.datetime64("NaT")}, "end must be a day"),
        ({"end": "1900-01-10", "days": 30}, "start before 1900"),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, arguments, message) -> None:
    with pytest.raises(ConfigError, match=message):
        power.generate(tmp_path, **arguments)
    assert not list(tmp_path.iterdir())


def test_a_directory_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot write the tables"):
        power.generate(tmp_path / "taken")


def test_end_may_be_a_date_or_text(tmp_path: Path) -> None:
    small = {"households": 3, "days": 2, "enterprises": 20, "loans": 5}
    one = power.generate(tmp_path / "a", end="2026-06-15", **small)
    two = power.generate(tmp_path / "b", end=dt.date(2026, 6, 15), **small)
    assert [t.path.read_bytes() for t in one] == [t.path.read_bytes() for t in two]
    readings = one[0].path.read_text(encoding="utf-8").splitlines()
    assert readings[-1].split(",")[2] == "2026-06-15T15:00:00Z"  # 23:00 in the city
    months = columns(one[1].path)["month"]
    assert (min(months), max(months)) == ("2025-07-01", "2026-06-01")


def test_no_loans_is_an_empty_loan_book(tmp_path: Path) -> None:
    book = power.generate(tmp_path, households=1, days=1, enterprises=1, loans=0)[2]
    assert book.rows == 0
    assert book.path.read_text(encoding="utf-8") == ",".join(power.LOAN_BOOK.header) + "\n"
