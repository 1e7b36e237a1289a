"""Healthcare sector data: the schemas, and a synthetic generator whose tables tell the story."""

import csv
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tds.connector._catalog import ColumnType
from tds.connector._tables import read_columns, to_units
from tds.errors import ConfigError
from tds.sectors import _tables, healthcare
from tds.sectors._tables import GeneratedTable

ROOT = Path(__file__).resolve().parents[2]
ROMANS = {roman for roman, _, _ in healthcare.ICD10_CHAPTERS}
MIN_COHORT = inspect.signature(healthcare.medical_research).parameters["min_cohort"].default


@pytest.fixture(scope="module")
def default_tables(tmp_path_factory):
    """The tables at the default size, generated once for the module."""
    return healthcare.generate(tmp_path_factory.mktemp("healthcare"))


def rows(table: GeneratedTable) -> list[dict[str, str]]:
    with table.path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def distinct_patients(table: GeneratedTable) -> set[str]:
    return {row["patient_id"] for row in rows(table)}


def test_the_chapters_and_bands_are_the_icd10_ones():
    assert len(healthcare.ICD10_CHAPTERS) == 22
    assert [roman for roman, _, _ in healthcare.ICD10_CHAPTERS][:3] == ["I", "II", "III"]
    assert healthcare.ICD10_CHAPTERS[-1][0] == "XXII"
    assert dict((roman, blocks) for roman, blocks, _ in healthcare.ICD10_CHAPTERS)["XIX"] == (
        "S00-T98"
    )
    assert len(healthcare.AGE_BANDS) == len(set(healthcare.AGE_BANDS)) == 10


def test_generate_writes_three_tables_under_their_schemas(default_tables):
    nodes = [(table.node, table.schema.name, table.path.name) for table in default_tables]
    assert nodes == [
        ("harbour-general", "visits", "harbour-general-visits.csv"),
        ("st-marys", "visits", "st-marys-visits.csv"),
        ("coastal-mutual", "claims", "coastal-mutual-claims.csv"),
    ]
    assert healthcare.HOSPITALS == ("harbour-general", "st-marys")
    assert healthcare.INSURER == "coastal-mutual"
    for table in default_tables:
        lines = table.path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == ",".join(table.schema.header)
        assert table.rows == len(lines) - 1
    assert [table.rows for table in default_tables[:2]] == [10_000, 10_000]
    # One claim per insured visit (about 55% of 20,000) and about 30% more from elsewhere.
    assert 12_000 < default_tables[2].rows < 17_000


def test_same_seed_same_bytes_and_another_seed_other_bytes(tmp_path, monkeypatch):
    # Small chunks, so that several per-chunk seeds are at play.
    monkeypatch.setattr(_tables, "CHUNK_ROWS", 700)
    sizes = {"people": 2_000, "visits_per_hospital": 3_000}
    first = healthcare.generate(tmp_path / "a", seed=7, **sizes)
    again = healthcare.generate(tmp_path / "b", seed=7, **sizes)
    other = healthcare.generate(tmp_path / "c", seed=8, **sizes)
    for one, two, three in zip(first, again, other, strict=True):
        assert one.path.read_bytes() == two.path.read_bytes()
        assert one.path.read_bytes() != three.path.read_bytes()


