"""A job's life on a provider daemon: approval, the policy monitor that stops jobs whose
agreement no longer permits them, and watching a job's progress from either node."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tds.connector import (
    CertificateAuthority,
    Client,
    Column,
    Daemon,
    Dataset,
    DataSource,
    JobRole,
    JobState,
    NodeConfig,
    dataset_target,
    enroll_node,
    node_uri,
)
from tds.connector._job_monitor import PolicyMonitor
from tds.errors import NotFoundError, StateTransitionError, UsageDeniedError
from tds.policy import Action, Constraint, Duration, Duty, DutyAction, Permission
from tds.sectors import healthcare
from tds.sectors._offer import offer_or_agreement

PURPOSE = "medical-research"


@dataclass
class Nodes:
    hospital: NodeConfig
    insurer: NodeConfig
    daemon: Daemon

    @property
    def peer(self) -> str:
        return f"hospital@{self.daemon.address}"


def _publish(
    config: NodeConfig, root: Path, *, valid_for: str, approval: str, consent: bool = False
) -> None:
    rows = [f"p{n},{100 + n}.25" for n in range(40)]
    (root / "visits.csv").write_text("patient_id,cost\n" + "\n".join(rows) + "\n")
    dataset = Dataset(
        id="visits",
        title="Visits",
        sector="healthcare",
        columns=(Column("patient_id", "string"), Column("cost", "decimal")),
        source=DataSource("csv", root / "visits.csv"),
        contract_policy=healthcare.medical_research(
            uid="urn:tds:policy:hospital:visits",
            assigner=node_uri("hospital"),
            target=dataset_target("hospital", "visits"),
            valid_for=valid_for,
            consent_required=consent,
        ),
        approval=approval,
    )
    with Client(config) as client:
        client.publish(dataset)


@pytest.fixture
def nodes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Nodes]:
    valid_for, approval, *consent = request.param
    ca = CertificateAuthority.create(tmp_path / "ca", "Monitor space")
    hospital = NodeConfig(name="hospital", directory=tmp_path / "hospital", listen="127.0.0.1:0")
    insurer = NodeConfig(name="insurer", directory=tmp_path / "insurer")
    for config in (hospital, insurer):
        enroll_node(config.directory, config.name, ca)
    _publish(hospital, tmp_path, valid_for=valid_for, approval=approval, consent=bool(consent))
    with Daemon(hospital) as daemon:
        nodes = Nodes(hospital, insurer, daemon)
        with Client(insurer) as client:
            client.negotiate(nodes.peer, "visits")
        yield nodes


def _aggregate_in_thread(nodes: Nodes) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        with Client(nodes.insurer) as client:
            try:
                outcome["job"] = client.aggregate(
                    {nodes.peer: "visits"},
                    purpose=PURPOSE,
                    sums=["cost"],
                    min_cohort=10,
                    deadline_seconds=30,
                )
            except UsageDeniedError as error:
                outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def _waiting_job(config: NodeConfig) -> str:
    deadline = time.monotonic() + 20
    with Client(config) as client:
        while time.monotonic() < deadline:
            jobs = client.jobs(role=JobRole.PROVIDER, state=JobState.AWAITING_APPROVAL)
            if jobs:
                return jobs[0].id
            time.sleep(0.05)
    raise AssertionError("no job awaits approval")


@pytest.mark.parametrize("nodes", [("PT2S", "manual")], indirect=True)
def test_a_job_waiting_past_the_agreements_end_is_stopped_and_its_requester_told(
    nodes: Nodes,
) -> None:
    worker, outcome = _aggregate_in_thread(nodes)
    job_id = _waiting_job(nodes.hospital)
    worker.join(30)
    assert not worker.is_alive()
    assert "no longer permits" in str(outcome["error"])
    assert "the time since the agreement" in str(outcome["error"])
    with Client(nodes.hospital) as hospital:
        stopped = hospital.job(job_id)
        assert stopped.state is JobState.FAILED
        assert stopped.reason.startswith("stopped: the agreement no longer permits it")
        with pytest.raises(StateTransitionError):
            hospital.approve_job(job_id)
    with Client(nodes.insurer) as insurer:
        assert insurer.job(job_id).state is JobState.FAILED
        # New jobs under the expired agreement are refused when asked for.
        with pytest.raises(UsageDeniedError, match="the time since the agreement"):
            insurer.aggregate({nodes.peer: "visits"}, purpose=PURPOSE, sums=["cost"], min_cohort=10)


@pytest.mark.parametrize("nodes", [("P1Y", "manual")], indirect=True)
def test_a_withdrawn_dataset_stops_its_waiting_jobs(nodes: Nodes) -> None:
    worker, outcome = _aggregate_in_thread(nodes)
    job_id = _waiting_job(nodes.hospital)
    with Client(nodes.hospital) as hospital:
        hospital.withdraw("visits")
    worker.join(30)
    assert "no longer permits" in str(outcome["error"])
    with Client(nodes.hospital) as hospital:
        assert hospital.job(job_id).state is JobState.FAILED


@pytest.mark.parametrize("nodes", [("P1Y", "manual")], indirect=True)
def test_a_job_the_agreement_still_permits_is_left_alone(nodes: Nodes) -> None:
    worker, outcome = _aggregate_in_thread(nodes)
    job_id = _waiting_job(nodes.hospital)
    assert PolicyMonitor(nodes.daemon.jobs).check_once() == 0
    with Client(nodes.hospital) as hospital:
        assert hospital.job(job_id).state is JobState.AWAITING_APPROVAL
        hospital.approve_job(job_id)
    worker.join(30)
    assert outcome["job"].state is JobState.SUCCEEDED  # type: ignore[attr-defined]


@pytest.mark.parametrize("nodes", [("P1Y", "manual")], indirect=True)
def test_the_requester_watches_the_job_on_the_provider_until_it_ends(nodes: Nodes) -> None:
    worker, outcome = _aggregate_in_thread(nodes)
    job_id = _waiting_job(nodes.hospital)
    with Client(nodes.insurer) as insurer:
        watched = insurer.watch_job(job_id, peer=nodes.peer, timeout=30)
        first = next(watched)
        assert first.state is JobState.AWAITING_APPROVAL
        assert "tds job approve" in first.reason
        with Client(nodes.hospital) as hospital:
            hospital.approve_job(job_id)
        rest = list(watched)
    worker.join(30)
    states = [status.state for status in rest]
    assert states[-1] is JobState.SUCCEEDED
    assert JobState.RUNNING in states
    assert all(status.job_id == job_id for status in rest)
    with Client(nodes.insurer) as insurer:
        local = list(insurer.watch_job(job_id, timeout=5))
    assert [status.state for status in local] == [JobState.SUCCEEDED]
    assert outcome["job"].state is JobState.SUCCEEDED  # type: ignore[attr-defined]


@pytest.mark.parametrize("nodes", [("P1Y", "auto")], indirect=True)
def test_only_the_nodes_of_a_job_may_watch_it(nodes: Nodes, tmp_path: Path) -> None:
    with Client(nodes.insurer) as insurer:
        job = insurer.aggregate(
            {nodes.peer: "visits"}, purpose=PURPOSE, sums=["cost"], min_cohort=10
        )
    stranger = NodeConfig(name="stranger", directory=tmp_path / "stranger")
    enroll_node(stranger.directory, "stranger", CertificateAuthority.load(tmp_path / "ca"))
    with Client(stranger) as client:
        with pytest.raises(NotFoundError):
            list(client.watch_job(job.id, peer=nodes.peer, timeout=5))
        with pytest.raises(NotFoundError):
            list(client.watch_job(job.id, timeout=5))


def test_a_policy_can_demand_a_floor_on_the_requesters_set(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Probe space")
    hospital = NodeConfig(name="hospital", directory=tmp_path / "hospital", listen="127.0.0.1:0")
    insurer = NodeConfig(name="insurer", directory=tmp_path / "insurer")
    for config in (hospital, insurer):
        enroll_node(config.directory, config.name, ca)
    rows = [f"p{n}" for n in range(50)]
    (tmp_path / "ids.csv").write_text("patient_id\n" + "\n".join(rows) + "\n")
    permission = Permission(
        action=Action.USE,
        constraints=(
            Constraint("operation", "eq", Action.CARDINALITY),
            Constraint("peerSetSize", "gteq", 30),
        ),
    )
    policy = offer_or_agreement(
        uid="urn:tds:policy:hospital:ids",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "ids"),
        assignee=None,
        permissions=(permission,),
    )
    dataset = Dataset(
        id="ids",
        title="Patient ids",
        sector="healthcare",
        columns=(Column("patient_id", "string"),),
        source=DataSource("csv", tmp_path / "ids.csv"),
        contract_policy=policy,
    )
    with Client(hospital) as client:
        client.publish(dataset)
    with Daemon(hospital) as daemon, Client(insurer) as client:
        peer = f"hospital@{daemon.address}"
        client.negotiate(peer, "ids")
        join = {"kind": "psi-cardinality", "key_columns": ["patient_id"], "purpose": PURPOSE}
        # A probe with two chosen keys (one repeated) is refused before anything runs.
        with pytest.raises(UsageDeniedError, match="the number of keys the other party brings"):
            client.secure_join(peer, "ids", ["p1", "p2", "p2"], **join)
        enough = client.secure_join(peer, "ids", [f"p{n}" for n in range(40, 80)], **join)
    assert enough.spec.requester_set_size == 40
    assert enough.result["size"] == 10


@pytest.mark.parametrize("nodes", [("P1Y", "auto", True)], indirect=True)
def test_consent_the_requester_attests_is_recorded_and_lets_the_job_run(nodes: Nodes) -> None:
    aggregate = {"purpose": PURPOSE, "sums": ["cost"], "min_cohort": 10}
    with Client(nodes.insurer) as insurer:
        with pytest.raises(UsageDeniedError, match="obtainConsent"):
            insurer.aggregate({nodes.peer: "visits"}, **aggregate)
        job = insurer.aggregate({nodes.peer: "visits"}, consent_obtained=True, **aggregate)
        assert job.state is JobState.SUCCEEDED
        # Recorded once, it holds for the next job too.
        assert insurer.aggregate({nodes.peer: "visits"}, **aggregate).state is JobState.SUCCEEDED
    with Client(nodes.hospital) as hospital:
        log = hospital.node.audit_log
        attested = [
            entry.data
            for entry in (log.entry(index) for index in range(log.size))
            if "attested" in entry.data
        ]
    assert attested == [
        {
            "job": job.id,
            "consumer": "insurer",
            "provider": "hospital",
            "agreement": job.spec.providers[0].agreement_id,
            "attested": {"obtainConsent": ["urn:tds:policy:hospital:visits#consent"]},
        }
    ]


def test_a_result_the_agreement_asks_to_delete_is_deleted_when_due(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Deleting space")
    hospital = NodeConfig(name="hospital", directory=tmp_path / "hospital", listen="127.0.0.1:0")
    insurer = NodeConfig(name="insurer", directory=tmp_path / "insurer")
    for config in (hospital, insurer):
        enroll_node(config.directory, config.name, ca)
    rows = [f"p{n},{n}.00" for n in range(30)]
    (tmp_path / "visits.csv").write_text("patient_id,cost\n" + "\n".join(rows) + "\n")
    delete_soon = Duty(
        action=DutyAction.DELETE,
        refinements=(Constraint("elapsedTime", "lteq", Duration.parse("PT2S")),),
    )
    permission = Permission(
        action=Action.USE,
        constraints=(Constraint("operation", "isAnyOf", [Action.AGGREGATE, Action.JOIN_SUM]),),
        duties=(delete_soon,),
    )
    policy = offer_or_agreement(
        uid="urn:tds:policy:hospital:visits",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "visits"),
        assignee=None,
        permissions=(permission,),
    )
    dataset = Dataset(
        id="visits",
        title="Visits",
        sector="healthcare",
        columns=(Column("patient_id", "string"), Column("cost", "decimal")),
        source=DataSource("csv", tmp_path / "visits.csv"),
        contract_policy=policy,
    )
    with Client(hospital) as client:
        client.publish(dataset)
    with Daemon(hospital) as daemon, Client(insurer) as client:
        peer = f"hospital@{daemon.address}"
        client.negotiate(peer, "visits")
        before = dt.datetime.now(dt.UTC)
        total = client.aggregate({peer: "visits"}, purpose=PURPOSE, sums=["cost"])
        joined = client.secure_join(
            peer,
            "visits",
            ["p1", "p2", "q9"],
            kind="psi-sum",
            key_columns=["patient_id"],
            value_column="cost",
            purpose=PURPOSE,
        )
    for job in (total, joined):
        deadline = dt.datetime.fromisoformat(job.result["delete_by"])
        assert before + dt.timedelta(seconds=2) <= deadline <= before + dt.timedelta(seconds=30)
    assert total.result["rows"] == [[30, "435.00"]]
    assert joined.result["sum"] == "3.00"
    time.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    with Client(insurer) as client:
        for job in (total, joined):
            deleted = client.job(job.id)
            assert set(deleted.result) == {"deleted_at", "delete_by"}
            assert deleted.reason.startswith("result deleted, as the agreement asks")
            assert deleted.state is JobState.SUCCEEDED
        log = client.node.audit_log
        entries = [log.entry(index).data for index in range(log.size)]
    deleted_jobs = {
        entry.get("job")
        for entry in entries
        if entry.get("reason", "").startswith("result deleted")
    }
    assert deleted_jobs == {total.id, joined.id}
