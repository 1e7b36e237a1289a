"""An aggregation's numbers on one provider: reading the source, units, counts and sums per
group, suppression, noise, the vector that travels, and the requester's table."""

from __future__ import annotations

import csv
import datetime as dt
import math
import sqlite3
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.connector import _aggregate
from tds.connector._aggregate import (
    PACKING_BOUND,
    LocalAggregate,
    aggregate_table,
    discrete_laplace,
)
from tds.connector._catalog import Column, ColumnType, Dataset, DataSource, dataset_target
from tds.connector._jobs import JobKind, JobSpec, ProviderPart
from tds.connector._tables import from_units, read_columns, to_units
from tds.connector._trust import node_uri
from tds.errors import ConfigError
from tds.policy import BoundingBox
from tds.sectors import healthcare

JOB_ID = "0123456789abcdef0123456789abcdef"
POLICY = healthcare.medical_research(
    uid="urn:tds:policy:alice:visits",
    assigner=node_uri("alice"),
    target=dataset_target("alice", "visits"),
)
COLUMNS = {"region": "string", "sex": "string", "visits": "integer", "cost": "decimal"}
SECRET = "patient-4711"


def _dataset(source: DataSource, columns: dict[str, str] | None = None) -> Dataset:
    return Dataset(
        id="visits",
        title="Outpatient visits",
        sector="healthcare",
        columns=tuple(Column(name, kind) for name, kind in (columns or COLUMNS).items()),
        source=source,
        contract_policy=POLICY,
    )


def _csv(
    path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] | None = None
) -> Dataset:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(list(COLUMNS) if header is None else header)
        writer.writerows(rows)
    return _dataset(DataSource("csv", path))


def _sqlite(path: Path, rows: Sequence[Sequence[object]]) -> Dataset:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE visits (region TEXT, sex TEXT, visits INTEGER, cost)")
        connection.executemany("INSERT INTO visits VALUES (?, ?, ?, ?)", rows)
    connection.close()
    return _dataset(DataSource("sqlite", path, "visits"))


def _spec(**fields: Any) -> JobSpec:
    values: dict[str, Any] = {
        "job_id": JOB_ID,
        "kind": JobKind.AGGREGATE,
        "requester": "bob",
        "providers": (ProviderPart("alice", "agreement-1", "visits"),),
        "purpose": "medical research",
        "group_by": ("region",),
        "sums": ("visits", "cost"),
        "groups": (("north",), ("south",)),
        "requester_key": b"paillier",
    }
    values.update(fields)
    return JobSpec(**values)


ROWS = [
    ("north", "f", 3, "10.50"),
    ("south", "m", 1, "2"),
    ("north", "m", 2, "-0.25"),
    ("west", "f", 9, "1000.00"),
    ("north", "f", 1, "0.05"),
]


# -- reading the source ---------------------------------------------------------------------