def test_every_table_loads_through_the_connector(default_tables):
    policy = healthcare.medical_research(
        uid="urn:policy:research", assigner="urn:party:owner", target="urn:ds:table"
    )
    for table in default_tables:
        dataset = table.schema.dataset(table.path, sector="healthcare", contract_policy=policy)
        assert dataset.subject_column == table.schema.columns[0].name
        columns = dict(
            zip(table.schema.header, read_columns(dataset, table.schema.header), strict=True)
        )
        assert all(len(values) == table.rows for values in columns.values())
        assert set(columns["icd10_chapter"]) <= ROMANS
        amount = "cost" if table.schema is healthcare.VISITS else "paid"
        cents = to_units(columns[amount], ColumnType.DECIMAL, amount)
        assert all(re.fullmatch(r"\d+\.\d\d", text) for text in columns[amount])
        if table.schema is healthcare.VISITS:
            assert min(cents) >= 40_00 and max(cents) <= 20_000_00
            assert set(columns["age_band"]) == set(healthcare.AGE_BANDS)
            assert set(columns["sex"]) == {"F", "M"}
            days = [date.fromisoformat(text) for text in columns["visit_date"]]
            assert {day.year for day in days} == {2026}
            # Visits spread over the year, fewer at weekends.
            assert len({day.month for day in days}) == 12
            weekdays = Counter(day.weekday() for day in days)
            assert weekdays[6] < weekdays[2] * 0.6
        else:
            assert min(cents) > 0
            days = [date.fromisoformat(text) for text in columns["claim_date"]]
            assert {day.year for day in days} <= {2026, 2027}


def test_patient_ids_are_a_bijection_onto_hn_and_nine_digits():
    indices = np.unique(
        np.concatenate([np.arange(0, 10**9, 9_973), np.arange(10**9 - 5_000, 10**9)])
    )
    ids = healthcare.patient_ids(indices)
    assert len(set(ids.tolist())) == len(indices)
    assert all(re.fullmatch(r"HN\d{9}", text) for text in ids[:2000].tolist())
    assert all(re.fullmatch(r"HN\d{9}", text) for text in ids[-2000:].tolist())
    consecutive = healthcare.patient_ids(np.arange(20_000))
    assert len(set(consecutive.tolist())) == 20_000
    # Neighbours do not look like neighbours.
    numbers = np.array([int(text[2:]) for text in consecutive.tolist()])
    assert np.median(np.abs(np.diff(numbers))) > 10**7
    for bad in (np.array([-1]), np.array([10**9]), np.array([1.0])):
        with pytest.raises(ConfigError, match="person indices"):
            healthcare.patient_ids(bad)


def test_a_patient_is_one_person_everywhere(default_tables):
    people = defaultdict(set)
    for table in default_tables[:2]:
        for row in rows(table):
            assert re.fullmatch(r"HN\d{9}", row["patient_id"])
            people[row["patient_id"]].add((row["age_band"], row["sex"]))
    assert all(len(traits) == 1 for traits in people.values())
    assert all(re.fullmatch(r"HN\d{9}", row["member_id"]) for row in rows(default_tables[2]))


def test_hospitals_share_patients_and_the_insurer_covers_half(default_tables):
    first, second = (distinct_patients(table) for table in default_tables[:2])
    members = {row["member_id"] for row in rows(default_tables[2])}
    assert 0.10 < len(first & second) / len(first) < 0.40
    assert 0.10 < len(first & second) / len(second) < 0.40
    for patients in (first, second):
        assert 0.45 < len(patients & members) / len(patients) < 0.65
    # Heavier users come back: many visits per patient for some, one for most.
    visits = Counter(row["patient_id"] for row in rows(default_tables[0]))
    assert max(visits.values()) >= 10
    assert 0.3 < sum(count == 1 for count in visits.values()) / len(visits) < 0.8


def test_rare_chapters_fall_below_the_minimum_cohort(default_tables):
    for table in default_tables[:2]:
        patients = defaultdict(set)
        for row in rows(table):
            patients[row["icd10_chapter"]].add(row["patient_id"])
        counts = {roman: len(patients[roman]) for roman in ROMANS}
        assert min(counts[roman] for roman in ("VII", "XVI", "XVII")) < MIN_COHORT
        for common in ("II", "IX", "X", "XIII", "XIX"):
            assert counts[common] >= 300, (common, counts)


