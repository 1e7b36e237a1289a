"""Jobs between real daemons, each `tds connector serve` in its own process.

Two hospitals and an insurer; the insurer aggregates across the hospitals, a hospital joins
with the insurer's claims. Every refusal leaves the daemons serving and spends nothing; a
provider killed in the middle of a job fails it on the survivor, and after a restart the
node still has every job, counter and log entry and runs the next job.
"""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataspace_harness import DataSpace, Node

from tds.connector import Client, serde
from tds.connector._jobs import (
    JobFrame,
    JobKind,
    JobSpec,
    JobState,
    ProviderPart,
    new_job_id,
)
from tds.connector._peer import PeerConnection
from tds.errors import (
    ConfigError,
    DecodeError,
    InvalidPointError,
    NotFoundError,
    PeerUnavailableError,
    ProtocolError,
    StateTransitionError,
    UsageDeniedError,
)
from tds.psi import LeftParty, LeftPoints, MatchBitmap, Mode

PURPOSE = "medical-research/cost-of-care"
MONTHS = ("2026-01", "2026-02", "2026-03")
JOBS = "tds.v1.JobService"

DATASET_TOML = """\
id = "{dataset}"
title = "{dataset}"
sector = "healthcare"
approval = "{approval}"

[source]
csv = "{dataset}.csv"

[columns]
{key} = "string"
month = "string"
{value} = "decimal"

[policy]
template = "healthcare.medical_research"
min_cohort = 10
max_uses = {max_uses}
consent_required = false
"""


def visits(index: int) -> list[tuple[str, str, int]]:
    """Rows (patient, month, cents): patients p{index*40} to p{index*40 + 119}."""
    start = index * 40
    return [(f"p{n:04d}", MONTHS[n % 3], 1_000 + n * 7) for n in range(start, start + 120)]


def claims() -> list[tuple[str, str, int]]:
    return [(f"p{n:04d}", MONTHS[n % 3], 50_000 + n * 13) for n in range(60, 260)]


