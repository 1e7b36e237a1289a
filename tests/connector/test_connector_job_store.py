"""A node's record of its jobs, with an event row and an audit entry for every state change,
and the usage state of one job: charged once, and blind to its own charge."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.connector._audit import AuditLog, EventKind
from tds.connector._audit_store import SqliteAuditStore
from tds.connector._job_store import MAX_JOB_REASON, Job, Jobs
from tds.connector._jobs import JobKind, JobRole, JobSpec, JobState, ProviderPart
from tds.connector._store import Store
from tds.connector._usage import SqliteUsageState
from tds.errors import AlreadyExistsError, NotFoundError, StateTransitionError, StorageError
from tds.policy import UsageKey, UsageLedger, Use

S = JobState
JOB_A = "a" * 32
JOB_B = "b" * 32
JOB_C = "c" * 32
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = UsageKey("policy-hash", "permission[0]", "urn:tds:node:bob")

ALLOWED = {
    (S.PENDING, S.AWAITING_APPROVAL),
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.AWAITING_APPROVAL, S.PENDING),
    (S.AWAITING_APPROVAL, S.FAILED),
    (S.AWAITING_APPROVAL, S.CANCELLED),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
}


def _aggregate(job_id: str = JOB_A, **fields: Any) -> JobSpec:
    values: dict[str, Any] = {
        "job_id": job_id,
        "kind": JobKind.AGGREGATE,
        "requester": "bob",
        "providers": (
            ProviderPart("alice", "agreement-1", "visits"),
            ProviderPart("carol", "agreement-2", "claims", address="carol.example:7443"),
        ),
        "purpose": "medical research",
        "sums": ("cost",),
        "requester_key": b"paillier",
    }
    values.update(fields)
    return JobSpec(**values)


def _psi(job_id: str = JOB_B) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        kind=JobKind.PSI_CARDINALITY,
        requester="bob",
        providers=(ProviderPart("carol", "agreement-3", "claims", key_columns=("patient_id",)),),
        purpose="fraud detection",
    )


@dataclass
class Node:
    """A node's database, audit log and jobs, as the daemon opens them."""

    path: Path
    name: str = "alice"

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        self.store = Store(self.path)
        self.log = AuditLog(SqliteAuditStore(self.store), self.name)
        self.jobs = Jobs(self.store, self.log, self.name)

    def close(self) -> None:
        self.store.close()

    def events(self, job_id: str | None = None) -> list[tuple[str, str, str, int]]:
        with self.store.transaction() as connection:
            rows = connection.execute(
                "SELECT job_id, state, reason, audit_index FROM job_events ORDER BY id"
            ).fetchall()
        return [row for row in rows if job_id is None or row[0] == job_id]

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a failed call must leave as it was."""
        with self.store.transaction() as connection:
            jobs = connection.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return (jobs, self.events(), self.log.size, self.log.root())


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    opened = Node(tmp_path / "node.db")
    yield opened
    opened.close()


# -- create, get, list ----------------------------------------------------------------------


def test_a_created_job_is_pending_and_reads_back_equal(node: Node) -> None:
    before = datetime.now(UTC)
    job = node.jobs.create(_aggregate(), JobRole.PROVIDER)
    assert (job.state, job.reason, job.result) == (S.PENDING, "", None)
    assert (job.stage, job.done, job.total) == ("", 0, 0)
    assert before <= job.created_at == job.updated_at <= datetime.now(UTC)
    assert job.id == JOB_A and job.kind is JobKind.AGGREGATE and not job.is_final
    assert node.jobs.get(JOB_A) == job
    assert node.jobs.get(JOB_A).spec == _aggregate()


def test_a_job_may_be_created_in_another_state_with_a_reason(node: Node) -> None:
    job = node.jobs.create(_psi(), JobRole.PROVIDER, S.AWAITING_APPROVAL, "a person approves")
    assert node.jobs.get(JOB_B) == job
    assert (job.state, job.reason) == (S.AWAITING_APPROVAL, "a person approves")
    assert node.events() == [(JOB_B, "AWAITING_APPROVAL", "a person approves", 0)]


def test_creating_a_job_twice_is_refused_and_changes_nothing(node: Node) -> None:
    first = node.jobs.create(_aggregate(), JobRole.PROVIDER)
    before = node.snapshot()
    with pytest.raises(AlreadyExistsError, match=f"alice already has a job {JOB_A}"):
        node.jobs.create(_aggregate(purpose="something else"), JobRole.REQUESTER)
    assert node.snapshot() == before
    assert node.jobs.get(JOB_A) == first


def test_a_missing_job_is_not_found(node: Node) -> None:
    with pytest.raises(NotFoundError, match="alice has no job"):
        node.jobs.get(JOB_A)
    with pytest.raises(NotFoundError):
        node.jobs.get(None)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        node.jobs.move(JOB_A, S.RUNNING)
    assert node.snapshot() == ([], [], 0, node.log.root())


def test_a_job_is_found_for_its_parties_only_and_hidden_alike_from_others(node: Node) -> None:
    node.jobs.create(_aggregate(), JobRole.PROVIDER)
    for party in ("bob", "alice", "carol"):
        assert node.jobs.get(JOB_A, peer=party).id == JOB_A
    with pytest.raises(NotFoundError) as hidden:
        node.jobs.get(JOB_A, peer="dave")
    with pytest.raises(NotFoundError) as missing:
        node.jobs.get(JOB_C, peer="dave")
    assert str(hidden.value) == str(missing.value).replace(JOB_C, JOB_A)


def test_jobs_are_listed_oldest_first_and_filtered_by_role_and_state(node: Node) -> None:
    a = node.jobs.create(_aggregate(JOB_A), JobRole.PROVIDER)
    b = node.jobs.create(_psi(JOB_B), JobRole.REQUESTER)
    c = node.jobs.create(_aggregate(JOB_C), JobRole.PROVIDER, S.AWAITING_APPROVAL)
    b = node.jobs.move(JOB_B, S.RUNNING)
    assert [job.id for job in node.jobs.jobs()] == [JOB_A, JOB_B, JOB_C]
    assert node.jobs.jobs() == [a, b, c]
    assert node.jobs.jobs(role=JobRole.PROVIDER) == [a, c]
    assert node.jobs.jobs(role=JobRole.REQUESTER) == [b]
    assert node.jobs.jobs(state=S.RUNNING) == [b]
    assert node.jobs.jobs(role="provider", state="AWAITING_APPROVAL") == [c]  # type: ignore[arg-type]
    assert node.jobs.jobs(role=JobRole.REQUESTER, state=S.PENDING) == []


# -- moves, events and audit entries --------------------------------------------------------


def test_every_move_writes_one_event_row_and_one_job_audit_entry(node: Node) -> None:
    node.jobs.create(_aggregate(), JobRole.PROVIDER)
    path = [
        (S.AWAITING_APPROVAL, "approval needed"),
        (S.PENDING, "approved"),
        (S.RUNNING, "computing"),
        (S.SUCCEEDED, "done"),
    ]
    for step, (target, reason) in enumerate(path, start=1):
        size = node.log.size
        moved = node.jobs.move(JOB_A, target, reason)
        assert (moved.state, moved.reason) == (target, reason)
        assert node.log.size == size + 1
        events = node.events(JOB_A)
        assert len(events) == step + 1
        assert events[-1] == (JOB_A, target.value, reason, size)
        entry = node.log.entry(size)
        assert entry.kind is EventKind.JOB
        assert entry.timestamp == moved.updated_at
        assert entry.data == {
            "job": JOB_A,
            "kind": "aggregate",
            "role": "provider",
            "consumer": "bob",
            "providers": ["alice", "carol"],
            "agreements": ["agreement-1", "agreement-2"],
            "purpose": "medical research",
            "state": target.value,
            "reason": reason,
            "provider": "alice",
        }
    assert node.jobs.get(JOB_A).state is S.SUCCEEDED


def test_a_requester_audit_entry_names_no_provider_of_its_own(node: Node) -> None:
    node.jobs.create(_psi(), JobRole.REQUESTER)
    entry = node.log.entry(0)
    assert entry.data["role"] == "requester"
    assert entry.data["consumer"] == "bob"
    assert entry.data["providers"] == ["carol"]
    assert "provider" not in entry.data


@pytest.mark.parametrize(
    ("start", "path", "target"),
    [
        (S.PENDING, [], S.SUCCEEDED),
        (S.PENDING, [], S.PENDING),
        (S.AWAITING_APPROVAL, [], S.RUNNING),
        (S.PENDING, [S.RUNNING], S.AWAITING_APPROVAL),
        (S.PENDING, [S.RUNNING, S.SUCCEEDED], S.FAILED),
        (S.PENDING, [S.CANCELLED], S.RUNNING),
        (S.PENDING, [S.FAILED], S.FAILED),
    ],
)
def test_an_illegal_move_is_refused_and_writes_nothing(
    node: Node, start: JobState, path: list[JobState], target: JobState
) -> None:
    node.jobs.create(_aggregate(), JobRole.PROVIDER, start)
    for step in path:
        node.jobs.move(JOB_A, step, "on the way")
    job = node.jobs.get(JOB_A)
    before = node.snapshot()
    with pytest.raises(StateTransitionError, match=f"job {JOB_A} is"):
        node.jobs.move(JOB_A, target, "not allowed", result={"leak": 1})
    assert node.snapshot() == before
    assert node.jobs.get(JOB_A) == job


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(list(JobState)), max_size=8))
def test_moves_follow_the_transition_table_whatever_is_asked(targets: list[JobState]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        node = Node(Path(directory) / "node.db")
        try:
            node.jobs.create(_aggregate(), JobRole.REQUESTER)
            state, events = S.PENDING, 1
            for number, target in enumerate(targets):
                if (state, target) in ALLOWED:
                    assert node.jobs.move(JOB_A, target, f"step {number}").state is target
                    state, events = target, events + 1
                else:
                    with pytest.raises(StateTransitionError):
                        node.jobs.move(JOB_A, target, f"step {number}")
                assert node.jobs.get(JOB_A).state is state
                assert len(node.events()) == events == node.log.size
        finally:
            node.close()


def test_a_result_is_kept_with_the_move_that_releases_it(node: Node) -> None:
    node.jobs.create(_aggregate(), JobRole.REQUESTER)
    node.jobs.move(JOB_A, S.RUNNING, "computing")
    result = {"columns": ["count", "sum_cost"], "rows": [[12, "10.50"]], "epsilon": None}
    done = node.jobs.move(JOB_A, S.SUCCEEDED, "done", result=result)
    assert done.result == result
    assert node.jobs.get(JOB_A).result == result
    assert node.jobs.get(JOB_A) == done


def test_a_long_reason_is_cut_to_the_limit(node: Node) -> None:
    node.jobs.create(_aggregate(), JobRole.PROVIDER)
    job = node.jobs.move(JOB_A, S.FAILED, "x" * 5000)
    assert len(job.reason) == MAX_JOB_REASON
    assert job.reason.endswith("…")
    assert node.jobs.get(JOB_A).reason == job.reason
    assert node.log.entry(1).data["reason"] == job.reason
    assert node.events(JOB_A)[-1][2] == job.reason


def test_end_moves_a_live_job_to_its_final_state(node: Node) -> None:
    node.jobs.create(_aggregate(JOB_A), JobRole.PROVIDER, S.AWAITING_APPROVAL)
    node.jobs.create(_aggregate(JOB_B), JobRole.PROVIDER)
    node.jobs.move(JOB_B, S.RUNNING)
    assert node.jobs.end(JOB_A, S.CANCELLED, "cancelled by bob").state is S.CANCELLED
    assert node.jobs.end(JOB_B, S.FAILED, "the peer went away").state is S.FAILED
    assert [event[1] for event in node.events()] == [
        "AWAITING_APPROVAL",
        "PENDING",
        "RUNNING",
        "CANCELLED",
        "FAILED",
    ]
    assert node.log.size == 5


@pytest.mark.parametrize("final", [S.SUCCEEDED, S.FAILED, S.CANCELLED])
def test_end_leaves_a_final_job_as_it_is(node: Node, final: JobState) -> None:
    node.jobs.create(_aggregate(), JobRole.PROVIDER)
    node.jobs.move(JOB_A, S.RUNNING, "computing")
    ended = node.jobs.move(JOB_A, final, "first ending", result={"n": 1})
    before = node.snapshot()
    for target in (S.FAILED, S.CANCELLED):
        assert node.jobs.end(JOB_A, target, "second ending") == ended
    assert node.snapshot() == before


def test_end_of_a_missing_job_is_not_found(node: Node) -> None:
    with pytest.raises(NotFoundError):
        node.jobs.end(JOB_A, S.CANCELLED, "no such job")
    assert node.snapshot() == ([], [], 0, node.log.root())


def test_progress_is_recorded_without_an_event_or_audit_entry(node: Node) -> None:
    created = node.jobs.create(_aggregate(), JobRole.PROVIDER)
    node.jobs.move(JOB_A, S.RUNNING, "computing")
    node.jobs.progress(JOB_A, "encrypting", 3, 10)
    job = node.jobs.get(JOB_A)
    assert (job.stage, job.done, job.total) == ("encrypting", 3, 10)
    assert job.updated_at >= created.updated_at
    assert job.to_dict()["progress"] == {"stage": "encrypting", "done": 3, "total": 10}
    assert len(node.events()) == node.log.size == 2
    node.jobs.move(JOB_A, S.SUCCEEDED, "done")
    assert (node.jobs.get(JOB_A).stage, node.jobs.get(JOB_A).done) == ("encrypting", 3)


def test_fail_interrupted_fails_running_provider_jobs_only(node: Node) -> None:
    node.jobs.create(_aggregate(JOB_A), JobRole.PROVIDER)
    node.jobs.move(JOB_A, S.RUNNING)
    node.jobs.create(_aggregate(JOB_B), JobRole.REQUESTER)
    node.jobs.move(JOB_B, S.RUNNING)
    node.jobs.create(_aggregate(JOB_C), JobRole.PROVIDER)
    failed = node.jobs.fail_interrupted("the daemon stopped")
    assert [(job.id, job.state, job.reason) for job in failed] == [
        (JOB_A, S.FAILED, "the daemon stopped")
    ]
    assert [job.state for job in node.jobs.jobs()] == [S.FAILED, S.RUNNING, S.PENDING]
    assert node.events()[-1] == (JOB_A, "FAILED", "the daemon stopped", node.log.size - 1)


def test_jobs_and_their_events_survive_closing_and_reopening_the_store(node: Node) -> None:
    node.jobs.create(_aggregate(), JobRole.REQUESTER)
    node.jobs.create(_psi(), JobRole.REQUESTER)
    node.jobs.move(JOB_A, S.RUNNING, "computing")
    node.jobs.progress(JOB_A, "summing", 1, 2)
    kept = node.jobs.move(JOB_A, S.SUCCEEDED, "done", result={"rows": [[1, 2]]})
    listed, events, size, root = node.jobs.jobs(), node.events(), node.log.size, node.log.root()
    node.close()
    node.open()
    assert node.jobs.get(JOB_A) == kept
    assert node.jobs.jobs() == listed
    assert (node.events(), node.log.size, node.log.root()) == (events, size, root)
    with pytest.raises(StateTransitionError):
        node.jobs.move(JOB_A, S.RUNNING)
    assert node.jobs.move(JOB_B, S.CANCELLED, "after the restart").state is S.CANCELLED


def test_a_job_of_another_node_in_the_same_database_is_not_shared_by_name(node: Node) -> None:
    # Two Jobs views of one database see the same records: the name only labels the audit.
    other = Jobs(node.store, node.log, "carol")
    node.jobs.create(_aggregate(), JobRole.PROVIDER)
    with pytest.raises(AlreadyExistsError, match="carol already has a job"):
        other.create(_aggregate(), JobRole.PROVIDER)
    other.move(JOB_A, S.RUNNING)
    assert node.log.entry(1).data["provider"] == "carol"


# -- the usage state of one job -------------------------------------------------------------


def _seen(state: SqliteUsageState) -> tuple[int, Decimal, int]:
    """What ``state``'s ledger for KEY shows: uses, epsilon spent, uses after T0."""
    seen: list[tuple[int, Decimal, int]] = []

    def look(ledger: UsageLedger) -> bool:
        seen.append((ledger.uses, ledger.epsilon_spent, ledger.uses_after(T0)))
        return True

    assert state.try_consume(KEY, look, None)
    return seen[0]


