"""The usage state of ``tds.policy`` kept in the node's database.

``try_consume`` reads the ledger and records the use inside one ``BEGIN IMMEDIATE``
transaction: while it runs, no other thread or process can spend from the same database, so
``count``, ``rate`` and ``dpEpsilon`` are spent exactly once, however many requests race.

A state made for one job (``job_id``) tags the use it records with the job, which the database
accepts once per job, and reads every ledger without that use: the check before a job's result
is released then sees the limits as the job's start saw them, and the job is charged once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tds.connector._store import Store
from tds.errors import PolicyEvaluationError
from tds.policy import UsageKey, UsageLedger, UsageState, Use

__all__ = ["SqliteUsageState"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(instant: datetime, what: str) -> int:
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise PolicyEvaluationError(f"{what} must be a timezone-aware datetime, got {instant!r}")
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _instant(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


class _Ledger:
    """One key's uses, read inside the caller's open transaction."""

    _WHERE = "policy = ? AND rule = ? AND assignee = ? AND job_id IS NOT ?"

    def __init__(self, connection: sqlite3.Connection, key: UsageKey, job_id: str | None) -> None:
        self._connection = connection
        # ``IS NOT`` is null-safe, and no job has the empty id: without a job every use counts.
        self._where = (key.policy, key.rule, key.assignee, job_id or "")

    @property
    def uses(self) -> int:
        return self._connection.execute(
            f"SELECT count(*) FROM uses WHERE {self._WHERE}", self._where
        ).fetchone()[0]

    @property
    def epsilon_spent(self) -> Decimal:
        # Summed as Decimal here: SQLite would add the texts as binary floats.
        rows = self._connection.execute(
            f"SELECT epsilon FROM uses WHERE {self._WHERE}", self._where
        )
        return sum((Decimal(epsilon) for (epsilon,) in rows), Decimal(0))

    def uses_after(self, instant: datetime) -> int:
        return self._connection.execute(
            f"SELECT count(*) FROM uses WHERE {self._WHERE} AND time_us > ?",
            (*self._where, _microseconds(instant, "instant")),
        ).fetchone()[0]


class SqliteUsageState(UsageState):
    """Counters, budgets, agreement times and fulfilled duties in a node's :class:`Store`.

    With ``job_id``, the state of one job: see the module docstring.
    """

    def __init__(self, store: Store, *, job_id: str | None = None) -> None:
        self._store = store
        self._job_id = job_id

    def for_job(self, job_id: str) -> SqliteUsageState:
        """The same database, as the state of job ``job_id``."""
        return SqliteUsageState(self._store, job_id=job_id)

    def charged(self, job_id: str) -> bool:
        """Whether job ``job_id`` has spent a use."""
        with self._store.transaction() as connection:
            row = connection.execute("SELECT 1 FROM uses WHERE job_id = ?", (job_id,)).fetchone()
        return row is not None

    def refund(self, job_id: str) -> bool:
        """Take back the use job ``job_id`` spent; whether it had spent one."""
        with self._store.transaction() as connection:
            deleted = connection.execute("DELETE FROM uses WHERE job_id = ?", (job_id,))
            return deleted.rowcount > 0

    def record_agreement(self, content_hash: str, at: datetime) -> None:
        """Record when the policy with this content hash was agreed (the first record stays)."""
        agreed = _microseconds(at, "agreement time")
        with self._store.transaction() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO agreement_times VALUES (?, ?)", (content_hash, agreed)
            )

    def record_fulfilment(self, duty: UsageKey) -> None:
        """Record that a duty which must precede use (such as obtaining consent) is fulfilled."""
        self._mark("fulfilments", duty)

    def record_violation(self, duty: UsageKey) -> None:
        """Record that a duty owed after the use (compensate) was violated."""
        self._mark("violations", duty)

    def agreed_at(self, content_hash: str) -> datetime | None:
        with self._store.transaction() as connection:
            row = connection.execute(
                "SELECT agreed_at_us FROM agreement_times WHERE content_hash = ?", (content_hash,)
            ).fetchone()
        return None if row is None else _instant(row[0])

    def is_fulfilled(self, duty: UsageKey) -> bool:
        return self._marked("fulfilments", duty)

    def is_violated(self, duty: UsageKey) -> bool:
        return self._marked("violations", duty)

    # Duties recorded as fulfilled or violated: tables of (policy, rule, assignee).
    _DUTY_TABLES = frozenset({"fulfilments", "violations"})

    def _mark(self, table: str, duty: UsageKey) -> None:
        assert table in self._DUTY_TABLES  # a fixed name, never input, in the SQL text
        with self._store.transaction() as connection:
            connection.execute(
                f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?)",
                (duty.policy, duty.rule, duty.assignee),
            )

    def _marked(self, table: str, duty: UsageKey) -> bool:
        assert table in self._DUTY_TABLES
        with self._store.transaction() as connection:
            row = connection.execute(
                f"SELECT 1 FROM {table} WHERE policy = ? AND rule = ? AND assignee = ?",
                (duty.policy, duty.rule, duty.assignee),
            ).fetchone()
        return row is not None

    def try_consume(
        self, key: UsageKey, check: Callable[[UsageLedger], bool], use: Use | None
    ) -> bool:
        time_us = None if use is None else _microseconds(use.time, "use time")
        with self._store.transaction() as connection:
            if not check(_Ledger(connection, key, self._job_id)):
                return False
            if use is not None:
                connection.execute(
                    "INSERT INTO uses (policy, rule, assignee, time_us, epsilon, job_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key.policy, key.rule, key.assignee, time_us, str(use.epsilon), self._job_id),
                )
            return True