def publish(
    node: Node,
    dataset: str,
    rows: list[tuple[str, str, int]],
    *,
    key: str = "patient_id",
    value: str = "cost",
    approval: str = "auto",
    max_uses: int = 100,
) -> None:
    lines = [f"{key},month,{value}", *(f"{p},{m},{c / 100:.2f}" for p, m, c in rows)]
    (node.directory / f"{dataset}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    description = node.directory / f"{dataset}.toml"
    description.write_text(
        DATASET_TOML.format(
            dataset=dataset, key=key, value=value, approval=approval, max_uses=max_uses
        ),
        encoding="utf-8",
    )
    node.tds("dataset", "publish", str(description))


@pytest.fixture(scope="module")
def space(shared_space: DataSpace) -> Iterator[DataSpace]:
    hospital_a = shared_space.add_node("hospital-a")
    hospital_b = shared_space.add_node("hospital-b")
    insurer = shared_space.add_node("insurer")
    publish(hospital_a, "visits", visits(0))
    publish(hospital_b, "visits", visits(1))
    publish(hospital_a, "once", visits(0), max_uses=1)
    publish(hospital_a, "manual", visits(0), approval="manual")
    publish(insurer, "claims", claims(), key="member_id", value="paid")
    for node in (hospital_a, hospital_b, insurer):
        node.start()
    for dataset in ("visits", "once", "manual"):
        insurer.tds("negotiate", "hospital-a", dataset)
    insurer.tds("negotiate", "hospital-b", "visits")
    hospital_a.tds("negotiate", "insurer", "claims")
    yield shared_space


def client(space: DataSpace, name: str) -> Client:
    return Client(space.nodes[name].directory)


def uses(node: Node) -> int:
    with sqlite3.connect(node.directory / "node.db") as db:
        return db.execute("SELECT count(*) FROM uses").fetchone()[0]


def test_an_aggregation_across_two_hospitals_equals_the_plain_sums(space: DataSpace) -> None:
    with client(space, "insurer") as insurer:
        job = insurer.aggregate(
            {"hospital-a": "visits", "hospital-b": "visits"},
            purpose=PURPOSE,
            group_by=["month"],
            groups=[[month] for month in MONTHS],
            sums=["cost"],
            min_cohort=10,
        )
    assert job.state is JobState.SUCCEEDED
    plain = {month: [0, 0] for month in MONTHS}
    for _, month, cents in visits(0) + visits(1):
        plain[month][0] += 1
        plain[month][1] += cents
    assert {row[0]: [row[1], round(float(row[2]) * 100)] for row in job.result["rows"]} == plain
    for name in ("hospital-a", "hospital-b"):
        with client(space, name) as hospital:
            recorded = hospital.job(job.id)
        assert recorded.state is JobState.SUCCEEDED
        assert recorded.role == "provider"


def test_a_join_sum_equals_the_plain_join_and_is_charged_once(space: DataSpace) -> None:
    insurer = space.nodes["insurer"]
    before = uses(insurer)
    patients = sorted({patient for patient, _, _ in visits(0)})
    with client(space, "hospital-a") as hospital:
        job = hospital.secure_join(
            "insurer",
            "claims",
            patients,
            kind="psi-sum",
            key_columns=["member_id"],
            value_column="paid",
            purpose=PURPOSE,
            min_cohort=10,
        )
    shared = set(patients)
    plain = sum(cents for member, _, cents in claims() if member in shared)
    assert job.result["size"] == len(shared & {member for member, _, _ in claims()})
    assert round(float(job.result["sum"]) * 100) == plain
    assert uses(insurer) == before + 1
    with client(space, "insurer") as provider:
        assert provider.job(job.id).state is JobState.SUCCEEDED


def test_refusals_leave_the_daemons_serving_and_spend_nothing(space: DataSpace) -> None:
    hospital = space.nodes["hospital-a"]
    before = uses(hospital)
    with client(space, "insurer") as insurer:
        join = {"key_columns": ["patient_id"], "purpose": PURPOSE, "min_cohort": 10}
        members = [member for member, _, _ in claims()]
        with pytest.raises(UsageDeniedError, match="none of"):
            insurer.secure_join("hospital-a", "visits", members, kind="psi", **join)
        with pytest.raises(UsageDeniedError, match="marketing"):
            insurer.secure_join(
                "hospital-a",
                "visits",
                members,
                kind="psi-sum",
                value_column="cost",
                **{**join, "purpose": "marketing"},
            )
        with pytest.raises(UsageDeniedError, match="cohort"):
            insurer.secure_join(
                "hospital-a",
                "visits",
                members,
                kind="psi-sum",
                value_column="cost",
                **{**join, "min_cohort": 2},
            )
        with pytest.raises(ConfigError, match="no column"):
            insurer.secure_join(
                "hospital-a", "visits", members, kind="psi-sum", value_column="salary", **join
            )
        with pytest.raises(NotFoundError):
            insurer.secure_join(
                "hospital-a",
                "visits",
                members,
                kind="psi-sum",
                value_column="cost",
                agreement_id="urn:tds:agreement:none",
                **join,
            )
        assert insurer.health("hospital-a") == "SERVING"
        failed = [job for job in insurer.jobs() if job.state is JobState.FAILED]
    assert len(failed) >= 4
    assert uses(hospital) == before


def test_a_used_up_agreement_refuses_the_next_job(space: DataSpace) -> None:
    aggregate = {
        "purpose": PURPOSE,
        "group_by": ["month"],
        "groups": [[month] for month in MONTHS],
        "sums": ["cost"],
        "min_cohort": 10,
    }
    with client(space, "insurer") as insurer:
        first = insurer.aggregate({"hospital-a": "once"}, **aggregate)
        assert first.state is JobState.SUCCEEDED
        with pytest.raises(UsageDeniedError, match="number of uses"):
            insurer.aggregate({"hospital-a": "once"}, **aggregate)


def test_a_job_waits_for_approval_and_a_rejection_reaches_the_requester(
    space: DataSpace,
) -> None:
    outcome: dict[str, object] = {}

    def run(key: str) -> None:
        with client(space, "insurer") as insurer:
            try:
                outcome[key] = insurer.aggregate(
                    {"hospital-a": "manual"},
                    purpose=PURPOSE,
                    sums=["cost"],
                    min_cohort=10,
                    deadline_seconds=60,
                )
            except UsageDeniedError as error:
                outcome[key] = error

    for key, decide in (("approved", "approve"), ("rejected", "reject")):
        worker = threading.Thread(target=run, args=(key,))
        worker.start()
        with client(space, "hospital-a") as hospital:
            waiting = _wait_for(hospital, JobState.AWAITING_APPROVAL)
            if decide == "approve":
                hospital.approve_job(waiting.id)
            else:
                hospital.reject_job(waiting.id, "not this quarter")
            with pytest.raises(StateTransitionError):
                hospital.approve_job(waiting.id)
        worker.join(60)
    assert outcome["approved"].state is JobState.SUCCEEDED  # type: ignore[union-attr]
    assert "not this quarter" in str(outcome["rejected"])


def _wait_for(hospital: Client, state: JobState) -> object:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = hospital.jobs(role="provider", state=state)
        if jobs:
            return jobs[-1]
        time.sleep(0.1)
    raise AssertionError(f"no job became {state}")


def test_malformed_and_misdirected_job_messages_are_refused(space: DataSpace) -> None:
    with client(space, "insurer") as insurer:
        connection = insurer.connect("hospital-a")
        with pytest.raises(DecodeError):
            connection.call(f"{JOBS}/StartJob", b"\xff\x00garbage")
        with pytest.raises(DecodeError):
            connection.call(f"{JOBS}/GetJob", serde.encode_get_job("not-a-job-id"))
        with pytest.raises(NotFoundError):
            connection.call(f"{JOBS}/GetJob", serde.encode_get_job("0" * 32))
        with pytest.raises(NotFoundError):
            connection.call(f"{JOBS}/Contribute", serde.encode_contribute_request("0" * 32))
        frames = [serde.encode_job_frame(JobFrame("0" * 32, psi_message=b"x"))]
        with pytest.raises(ProtocolError):
            list(connection.stream(f"{JOBS}/Exchange", iter(frames), timeout=10))
        with pytest.raises(DecodeError):
            list(connection.stream(f"{JOBS}/Exchange", iter([b"\xff\xff"]), timeout=10))
        # A node that takes no part in a job cannot see it, nor take its sum.
        job = next(
            job
            for job in insurer.jobs(role="requester", state=JobState.SUCCEEDED)
            if [part.node for part in job.spec.providers] == ["hospital-a"]
        )
        with client(space, "hospital-b") as other:
            outsider = other.connect("hospital-a")
            with pytest.raises(NotFoundError):
                outsider.call(f"{JOBS}/GetJob", serde.encode_get_job(job.id))
            with pytest.raises(NotFoundError):
                outsider.call(f"{JOBS}/Contribute", serde.encode_contribute_request(job.id))
        assert insurer.health("hospital-a") == "SERVING"


def test_a_provider_killed_mid_job_fails_it_and_runs_the_next_after_restart(
    space: DataSpace, tmp_path: Path
) -> None:
    insurer_node = space.nodes["insurer"]
    patients = [f"q{n:06d}" for n in range(40_000)]
    errors: list[Exception] = []

    def join() -> None:
        with client(space, "hospital-a") as hospital:
            try:
                hospital.secure_join(
                    "insurer",
                    "claims",
                    patients,
                    kind="psi-sum",
                    key_columns=["member_id"],
                    value_column="paid",
                    purpose=PURPOSE,
                    min_cohort=10,
                    deadline_seconds=60,
                )
            except Exception as error:
                errors.append(error)

    worker = threading.Thread(target=join)
    worker.start()
    with client(space, "insurer") as insurer:
        running = _wait_for(insurer, JobState.RUNNING)
    assert insurer_node.daemon is not None
    insurer_node.daemon.stop(signal.SIGKILL)
    worker.join(90)
    assert not worker.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], PeerUnavailableError | ProtocolError)
    with client(space, "hospital-a") as hospital:
        failed = hospital.job(running.id)  # type: ignore[attr-defined]
    assert failed.state is JobState.FAILED
    insurer_node.start()
    with client(space, "insurer") as insurer:
        assert insurer.job(running.id).state is JobState.FAILED  # type: ignore[attr-defined]
    test_a_join_sum_equals_the_plain_join_and_is_charged_once(space)


