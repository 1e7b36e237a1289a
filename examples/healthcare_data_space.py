"""A healthcare data space: policy, a secure join and an encrypted aggregate, end to end.

1. A hospital offers its visit records to an insurer's research unit under the healthcare
   template: medical research only, aggregates or joined sums only, cohorts of at least 10,
   100 uses, one year, logged, patients' consent recorded first.
2. The insurer asks for the total claims of the patients both hold (intersection-sum). The
   hospital checks the policy before the job starts; the two run ECDH-PSI with Paillier-
   encrypted claims; the hospital checks the policy again, with the real cohort size,
   before the result is released, and performs the duties it owes.
3. A request for marketing is refused, with the reason.
4. Three hospitals sum their monthly admissions under the health bureau's Paillier key.

Run with ``make demo``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import numpy as np

import tds
from tds.policy import Action, InMemoryUsageState, Request, UsageKey, evaluate

HOSPITAL = "urn:tds:participant:harbour-general-hospital"
INSURER = "urn:tds:participant:coastal-mutual-insurance"
DATASET = "urn:tds:dataset:harbour-general:visits-2026"
AGREEMENT = "urn:tds:agreement:harbour-coastal-oncology"


def synthetic_tables(seed: int = 7) -> tuple[list[str], list[str], list[int]]:
    """Patient ids at the hospital and at the insurer (a quarter shared), and claims in cents."""
    rng = np.random.default_rng(seed)
    ids = [f"patient-{i:07d}" for i in rng.choice(10_000_000, size=9_000, replace=False)]
    hospital, shared, insurer_only = ids[:4_000], ids[4_000:5_000], ids[5_000:]
    insurer = shared + insurer_only
    rng.shuffle(insurer)
    claims = [int(c) for c in rng.integers(5_000, 2_000_000, size=len(insurer))]
    return hospital + shared, insurer, claims


def secure_join(state: InMemoryUsageState, policy: tds.policy.Policy) -> None:
    hospital_ids, insurer_ids, claims = synthetic_tables()
    request = Request(
        assignee=INSURER,
        action=Action.JOIN_SUM,
        target=DATASET,
        purpose="medical-research/oncology",
        cohort_size=len(hospital_ids),  # the largest cohort the join could produce
    )
    started = evaluate(policy, request, state, consume=False)
    started.raise_for_denial()
    print(f"hospital: policy permits the job to start ({started.permission})")

    begin = time.perf_counter()
    result = tds.psi.run_local(hospital_ids, insurer_ids, mode="sum", right_values=claims)
    elapsed = time.perf_counter() - begin
    print(
        f"join: {len(hospital_ids):,} x {len(insurer_ids):,} patient ids, "
        f"{result.size:,} shared, in {elapsed:.1f} s"
    )

    release = evaluate(policy, Request(**{**vars(request), "cohort_size": result.size}), state)
    release.raise_for_denial()
    for duty in release.duties:
        # Until the connector's audit log exists, the log duty is a line on the console.
        print(f"hospital: duty {duty.action.value!r}: {json.dumps(release.to_dict())[:96]}...")
    print(f"insurer: total claims of the shared patients = {result.sum / 100:,.2f}")

    at_hospital = set(hospital_ids)
    plain = sum(c for i, c in zip(insurer_ids, claims, strict=True) if i in at_hospital)
    assert result.sum == plain, "the secure join disagrees with the plain join"
    print("check: equals the plain-text join computed with both tables in the clear")


def refused_request(state: InMemoryUsageState, policy: tds.policy.Policy) -> None:
    request = Request(
        assignee=INSURER,
        action=Action.JOIN_SUM,
        target=DATASET,
        purpose="marketing",
        cohort_size=50,
    )
    decision = evaluate(policy, request, state)
    assert not decision.permitted
    print("hospital: refused a join for marketing:")
    for reason in decision.reasons:
        print(f"  - {reason}")


def regional_admissions() -> None:
    public_key, private_key = tds.he.generate_keypair()
    rng = np.random.default_rng(3)
    hospitals = [rng.poisson(2_000, size=12).astype(np.int64) for _ in range(3)]
    layout = {"bound": 1_000_000, "max_additions": len(hospitals)}
    encrypted = [public_key.encrypt_vector(months, **layout) for months in hospitals]
    total = private_key.decrypt_vector(sum(encrypted))
    assert np.array_equal(total, sum(hospitals))
    print(f"bureau: regional admissions by month {total.tolist()} (3 hospitals, each encrypted)")


def main() -> None:
    agreed = datetime.now(UTC)
    policy = tds.sectors.healthcare.medical_research(
        uid=AGREEMENT, assigner=HOSPITAL, target=DATASET, assignee=INSURER
    )
    state = InMemoryUsageState()
    state.record_agreement(policy.content_hash, agreed)
    state.record_fulfilment(UsageKey(policy.content_hash, f"{AGREEMENT}#consent", INSURER))
    print(f"agreement {policy.uid} ({policy.content_hash[:16]}) signed {agreed:%Y-%m-%d}")

    secure_join(state, policy)
    refused_request(state, policy)
    regional_admissions()


if __name__ == "__main__":
    main()
