"""A healthcare data space on one machine: terms, a secure join and an encrypted aggregate.

Harbour General Hospital holds visit records; Coastal Mutual Insurance holds claims; the
regional health bureau wants admission totals. Nobody hands over a table:

1. The hospital offers its visit records to the insurer on written terms (a usage policy);
   the insurer accepts them and records the patients' consent.
2. The insurer asks for the total claims of the patients both hold, for oncology research.
   The hospital checks the terms before the job starts, the two run a secure join
   (intersection-sum: ECDH-PSI with Paillier-encrypted claims), and the hospital checks the
   terms again with the real group size before the insurer gets the result.
3. The insurer asks the same for marketing: refused, with the reason.
4. Three hospitals sum their monthly admissions under the bureau's key: only the total is
   ever decrypted.

``make demo`` runs this file.
"""

import time
from datetime import UTC, datetime

import numpy as np

import tds
from tds.policy import Action, InMemoryUsageState, Request, UsageKey, evaluate

HOSPITAL = "urn:tds:participant:harbour-general-hospital"
INSURER = "urn:tds:participant:coastal-mutual-insurance"
DATASET = "urn:tds:dataset:harbour-general:visits-2026"
AGREEMENT = "urn:tds:agreement:harbour-coastal-oncology"
MAX_USES = 100
MIN_COHORT = 10

TERMS = [
    "for medical research only (any branch of it, such as oncology)",
    "joined sums and aggregates only: never rows, never the list of shared patients",
    f"no result about fewer than {MIN_COHORT} patients",
    f"at most {MAX_USES} uses, within one year of the agreement",
    "every use logged by the hospital",
    "the patients' consent recorded by the insurer before the first use",
]


def step(title: str) -> None:
    print(f"\n{title}")


def synthetic_tables(seed: int = 7) -> tuple[list[str], list[str], list[int]]:
    """Patient ids at the hospital and at the insurer (1,000 shared), and claims in cents."""
    rng = np.random.default_rng(seed)
    ids = [f"patient-{i:07d}" for i in rng.choice(10_000_000, size=9_000, replace=False)]
    hospital, shared, insurer_only = ids[:4_000], ids[4_000:5_000], ids[5_000:]
    insurer = shared + insurer_only
    rng.shuffle(insurer)
    claims = [int(c) for c in rng.integers(5_000, 2_000_000, size=len(insurer))]
    return hospital + shared, insurer, claims


def show_progress(report: tds.progress.Progress) -> None:
    if report.role == "left" and report.stage == "peer-points":
        print(f"   - hospital matched {report.done:,} of {report.total:,} blinded insurer ids")


def agree_on_terms() -> tuple[tds.policy.Policy, InMemoryUsageState]:
    step("1. The hospital offers its visit records to the insurer, on these terms:")
    for term in TERMS:
        print(f"   - {term}")
    policy = tds.sectors.healthcare.medical_research(
        uid=AGREEMENT,
        assigner=HOSPITAL,
        target=DATASET,
        assignee=INSURER,
        min_cohort=MIN_COHORT,
        max_uses=MAX_USES,
    )
    fingerprint = policy.content_hash[:16]
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, datetime.now(UTC))
    print(f"   The insurer accepts; both record the agreement (terms fingerprint {fingerprint}).")
    state.record_fulfilment(UsageKey(policy.content_hash, f"{AGREEMENT}#consent", INSURER))
    print("   The insurer records that the patients consented.")
    return policy, state


def secure_join(policy: tds.policy.Policy, state: InMemoryUsageState) -> None:
    step("2. The insurer asks: total claims of the patients we both have, for oncology research.")
    hospital_ids, insurer_ids, claims = synthetic_tables()
    request = Request(
        assignee=INSURER,
        action=Action.JOIN_SUM,
        target=DATASET,
        purpose="medical-research/oncology",
        cohort_size=len(hospital_ids),  # the largest group the join could produce
    )
    before = evaluate(policy, request, state, consume=False)
    before.raise_for_denial()
    print("   Hospital, before the job: allowed (oncology research is medical research, a joined")
    print("   sum is an allowed operation, no use spent yet).")

    sizes = f"{len(hospital_ids):,} hospital ids with {len(insurer_ids):,} insurer ids"
    print(f"   Secure join of {sizes};")
    print("   the claims travel encrypted under the insurer's own key.")
    begin = time.perf_counter()
    result = tds.psi.run_local(
        hospital_ids, insurer_ids, mode="sum", right_values=claims, progress=show_progress
    )
    print(f"   done in {time.perf_counter() - begin:.1f} s.")

    release = evaluate(policy, Request(**{**vars(request), "cohort_size": result.size}), state)
    release.raise_for_denial()
    print(
        f"   Hospital, before release: allowed ({result.size:,} patients >= {MIN_COHORT}); "
        f"use 1 of {MAX_USES} spent."
    )
    owed = ", ".join(duty.action.value for duty in release.duties)
    print(f"   Duties the hospital owes for this use: {owed} (shown here; the connector keeps")
    print("   an audit log).")

    print("   Who learned what:")
    print(f"   - the hospital: {result.size:,} of its patients are insured by Coastal Mutual;")
    print("     not which ones, and no claim amount.")
    print(
        f"   - the insurer: those {result.size:,} shared patients claimed "
        f"{result.sum / 100:,.2f} in total;"
    )
    print("     not who they are, and no hospital record.")

    at_hospital = set(hospital_ids)
    plain = sum(c for i, c in zip(insurer_ids, claims, strict=True) if i in at_hospital)
    assert result.sum == plain, "the secure join disagrees with the plain join"
    print("   Check: the same total as a plain join of both tables in the open.")


def refused_request(policy: tds.policy.Policy, state: InMemoryUsageState) -> None:
    step("3. The insurer asks for the same join, for marketing.")
    request = Request(
        assignee=INSURER,
        action=Action.JOIN_SUM,
        target=DATASET,
        purpose="marketing",
        cohort_size=50,
    )
    decision = evaluate(policy, request, state)
    assert not decision.permitted
    print("   Hospital: refused, nothing computed, no use spent. Because:")
    for reason in decision.reasons:
        print(f"   - {reason}")


def regional_admissions() -> None:
    step("4. Three hospitals send monthly admissions to the health bureau, each encrypted.")
    public_key, private_key = tds.he.generate_keypair()
    rng = np.random.default_rng(3)
    hospitals = [rng.poisson(2_000, size=12).astype(np.int64) for _ in range(3)]
    layout = {"bound": 1_000_000, "max_additions": len(hospitals)}
    encrypted = [public_key.encrypt_vector(months, **layout) for months in hospitals]
    total = private_key.decrypt_vector(sum(encrypted))
    assert np.array_equal(total, sum(hospitals))
    print("   An aggregator adds the encrypted vectors without any key; the bureau decrypts only")
    print(f"   the total: {total.tolist()}")
    print("   Who learned what: the bureau, the regional total per month; the aggregator and the")
    print("   other hospitals, nothing about any hospital's numbers.")


policy, state = agree_on_terms()
secure_join(policy, state)
refused_request(policy, state)
regional_admissions()
