"""The ocean story: two marine ranches and a port authority in the Yellow Sea.

The ranches keep buoy observations and the catch logs of the vessels landing with them; the
port authority keeps the vessel registry. The port sums catches per species and sea area
across both ranches; a ranch checks which of its vessels the registry knows, by a secure
join; the ranch's water-quality terms refuse a request beyond its waters and one for data
still under embargo, and answer one that keeps to both.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import numpy as np

from tds.connector import LocalDataSpace
from tds.demo._common import agree, check_audit_logs, policy_ids, publish, read_table, refusal
from tds.demo._narration import Narrator
from tds.sectors import ocean
from tds.sectors._tables import GeneratedTable

NAME = "Yellow Sea ocean data space"
NODES = (*ocean.RANCHES, ocean.PORT)
MIN_VESSELS = 3
EMBARGO_DAYS = 30
SEA_AREA_OF = {"laoshan-ranch": "Laoshan Bay", "rongcheng-ranch": "Rongcheng Bay"}


def run(narrator: Narrator, space: LocalDataSpace) -> None:
    today = dt.datetime.now(dt.UTC).date()
    tables = generate(narrator, space, today)
    offer(narrator, space, tables)
    catch_by_species_and_area(narrator, space, tables)
    vessels_in_the_registry(narrator, space, tables)
    water_quality(narrator, space, today)
    check_audit_logs(narrator, space)


def generate(
    narrator: Narrator, space: LocalDataSpace, today: dt.date
) -> dict[tuple[str, str], GeneratedTable]:
    narrator.step("Synthetic records, one file per node (they never leave it)")
    tables = ocean.generate(space.directory / "data", seed=2026, end=np.datetime64(today))
    for table in tables:
        narrator.say(
            f"{table.node}: {table.schema.title.lower()}, {table.rows:,} rows", bullet=True
        )
    return {(table.node, table.schema.name): table for table in tables}


def offer(
    narrator: Narrator, space: LocalDataSpace, tables: dict[tuple[str, str], GeneratedTable]
) -> None:
    narrator.step("Datasets and their terms")
    for (node, name), table in tables.items():
        if name == "observations":
            policy = ocean.observations(
                **policy_ids(table),
                area=ocean.RANCH_AREAS[node],
                aggregate_embargo=f"P{EMBARGO_DAYS}D",
            )
        elif name == "catch-logs":
            policy = ocean.catch_statistics(**policy_ids(table), min_vessels=MIN_VESSELS)
        else:
            policy = ocean.vessel_registry(**policy_ids(table))
        publish(narrator, space, table, policy, "ocean")
    narrator.say("The other nodes accept those terms: each agreement is signed by both sides.")
    for ranch in ocean.RANCHES:
        agree(narrator, space, ocean.PORT, ranch, "catch-logs")
    agree(narrator, space, ocean.PORT, ocean.RANCHES[0], "observations")
    agree(narrator, space, ocean.RANCHES[0], ocean.PORT, "vessel-registry")


def catch_by_species_and_area(
    narrator: Narrator, space: LocalDataSpace, tables: dict[tuple[str, str], GeneratedTable]
) -> None:
    narrator.step("The port authority asks both ranches: catch per species and sea area")
    groups = [[species, area] for species in ocean.SPECIES for area in ocean.SEA_AREAS]
    with space.client(ocean.PORT) as port:
        job = port.aggregate(
            dict.fromkeys(ocean.RANCHES, "catch-logs"),
            purpose="fisheries-management",
            group_by=["species", "sea_area"],
            groups=groups,
            sums=["weight_kg"],
            min_cohort=MIN_VESSELS,
            progress=narrator.progress(),
        )
    narrator.say(
        f"Job {job.id}: {job.state}. Each ranch left out the species and areas fewer than "
        f"{MIN_VESSELS} of its vessels fished (one boat's catch would show), encrypted the rest "
        "under the port's key, and the port decrypted only the sum of both ranches. The ten "
        "largest catches:"
    )
    rows = sorted((row for row in job.result["rows"] if row[2]), key=lambda row: -Decimal(row[3]))
    narrator.table(
        ("species", "sea area", "landings", "tonnes"),
        [(s, a, n, float(Decimal(kg) / 1000)) for s, a, n, kg in rows[:10]],
    )
    narrator.say(
        f"{len(rows)} of {len(groups)} species and areas have a total; the rest were fished by "
        f"fewer than {MIN_VESSELS} vessels at each ranch, or not at all."
    )
    expected = _plain_catch([tables[ranch, "catch-logs"] for ranch in ocean.RANCHES])
    for species, area, landings, kilograms in job.result["rows"]:
        assert (landings, Decimal(kilograms)) == expected.get((species, area), (0, Decimal(0)))
    narrator.say("Check: the same totals as adding up both ranches' logs in the open.")


def _plain_catch(tables: list[GeneratedTable]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for table in tables:
        weights: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
        vessels: dict[tuple[str, str], set[str]] = defaultdict(set)
        for vessel, species, area, kilograms in read_table(
            table.path, "vessel_id", "species", "sea_area", "weight_kg"
        ):
            weights[species, area].append(Decimal(kilograms))
            vessels[species, area].add(vessel)
        for group, values in weights.items():
            if len(vessels[group]) >= MIN_VESSELS:
                count, total = totals.get(group, (0, Decimal(0)))
                totals[group] = (count + len(values), total + sum(values))
    return totals


def vessels_in_the_registry(
    narrator: Narrator, space: LocalDataSpace, tables: dict[tuple[str, str], GeneratedTable]
) -> None:
    ranch = ocean.RANCHES[0]
    narrator.step(f"{ranch} asks the port: which of our vessels are in your registry?")
    vessels = sorted({row[0] for row in read_table(tables[ranch, "catch-logs"].path, "vessel_id")})
    with space.client(ranch) as client:
        job = client.secure_join(
            ocean.PORT,
            "vessel-registry",
            vessels,
            kind="psi",
            key_columns=["vessel_id"],
            purpose="catch-verification",
            progress=narrator.progress(),
        )
    found = set(job.result["items"])
    narrator.say(
        f"Job {job.id}: {job.state}. {len(found):,} of the {len(vessels):,} vessels landing at "
        f"{ranch} are registered with the port; {len(vessels) - len(found):,} are not, and "
        "their catches need a closer look."
    )
    narrator.say("Who learned what:")
    narrator.say(
        f"{ranch}: which of its own vessels are registered; nothing about the rest of the "
        f"registry (it holds {job.result['provider_set_size']:,} vessels).",
        bullet=True,
    )
    narrator.say(
        f"{ocean.PORT}: that {ranch} asked about {len(vessels):,} vessels; not which.",
        bullet=True,
    )
    registry = {
        row[0] for row in read_table(tables[ocean.PORT, "vessel-registry"].path, "vessel_id")
    }
    assert found == set(vessels) & registry
    narrator.say("Check: the same vessels as a plain intersection of both lists.")


def water_quality(narrator: Narrator, space: LocalDataSpace, today: dt.date) -> None:
    ranch = ocean.RANCHES[0]
    waters = ocean.RANCH_AREAS[ranch]
    sea = ocean.SEA_AREAS[SEA_AREA_OF[ranch]]
    midnight = dt.datetime.combine(today, dt.time(), dt.UTC)
    narrator.step(f"The port asks {ranch} for water quality, three times")
    sums = ["temperature_c", "salinity_psu", "dissolved_oxygen_mg_l", "chlorophyll_ug_l"]

    def ask(area: object, start: dt.datetime, end: dt.datetime) -> dict:
        with space.client(ocean.PORT) as port:
            return port.aggregate(
                {ranch: "observations"},
                purpose="fisheries-management",
                sums=sums,
                area=area,  # type: ignore[arg-type]
                period=(start, end),
            ).result

    last_week = (midnight - dt.timedelta(days=7), midnight)
    narrator.say(f"a) all of {SEA_AREA_OF[ranch]} ({sea}), last week:")
    narrator.say(refusal(lambda: ask(sea, *last_week)))
    narrator.say(f"b) only the ranch's own waters ({waters}), last week:")
    narrator.say(refusal(lambda: ask(waters, *last_week)))
    old = (
        midnight - dt.timedelta(days=EMBARGO_DAYS + 30),
        midnight - dt.timedelta(days=EMBARGO_DAYS),
    )
    narrator.say(f"c) the ranch's waters, the 30 days before the {EMBARGO_DAYS}-day embargo:")
    result = ask(waters, *old)
    (row,) = result["rows"]
    count = row[0]
    means = [Decimal(total) / count for total in row[1:]]
    narrator.table(
        ("observations", "temperature °C", "salinity PSU", "oxygen mg/l", "chlorophyll µg/l"),
        [(count, *(float(mean) for mean in means))],
    )
    narrator.say(
        "Each refusal came before a single observation was read, with the rule that failed; "
        "only the last request kept to the ranch's waters and its embargo."
    )