def _uses(store: Store) -> list[tuple[Any, ...]]:
    with store.transaction() as connection:
        return connection.execute(
            "SELECT policy, rule, assignee, time_us, epsilon, job_id FROM uses ORDER BY id"
        ).fetchall()


def test_a_job_is_charged_once_and_a_second_charge_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        state = SqliteUsageState(store)
        job = state.for_job(JOB_A)
        assert not state.charged(JOB_A)
        assert job.try_consume(KEY, lambda ledger: True, Use(T0 + timedelta(1), Decimal("0.5")))
        assert state.charged(JOB_A) and job.charged(JOB_A)
        before = _uses(store)
        assert [row[5] for row in before] == [JOB_A]
        with pytest.raises(StorageError):
            job.try_consume(KEY, lambda ledger: True, Use(T0 + timedelta(2), Decimal("0.5")))
        with pytest.raises(StorageError):
            state.for_job(JOB_A).try_consume(KEY, lambda ledger: True, Use(T0 + timedelta(3)))
        assert _uses(store) == before
        assert _seen(state) == (1, Decimal("0.5"), 1)


def test_a_job_sees_every_ledger_without_its_own_use(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        state = SqliteUsageState(store)
        state.try_consume(KEY, lambda ledger: True, Use(T0 + timedelta(hours=1), Decimal("0.25")))
        job_a, job_b = state.for_job(JOB_A), state.for_job(JOB_B)
        assert _seen(job_a) == (1, Decimal("0.25"), 1)
        job_a.try_consume(KEY, lambda ledger: True, Use(T0 + timedelta(hours=2), Decimal("1.5")))
        # The job's own state: as its start saw it. Everyone else: both uses.
        assert _seen(job_a) == (1, Decimal("0.25"), 1)
        assert _seen(state.for_job(JOB_A)) == (1, Decimal("0.25"), 1)
        assert _seen(job_b) == (2, Decimal("1.75"), 2)
        assert _seen(state) == (2, Decimal("1.75"), 2)
        job_b.try_consume(KEY, lambda ledger: True, Use(T0 - timedelta(hours=1), Decimal("2")))
        assert _seen(job_a) == (2, Decimal("2.25"), 1)
        assert _seen(job_b) == (2, Decimal("1.75"), 2)
        assert _seen(state) == (3, Decimal("3.75"), 2)
        other_key = UsageKey("policy-hash", "permission[1]", "urn:tds:node:bob")
        seen: list[int] = []
        job_a.try_consume(other_key, lambda ledger: seen.append(ledger.uses) or True, None)
        assert seen == [0]


def test_a_refused_check_charges_nothing_and_the_job_may_be_charged_later(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        state = SqliteUsageState(store)
        job = state.for_job(JOB_A)
        assert job.try_consume(KEY, lambda ledger: False, Use(T0)) is False
        assert not state.charged(JOB_A)
        assert _uses(store) == []
        assert job.try_consume(KEY, lambda ledger: True, Use(T0)) is True
        assert state.charged(JOB_A) and not state.charged(JOB_B)


def test_a_job_charge_survives_reopening_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        SqliteUsageState(store).for_job(JOB_A).try_consume(KEY, lambda ledger: True, Use(T0))
    with Store(tmp_path / "node.db") as store:
        state = SqliteUsageState(store)
        assert state.charged(JOB_A)
        with pytest.raises(StorageError):
            state.for_job(JOB_A).try_consume(KEY, lambda ledger: True, Use(T0))
        assert len(_uses(store)) == 1


def test_job_records_are_plain_job_values(node: Node) -> None:
    job = node.jobs.create(_psi(), JobRole.REQUESTER)
    assert isinstance(job, Job)
    view = job.to_dict()
    assert view["id"] == JOB_B and view["kind"] == "psi-cardinality" and view["role"] == "requester"
    assert view["providers"] == ["carol"] and view["requester"] == "bob"
    assert view["state"] == "PENDING" and view["result"] is None
    assert datetime.fromisoformat(view["created_at"]) == job.created_at
