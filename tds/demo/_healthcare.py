"""The healthcare story: two hospitals and an insurer.

Harbour General and St Mary's hold visit records, Coastal Mutual its claims. The insurer
sums admissions and costs per ICD-10 chapter across both hospitals under encryption; Harbour
General learns, by a secure join, how many of its patients the insurer covers and what was
paid for them; a request for the wrong purpose is refused with its reason.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from decimal import Decimal

from tds.connector import LocalDataSpace
from tds.demo._common import (
    agree,
    check_audit_logs,
    policy_ids,
    publish,
    read_table,
    refusal,
)
from tds.demo._narration import Narrator
from tds.sectors import healthcare
from tds.sectors._tables import GeneratedTable

NAME = "Coastal health data space"
NODES = (*healthcare.HOSPITALS, healthcare.INSURER)
MIN_COHORT = 10
PURPOSE = "medical-research/cost-of-care"


def run(narrator: Narrator, space: LocalDataSpace) -> None:
    tables = {table.node: table for table in generate(narrator, space)}
    offer(narrator, space, tables)
    admissions_by_chapter(narrator, space, tables)
    claims_for_shared_patients(narrator, space, tables)
    wrong_purpose(narrator, space)
    check_audit_logs(narrator, space)


def generate(narrator: Narrator, space: LocalDataSpace) -> tuple[GeneratedTable, ...]:
    narrator.step("Synthetic records, one file per node (they never leave it)")
    tables = healthcare.generate(space.directory / "data", seed=2026)
    for table in tables:
        narrator.say(
            f"{table.node}: {table.schema.title.lower()}, {table.rows:,} rows", bullet=True
        )
    narrator.say(
        "Hospitals and insurer identify people by the same national health id, as real ones do."
    )
    return tables


def offer(narrator: Narrator, space: LocalDataSpace, tables: dict[str, GeneratedTable]) -> None:
    narrator.step("Datasets and their terms")
    for table in tables.values():
        policy = healthcare.medical_research(**policy_ids(table), min_cohort=MIN_COHORT)
        publish(narrator, space, table, policy, "healthcare")
    narrator.say("The other nodes accept those terms: each agreement is signed by both sides.")
    for hospital in healthcare.HOSPITALS:
        agree(narrator, space, healthcare.INSURER, hospital, "visits")
    agree(narrator, space, healthcare.HOSPITALS[0], healthcare.INSURER, "claims")


def admissions_by_chapter(
    narrator: Narrator, space: LocalDataSpace, tables: dict[str, GeneratedTable]
) -> None:
    narrator.step("Coastal Mutual asks both hospitals: visits and costs per ICD-10 chapter")
    chapters = [chapter for chapter, _, _ in healthcare.ICD10_CHAPTERS]
    with space.client(healthcare.INSURER) as insurer:
        job = insurer.aggregate(
            dict.fromkeys(healthcare.HOSPITALS, "visits"),
            purpose=PURPOSE,
            group_by=["icd10_chapter"],
            groups=[[chapter] for chapter in chapters],
            sums=["cost"],
            min_cohort=MIN_COHORT,
            consent_obtained=True,
            progress=narrator.progress(),
        )
    narrator.say(
        f"Job {job.id}: {job.state}. Each hospital checked its own terms, left out the "
        f"chapters it saw fewer than {MIN_COHORT} patients in, and encrypted its numbers "
        "under a key only Coastal Mutual holds; St Mary's added its encrypted numbers to "
        "Harbour General's, so the insurer decrypted only the sum of both:"
    )
    titles = {chapter: title for chapter, _, title in healthcare.ICD10_CHAPTERS}
    rows = [
        (chapter, textwrap.shorten(titles[chapter], 40), visits, float(Decimal(cost)))
        for chapter, visits, cost in job.result["rows"]
    ]
    narrator.table(("chapter", "", "visits", "cost"), rows)
    hidden = [chapter for chapter, visits, _ in job.result["rows"] if visits == 0]
    narrator.say(
        f"Chapters with no total ({', '.join(hidden) or 'none'}) were too small at both "
        "hospitals to be released."
    )
    narrator.say(
        "Who learned what: Coastal Mutual, these totals; neither hospital, anything about the "
        "other's patients; no visit record left either hospital."
    )
    expected = _plain_totals([tables[hospital] for hospital in healthcare.HOSPITALS])
    for chapter, visits, cost in job.result["rows"]:
        assert (visits, Decimal(cost)) == expected.get(chapter, (0, Decimal(0))), chapter
    narrator.say(
        "Check: the same totals as adding up both hospitals' tables in the open, with the same "
        "small chapters left out."
    )


def _plain_totals(tables: list[GeneratedTable]) -> dict[str, tuple[int, Decimal]]:
    totals: dict[str, tuple[int, Decimal]] = {}
    for table in tables:
        visits: dict[str, list[Decimal]] = defaultdict(list)
        patients: dict[str, set[str]] = defaultdict(set)
        for patient, chapter, cost in read_table(table.path, "patient_id", "icd10_chapter", "cost"):
            visits[chapter].append(Decimal(cost))
            patients[chapter].add(patient)
        for chapter, costs in visits.items():
            if len(patients[chapter]) >= MIN_COHORT:
                count, total = totals.get(chapter, (0, Decimal(0)))
                totals[chapter] = (count + len(costs), total + sum(costs))
    return totals


def claims_for_shared_patients(
    narrator: Narrator, space: LocalDataSpace, tables: dict[str, GeneratedTable]
) -> None:
    hospital, insurer = healthcare.HOSPITALS[0], healthcare.INSURER
    narrator.step(f"{hospital} asks {insurer}: what was paid for our patients?")
    patients = sorted({row[0] for row in read_table(tables[hospital].path, "patient_id")})
    with space.client(hospital) as client:
        job = client.secure_join(
            insurer,
            "claims",
            patients,
            kind="psi-sum",
            key_columns=["member_id"],
            value_column="paid",
            purpose=PURPOSE,
            min_cohort=MIN_COHORT,
            consent_obtained=True,
            progress=narrator.progress(),
        )
    shared, paid = job.result["size"], Decimal(job.result["sum"])
    narrator.say(
        f"Job {job.id}: {job.state}. {insurer} checked its terms when the job started, and "
        f"again with the real number of shared patients ({shared:,} >= {MIN_COHORT}) before "
        "it released the sum."
    )
    narrator.say("Who learned what:")
    narrator.say(
        f"{hospital}: {shared:,} of its {len(patients):,} patients are insured by {insurer}, "
        f"and {paid:,.2f} was paid for them (all their claims, for care anywhere); not which "
        "patients, and no single claim.",
        bullet=True,
    )
    narrator.say(
        f"{insurer}: that {hospital} brought {len(patients):,} patients, and the count and "
        "total it released (it decrypts the sum before releasing it); not which patients.",
        bullet=True,
    )
    mine = set(patients)
    claims = read_table(tables[insurer].path, "member_id", "paid")
    assert shared == len(mine & {member for member, _ in claims})
    assert paid == sum((Decimal(amount) for member, amount in claims if member in mine), Decimal(0))
    narrator.say("Check: the same count and total as a plain join of both tables in the open.")


def wrong_purpose(narrator: Narrator, space: LocalDataSpace) -> None:
    hospital, insurer = healthcare.HOSPITALS[1], healthcare.INSURER
    narrator.step(f"{insurer} asks {hospital} for costs per age band, to price its premiums")

    def ask() -> None:
        with space.client(insurer) as client:
            client.aggregate(
                {hospital: "visits"},
                purpose="marketing/premium-pricing",
                group_by=["age_band"],
                groups=[[band] for band in healthcare.AGE_BANDS],
                sums=["cost"],
                min_cohort=MIN_COHORT,
                consent_obtained=True,
            )

    reason = refusal(ask)
    narrator.say(
        f"{hospital} refused before reading a single record, and no use was spent. It said:"
    )
    narrator.say(reason)