def test_columns_are_read_as_text_from_a_csv_file(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", ROWS)
    assert read_columns(dataset, ["cost", "region"]) == [
        ["10.50", "2", "-0.25", "1000.00", "0.05"],
        ["north", "south", "north", "west", "north"],
    ]
    assert read_columns(dataset, []) == []


def test_columns_are_read_as_text_from_an_sqlite_table(tmp_path: Path) -> None:
    dataset = _sqlite(tmp_path / "visits.db", [*ROWS, ("east", None, 4, 1.5)])
    region, visits, cost = read_columns(dataset, ["region", "visits", "cost"])
    assert region == ["north", "south", "north", "west", "north", "east"]
    assert visits == ["3", "1", "2", "9", "1", "4"]
    assert cost == ["10.50", "2", "-0.25", "1000.00", "0.05", "1.5"]
    assert read_columns(dataset, ["sex"]) == [["f", "m", "m", "f", "f", ""]]


def test_an_empty_source_gives_empty_columns(tmp_path: Path) -> None:
    assert read_columns(_csv(tmp_path / "empty.csv", []), ["region", "cost"]) == [[], []]
    assert read_columns(_sqlite(tmp_path / "empty.db", []), ["visits"]) == [[]]


def test_a_column_the_dataset_does_not_declare_is_refused(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", ROWS)
    with pytest.raises(ConfigError, match="dataset visits has no column age, zip"):
        read_columns(dataset, ["region", "age", "zip"])


def test_a_declared_column_missing_from_the_csv_file_is_refused(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", [(SECRET, "f", "1")], header=["region", "sex", "n"])
    with pytest.raises(ConfigError, match="CSV file of dataset visits has no column cost") as error:
        read_columns(dataset, ["region", "cost"])
    assert SECRET not in str(error.value)


def test_a_short_csv_line_is_refused_by_its_number_without_its_values(tmp_path: Path) -> None:
    rows: list[Sequence[object]] = [("north", "f", 1, "1.00"), (SECRET, "m")]
    dataset = _csv(tmp_path / "visits.csv", rows)
    with pytest.raises(ConfigError, match="line 3 of the CSV file of dataset visits is short") as e:
        read_columns(dataset, ["region", "cost"])
    assert SECRET not in str(e.value)
    assert read_columns(dataset, ["region", "sex"]) == [["north", SECRET], ["f", "m"]]


def test_an_unreadable_source_is_refused_naming_the_dataset(tmp_path: Path) -> None:
    missing = _dataset(DataSource("csv", tmp_path / "gone.csv"))
    with pytest.raises(ConfigError, match="cannot read the source of dataset visits"):
        read_columns(missing, ["region"])
    (tmp_path / "latin1.csv").write_bytes(
        b"region,sex,visits,cost\n" + SECRET.encode() + b"\xe9,f,1,2\n"
    )
    latin1 = _dataset(DataSource("csv", tmp_path / "latin1.csv"))
    with pytest.raises(ConfigError, match="cannot read the source of dataset visits") as error:
        read_columns(latin1, ["region"])
    assert SECRET not in str(error.value)
    no_database = _dataset(DataSource("sqlite", tmp_path / "gone.db", "visits"))
    with pytest.raises(ConfigError, match="cannot read the source of dataset visits"):
        read_columns(no_database, ["region"])
    assert not (tmp_path / "gone.db").exists()


def test_a_missing_sqlite_table_is_refused_naming_the_dataset(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "other.db")
    with connection:
        connection.execute("CREATE TABLE visits (region TEXT)")
        connection.execute("INSERT INTO visits VALUES (?)", (SECRET,))
    connection.close()
    no_table = _dataset(DataSource("sqlite", tmp_path / "other.db", "claims"))
    with pytest.raises(ConfigError, match="dataset visits has no table claims") as error:
        read_columns(no_table, ["region"])
    assert SECRET not in str(error.value)


def test_a_column_missing_from_the_sqlite_table_is_refused_not_read_as_its_name(
    tmp_path: Path,
) -> None:
    connection = sqlite3.connect(tmp_path / "visits.db")
    with connection:
        connection.execute("CREATE TABLE visits (region TEXT)")
        connection.executemany("INSERT INTO visits VALUES (?)", [("x",), ("y",)])
    connection.close()
    dataset = _dataset(DataSource("sqlite", tmp_path / "visits.db", "visits"))
    with pytest.raises(ConfigError, match="dataset visits has no cost"):
        read_columns(dataset, ["region", "cost"])


@pytest.mark.parametrize(
    ("text", "column_type", "message"),
    [
        ("1e1000000", ColumnType.DECIMAL, "too large to add up"),
        ("1e1000000", ColumnType.INTEGER, "too large to add up"),
        ("1e-9999999999", ColumnType.DECIMAL, "more than 2 decimal places"),
        ("-9223372036854775808000", ColumnType.INTEGER, "too large to add up"),
    ],
)
def test_extreme_exponents_are_refused_at_once(
    text: str, column_type: ColumnType, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        to_units([text], column_type, "column v")


# -- units ----------------------------------------------------------------------------------


def test_integer_values_are_their_own_units() -> None:
    assert to_units(["0", "12", "-3", " 7 ", "+4", "1.0", "1e3"], ColumnType.INTEGER, "n") == [
        0,
        12,
        -3,
        7,
        4,
        1,
        1000,
    ]
    assert to_units(["9223372036854775807"], ColumnType.INTEGER, "n") == [2**63 - 1]


def test_decimal_values_are_counted_in_hundredths() -> None:
    values = ["10.50", "2", "-0.25", "0.05", "0", "1e2", "12.340", "-7.1"]
    assert to_units(values, ColumnType.DECIMAL, "cost") == [1050, 200, -25, 5, 0, 10000, 1234, -710]


@pytest.mark.parametrize(
    ("column_type", "text", "row"),
    [
        (ColumnType.DECIMAL, "0.001", 1),
        (ColumnType.DECIMAL, "10.505", 2),
        (ColumnType.DECIMAL, "-1.999", 2),
        (ColumnType.INTEGER, "1.5", 1),
        (ColumnType.INTEGER, "0.01", 2),
    ],
)
def test_more_decimal_places_than_the_type_holds_are_refused(
    column_type: ColumnType, text: str, row: int
) -> None:
    values = ["1", text] if row == 2 else [text, "1"]
    places = 0 if column_type is ColumnType.INTEGER else 2
    with pytest.raises(ConfigError, match=f"row {row} of cost has more than {places} decimal"):
        to_units(values, column_type, "cost")


@pytest.mark.parametrize("text", ["", " ", "ten", "1,5", "0x10", "1.2.3", "€5"])
@pytest.mark.parametrize("column_type", [ColumnType.INTEGER, ColumnType.DECIMAL])
def test_a_value_that_is_not_a_number_is_refused(column_type: ColumnType, text: str) -> None:
    with pytest.raises(ConfigError, match="row 2 of cost is not a number"):
        to_units(["1", text], column_type, "cost")


@pytest.mark.parametrize("text", ["NaN", "nan", "sNaN", "Infinity", "-inf"])
def test_a_value_that_is_not_finite_is_refused(text: str) -> None:
    for column_type in (ColumnType.INTEGER, ColumnType.DECIMAL):
        with pytest.raises(ConfigError, match="row 1 of cost is not a finite number"):
            to_units([text], column_type, "cost")


@pytest.mark.parametrize(
    "column_type",
    [ColumnType.STRING, ColumnType.BOOLEAN, ColumnType.DATE, ColumnType.TIMESTAMP],
)
def test_only_integer_and_decimal_columns_add_up(column_type: ColumnType) -> None:
    with pytest.raises(ConfigError, match=f"cost is a {column_type} column"):
        to_units(["1"], column_type, "cost")


def test_sums_come_back_in_column_terms() -> None:
    assert from_units(-12, ColumnType.INTEGER) == -12
    assert from_units(1050, ColumnType.DECIMAL) == "10.50"
    assert from_units(-1, ColumnType.DECIMAL) == "-0.01"
    assert from_units(0, ColumnType.DECIMAL) == "0.00"
    assert from_units(7, ColumnType.DECIMAL) == "0.07"
    assert from_units(2**52 * 16 + 1, ColumnType.DECIMAL) == "720575940379279.37"


@given(st.lists(st.integers(-(10**12), 10**12), max_size=20))
def test_decimal_units_round_trip_through_their_text(cents: list[int]) -> None:
    texts = [str(Decimal(value).scaleb(-2)) for value in cents]
    assert to_units(texts, ColumnType.DECIMAL, "cost") == cents
    assert from_units(sum(cents), ColumnType.DECIMAL) == str(Decimal(sum(cents)).scaleb(-2))


# -- counts and sums ------------------------------------------------------------------------


def _reference(
    rows: list[tuple[str, str, int, int]], spec: JobSpec
) -> tuple[list[int], list[list[int]]]:
    """Counts and sums computed row by row: rows are (region, sex, visits, cost in cents)."""
    position = {"region": 0, "sex": 1}
    value = {"visits": 2, "cost": 3}
    groups = list(spec.groups) if spec.group_by else [()]
    counts = [0] * len(groups)
    sums = [[0] * len(spec.sums) for _ in groups]
    for row in rows:
        key = tuple(row[position[column]] for column in spec.group_by)
        if key not in groups:
            continue
        where = groups.index(key)
        counts[where] += 1
        for number, name in enumerate(spec.sums):
            amount = row[value[name]]
            if spec.epsilon is not None:
                amount = max(-spec.value_bound, min(spec.value_bound, amount))
            sums[where][number] += amount
    return counts, sums


_regions = st.sampled_from(["north", "south", "east", "", "n,e", 'say "hi"'])
_sexes = st.sampled_from(["f", "m", "x"])
_rows = st.lists(
    st.tuples(
        _regions,
        _sexes,
        st.integers(-(10**9), 10**9),
        st.integers(-(10**9), 10**9),
    ),
    max_size=40,
)


@st.composite
def _specs(draw: st.DrawFn) -> JobSpec:
    group_by = draw(
        st.sampled_from([(), ("region",), ("sex",), ("region", "sex"), ("sex", "region")])
    )
    sums = draw(
        st.sampled_from([("visits",), ("cost",), ("cost", "visits")] + ([()] if group_by else []))
    )
    by_column = {"region": _regions, "sex": _sexes}
    groups = (
        draw(
            st.lists(
                st.tuples(*(by_column[c] for c in group_by)), min_size=1, max_size=6, unique=True
            )
        )
        if group_by
        else []
    )
    return _spec(
        group_by=group_by,
        sums=sums,
        groups=tuple(groups),
        epsilon=draw(st.none() | st.just("1")),
        value_bound=draw(st.integers(1, 10**10)),
    )


@settings(max_examples=60, deadline=None)
@given(_rows, _specs(), st.booleans())
def test_counts_and_sums_match_a_row_by_row_reference(
    rows: list[tuple[str, str, int, int]], spec: JobSpec, in_sqlite: bool
) -> None:
    written = [(r, s, v, str(Decimal(c).scaleb(-2))) for r, s, v, c in rows]
    with tempfile.TemporaryDirectory() as directory:
        if in_sqlite:
            dataset = _sqlite(Path(directory) / "visits.db", written)
        else:
            dataset = _csv(Path(directory) / "visits.csv", written)
        local = LocalAggregate.compute(dataset, spec)
    counts, sums = _reference(rows, spec)
    assert local.counts.dtype == np.int64 and local.sums.dtype == np.int64
    assert local.counts.tolist() == counts
    assert local.sums.shape == (len(counts), len(spec.sums))
    assert local.sums.tolist() == sums
    assert local.suppressed == 0


def test_rows_in_groups_not_asked_for_are_left_out(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", ROWS)
    local = LocalAggregate.compute(dataset, _spec(groups=(("south",), ("east",), ("north",))))
    assert local.counts.tolist() == [1, 0, 3]
    assert local.sums.tolist() == [[1, 200], [0, 0], [6, 1030]]


def test_without_group_by_every_row_is_in_the_one_group(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", ROWS)
    local = LocalAggregate.compute(dataset, _spec(group_by=(), groups=()))
    assert local.counts.tolist() == [5]
    assert local.sums.tolist() == [[16, 101230]]


def test_two_group_columns_group_by_their_pair(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", ROWS)
    spec = _spec(group_by=("region", "sex"), groups=(("north", "f"), ("north", "m")), sums=())
    local = LocalAggregate.compute(dataset, spec)
    assert local.counts.tolist() == [2, 1]
    assert local.sums.shape == (2, 0)


def test_with_an_epsilon_each_value_is_clipped_to_the_bound(tmp_path: Path) -> None:
    rows = [("north", "f", 500, "-9.00"), ("north", "m", -500, "0.50"), ("north", "f", 3, "1")]
    dataset = _csv(tmp_path / "visits.csv", rows)
    plain = LocalAggregate.compute(dataset, _spec(groups=(("north",),)))
    assert plain.sums.tolist() == [[3, -750]]
    clipped = LocalAggregate.compute(
        dataset, _spec(groups=(("north",),), epsilon="1", value_bound=100)
    )
    assert clipped.sums.tolist() == [[3, -100 + 50 + 100]]


def test_a_bad_value_is_refused_naming_the_column_and_dataset(tmp_path: Path) -> None:
    dataset = _csv(tmp_path / "visits.csv", [("north", "f", 1, SECRET)])
    with pytest.raises(ConfigError, match="row 1 of column cost of dataset visits is not") as e:
        LocalAggregate.compute(dataset, _spec())
    assert SECRET not in str(e.value)
    text = _csv(tmp_path / "text.csv", [("north", "f", 1, "1")])
    with pytest.raises(ConfigError, match="column sex of dataset visits is a string column"):
        LocalAggregate.compute(text, _spec(sums=("sex",)))


def test_sums_up_to_the_packing_bound_are_carried(tmp_path: Path) -> None:
    rows = [("north", "f", 2**51, "0"), ("north", "f", 2**51, "0"), ("south", "f", -(2**52), "0")]
    local = LocalAggregate.compute(_csv(tmp_path / "visits.csv", rows), _spec())
    assert local.sums[:, 0].tolist() == [2**52, -(2**52)] == [PACKING_BOUND, -PACKING_BOUND]


@pytest.mark.parametrize(
    "values",
    [[2**51, 2**51 + 1], [2**52 + 1], [-(2**52), -1], [2**62, -(2**62)], [2**40] * 4097],
)
def test_a_group_whose_sum_could_pass_the_packing_bound_is_refused(
    tmp_path: Path, values: list[int]
) -> None:
    rows = [("north", "f", value, "0") for value in values]
    with pytest.raises(ConfigError, match="could exceed 2\\*\\*52 units"):
        LocalAggregate.compute(_csv(tmp_path / "visits.csv", rows), _spec())


def test_the_bound_applies_per_group_and_only_to_groups_asked_for(tmp_path: Path) -> None:
    rows = [("north", "f", 2**52, "0"), ("south", "f", 2**52, "0"), ("west", "f", 2**60, "0")]
    local = LocalAggregate.compute(_csv(tmp_path / "visits.csv", rows), _spec())
    assert local.sums[:, 0].tolist() == [2**52, 2**52]


def test_a_value_beyond_64_bits_is_refused_as_too_large(tmp_path: Path) -> None:
    rows = [("north", "f", 2**63, "0")]
    with pytest.raises(
        ConfigError, match="a value in column visits of dataset visits is too large"
    ):
        LocalAggregate.compute(_csv(tmp_path / "visits.csv", rows), _spec())


def test_with_an_epsilon_clipping_keeps_huge_values_within_the_bound(tmp_path: Path) -> None:
    rows = [("north", "f", 2**62, "0")] * 3
    spec = _spec(epsilon="1", value_bound=1000)
    local = LocalAggregate.compute(_csv(tmp_path / "visits.csv", rows), spec)
    assert local.sums[:, 0].tolist() == [3000, 0]


# -- suppression, the vector, the table -----------------------------------------------------


def _local(counts: list[int], sums: list[list[int]]) -> LocalAggregate:
    width = len(sums[0]) if sums else 0
    return LocalAggregate(
        np.array(counts, dtype=np.int64),
        np.array(sums, dtype=np.int64).reshape(len(counts), width),
    )


def test_groups_under_the_cohort_are_zeroed_and_counted() -> None:
    local = _local([0, 1, 4, 5, 9], [[0, 0], [7, 1], [8, 2], [9, 3], [10, 4]])
    kept = local.suppress(5)
    assert kept.counts.tolist() == [0, 0, 0, 5, 9]
    assert kept.sums.tolist() == [[0, 0], [0, 0], [0, 0], [9, 3], [10, 4]]
    assert kept.suppressed == 2
    assert kept.smallest_group == 5
    assert local.counts.tolist() == [0, 1, 4, 5, 9]  # the original is untouched
    assert local.sums.tolist()[1] == [7, 1]
    assert local.suppress(1).suppressed == 0
    assert local.suppress(1).counts.tolist() == local.counts.tolist()
    everything = local.suppress(10)
    assert everything.suppressed == 4 and everything.smallest_group is None
    assert not everything.counts.any() and not everything.sums.any()


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(0, 4), st.data())
def test_the_vector_holds_each_groups_count_then_its_sums(
    groups: int, sums: int, data: st.DataObject
) -> None:
    values = st.integers(-(2**52), 2**52)
    counts = data.draw(st.lists(st.integers(0, 2**31), min_size=groups, max_size=groups))
    table = data.draw(
        st.lists(st.lists(values, min_size=sums, max_size=sums), min_size=groups, max_size=groups)
    )
    local = _local(counts, table)
    vector = local.to_vector()
    assert vector.dtype == np.int64
    assert vector.tolist() == [
        x for count, row in zip(counts, table, strict=True) for x in [count, *row]
    ]
    back = LocalAggregate.from_vector(vector, groups, sums)
    assert back.counts.tolist() == counts
    assert back.sums.tolist() == table
    assert back.sums.shape == (groups, sums)


def test_the_table_has_a_row_per_group_with_its_count_and_sums_in_column_terms() -> None:
    spec = _spec(min_cohort=3, epsilon="0.5")
    total = _local([4, 0], [[16, 102030], [0, -5]])
    types = {"visits": ColumnType.INTEGER, "cost": ColumnType.DECIMAL}
    assert aggregate_table(spec, total, types) == {
        "columns": ["region", "count", "sum_visits", "sum_cost"],
        "rows": [["north", 4, 16, "1020.30"], ["south", 0, 0, "-0.05"]],
        "providers": 1,
        "min_cohort": 3,
        "epsilon": "0.5",
    }


def test_the_table_without_group_by_has_one_row() -> None:
    spec = _spec(
        group_by=(),
        groups=(),
        sums=("cost",),
        providers=(ProviderPart("alice", "a-1", "visits"), ProviderPart("carol", "a-2", "visits")),
    )
    table = aggregate_table(spec, _local([12], [[-1]]), {"cost": ColumnType.DECIMAL})
    assert table == {
        "columns": ["count", "sum_cost"],
        "rows": [[12, "-0.01"]],
        "providers": 2,
        "min_cohort": 1,
        "epsilon": None,
    }
    rows = table["rows"]
    assert isinstance(rows, list) and type(rows[0][0]) is int


# -- noise ----------------------------------------------------------------------------------


def _variance(scale: float) -> float:
    p = math.exp(-1 / scale)
    return 2 * p / (1 - p) ** 2


@pytest.mark.parametrize("scale", [0.5, 2.0, 10.0])
def test_discrete_laplace_draws_are_integers_centred_with_the_expected_variance(
    scale: float,
) -> None:
    draws = discrete_laplace(scale, 20_000, np.random.default_rng(20260501))
    assert draws.dtype == np.int64 and draws.shape == (20_000,)
    variance = _variance(scale)
    assert abs(draws.mean()) < 5 * math.sqrt(variance / 20_000)
    assert draws.var() == pytest.approx(variance, rel=0.1)
    p = math.exp(-1 / scale)
    assert np.mean(draws == 0) == pytest.approx((1 - p) / (1 + p), abs=0.02)
    assert np.mean(draws > 0) == pytest.approx(np.mean(draws < 0), abs=0.02)


def test_a_seeded_generator_draws_the_same_noise() -> None:
    first = discrete_laplace(3.0, 50, np.random.default_rng(7))
    again = discrete_laplace(3.0, 50, np.random.default_rng(7))
    assert first.tolist() == again.tolist()
    assert discrete_laplace(3.0, 0, np.random.default_rng(7)).shape == (0,)


def test_noise_splits_epsilon_between_the_counts_and_each_summed_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_aggregate, "fresh_rng", lambda: np.random.default_rng(424242))
    groups = 6000
    local = LocalAggregate(
        np.full(groups, 50, dtype=np.int64),
        np.tile(np.array([1000, -1000], dtype=np.int64), (groups, 1)),
        suppressed=3,
    )
    noisy = local.with_noise(Decimal("1.5"), 10)
    assert noisy.counts.dtype == np.int64 and noisy.sums.dtype == np.int64
    assert noisy.sums.shape == (groups, 2)
    assert noisy.suppressed == 3
    assert local.counts.tolist() == [50] * groups  # the original is untouched
    # 1.5 split three ways: 0.5 each, so scale 1/0.5 for the counts, 10/0.5 for each sum.
    expected = {
        "counts": (noisy.counts - 50, _variance(2.0)),
        "sum 0": (noisy.sums[:, 0] - 1000, _variance(20.0)),
        "sum 1": (noisy.sums[:, 1] + 1000, _variance(20.0)),
    }
    for what, (noise, variance) in expected.items():
        assert abs(noise.mean()) < 5 * math.sqrt(variance / groups), what
        assert noise.var() == pytest.approx(variance, rel=0.15), what
    assert not np.array_equal(noisy.sums[:, 0] - 1000, noisy.sums[:, 1] + 1000)


def test_noise_without_summed_columns_spends_all_of_epsilon_on_the_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_aggregate, "fresh_rng", lambda: np.random.default_rng(99))
    local = LocalAggregate(np.zeros(8000, dtype=np.int64), np.zeros((8000, 0), dtype=np.int64))
    noisy = local.with_noise(Decimal("0.25"), 2**31)
    assert noisy.counts.var() == pytest.approx(_variance(4.0), rel=0.1)
    assert noisy.sums.shape == (8000, 0)


def test_fresh_noise_differs_from_call_to_call() -> None:
    local = LocalAggregate(np.zeros(64, dtype=np.int64), np.zeros((64, 1), dtype=np.int64))
    first, second = local.with_noise(Decimal(1), 100), local.with_noise(Decimal(1), 100)
    assert not np.array_equal(first.to_vector(), second.to_vector())


# -- who rows are about, where and when ---------------------------------------------------

OBSERVED = {
    "patient": "string",
    "region": "string",
    "seen": "timestamp",
    "lat": "decimal",
    "lon": "decimal",
    "cost": "decimal",
}


def _observed(path: Path, rows: Sequence[Sequence[object]], **roles: Any) -> Dataset:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(list(OBSERVED))
        writer.writerows(rows)
    return Dataset(
        id="visits",
        title="Visits with places and times",
        sector="healthcare",
        columns=tuple(Column(name, kind) for name, kind in OBSERVED.items()),
        source=DataSource("csv", path),
        contract_policy=POLICY,
        **roles,
    )


PLACED_ROWS = [
    # patient, region, seen, lat, lon, cost
    ("p1", "north", "2026-01-05T10:00:00Z", "36.50", "120.50", "10.00"),
    ("p1", "north", "2026-01-20T10:00:00+08:00", "36.50", "120.50", "20.00"),
    ("p1", "north", "2026-02-01T00:00:00Z", "37.50", "120.50", "40.00"),
    ("p2", "north", "2026-01-31T23:59:59", "36.60", "121.90", "80.00"),
    ("p3", "south", "2026-01-10", "36.70", "122.50", "160.00"),
]
JANUARY = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC))


def _observed_spec(**fields: Any) -> JobSpec:
    return _spec(group_by=("region",), groups=(("north",), ("south",)), sums=("cost",), **fields)


def test_cohorts_count_distinct_subjects_when_the_dataset_names_them(tmp_path: Path) -> None:
    dataset = _observed(tmp_path / "v.csv", PLACED_ROWS, subject_column="patient")
    local = LocalAggregate.compute(dataset, _observed_spec())
    assert local.counts.tolist() == [4, 1]
    assert local.cohorts.tolist() == [2, 1]  # p1 thrice and p2 are two people
    suppressed = local.suppress(2)
    assert suppressed.counts.tolist() == [4, 0] and suppressed.suppressed == 1
    assert suppressed.smallest_group == 2


def test_without_a_subject_column_the_cohort_is_the_rows(tmp_path: Path) -> None:
    local = LocalAggregate.compute(_observed(tmp_path / "v.csv", PLACED_ROWS), _observed_spec())
    assert local.cohorts.tolist() == local.counts.tolist() == [4, 1]


def test_an_area_keeps_the_rows_inside_it_edges_included(tmp_path: Path) -> None:
    dataset = _observed(tmp_path / "v.csv", PLACED_ROWS, location_columns=("lat", "lon"))
    area = BoundingBox(120.5, 36.0, 121.9, 37.0)
    local = LocalAggregate.compute(dataset, _observed_spec(area=area))
    assert local.counts.tolist() == [3, 0]
    assert local.sums[:, 0].tolist() == [11000, 0]


def test_a_period_keeps_its_start_and_leaves_out_its_end(tmp_path: Path) -> None:
    dataset = _observed(tmp_path / "v.csv", PLACED_ROWS, time_column="seen")
    local = LocalAggregate.compute(dataset, _observed_spec(period=JANUARY))
    # 2026-01-20T10:00+08:00 is 02:00 UTC; a time without an offset is UTC; the row on
    # 2026-02-01T00:00Z is the period's excluded end.
    assert local.counts.tolist() == [3, 1]
    assert local.sums[:, 0].tolist() == [11000, 16000]


def test_area_and_period_together_keep_only_rows_in_both(tmp_path: Path) -> None:
    dataset = _observed(
        tmp_path / "v.csv", PLACED_ROWS, time_column="seen", location_columns=("lat", "lon")
    )
    area = BoundingBox(120.0, 36.0, 121.0, 38.0)
    local = LocalAggregate.compute(dataset, _observed_spec(area=area, period=JANUARY))
    assert local.counts.tolist() == [2, 0]


def test_an_area_over_a_dataset_without_location_columns_is_refused(tmp_path: Path) -> None:
    dataset = _observed(tmp_path / "v.csv", PLACED_ROWS)
    with pytest.raises(ConfigError, match="no location columns"):
        LocalAggregate.compute(dataset, _observed_spec(area=BoundingBox(0, 0, 1, 1)))
    with pytest.raises(ConfigError, match="no time column"):
        LocalAggregate.compute(dataset, _observed_spec(period=JANUARY))


def test_a_bad_time_is_refused_by_its_row(tmp_path: Path) -> None:
    rows = [*PLACED_ROWS[:2], ("p9", "north", "yesterday", "36.5", "120.5", "1.00")]
    dataset = _observed(tmp_path / "v.csv", rows, time_column="seen")
    with pytest.raises(ConfigError, match="row 3 of column seen of dataset visits"):
        LocalAggregate.compute(dataset, _observed_spec(period=JANUARY))


def test_a_bad_coordinate_is_refused_naming_its_column(tmp_path: Path) -> None:
    rows = [*PLACED_ROWS[:2], ("p9", "north", "2026-01-02", "north-ish", "120.5", "1.00")]
    dataset = _observed(tmp_path / "v.csv", rows, location_columns=("lat", "lon"))
    with pytest.raises(ConfigError, match="column lat of dataset visits"):
        LocalAggregate.compute(dataset, _observed_spec(area=BoundingBox(0, 0, 180, 90)))


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"subject_column": "nobody"}, "subject_column 'nobody' is not a column"),
        ({"time_column": "region"}, "time_column region must be a date or timestamp"),
        ({"location_columns": ("lat",)}, "latitude, then longitude"),
        ({"location_columns": ("lat", "lat")}, "latitude, then longitude"),
        ({"location_columns": ("lat", "seen")}, "must be a decimal column"),
    ],
)
def test_a_dataset_names_real_columns_of_the_right_type_for_each_role(
    tmp_path: Path, roles: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _observed(tmp_path / "v.csv", PLACED_ROWS, **roles)


def test_roles_survive_the_datasets_record(tmp_path: Path) -> None:
    dataset = _observed(
        tmp_path / "v.csv",
        PLACED_ROWS,
        subject_column="patient",
        time_column="seen",
        location_columns=("lat", "lon"),
    )
    assert Dataset.from_dict(dataset.to_dict()) == dataset
    record = dataset.to_dict()
    for key in ("subject_column", "time_column", "location_columns"):
        del record[key]
    assert Dataset.from_dict(record).location_columns is None