def matching(edges: dict[int, list[int]]) -> dict[int, int]:
    """A maximum matching of visits to claims (augmenting paths; the groups are small)."""
    owner: dict[int, int] = {}

    def place(visit: int, seen: set[int]) -> bool:
        for claim in edges[visit]:
            if claim not in seen:
                seen.add(claim)
                if claim not in owner or place(owner[claim], seen):
                    owner[claim] = visit
                    return True
        return False

    for visit in edges:
        place(visit, set())
    return owner


def test_every_insured_visit_has_exactly_one_claim(tmp_path, monkeypatch):
    monkeypatch.setattr(_tables, "CHUNK_ROWS", 1_500)
    people, seed = 3_000, 11
    tables = healthcare.generate(
        tmp_path, people=people, visits_per_hospital=4_000, seed=seed, year=2024
    )
    # Who is insured is the generator's own secret; the files only show it through claims.
    insured = healthcare._population(people, seed).insured
    insured_ids = set(healthcare.patient_ids(np.flatnonzero(insured)).tolist())
    visits = [row for table in tables[:2] for row in rows(table)]
    claims = rows(tables[2])
    assert {claim["member_id"] for claim in claims} <= insured_ids

    by_key = defaultdict(list)
    for number, claim in enumerate(claims):
        by_key[claim["member_id"], claim["icd10_chapter"]].append(number)
    edges = {}
    for number, visit in enumerate(visits):
        if visit["patient_id"] not in insured_ids:
            continue
        day, cost = date.fromisoformat(visit["visit_date"]), float(visit["cost"])
        edges[number] = [
            index
            for index in by_key[visit["patient_id"], visit["icd10_chapter"]]
            if day <= date.fromisoformat(claims[index]["claim_date"]) <= day + timedelta(30)
            and 0.7 * cost - 0.01 <= float(claims[index]["paid"]) <= cost
        ]
    matched = matching(edges)
    assert len(matched) == len(edges) > 1_000
    # The rest came from other providers: about 30% more.
    assert 0.25 < (len(claims) - len(matched)) / len(matched) < 0.35


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_memory_stays_bounded_by_the_chunk(tmp_path):
    # In a fresh process, so that the peak is this generation's alone (VmHWM, not ru_maxrss,
    # which keeps pytest's own peak across exec); chunks are made small so that keeping every
    # visit, even as numbers (2,000,000 x 32 bytes), would show.
    script = textwrap.dedent(
        f"""
        import json
        from tds.sectors import _tables, healthcare

        def resident(field):
            for line in open("/proc/self/status"):
                if line.startswith(field):
                    return int(line.split()[1]) * 1024

        _tables.CHUNK_ROWS = 1 << 14
        before = resident("VmRSS:")
        tables = healthcare.generate(
            {str(tmp_path)!r}, people=50_000, visits_per_hospital=1_000_000
        )
        peak = resident("VmHWM:")
        written = sum(table.path.stat().st_size for table in tables)
        print(json.dumps({{"growth": peak - before, "written": written}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env
    )
    measured = json.loads(result.stdout)
    assert measured["written"] > 120_000_000
    assert measured["growth"] < 40_000_000, measured


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"people": 0}, "people must be from 1"),
        ({"people": 10**9 + 1}, "people must be from 1"),
        ({"people": 1.5}, "people must be an integer"),
        ({"people": True}, "people must be an integer"),
        ({"visits_per_hospital": 0}, "visits_per_hospital must be at least 1"),
        ({"visits_per_hospital": "10"}, "visits_per_hospital must be an integer"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"year": 0}, "year must be from 1"),
        ({"year": 9999}, "year must be from 1"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, arguments, message):
    with pytest.raises(ConfigError, match=message):
        healthcare.generate(tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_a_tiny_population_still_works(tmp_path):
    tables = healthcare.generate(tmp_path, people=1, visits_per_hospital=3, seed=0)
    assert [table.rows for table in tables[:2]] == [3, 3]
    assert len(distinct_patients(tables[0]) | distinct_patients(tables[1])) == 1