def _raw_psi_sum_job(insurer: Client, *, declared: int = 0) -> tuple[str, PeerConnection]:
    """A psi-sum job the insurer asks hospital-a for by hand, ready for its exchange."""
    agreement = next(
        signed.id
        for signed in insurer.agreements(peer="hospital-a")
        if signed.consumer == "insurer" and signed.dataset_id == "visits"
    )
    spec = JobSpec(
        job_id=new_job_id(),
        kind=JobKind.PSI_SUM,
        requester="insurer",
        providers=(ProviderPart("hospital-a", agreement, "visits", ("patient_id",), "cost"),),
        purpose=PURPOSE,
        min_cohort=10,
        requester_set_size=declared,
    )
    connection = insurer.connect("hospital-a")
    status = serde.decode_job_status(
        connection.call(f"{JOBS}/StartJob", serde.encode_start_job(spec))
    )
    assert status.state is JobState.PENDING
    return spec.job_id, connection


def _left_points(job_id: str, *, first_point: bytes | None = None) -> bytes:
    """The requester's real first chunk (one of two blinded items), or one with a forged point."""
    party = LeftParty(["p0001", "p0002"], job_id=job_id, mode=Mode.SUM, chunk_size=1)
    message = party.next_message()
    assert isinstance(message, LeftPoints)
    if first_point is not None:
        message = dataclasses.replace(message, points=first_point + message.points[32:])
    return serde.encode_job_frame(JobFrame(job_id, psi_message=message.to_bytes()))


