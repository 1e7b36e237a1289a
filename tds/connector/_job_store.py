"""A node's record of its jobs: each state change, its event row and its audit entry together.

Every node of a job records it under the same id: the requester once, each provider once.
A transition reads, checks and writes in one store transaction with its event row and its
audit-log entry, so a job never moves without a trace and an illegal move changes nothing.
Progress (stage, done, total) is written without an audit entry: it says how far the work
is, not what happened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tds.connector._audit import AuditLog, EventKind
from tds.connector._jobs import JobKind, JobRole, JobSpec, JobState, check_transition
from tds.connector._store import Store, from_microseconds, to_microseconds
from tds.errors import AlreadyExistsError, NotFoundError, StateTransitionError

__all__ = ["MAX_JOB_REASON", "WATCH_PERIOD_SECONDS", "Job", "JobStatus", "Jobs"]

MAX_JOB_REASON = 1000
# How often a watched job's record is read for changes.
WATCH_PERIOD_SECONDS = 0.2
_COLUMNS = "id, role, spec, state, reason, stage, done, total, result, created_at_us, updated_at_us"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_JOB_REASON else text[: MAX_JOB_REASON - 1] + "…"


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands on one node: its state, why, and how far its current stage is."""

    job_id: str
    state: JobState
    reason: str
    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class Job:
    """One node's record of a job.

    ``reason`` says why the job is in its state (always set once FAILED or CANCELLED);
    ``stage``, ``done`` and ``total`` are its progress; ``result`` is what the job released
    to this node (the requester's answer, or what a provider learned), once SUCCEEDED.
    """

    spec: JobSpec
    role: JobRole
    state: JobState
    reason: str
    stage: str
    done: int
    total: int
    result: Mapping[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def id(self) -> str:
        return self.spec.job_id

    @property
    def kind(self) -> JobKind:
        return self.spec.kind

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def status(self) -> JobStatus:
        return JobStatus(self.id, self.state, self.reason, self.stage, self.done, self.total)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable view (``tds job status --json``)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "role": self.role.value,
            "state": self.state.value,
            "reason": self.reason,
            "requester": self.spec.requester,
            "providers": [part.node for part in self.spec.providers],
            "purpose": self.spec.purpose,
            "progress": {"stage": self.stage, "done": self.done, "total": self.total},
            "result": None if self.result is None else dict(self.result),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class Jobs:
    """The jobs of node ``name`` in ``store``, with their events in ``audit_log``."""

    def __init__(self, store: Store, audit_log: AuditLog, name: str) -> None:
        self._store = store
        self._audit = audit_log
        self.name = name

    def create(
        self, spec: JobSpec, role: JobRole, state: JobState = JobState.PENDING, reason: str = ""
    ) -> Job:
        """Record a new job; AlreadyExistsError if this node has one with its id."""
        now = _now()
        job = Job(spec, role, state, _bounded(reason), "", 0, 0, None, now, now)
        with self._store.transaction() as connection:
            if self._load(connection, spec.job_id) is not None:
                raise AlreadyExistsError(f"{self.name} already has a job {spec.job_id}")
            connection.execute(
                f"INSERT INTO jobs ({_COLUMNS}, kind, requester) "
                "VALUES (?, ?, ?, ?, ?, '', 0, 0, NULL, ?, ?, ?, ?)",
                (
                    spec.job_id,
                    role.value,
                    spec.to_json(),
                    state.value,
                    job.reason,
                    to_microseconds(now),
                    to_microseconds(now),
                    spec.kind.value,
                    spec.requester,
                ),
            )
            self._log_event(connection, job)
        return job

    def get(self, job_id: str, *, peer: str | None = None) -> Job:
        """This node's record of job ``job_id``; with ``peer``, only if ``peer`` takes part in it.

        NotFoundError otherwise, worded the same whether the job is missing or not ``peer``'s.
        """
        with self._store.transaction() as connection:
            return self._require(connection, job_id, peer=peer)

    def jobs(self, *, role: JobRole | None = None, state: JobState | None = None) -> list[Job]:
        """This node's jobs, oldest first, optionally only those in ``role`` or ``state``."""
        query, parameters = f"SELECT {_COLUMNS} FROM jobs", []
        conditions = []
        if role is not None:
            conditions.append("role = ?")
            parameters.append(JobRole(role).value)
        if state is not None:
            conditions.append("state = ?")
            parameters.append(JobState(state).value)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        with self._store.transaction() as connection:
            rows = connection.execute(query + " ORDER BY created_at_us, id", parameters).fetchall()
        return [_job(row) for row in rows]

    def move(
        self,
        job_id: str,
        target: JobState,
        reason: str = "",
        *,
        result: Mapping[str, Any] | None = None,
    ) -> Job:
        """Move a job to ``target`` (StateTransitionError, changing nothing, if it may not)."""
        with self._store.transaction() as connection:
            job = self._require(connection, job_id)
            check_transition(job_id, job.state, target)
            return self._move(connection, job, target, reason, result=result)

    def end(self, job_id: str, target: JobState, reason: str) -> Job:
        """Move a job to a final state unless it is final already; the job as it stands."""
        if not JobState(target).is_final:
            raise StateTransitionError(f"end() takes a final state, not {target}")
        with self._store.transaction() as connection:
            job = self._require(connection, job_id)
            if job.is_final:
                return job
            return self._move(connection, job, target, reason)

    def watch(self, job_id: str, *, timeout: float) -> Iterator[JobStatus]:
        """The job's status now and each time it changes, until it ends or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            status = self.get(job_id).status
            if status != last:
                yield status
                last = status
            if status.state.is_final or time.monotonic() > deadline:
                return
            time.sleep(WATCH_PERIOD_SECONDS)

    def purge_expired(self, now: dt.datetime | None = None) -> list[Job]:
        """Delete the results this node received whose agreement asked for their deletion
        by now (a ``delete`` duty): the job keeps its record, the result only when and that
        it was deleted, with an audit entry."""
        now = _now() if now is None else now
        purged = []
        with self._store.transaction() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE role = ? AND result LIKE ?",
                (JobRole.REQUESTER.value, '%"delete_by"%'),
            ).fetchall()
            for job in map(_job, rows):
                deadline = dt.datetime.fromisoformat((job.result or {})["delete_by"])
                if deadline > now:
                    continue
                due = f"{deadline:%Y-%m-%d %H:%M} UTC"
                reason = f"result deleted, as the agreement asks (delete by {due})"
                tombstone = {"deleted_at": now.isoformat(), "delete_by": deadline.isoformat()}
                purged.append(self._move(connection, job, job.state, reason, result=tombstone))
        return purged

    def fail_interrupted(self, reason: str) -> list[Job]:
        """End every provider job that was computing when this node's daemon stopped: its
        state in memory is gone, so it can only fail (its use stays spent)."""
        with self._store.transaction() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE role = ? AND state = ?",
                (JobRole.PROVIDER.value, JobState.RUNNING.value),
            ).fetchall()
            return [self._move(connection, _job(row), JobState.FAILED, reason) for row in rows]

    def progress(self, job_id: str, stage: str, done: int, total: int) -> None:
        """Record how far the job's current stage is."""
        with self._store.transaction() as connection:
            connection.execute(
                "UPDATE jobs SET stage = ?, done = ?, total = ?, updated_at_us = ? WHERE id = ?",
                (stage, done, total, to_microseconds(_now()), job_id),
            )

    def _move(
        self,
        connection: sqlite3.Connection,
        job: Job,
        target: JobState,
        reason: str,
        *,
        result: Mapping[str, Any] | None = None,
    ) -> Job:
        moved = dataclasses.replace(
            job,
            state=target,
            reason=_bounded(reason),
            result=job.result if result is None else dict(result),
            updated_at=_now(),
        )
        connection.execute(
            "UPDATE jobs SET state = ?, reason = ?, result = ?, updated_at_us = ? WHERE id = ?",
            (
                moved.state.value,
                moved.reason,
                None if moved.result is None else json.dumps(moved.result, sort_keys=True),
                to_microseconds(moved.updated_at),
                moved.id,
            ),
        )
        self._log_event(connection, moved)
        return moved

    def _log_event(self, connection: sqlite3.Connection, job: Job) -> None:
        data: dict[str, Any] = {
            "job": job.id,
            "kind": job.kind.value,
            "role": job.role.value,
            "consumer": job.spec.requester,
            "providers": [part.node for part in job.spec.providers],
            "agreements": [part.agreement_id for part in job.spec.providers],
            "purpose": job.spec.purpose,
            "state": job.state.value,
            "reason": job.reason,
        }
        if job.role is JobRole.PROVIDER:
            data["provider"] = self.name
        index = self._audit.append(EventKind.JOB, data, timestamp=job.updated_at)
        connection.execute(
            "INSERT INTO job_events (job_id, state, reason, audit_index, at_us) "
            "VALUES (?, ?, ?, ?, ?)",
            (job.id, job.state.value, job.reason, index, to_microseconds(job.updated_at)),
        )

    def _load(self, connection: sqlite3.Connection, job_id: str) -> Job | None:
        row = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def _require(
        self, connection: sqlite3.Connection, job_id: str, *, peer: str | None = None
    ) -> Job:
        job = self._load(connection, job_id) if isinstance(job_id, str) else None
        if job is None or (peer is not None and peer not in _parties(job.spec)):
            raise NotFoundError(
                f"{self.name} has no job {job_id!r:.80}; list them with `tds job list`"
            )
        return job


def _parties(spec: JobSpec) -> set[str]:
    return {spec.requester, *(part.node for part in spec.providers)}


def _job(row: tuple[Any, ...]) -> Job:
    job_id, role, spec, state, reason, stage, done, total, result, created, updated = row
    del job_id
    return Job(
        spec=JobSpec.from_json(spec),
        role=JobRole(role),
        state=JobState(state),
        reason=reason,
        stage=stage,
        done=done,
        total=total,
        result=None if result is None else json.loads(result),
        created_at=from_microseconds(created),
        updated_at=from_microseconds(updated),
    )
