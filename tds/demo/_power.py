"""The power story: a grid company, a bank and a city's energy office.

The grid company (eastgrid) holds hourly smart-meter readings and enterprises' monthly
consumption; the bank holds its loan book. The energy office gets district load curves,
noisy under a differential-privacy budget, and never a single household; the bank learns
electricity indicators for the borrowers the grid company also supplies, without either side
revealing the enterprises the other does not have; the budget runs out and the grid company
refuses.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np

from tds.connector import LocalDataSpace
from tds.demo._common import agree, check_audit_logs, policy_ids, publish, read_table, refusal
from tds.demo._narration import Narrator
from tds.sectors import power
from tds.sectors._tables import GeneratedTable

NAME = "City power data space"
NODES = (power.GRID, power.BANK, power.ENERGY_OFFICE)
MIN_METERS = 20
BUDGET = Decimal("1.0")
EPSILON = Decimal("0.5")
READING_BOUND = 500  # hundredths of a kWh: no reading counts for more than 5 kWh
HOUSEHOLDS = 4_000
TROUBLED = ("watch", "overdue", "default")


def run(narrator: Narrator, space: LocalDataSpace) -> None:
    yesterday = dt.datetime.now(power.CITY_TIME).date() - dt.timedelta(days=1)
    tables = generate(narrator, space, yesterday)
    offer(narrator, space, tables)
    yesterday = dt.datetime.combine(yesterday, dt.time(), power.CITY_TIME)
    load_curves(narrator, space, tables, yesterday)
    no_single_household(narrator, space, tables)
    borrowers_consumption(narrator, space, tables)
    budget_runs_out(narrator, space, yesterday)
    check_audit_logs(narrator, space)


def generate(
    narrator: Narrator, space: LocalDataSpace, last_day: dt.date
) -> dict[str, GeneratedTable]:
    narrator.step("Synthetic records, one file per node (they never leave it)")
    tables = power.generate(
        space.directory / "data",
        households=HOUSEHOLDS,
        days=2,
        seed=2026,
        end=np.datetime64(last_day),
    )
    for table in tables:
        narrator.say(
            f"{table.node}: {table.schema.title.lower()}, {table.rows:,} rows", bullet=True
        )
    return {table.schema.name: table for table in tables}


def offer(narrator: Narrator, space: LocalDataSpace, tables: dict[str, GeneratedTable]) -> None:
    narrator.step("Datasets and their terms")
    readings = tables["meter-readings"]
    publish(
        narrator,
        space,
        readings,
        power.household_aggregates(
            **policy_ids(readings),
            purposes=("grid-planning", "carbon-accounting"),
            min_meters=MIN_METERS,
            epsilon_budget=BUDGET,
        ),
        "power",
    )
    consumption = tables["enterprise-consumption"]
    publish(
        narrator,
        space,
        consumption,
        power.enterprise_indicators(**policy_ids(consumption)),
        "power",
    )
    narrator.say("The other nodes accept those terms: each agreement is signed by both sides.")
    agree(narrator, space, power.ENERGY_OFFICE, power.GRID, "meter-readings")
    agree(narrator, space, power.BANK, power.GRID, "enterprise-consumption")


def _hours(day: dt.datetime) -> list[str]:
    """The 24 hours of a local day as the readings name them: their start, in UTC."""
    return [
        f"{(day + dt.timedelta(hours=hour)).astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
        for hour in range(24)
    ]


def _ask_load_curves(space: LocalDataSpace, day: dt.datetime, progress: object = None) -> dict:
    with space.client(power.ENERGY_OFFICE) as office:
        return office.aggregate(
            {power.GRID: "meter-readings"},
            purpose="grid-planning",
            group_by=["district", "read_at"],
            groups=[[district, hour] for district in power.DISTRICTS for hour in _hours(day)],
            sums=["kwh"],
            min_cohort=MIN_METERS,
            epsilon=EPSILON,
            value_bound=READING_BOUND,
            period=(day, day + dt.timedelta(days=1)),
            progress=progress,  # type: ignore[arg-type]
        ).result


def load_curves(
    narrator: Narrator,
    space: LocalDataSpace,
    tables: dict[str, GeneratedTable],
    day: dt.datetime,
) -> None:
    narrator.step(
        f"The energy office asks for yesterday's load curve of every district ({day:%Y-%m-%d})"
    )
    result = _ask_load_curves(space, day, narrator.progress())
    curves: dict[str, list[Decimal]] = defaultdict(list)
    for district, _, _, kwh in result["rows"]:
        curves[district].append(Decimal(kwh))
    narrator.say(
        f"{power.GRID} summed each district's households hour by hour (every hour of every "
        f"district covers at least {MIN_METERS} households), added differential-privacy noise "
        f"for epsilon {EPSILON} of the budget of {BUDGET}, and encrypted the sums for the "
        "office:"
    )
    exact = _plain_curves(tables["meter-readings"], day)
    rows, noise = [], []
    for district, curve in curves.items():
        peak = max(range(24), key=lambda hour: curve[hour])
        noise += [abs(curve[hour] - exact[district][hour]) for hour in range(24)]
        rows.append((district, float(sum(curve)), f"{peak:02d}:00", float(curve[peak])))
    narrator.table(("district", "kWh that day", "peak hour (local)", "kWh at peak"), rows)
    mean_noise = sum(noise) / len(noise)
    mean_load = sum(sum(curve) for curve in exact.values()) / len(noise)
    narrator.say(
        f"Against the exact sums (which only the grid company can compute) the noise moved "
        f"each district-hour by {mean_noise:.0f} kWh on average, on loads of {mean_load:.0f} "
        "kWh: enough to hide any one reading, not enough to change the curves' shape."
    )
    assert mean_noise < mean_load / 5


def _plain_curves(table: GeneratedTable, day: dt.datetime) -> dict[str, list[Decimal]]:
    hours = {hour: index for index, hour in enumerate(_hours(day))}
    curves: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 24)
    for district, read_at, kwh in read_table(table.path, "district", "read_at", "kwh"):
        if read_at in hours:
            curves[district][hours[read_at]] += min(Decimal(kwh), Decimal(READING_BOUND) / 100)
    return curves


def no_single_household(
    narrator: Narrator, space: LocalDataSpace, tables: dict[str, GeneratedTable]
) -> None:
    narrator.step("The energy office asks for one household's consumption")
    (household,) = read_table(tables["meter-readings"].path, "household_id")[:1]

    def ask() -> None:
        with space.client(power.ENERGY_OFFICE) as office:
            office.aggregate(
                {power.GRID: "meter-readings"},
                purpose="grid-planning",
                group_by=["household_id"],
                groups=[list(household)],
                sums=["kwh"],
                min_cohort=1,
                epsilon=EPSILON,
                value_bound=READING_BOUND,
            )

    narrator.say(f"{power.GRID} refused before reading anything, and spent no budget. It said:")
    narrator.say(refusal(ask))


def borrowers_consumption(
    narrator: Narrator, space: LocalDataSpace, tables: dict[str, GeneratedTable]
) -> None:
    narrator.step(f"{power.BANK} asks {power.GRID}: how much electricity do our borrowers use?")
    loans = read_table(tables["loan-book"].path, "uscc", "status")
    troubled = {code for code, status in loans if status in TROUBLED}
    segments = {
        "performing": sorted({code for code, _ in loans} - troubled),
        "watch, overdue or default": sorted(troubled),
    }
    consumption = read_table(tables["enterprise-consumption"].path, "uscc", "kwh", "arrears")
    rows = []
    with space.client(power.BANK) as bank:
        for segment, codes in segments.items():
            row: list[object] = [segment, len(codes)]
            for indicator in ("kwh", "arrears"):
                job = bank.secure_join(
                    power.GRID,
                    "enterprise-consumption",
                    codes,
                    kind="psi-sum",
                    key_columns=["uscc"],
                    value_column=indicator,
                    purpose="credit-assessment",
                    min_cohort=10,
                    progress=narrator.progress(),
                )
                shared, total = job.result["size"], Decimal(job.result["sum"])
                _check_join(consumption, codes, indicator, shared, total)
                row += [shared] if indicator == "kwh" else []
                row.append(float(total / shared / 12))
            rows.append(row)
    narrator.table(
        ("borrowers", "asked about", "supplied by eastgrid", "kWh a month", "arrears a month"),
        rows,
    )
    narrator.say(
        "Per enterprise supplied, over the last 12 months: troubled borrowers fall behind on "
        "their electricity bills long before they default on a loan."
    )
    narrator.say("Who learned what:")
    narrator.say(
        f"{power.BANK}: how many of its borrowers in each group {power.GRID} supplies, and "
        "their average consumption and arrears; not which borrowers, and nothing about other "
        "enterprises.",
        bullet=True,
    )
    narrator.say(
        f"{power.GRID}: how many codes the bank brought each time, and the counts and totals "
        "it released; not which codes, nor any loan.",
        bullet=True,
    )
    narrator.say("Check: the same counts and totals as a plain join of both tables in the open.")


def budget_runs_out(narrator: Narrator, space: LocalDataSpace, day: dt.datetime) -> None:
    narrator.step("The energy office asks for the load curves again, and again")
    _ask_load_curves(space, day)
    narrator.say(
        f"The second time: answered, with fresh noise. Epsilon spent so far: {2 * EPSILON} of "
        f"{BUDGET}."
    )
    narrator.say(f"The third time {power.GRID} refused; the budget is spent. It said:")
    narrator.say(refusal(lambda: _ask_load_curves(space, day)))


def _check_join(
    consumption: list[tuple[str, ...]],
    codes: list[str],
    indicator: str,
    shared: int,
    total: Decimal,
) -> None:
    mine = set(codes)
    column = 1 if indicator == "kwh" else 2
    assert shared == len(mine & {row[0] for row in consumption})
    assert total == sum((Decimal(row[column]) for row in consumption if row[0] in mine), Decimal(0))