def _frame(job_id: str, **body: object) -> bytes:
    return serde.encode_job_frame(JobFrame(job_id, **body))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        # A low-order point instead of a blinded item.
        (lambda job: [_left_points(job, first_point=bytes(32))], InvalidPointError),
        # The same chunk twice: a replay.
        (lambda job: [_left_points(job), _left_points(job)], ProtocolError),
        # A message of another mode of the protocol.
        (
            lambda job: [
                _frame(job, psi_message=MatchBitmap(job.encode(), Mode.BOTH, 1, b"\x00").to_bytes())
            ],
            ProtocolError,
        ),
        # The stream opened a second time.
        (lambda job: [_left_points(job), _frame(job, open=True)], ProtocolError),
        # A frame of another job inside this job's stream.
        (lambda job: [_frame("f" * 32, open=True)], ProtocolError),
    ],
    ids=["invalid-point", "replayed-chunk", "wrong-mode", "opened-twice", "wrong-job"],
)
def test_bad_protocol_messages_fail_the_job_and_give_its_use_back(
    space: DataSpace, frames: object, error: type[Exception]
) -> None:
    hospital = space.nodes["hospital-a"]
    before = uses(hospital)
    with client(space, "insurer") as insurer:
        job_id, connection = _raw_psi_sum_job(insurer)
        opening = serde.encode_job_frame(JobFrame(job_id, open=True))
        requests = iter([opening, *frames(job_id)])  # type: ignore[operator]
        with pytest.raises(error):
            list(connection.stream(f"{JOBS}/Exchange", requests, timeout=30))
        assert insurer.health("hospital-a") == "SERVING"
    with client(space, "hospital-a") as provider:
        failed = provider.job(job_id)
    assert failed.state is JobState.FAILED
    assert "its use was given back" in failed.reason
    assert uses(hospital) == before


def test_several_jobs_at_once_across_three_nodes_all_come_out_right(space: DataSpace) -> None:
    patients = sorted({patient for patient, _, _ in visits(0)})
    shared = set(patients)
    plain_sum = sum(cents for member, _, cents in claims() if member in shared)
    plain_counts = {month: 0 for month in MONTHS}
    for _, month, _ in visits(0) + visits(1):
        plain_counts[month] += 1
    outcomes: list[object] = []
    lock = threading.Lock()

    def aggregate() -> None:
        with client(space, "insurer") as insurer:
            job = insurer.aggregate(
                {"hospital-a": "visits", "hospital-b": "visits"},
                purpose=PURPOSE,
                group_by=["month"],
                groups=[[month] for month in MONTHS],
                min_cohort=10,
            )
        with lock:
            outcomes.append({row[0]: row[1] for row in job.result["rows"]} == plain_counts)

    def join_sum() -> None:
        with client(space, "hospital-a") as hospital:
            job = hospital.secure_join(
                "insurer",
                "claims",
                patients,
                kind="psi-sum",
                key_columns=["member_id"],
                value_column="paid",
                purpose=PURPOSE,
                min_cohort=10,
            )
        with lock:
            outcomes.append(round(float(job.result["sum"]) * 100) == plain_sum)

    workers = [threading.Thread(target=work) for work in (aggregate, join_sum) * 3]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert outcomes == [True] * 6


def test_a_requester_that_sends_other_than_it_declared_is_refused(space: DataSpace) -> None:
    with client(space, "insurer") as insurer:
        job_id, connection = _raw_psi_sum_job(insurer, declared=5000)
        requests = iter([_frame(job_id, open=True), _left_points(job_id)])
        with pytest.raises(ProtocolError, match="declared 5000 distinct keys but sends 2"):
            list(connection.stream(f"{JOBS}/Exchange", requests, timeout=30))
    with client(space, "hospital-a") as provider:
        assert provider.job(job_id).state is JobState.FAILED
