"""``tds job``: start jobs with a real provider daemon, follow them, approve, reject, cancel.

Each test gets a fresh data space: a CA, the provider ``hospital`` with its daemon running in
this process, and the requester ``insurer``, which holds agreements on the hospital's
datasets. ``tds job`` acts as either node through ``--dir``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tds.cli._jobs import _summary
from tds.connector import (
    CertificateAuthority,
    Client,
    Column,
    Daemon,
    Dataset,
    DataSource,
    NegotiationState,
    NodeConfig,
    dataset_target,
    enroll_node,
    node_uri,
)
from tds.connector._job_store import Job
from tds.connector._jobs import JobKind, JobRole, JobSpec, JobState, ProviderPart
from tds.errors import StateTransitionError, UsageDeniedError
from tds.policy import Action, Constraint, Duty, DutyAction, Permission, Policy, PolicyType
from tds.sectors import healthcare

Run = Callable[..., Result]
RunJson = Callable[..., Any]

PURPOSE = "medical-research"
# patient_id, region, cost: 20 visits in the north at 10.00, 20 in the south at 20.00, and
# 3 in the east, a group under the healthcare policy's minimum cohort of 10.
VISITS = [
    (f"p{i}", region, cost)
    for i, (region, cost) in enumerate(
        [("north", "10.00")] * 20 + [("south", "20.00")] * 20 + [("east", "5.00")] * 3
    )
]
# The insurer's patients: p0 to p29 are also the hospital's (20 north, 10 south), x0 to x4 not.
MINE = [f"p{i}" for i in range(30)] + [f"x{i}" for i in range(5)]
MINE_COST = "400.00"  # 20 * 10.00 + 10 * 20.00
# Members of a club, keyed by surname and birth year; three are in the insurer's list too.
MEMBERS = [("smith", "1970", "gold"), ("jones", "1980", "silver"), ("brown", "1990", "gold")]
MEMBERS += [("green", "1960", "bronze"), ("white", "2000", "silver")]
MINE_MEMBERS = [("smith", "1970"), ("jones", "1980"), ("brown", "1990"), ("smith", "1971")]
WAIT_SECONDS = 30


def write_csv(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def any_use(provider: str, dataset_id: str) -> Policy:
    """An offer that permits every use, joins included, for medical research."""
    return Policy(
        uid=f"urn:tds:policy:{provider}:{dataset_id}",
        type=PolicyType.OFFER,
        assigner=node_uri(provider),
        target=dataset_target(provider, dataset_id),
        permissions=(
            Permission(
                action=Action.USE,
                constraints=(Constraint("purpose", "isA", PURPOSE),),
                duties=(Duty(action=DutyAction.LOG),),
            ),
        ),
    )


def research(provider: str, dataset_id: str) -> Policy:
    return healthcare.medical_research(
        uid=f"urn:tds:policy:{provider}:{dataset_id}",
        assigner=node_uri(provider),
        target=dataset_target(provider, dataset_id),
        consent_required=False,
    )


def visits_dataset(
    provider: str, source: Path, dataset_id: str = "visits", **options: Any
) -> Dataset:
    return Dataset(
        id=dataset_id,
        title="Outpatient visits",
        sector="healthcare",
        columns=(
            Column("patient_id", "string"),
            Column("region", "string"),
            Column("cost", "decimal"),
        ),
        source=DataSource("csv", source),
        contract_policy=research(provider, dataset_id),
        **options,
    )


@dataclass(frozen=True)
class Space:
    root: Path
    ca: CertificateAuthority
    hospital: Path
    insurer: Path

    def add_peer(self, name: str, address: str) -> None:
        NodeConfig.load(self.insurer).with_peer(name, address).write()


def make_node(root: Path, ca: CertificateAuthority, name: str) -> Path:
    directory = root / name
    enroll_node(directory, name, ca)
    NodeConfig(name=name, directory=directory, listen="127.0.0.1:0").write()
    return directory


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """The daemon of the node in ``directory`` on a free port; its HOST:PORT."""
    config = dataclasses.replace(
        NodeConfig.load(directory), max_workers=4, shutdown_grace_seconds=0
    )
    with Daemon(config) as daemon:
        yield daemon.address


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    root = tmp_path / "space"
    ca = CertificateAuthority.create(root / "ca", "Health data space")
    hospital = make_node(root, ca, "hospital")
    insurer = make_node(root, ca, "insurer")
    visits = write_csv(root / "visits.csv", ["patient_id", "region", "cost"], VISITS)
    members = write_csv(root / "members.csv", ["surname", "birth_year", "plan"], MEMBERS)
    with Client(hospital) as client:
        client.publish(visits_dataset("hospital", visits))
        client.publish(visits_dataset("hospital", visits, "referrals", approval="manual"))
        client.publish(
            Dataset(
                id="members",
                title="Club members",
                sector="healthcare",
                columns=(
                    Column("surname", "string"),
                    Column("birth_year", "string"),
                    Column("plan", "string"),
                ),
                source=DataSource("csv", members),
                contract_policy=any_use("hospital", "members"),
            )
        )
    with serving(hospital) as address:
        space = Space(root, ca, hospital, insurer)
        space.add_peer("hospital", address)
        with Client(insurer) as client:
            for dataset_id in ("visits", "referrals", "members"):
                negotiation = client.negotiate("hospital", dataset_id)
                assert negotiation.state is NegotiationState.FINALIZED
        yield space


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "mine.csv", ["id", "name"], [(key, "someone") for key in MINE])


def succeeded(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr or result.stdout
    return result


def job_id_of(text: str) -> str:
    first = text.splitlines()[0]
    assert first.startswith("job "), text
    return first.split()[1].rstrip(":")


def wait_for(probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while not (value := probe()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)
    return value


def waiting_job(run_json: RunJson, directory: Path, role: str, state: str) -> str | None:
    jobs = run_json("job", "list", "--role", role, "--state", state, "--dir", directory)
    return jobs[0]["id"] if jobs else None


AGGREGATE = (
    "job", "start", "aggregate", "--from", "hospital=visits", "--group-by", "region",
    "--group", "north", "--group", "south", "--group", "east", "--sum", "cost",
    "--purpose", PURPOSE, "--min-cohort", "10",
)  # fmt: skip


# -- aggregate --------------------------------------------------------------------------------


def test_aggregate_prints_progress_who_learned_what_and_the_table(
    run: Run, space: Space, tmp_path: Path
) -> None:
    result = succeeded(run(*AGGREGATE, "--dir", space.insurer))
    job_id = job_id_of(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"job {job_id}: aggregate of insurer with hospital's 'visits', purpose {PURPOSE}"
    )
    assert lines[1] == "SUCCEEDED: done"
    assert "insurer learned the counts and sums below, added up over hospital" in lines[2]
    assert "fewer than 10 rows" in lines[2]
    assert lines[-4:] == [
        "region  count  sum_cost",
        "north      20    200.00",
        "south      20    400.00",
        "east        0      0.00",
    ]
    assert "providers summing: 0/1" in result.stderr
    assert "providers summing: 1/1" in result.stderr

    csv_text = succeeded(run("job", "result", job_id, "--format", "csv", "--dir", space.insurer))
    assert csv_text.stdout == (
        "region,count,sum_cost\nnorth,20,200.00\nsouth,20,400.00\neast,0,0.00\n"
    )
    out = tmp_path / "table.csv"
    written = succeeded(run("job", "result", job_id, "--csv", out, "--dir", space.insurer))
    assert written.stdout == f"wrote 3 row(s) of job {job_id}'s result to {out}\n"
    assert out.read_text() == csv_text.stdout
    assert os.stat(out).st_mode & 0o777 == 0o600
    text = succeeded(run("job", "result", job_id, "--dir", space.insurer)).stdout
    assert text.splitlines()[0] == "region  count  sum_cost"


def test_aggregate_json_is_the_job_and_shows_no_progress(run: Run, space: Space) -> None:
    result = succeeded(run(*AGGREGATE, "--json", "--dir", space.insurer))
    job = json.loads(result.stdout)
    assert job["kind"] == "aggregate"
    assert job["role"] == "requester"
    assert job["state"] == "SUCCEEDED"
    assert job["providers"] == ["hospital"]
    # One ciphertext of a 2048-bit key (512 bytes) and the vector's header came back.
    assert 512 < job["result"].pop("wire")["bytes_received"] < 1024
    assert job["result"] == {
        "columns": ["region", "count", "sum_cost"],
        "rows": [["north", 20, "200.00"], ["south", 20, "400.00"], ["east", 0, "0.00"]],
        "providers": 1,
        "min_cohort": 10,
        "epsilon": None,
    }
    assert "providers summing" not in result.stderr


def test_status_list_and_result_on_both_nodes(run: Run, run_json: RunJson, space: Space) -> None:
    job_id = job_id_of(succeeded(run(*AGGREGATE, "--dir", space.insurer)).stdout)

    status = succeeded(run("job", "status", job_id, "--dir", space.insurer)).stdout.splitlines()
    assert status[1] == "state: SUCCEEDED: done"
    assert status[2] == "progress: providers summing 1/1"
    assert status[-1] == f"see the result with `tds job result {job_id}`"
    assert run_json("job", "status", job_id, "--dir", space.insurer)["state"] == "SUCCEEDED"

    provider = run_json("job", "status", job_id, "--dir", space.hospital)
    assert provider["role"] == "provider"
    assert provider["result"] == {"suppressed_groups": 1, "providers_summed": 1}
    text = succeeded(run("job", "status", job_id, "--dir", space.hospital)).stdout
    assert (
        "hospital added its encrypted counts and sums to the chain and learned no result "
        "(1 group(s) under 10 rows left out here)."
    ) in text

    listed = succeeded(run("job", "list", "--dir", space.insurer)).stdout.splitlines()
    assert len(listed) == 1
    assert listed[0].startswith(f"{job_id}  SUCCEEDED")
    assert "aggregate" in listed[0]
    assert "with hospital, purpose medical-research" in listed[0]
    assert "for insurer" in succeeded(run("job", "list", "--dir", space.hospital)).stdout
    assert [
        j["id"] for j in run_json("job", "list", "--role", "requester", "--dir", space.insurer)
    ] == [job_id]
    assert run_json("job", "list", "--role", "provider", "--dir", space.insurer) == []
    assert run_json("job", "list", "--state", "FAILED", "--dir", space.insurer) == []
    provider_csv = succeeded(
        run("job", "result", job_id, "--format", "csv", "--dir", space.hospital)
    )
    assert provider_csv.stdout == "providers_summed,suppressed_groups\n1,1\n"


def test_aggregate_along_a_chain_of_two_providers(run: Run, space: Space) -> None:
    clinic = make_node(space.root, space.ca, "clinic")
    source = write_csv(
        space.root / "clinic.csv", ["patient_id", "region", "cost"], [("c1", "north", "1.50")] * 12
    )
    with Client(clinic) as client:
        client.publish(visits_dataset("clinic", source))
    with serving(clinic) as address:
        space.add_peer("clinic", address)
        with Client(space.insurer) as client:
            assert client.negotiate("clinic", "visits").state is NegotiationState.FINALIZED
        result = run(
            "job", "start", "aggregate", "--from", "hospital=visits", "--from", "clinic=visits",
            "--group-by", "region", "--group", "north", "--group", "south", "--sum", "cost",
            "--purpose", "medical-research/oncology", "--min-cohort", "10", "--json",
            "--dir", space.insurer,
        )  # fmt: skip
    job = json.loads(succeeded(result).stdout)
    assert job["providers"] == ["hospital", "clinic"]
    assert job["result"]["rows"] == [["north", 32, "218.00"], ["south", 20, "400.00"]]
    assert job["result"]["providers"] == 2


def test_a_count_only_aggregate_without_groups(run_json: RunJson, space: Space) -> None:
    job = run_json(
        "job", "start", "aggregate", "--from", "hospital=visits", "--sum", "cost",
        "--purpose", PURPOSE, "--min-cohort", "10", "--dir", space.insurer,
    )  # fmt: skip
    assert job["result"]["columns"] == ["count", "sum_cost"]
    assert job["result"]["rows"] == [[43, "615.00"]]


def test_an_aggregate_with_noise_says_so(run: Run, space: Space) -> None:
    result = run(*AGGREGATE, "--epsilon", "2", "--value-bound", "5000", "--dir", space.insurer)
    lines = succeeded(result).stdout.splitlines()
    assert lines[2].startswith(
        "insurer learned the counts and sums below, added up over hospital, with noise "
        "(epsilon 2); "
    )
    assert lines[-4] == "region  count  sum_cost"


def test_an_interrupted_job_fails_and_says_which(
    run: Run, run_json: RunJson, space: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("tds.cli._jobs._ProgressLines.__call__", interrupt)
    result = run(*AGGREGATE, "--dir", space.insurer)
    assert result.exit_code == 130
    [job] = run_json("job", "list", "--dir", space.insurer)
    assert result.stderr == f"error: job {job['id']} FAILED: stopped at the requester\n"
    provider = run_json("job", "status", job["id"], "--dir", space.hospital)
    assert provider["state"] == "CANCELLED"
    assert provider["reason"] == "cancelled by insurer: the requester stopped"


# -- secure joins -----------------------------------------------------------------------------


def test_psi_sum(run: Run, space: Space, mine: Path) -> None:
    result = run(
        "job", "start", "psi-sum", "hospital", "visits", "--key", "patient_id", "--value", "cost",
        "--mine", mine, "--mine-key", "id", "--purpose", PURPOSE, "--min-cohort", "10", "--dir",
        space.insurer,
    )  # fmt: skip
    succeeded(result)
    job_id = job_id_of(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"job {job_id}: psi-sum of insurer with hospital's 'visits', purpose {PURPOSE}"
    )
    assert lines[1] == "SUCCEEDED: done"
    assert lines[2] == (
        f"insurer learned that 30 key(s) are shared and that cost adds up to {MINE_COST} over "
        "them (hospital holds 43 keys)."
    )
    assert lines[3] == "hospital learned the same count and sum, and how many keys insurer sent."
    assert "peer-points: " in result.stderr
    table = succeeded(run("job", "result", job_id, "--format", "csv", "--dir", space.insurer))
    assert table.stdout == f"provider_set_size,size,sum\n43,30,{MINE_COST}\n"
    provider = succeeded(run("job", "status", job_id, "--dir", space.hospital)).stdout
    assert f"hospital learned that 30 key(s) are shared and that they add up to {MINE_COST}" in (
        provider
    )
    assert "(insurer sent 35 keys); insurer learned the same." in provider


def test_psi_with_two_key_columns_revealed_to_the_provider(
    run: Run, run_json: RunJson, space: Space, tmp_path: Path
) -> None:
    mine = write_csv(tmp_path / "people.csv", ["name", "year"], MINE_MEMBERS)
    result = run(
        "job", "start", "psi", "hospital", "members", "--key", "surname", "--key", "birth_year",
        "--mine", mine, "--mine-key", "name", "--mine-key", "year", "--reveal-to-provider",
        "--purpose", PURPOSE, "--dir", space.insurer,
    )  # fmt: skip
    succeeded(result)
    job_id = job_id_of(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[2] == "insurer learned the 3 shared key(s) (hospital holds 5 keys)."
    assert lines[3] == "hospital learned them too, and how many keys insurer sent."
    assert sorted(lines[4:]) == ["brown, 1990", "jones, 1980", "smith, 1970"]

    table = succeeded(run("job", "result", job_id, "--format", "csv", "--dir", space.insurer))
    rows = list(csv.reader(io.StringIO(table.stdout)))
    assert rows[0] == ["surname", "birth_year"]
    assert sorted(rows[1:]) == [["brown", "1990"], ["jones", "1980"], ["smith", "1970"]]
    assert run_json("job", "result", job_id, "--dir", space.insurer)["size"] == 3
    provider = run_json("job", "status", job_id, "--dir", space.hospital)["result"]
    assert provider["requester_set_size"] == 4
    assert sorted(provider["items"]) == [["brown", "1990"], ["jones", "1980"], ["smith", "1970"]]


def test_psi_keys_default_to_the_key_column_names(run: Run, space: Space, tmp_path: Path) -> None:
    mine = write_csv(tmp_path / "people.csv", ["surname"], [("smith",), ("nobody",)])
    result = run(
        "job", "start", "psi", "hospital", "members", "--key", "surname", "--mine", mine,
        "--purpose", PURPOSE, "--dir", space.insurer,
    )  # fmt: skip
    succeeded(result)
    lines = result.stdout.splitlines()
    assert lines[2:] == [
        "insurer learned the 1 shared key(s) (hospital holds 5 keys).",
        "hospital learned only how many keys insurer sent.",
        "smith",
    ]
    job_id = job_id_of(result.stdout)
    plain = succeeded(run("job", "result", job_id, "--format", "csv", "--dir", space.insurer))
    assert plain.stdout == "surname\nsmith\n"


def test_psi_cardinality(run: Run, run_json: RunJson, space: Space, tmp_path: Path) -> None:
    mine = write_csv(tmp_path / "people.csv", ["surname", "birth_year"], MINE_MEMBERS)
    result = run(
        "job", "start", "psi-cardinality", "hospital", "members", "--key", "surname", "--key",
        "birth_year", "--mine", mine, "--purpose", PURPOSE, "--dir", space.insurer,
    )  # fmt: skip
    succeeded(result)
    assert result.stdout.splitlines()[2:] == [
        "insurer learned that 3 key(s) are shared (hospital holds 5 keys).",
        "hospital learned the same count and how many keys insurer sent.",
    ]
    job_id = job_id_of(result.stdout)
    answer = run_json("job", "result", job_id, "--dir", space.insurer)
    wire = answer.pop("wire")
    assert wire["bytes_sent"] > 0
    assert wire["bytes_received"] > 0
    assert answer == {"size": 3, "provider_set_size": 5}
    provider = succeeded(run("job", "status", job_id, "--dir", space.hospital)).stdout
    assert "hospital learned that 3 key(s) are shared (insurer sent 4 keys)" in provider


# -- refusals and failures --------------------------------------------------------------------


def test_a_provider_refuses_a_job_its_policy_does_not_permit(
    run: Run, run_json: RunJson, space: Space, mine: Path
) -> None:
    result = run(
        "job", "start", "psi-sum", "hospital", "visits", "--key", "patient_id",
        "--value", "cost", "--mine", mine, "--mine-key", "id", "--purpose", "marketing",
        "--min-cohort", "10", "--dir", space.insurer,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: job ")
    assert " FAILED: hospital: use denied: " in result.stderr
    assert "the purpose 'marketing' is not a kind of 'medical-research'" in result.stderr
    failed = run_json("job", "list", "--state", "FAILED", "--dir", space.insurer)
    assert len(failed) == 1
    assert failed[0]["id"] in result.stderr
    assert failed[0]["reason"].startswith("hospital: use denied")
    refused = run_json("job", "status", failed[0]["id"], "--dir", space.hospital)
    assert refused["state"] == "FAILED"
    assert refused["reason"].startswith("refused: use denied")
    no_result = run("job", "result", failed[0]["id"], "--dir", space.insurer)
    assert no_result.exit_code == 1
    assert no_result.stderr.startswith(f"error: job {failed[0]['id']} is FAILED: hospital: use")
    assert no_result.stderr.endswith("; it has no result\n")


def test_a_refused_job_with_json_prints_the_failed_job(run: Run, space: Space) -> None:
    result = run(
        "job", "start", "aggregate", "--from", "hospital=visits", "--sum", "cost",
        "--purpose", PURPOSE, "--json", "--dir", space.insurer,
    )  # fmt: skip
    assert result.exit_code == 1
    job = json.loads(result.stdout)
    assert job["state"] == "FAILED"
    assert "the smallest cohort 1 is not at least 10" in job["reason"]
    assert result.stderr.startswith(f"error: job {job['id']} FAILED: hospital: use denied")


def test_a_bad_epsilon(run: Run, space: Space) -> None:
    result = run(*AGGREGATE, "--epsilon", "zero", "--dir", space.insurer)
    assert result.exit_code == 2
    assert result.stderr == "error: epsilon must be a number, not 'zero'\n"


def test_a_job_without_an_agreement(run: Run, space: Space, mine: Path) -> None:
    result = run(
        "job", "start", "psi", "hospital", "unknown", "--key", "id", "--mine", mine,
        "--mine-key", "id", "--purpose", PURPOSE, "--dir", space.insurer,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        "error: insurer has no agreement with hospital on dataset 'unknown'; negotiate one "
        "first: `tds negotiate hospital unknown`\n"
    )


# -- approval, rejection, cancellation -------------------------------------------------------


def start_in_background(space: Space, dataset_id: str) -> tuple[ThreadPoolExecutor, Future]:
    """An aggregation of ``dataset_id`` that the insurer runs through its Python client."""

    def request() -> Any:
        with Client(space.insurer) as client:
            return client.aggregate(
                {"hospital": dataset_id},
                purpose=PURPOSE,
                sums=["cost"],
                min_cohort=10,
                deadline_seconds=WAIT_SECONDS,
            )

    pool = ThreadPoolExecutor(1)
    return pool, pool.submit(request)


def test_a_person_approves_a_job_that_waits(run: Run, run_json: RunJson, space: Space) -> None:
    command = [
        sys.executable, "-m", "tds.cli", "job", "start", "aggregate",
        "--from", "hospital=referrals", "--sum", "cost", "--purpose", PURPOSE,
        "--min-cohort", "10", "--dir", str(space.insurer),
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as requester:
        try:
            job_id = wait_for(
                lambda: waiting_job(run_json, space.hospital, "provider", "AWAITING_APPROVAL")
            )
            status = succeeded(run("job", "status", job_id, "--dir", space.hospital)).stdout
            assert "state: AWAITING_APPROVAL: dataset referrals needs a person's approval" in (
                status
            )
            assert status.splitlines()[-1] == (
                f"approve it with `tds job approve {job_id}`, or reject it with "
                f"`tds job reject {job_id} --reason TEXT`"
            )
            approved = succeeded(run("job", "approve", job_id, "--dir", space.hospital))
            assert approved.stdout.startswith(f"approved job {job_id} (aggregate for insurer")
            stdout, stderr = requester.communicate(timeout=WAIT_SECONDS)
        finally:
            if requester.poll() is None:
                requester.kill()
    assert requester.returncode == 0, stderr
    assert "awaiting approval by hospital: 0/1" in stderr
    assert stdout.splitlines()[1] == "SUCCEEDED: done"
    assert stdout.splitlines()[-2:] == ["count  sum_cost", "   43    615.00"]
    again = run("job", "approve", job_id, "--dir", space.hospital)
    assert again.exit_code == 1
    assert again.stderr == (
        f"error: cannot approve job {job_id}: it is SUCCEEDED here, not AWAITING_APPROVAL\n"
    )


def test_a_person_rejects_a_job_with_a_reason(run: Run, run_json: RunJson, space: Space) -> None:
    pool, future = start_in_background(space, "referrals")
    with pool:
        job_id = wait_for(
            lambda: waiting_job(run_json, space.hospital, "provider", "AWAITING_APPROVAL")
        )
        rejected = succeeded(
            run("job", "reject", job_id, "--reason", "not this quarter", "--dir", space.hospital)
        )
        assert rejected.stdout == (
            f"rejected job {job_id} of insurer: rejected by a person: not this quarter\n"
        )
        with pytest.raises(UsageDeniedError, match="not this quarter"):
            future.result(timeout=WAIT_SECONDS)
    job = run_json("job", "status", job_id, "--dir", space.insurer)
    assert job["state"] == "FAILED"
    assert job["reason"] == "hospital: rejected by a person: not this quarter"
    text = succeeded(run("job", "status", job_id, "--dir", space.insurer)).stdout
    assert "state: FAILED: hospital: rejected by a person: not this quarter" in text


def test_the_requester_cancels_a_job_that_waits(run: Run, run_json: RunJson, space: Space) -> None:
    pool, future = start_in_background(space, "referrals")
    with pool:
        job_id = wait_for(lambda: waiting_job(run_json, space.insurer, "requester", "PENDING"))
        wait_for(lambda: waiting_job(run_json, space.hospital, "provider", "AWAITING_APPROVAL"))
        text = succeeded(run("job", "status", job_id, "--dir", space.insurer)).stdout
        assert text.splitlines()[-1] == f"cancel it with `tds job cancel {job_id} --reason TEXT`"
        cancelled = succeeded(
            run("job", "cancel", job_id, "--reason", "changed my mind", "--dir", space.insurer)
        )
        assert cancelled.stdout == f"cancelled job {job_id}; told hospital: changed my mind\n"
        with pytest.raises(StateTransitionError, match="changed my mind"):
            future.result(timeout=WAIT_SECONDS)
    assert run_json("job", "status", job_id, "--dir", space.insurer)["state"] == "CANCELLED"
    provider = run_json("job", "status", job_id, "--dir", space.hospital)
    assert provider["state"] == "CANCELLED"
    assert provider["reason"] == "cancelled by insurer: changed my mind"
    again = run("job", "cancel", job_id, "--reason", "again", "--dir", space.insurer)
    assert again.exit_code == 1
    assert again.stderr == f"error: job {job_id} is CANCELLED already: changed my mind\n"


def test_only_the_requester_cancels_and_only_a_provider_approves(run: Run, space: Space) -> None:
    job_id = job_id_of(succeeded(run(*AGGREGATE, "--dir", space.insurer)).stdout)
    cancel = run("job", "cancel", job_id, "--reason", "no", "--dir", space.hospital)
    assert cancel.exit_code == 1
    assert "only its requester (insurer) cancels it" in cancel.stderr
    approve = run("job", "approve", job_id, "--dir", space.insurer)
    assert approve.exit_code == 1
    assert approve.stderr.startswith(f"error: cannot approve job {job_id}")
    reject = run("job", "reject", job_id, "--reason", " ", "--dir", space.hospital)
    assert reject.exit_code == 2
    assert reject.stderr == "error: give a reason: the other nodes record it\n"


# -- usage errors -----------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> Path:
    """A node with a certificate and no peers: enough for usage errors and unknown jobs."""
    ca = CertificateAuthority.create(tmp_path / "ca", "Test space")
    return make_node(tmp_path, ca, "insurer")


def test_no_jobs_yet(run: Run, run_json: RunJson, node: Path) -> None:
    assert succeeded(run("job", "list", "--dir", node)).stdout == (
        "no jobs yet: start one with `tds job start KIND ...`\n"
    )
    assert run_json("job", "list", "--dir", node) == []


@pytest.mark.parametrize("command", ["status", "result", "approve"])
def test_an_unknown_job(run: Run, node: Path, command: str) -> None:
    result = run("job", command, "0" * 32, "--dir", node)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: insurer has no job '{'0' * 32}'; list them with `tds job list`\n"
    )


def test_cancelling_an_unknown_job(run: Run, node: Path) -> None:
    result = run("job", "cancel", "nonsense", "--reason", "why not", "--dir", node)
    assert result.exit_code == 1
    assert "insurer has no job 'nonsense'" in result.stderr


def test_an_unknown_kind(run: Run, node: Path) -> None:
    result = run("job", "start", "join", "hospital", "visits", "--purpose", PURPOSE, "--dir", node)
    assert result.exit_code == 2
    assert "Invalid value for 'KIND'" in result.stderr
    assert "'join' is not one of" in result.stderr


def test_the_purpose_is_required(run: Run, node: Path) -> None:
    result = run("job", "start", "aggregate", "--from", "hospital=visits", "--dir", node)
    assert result.exit_code == 2
    assert "Missing option '--purpose'" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--group-by", "region", "--group", "north,x"],
            "error: --group 'north,x' has 2 value(s); give one per --group-by column (region), "
            "comma-separated",
        ),
        (
            ["--group-by", "region", "--group-by", "sex", "--group", "north"],
            "error: --group 'north' has 1 value(s); give one per --group-by column "
            "(region, sex), comma-separated",
        ),
        (["--group", "north"], "error: --group lists values of the --group-by columns"),
        (["--group-by", "region"], "error: list the groups to report with --group VALUE"),
        (["--from", "hospital"], "error: --from 'hospital' is not PROVIDER=DATASET"),
        (
            ["--from", "hospital=b", "--sum", "cost"],
            "error: --from names provider hospital twice",
        ),
        (["--key", "id"], "error: --key is for psi kinds"),
        (["--agreement", "a1"], "error: --agreement is for psi kinds"),
        (["--protocol", "oprf"], "error: --protocol is for psi kinds"),
        (["--sum", "cost", "--period", "2026-01-01"], "error: --period is START/END"),
        (
            ["--sum", "cost", "--period", "last week/2026-01-01"],
            "error: --period: 'last week' is not an ISO 8601 date or time",
        ),
        (["--sum", "cost", "--area", "120,36,121"], "error: area: not a bounding box"),
    ],
)
def test_bad_aggregate_options(run: Run, node: Path, arguments: list[str], message: str) -> None:
    result = run(
        "job", "start", "aggregate", "--from", "hospital=visits", *arguments,
        "--purpose", PURPOSE, "--dir", node,
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(message), result.stderr


def test_an_aggregate_names_its_providers_with_from(run: Run, node: Path) -> None:
    result = run(
        "job", "start", "aggregate", "hospital", "visits", "--purpose", PURPOSE, "--dir", node
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: PROVIDER DATASET is for psi kinds")
    result = run("job", "start", "aggregate", "--purpose", PURPOSE, "--dir", node)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: an aggregate names each provider and its dataset")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "error: a psi-sum job names the provider and its dataset"),
        (["hospital"], "error: a psi-sum job names the provider and its dataset"),
        (["hospital", "visits", "--value", "cost", "--mine", "MINE"],
         "error: a psi-sum job names the provider's join key column(s): --key COLUMN"),
        (["hospital", "visits", "--key", "id", "--mine", "MINE"],
         "error: a psi-sum job names the provider's column to add up: --value"),
        (["hospital", "visits", "--key", "id", "--value", "cost"],
         "error: a psi-sum job needs this node's own keys: --mine FILE.csv"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "missing.csv"],
         "error: missing.csv not found"),
        (["hospital", "visits", "--key", "patient_id", "--value", "cost", "--mine", "MINE"],
         "error: MINE has no column patient_id (its header: id, name); name the key columns "
         "with --mine-key"),
        (["hospital", "visits", "--key", "a", "--key", "b", "--value", "c", "--mine", "MINE",
          "--mine-key", "id"],
         "error: give one --mine-key per --key column (2), in the same order, not 1"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "MINE",
          "--group-by", "region"],
         "error: --group-by is for aggregate jobs; a psi-sum job names PROVIDER DATASET"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "MINE",
          "--reveal-to-provider"],
         "error: --reveal-to-provider is for psi jobs, not psi-sum"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "MINE",
          "--protocol", "rr22"],
         "error: unknown PSI protocol 'rr22'"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "MINE",
          "--protocol", "oprf"],
         "error: a psi-sum job runs on ECDH"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "MINE",
          "--area", "120,36,121,37"],
         "error: --area is for aggregate jobs"),
        (["hospital", "visits", "--key", "id", "--value", "cost", "--mine", "MINE",
          "--period", "2026-01-01/2026-02-01"],
         "error: --period is for aggregate jobs"),
    ],
)  # fmt: skip
def test_bad_secure_join_options(
    run: Run, node: Path, mine: Path, arguments: list[str], message: str
) -> None:
    arguments = [str(mine) if argument == "MINE" else argument for argument in arguments]
    result = run("job", "start", "psi-sum", *arguments, "--purpose", PURPOSE, "--dir", node)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(message.replace("MINE", str(mine))), result.stderr


def test_result_options_conflict(run: Run, node: Path) -> None:
    result = run("job", "result", "0" * 32, "--format", "csv", "--json", "--dir", node)
    assert result.exit_code == 2
    assert result.stderr == "error: give --json or --format csv, not both\n"


def test_the_summary_of_a_psi_job_shows_the_first_keys_only() -> None:
    spec = JobSpec(
        job_id="a" * 32,
        kind=JobKind.PSI,
        requester="insurer",
        providers=(
            ProviderPart(
                node="hospital", agreement_id="agreement", dataset_id="members", key_columns=("k",)
            ),
        ),
        purpose=PURPOSE,
    )
    now = dt.datetime.now(dt.UTC)
    items = [f"k{i:02}" for i in range(25)]
    result = {"size": 25, "items": items, "provider_set_size": 40}
    job = Job(spec, JobRole.REQUESTER, JobState.SUCCEEDED, "done", "", 0, 0, result, now, now)
    lines = _summary(job, "insurer").splitlines()
    assert lines[4:-1] == items[:20]
    assert lines[-1] == f"... and 5 more: `tds job result {'a' * 32} --csv FILE`"


def test_watch_follows_a_job_here_and_on_its_provider(run: Run, space: Space) -> None:
    job_id = job_id_of(succeeded(run(*AGGREGATE, "--dir", space.insurer)).stdout)
    here = succeeded(run("job", "watch", job_id, "--dir", space.insurer))
    assert here.stdout == "SUCCEEDED: done\n"
    there = succeeded(
        run("job", "watch", job_id, "--peer", "hospital", "--json", "--dir", space.insurer)
    )
    lines = [json.loads(line) for line in there.stdout.splitlines()]
    assert lines[-1]["state"] == "SUCCEEDED"
    assert lines[-1]["job_id"] == job_id


def test_watch_of_an_unknown_job_fails(run: Run, space: Space) -> None:
    result = run("job", "watch", "0" * 32, "--dir", space.insurer)
    assert result.exit_code == 1
    assert "no job" in result.stderr


def test_a_violation_is_recorded_only_for_a_compensate_duty(run: Run, space: Space) -> None:
    with Client(space.hospital) as hospital:
        agreement = hospital.agreements()[0]
    duty = "permission[0].duty[0]"
    result = run(
        "agreement", "violated", agreement.id, duty, "--reason", "x", "--dir", space.hospital
    )
    assert result.exit_code == 2
    assert "only duties owed after the use (compensate)" in result.stderr
    missing = run("agreement", "violated", "urn:tds:agreement:none", duty, "--reason", "x",
                  "--dir", space.hospital)  # fmt: skip
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ")
