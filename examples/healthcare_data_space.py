"""A healthcare data space on one machine: three nodes, each its own process, computing together.

Harbour General and St Mary's are hospitals; Coastal Mutual is a health insurer. Each runs
a tds connector daemon on this machine (gRPC over mutual TLS, certificates from the data
space's own certificate authority). Nobody hands over a table:

1. The hospitals publish their visit records and the insurer its claims, each under a usage
   policy; the other nodes negotiate agreements on them.
2. The insurer asks both hospitals for visit counts and costs per month. Each hospital
   checks its own policy, encrypts its numbers under the insurer's key and adds them to the
   other hospital's: the insurer decrypts only the total.
3. Harbour General asks the insurer what it paid for the patients they share (a secure
   join with a sum). The insurer checks its policy, and again before it releases the sum.
4. The insurer asks Harbour General for the list of shared patients: refused, with reasons.
5. Every node checks the others' audit logs: its jobs are recorded there, and the logs were
   only ever appended to.

``make demo`` runs this file; the data space lives in a temporary directory and is removed
at the end.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tds.connector import (
    CertificateAuthority,
    Client,
    Column,
    Dataset,
    DataSource,
    NodeConfig,
    dataset_target,
    enroll_node,
    node_uri,
)
from tds.errors import UsageDeniedError
from tds.sectors import healthcare

HOSPITALS = ("harbour-general", "st-marys")
INSURER = "coastal-mutual"
MIN_COHORT = 10
MONTHS = [f"2026-{month:02d}" for month in range(1, 7)]
PURPOSE = "medical-research/cost-of-care"


def step(title: str) -> None:
    print(f"\n{title}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def synthetic_records(root: Path, seed: int = 11) -> dict[str, list[tuple[str, str, int]]]:
    """Visits at each hospital (patient, month, cost in cents) and the insurer's claims."""
    rng = np.random.default_rng(seed)
    people = [f"P{number:07d}" for number in rng.choice(10_000_000, 12_000, replace=False)]
    records = {}
    for index, hospital in enumerate(HOSPITALS):
        patients = rng.choice(people[index * 3_000 : index * 3_000 + 6_000], 4_000)
        records[hospital] = [
            (str(patient), str(rng.choice(MONTHS)), int(rng.integers(4_000, 90_000)))
            for patient in patients
        ]
    insured = rng.choice(people, 8_000, replace=False)
    records[INSURER] = [
        (str(patient), str(rng.choice(MONTHS)), int(rng.integers(10_000, 400_000)))
        for patient in insured
    ]
    for node, rows in records.items():
        key, value = ("patient_id", "cost") if node != INSURER else ("member_id", "paid")
        lines = [f"{key},month,{value}"]
        lines += [f"{patient},{month},{cents / 100:.2f}" for patient, month, cents in rows]
        (root / f"{node}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def set_up(root: Path) -> dict[str, NodeConfig]:
    step("Setting up a data space on this machine")
    ca = CertificateAuthority.create(root / "ca", "Coastal health data space")
    print(f"   certificate authority: {root / 'ca'}")
    ports = {name: free_port() for name in (*HOSPITALS, INSURER)}
    configs = {}
    for name, port in ports.items():
        peers = {peer: f"127.0.0.1:{other}" for peer, other in ports.items() if peer != name}
        config = NodeConfig(
            name=name, directory=root / name, listen=f"127.0.0.1:{port}", peers=peers
        )
        enroll_node(config.directory, name, ca)
        config.write()
        configs[name] = config
        print(f"   node {name}: certificate issued by the CA, listening on 127.0.0.1:{port}")
    return configs


def publish(root: Path, configs: dict[str, NodeConfig]) -> None:
    step("1. Datasets and their terms")
    for name in (*HOSPITALS, INSURER):
        insurer = name == INSURER
        key, value = ("member_id", "paid") if insurer else ("patient_id", "cost")
        dataset_id = "claims" if insurer else "visits"
        dataset = Dataset(
            id=dataset_id,
            title="Claims paid 2026" if insurer else "Outpatient visits 2026",
            sector="healthcare",
            columns=(Column(key, "string"), Column("month", "string"), Column(value, "decimal")),
            source=DataSource("csv", root / f"{name}.csv"),
            contract_policy=healthcare.medical_research(
                uid=f"urn:tds:policy:{name}:{dataset_id}",
                assigner=node_uri(name),
                target=dataset_target(name, dataset_id),
                min_cohort=MIN_COHORT,
            ),
        )
        with Client(configs[name]) as client:
            client.publish(dataset)
        print(f"   {name} offers '{dataset_id}' ({dataset.title.lower()})")
    print("   on the sector's medical-research terms:")
    print("   - for medical research only (any branch of it)")
    print("   - aggregates and joined sums only: never rows, never the list of shared people")
    print(f"   - no result about fewer than {MIN_COHORT} people")
    print("   - at most 100 uses, within one year of the agreement; every use logged")
    print("   - the consumer has obtained the patients' consent before the first use")


def start_daemons(configs: dict[str, NodeConfig]) -> list[subprocess.Popen[bytes]]:
    daemons = []
    for config in configs.values():
        log = (config.directory / "daemon.log").open("ab")
        command = [sys.executable, "-m", "tds.cli", "connector", "serve", "--dir"]
        daemons.append(subprocess.Popen([*command, str(config.directory)], stdout=log, stderr=log))
        log.close()
    deadline = time.monotonic() + 60
    for config in configs.values():
        host, port = config.listen.rsplit(":", 1)
        while not listening(host, int(port)):
            if time.monotonic() > deadline:
                raise SystemExit(f"{config.name}'s daemon did not start: see its daemon.log")
            time.sleep(0.1)
    print(f"\n   Daemons running: {', '.join(configs)} (each a separate process)")
    return daemons


def negotiate(configs: dict[str, NodeConfig]) -> None:
    pairs = [(INSURER, hospital, "visits") for hospital in HOSPITALS]
    pairs.append((HOSPITALS[0], INSURER, "claims"))
    for consumer, provider, dataset_id in pairs:
        with Client(configs[consumer]) as client:
            negotiation = client.negotiate(provider, dataset_id)
        print(
            f"   {consumer} agreed to {provider}'s terms for '{dataset_id}': agreement "
            f"{negotiation.agreement_id}, signed by both ({negotiation.state})"
        )


def monthly_costs(configs: dict[str, NodeConfig], records: dict) -> None:
    step("2. Coastal Mutual asks both hospitals: visits and costs per month")
    with Client(configs[INSURER]) as client:
        job = client.aggregate(
            dict.fromkeys(HOSPITALS, "visits"),
            purpose=PURPOSE,
            group_by=["month"],
            groups=[[month] for month in MONTHS],
            sums=["cost"],
            min_cohort=MIN_COHORT,
            consent_obtained=True,
        )
    print(f"   job {job.id}: {job.state}")
    print("   Coastal Mutual attested that the patients consented; both hospitals logged it.")
    print("   Each hospital checked its own terms, left out months with fewer than")
    print(
        f"   {MIN_COHORT} visits, and encrypted its numbers under a key only Coastal Mutual holds;"
    )
    print("   St Mary's added its encrypted numbers to Harbour General's, so the insurer decrypted")
    print("   only the sum of both:")
    print(f"   {'month':<10}{'visits':>8}{'cost':>16}")
    for month, visits, cost in job.result["rows"]:
        print(f"   {month:<10}{visits:>8,}{float(cost):>16,.2f}")
    print("   Who learned what: Coastal Mutual, these totals; neither hospital, anything about")
    print("   the other's visits; no visit record left either hospital.")
    plain = {month: [0, 0] for month in MONTHS}
    for hospital in HOSPITALS:
        for _, month, cents in records[hospital]:
            plain[month][0] += 1
            plain[month][1] += cents
    for month, visits, cost in job.result["rows"]:
        assert [visits, round(float(cost) * 100)] == plain[month], "the totals disagree"
    print("   Check: the same totals as adding up both hospitals' tables in the open.")


def shared_patients_claims(configs: dict[str, NodeConfig], records: dict) -> None:
    hospital = HOSPITALS[0]
    step("3. Harbour General asks Coastal Mutual: what was paid for our patients?")
    patients = sorted({patient for patient, _, _ in records[hospital]})

    def show(report: object) -> None:
        stage, done, total = report.stage, report.done, report.total  # type: ignore[attr-defined]
        if stage == "own-points" and done == total:
            print(f"   - {hospital} blinded its {total:,} patient ids and sent them")

    with Client(configs[hospital]) as client:
        job = client.secure_join(
            INSURER,
            "claims",
            patients,
            kind="psi-sum",
            key_columns=["member_id"],
            value_column="paid",
            purpose=PURPOSE,
            min_cohort=MIN_COHORT,
            consent_obtained=True,
            progress=show,
        )
    result = job.result
    print(f"   job {job.id}: {job.state}")
    print("   Coastal Mutual checked its terms when the job started and again, with the real")
    shared = f"{result['size']:,} >= {MIN_COHORT}"
    print(f"   number of shared people ({shared}), before it released the sum.")
    print("   Who learned what:")
    print(
        f"   - {hospital}: {result['size']:,} of its {len(patients):,} patients are insured there,"
    )
    paid = f"{float(result['sum']):,.2f}"
    print(f"     and {paid} was paid for them; not which patients, and no single claim.")
    print(f"   - {INSURER}: that {hospital} has {len(patients):,} patients; nothing else.")
    shared = set(patients)
    plain = sum(cents for member, _, cents in records[INSURER] if member in shared)
    assert round(float(result["sum"]) * 100) == plain, "the secure join disagrees"
    print("   Check: the same total as a plain join of both tables in the open.")


def refused_job(configs: dict[str, NodeConfig], records: dict) -> None:
    step("4. Coastal Mutual asks Harbour General for the list of shared patients")
    members = [member for member, _, _ in records[INSURER]]
    with Client(configs[INSURER]) as client:
        try:
            client.secure_join(
                HOSPITALS[0],
                "visits",
                members,
                kind="psi",
                key_columns=["patient_id"],
                purpose=PURPOSE,
                min_cohort=MIN_COHORT,
                consent_obtained=True,
            )
        except UsageDeniedError as refusal:
            reason = str(refusal)
        else:
            raise AssertionError("the hospital should have refused")
    print("   Harbour General refused before anything was computed; no use was spent. It said:")
    print(f"   {reason}")


def check_audit_logs(configs: dict[str, NodeConfig]) -> None:
    step("5. Each node checks the audit logs of the others")
    for name, config in configs.items():
        with Client(config) as client:
            for peer in configs:
                if peer != name:
                    report = client.verify_audit(peer)
                    print(f"   {name} checked {peer}: {report.summary}")


root = Path(tempfile.mkdtemp(prefix="tds-demo-"))
daemons = []
try:
    records = synthetic_records(root)
    configs = set_up(root)
    publish(root, configs)
    daemons = start_daemons(configs)
    negotiate(configs)
    monthly_costs(configs, records)
    shared_patients_claims(configs, records)
    refused_job(configs, records)
    check_audit_logs(configs)
finally:
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        daemon.wait(timeout=30)
    if daemons:
        print("\nAll three daemons shut down.")
    if os.environ.get("TDS_DEMO_KEEP"):
        print(f"The data space is kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
