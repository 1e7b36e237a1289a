"""Synthetic sector data: the numpy generators of tds.sectors against a plain Python writer.

The peer writes rows the way one would without numpy: a loop that draws each row's values
with ``random`` and hands them to ``csv.writer``. It draws simpler values than the
generators do (no per-person state, no seasons or load curves), so the ratio understates the
difference. Per row written, over every file a generator writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

import pytest

from benchmarks.conftest import compare, size
from tds.sectors import healthcare, power

VISITS = size(400_000, 200)  # per hospital; the insurer's claims come on top
HOUSEHOLDS = size(4_000, 4)  # hourly readings for DAYS days
DAYS = size(14, 1)


def plain_visits(path: Path, rows: int) -> int:
    chapters = [chapter for chapter, _, _ in healthcare.ICD10_CHAPTERS]
    start = dt.date(2026, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(healthcare.VISITS.header)
        for _ in range(rows):
            writer.writerow(
                (
                    f"HN{random.randrange(10**9):09d}",
                    (start + dt.timedelta(days=random.randrange(365))).isoformat(),
                    random.choice(chapters),
                    random.choice(healthcare.AGE_BANDS),
                    random.choice("FM"),
                    f"{random.lognormvariate(6, 1):.2f}",
                )
            )
    return rows


def plain_readings(path: Path, households: int, days: int) -> int:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(power.METER_READINGS.header)
        for hour in range(days * 24):
            read_at = f"{start + dt.timedelta(hours=hour):%Y-%m-%dT%H:%M:%SZ}"
            for household in range(households):
                district = power.DISTRICTS[household % len(power.DISTRICTS)]
                kwh = f"{random.gammavariate(2, 0.3):.2f}"
                writer.writerow((f"H{household:07d}", district, read_at, kwh))
    return households * days * 24


@pytest.mark.parametrize("implementation", ["plain Python", "tds.sectors"])
def test_healthcare_records(benchmark, implementation: str, tmp_path: Path) -> None:
    rows = sum(
        table.rows
        for table in healthcare.generate(
            tmp_path / "probe", people=50_000, visits_per_hospital=VISITS, seed=1
        )
    )

    def run() -> int:
        if implementation == "plain Python":
            return plain_visits(tmp_path / "visits.csv", rows)
        tables = healthcare.generate(
            tmp_path / "tds", people=50_000, visits_per_hospital=VISITS, seed=1
        )
        return sum(table.rows for table in tables)

    written = compare(
        benchmark, "healthcare visits and claims, per row", implementation, run, items=rows
    )
    assert written == rows


@pytest.mark.parametrize("implementation", ["plain Python", "tds.sectors"])
def test_power_meter_readings(benchmark, implementation: str, tmp_path: Path) -> None:
    rows = HOUSEHOLDS * DAYS * 24

    def run() -> int:
        if implementation == "plain Python":
            return plain_readings(tmp_path / "readings.csv", HOUSEHOLDS, DAYS)
        tables = power.generate(
            tmp_path / "tds",
            households=HOUSEHOLDS,
            days=DAYS,
            enterprises=size(200, 20),
            loans=size(100, 10),
            seed=1,
        )
        (readings,) = [table for table in tables if table.schema is power.METER_READINGS]
        return readings.rows

    written = compare(benchmark, "power meter readings, per row", implementation, run, items=rows)
    assert written == rows
