"""The node's database: one SQLite file in WAL mode, with a schema version and migrations.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so a crash leaves either the whole
record or none of it, and two processes sharing the file never interleave a check with the
write that depends on it. A transaction opened inside another one is a savepoint of it, so a
negotiation step and the audit entry that records it commit together or not at all.
``synchronous=FULL`` makes an acknowledged commit survive a power cut, not only a crash of the
process.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tds.errors import ConfigError, StorageError

__all__ = ["SCHEMA_VERSION", "Store", "from_microseconds", "to_microseconds"]

_log = logging.getLogger("tds.connector.store")

# Each entry upgrades the schema from its index to index + 1; entries are never edited once
# released, only appended.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE agreement_times (
        content_hash TEXT PRIMARY KEY,
        agreed_at_us INTEGER NOT NULL
    );
    CREATE TABLE fulfilments (
        policy TEXT NOT NULL,
        rule TEXT NOT NULL,
        assignee TEXT NOT NULL,
        PRIMARY KEY (policy, rule, assignee)
    );
    CREATE TABLE uses (
        id INTEGER PRIMARY KEY,
        policy TEXT NOT NULL,
        rule TEXT NOT NULL,
        assignee TEXT NOT NULL,
        time_us INTEGER NOT NULL,
        epsilon TEXT NOT NULL
    );
    CREATE INDEX uses_by_key ON uses (policy, rule, assignee, time_us);
    CREATE TABLE audit_entry (
        idx INTEGER PRIMARY KEY,
        leaf_hash BLOB NOT NULL,
        entry BLOB NOT NULL
    );
    CREATE TABLE audit_node (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    );
    """,
    """
    CREATE TABLE witness (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL
    );
    CREATE TABLE replies (
        peer TEXT NOT NULL,
        method TEXT NOT NULL,
        message_id TEXT NOT NULL,
        reply BLOB NOT NULL,
        created_at_us INTEGER NOT NULL,
        PRIMARY KEY (peer, method, message_id)
    );
    """,
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        published_at_us INTEGER NOT NULL,
        withdrawn_at_us INTEGER
    );
    """,
    """
    CREATE TABLE negotiations (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        peer TEXT NOT NULL,
        dataset_id TEXT NOT NULL,
        state TEXT NOT NULL,
        policy TEXT NOT NULL,
        reason TEXT NOT NULL,
        agreement_id TEXT UNIQUE,
        counter_offered INTEGER NOT NULL,
        created_at_us INTEGER NOT NULL,
        updated_at_us INTEGER NOT NULL
    );
    CREATE INDEX negotiations_by_age ON negotiations (created_at_us);
    CREATE TABLE negotiation_events (
        id INTEGER PRIMARY KEY,
        negotiation_id TEXT NOT NULL REFERENCES negotiations (id),
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        policy_hash TEXT NOT NULL,
        audit_index INTEGER NOT NULL,
        at_us INTEGER NOT NULL
    );
    CREATE INDEX negotiation_events_by_negotiation ON negotiation_events (negotiation_id, id);
    CREATE TABLE agreements (
        id TEXT PRIMARY KEY,
        negotiation_id TEXT NOT NULL UNIQUE REFERENCES negotiations (id),
        peer TEXT NOT NULL,
        document TEXT NOT NULL,
        agreed_at_us INTEGER NOT NULL,
        finalized_at_us INTEGER
    );
    """,
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        kind TEXT NOT NULL,
        requester TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        stage TEXT NOT NULL,
        done INTEGER NOT NULL,
        total INTEGER NOT NULL,
        result TEXT,
        created_at_us INTEGER NOT NULL,
        updated_at_us INTEGER NOT NULL
    );
    CREATE INDEX jobs_by_state ON jobs (state, role);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs (id),
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        audit_index INTEGER NOT NULL,
        at_us INTEGER NOT NULL
    );
    CREATE INDEX job_events_by_job ON job_events (job_id, id);
    ALTER TABLE uses ADD COLUMN job_id TEXT;
    CREATE UNIQUE INDEX uses_by_job ON uses (job_id) WHERE job_id IS NOT NULL;
    """,
    """
    CREATE TABLE violations (
        policy TEXT NOT NULL,
        rule TEXT NOT NULL,
        assignee TEXT NOT NULL,
        PRIMARY KEY (policy, rule, assignee)
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_BUSY_TIMEOUT_MS = 10_000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_microseconds(instant: dt.datetime) -> int:
    """How the database stores an instant: microseconds since the Unix epoch."""
    return (instant - _EPOCH) // dt.timedelta(microseconds=1)


def from_microseconds(microseconds: int) -> dt.datetime:
    """An instant as the database stores it, back as an aware UTC datetime."""
    return _EPOCH + dt.timedelta(microseconds=microseconds)


class Store:
    """A node's SQLite database at ``path``, created and migrated on open.

    Thread-safe: one connection, used by one thread at a time. Several processes may open the
    same file; SQLite's locks serialize their transactions.
    """

    def __init__(self, path: str | Path) -> None:
        if not isinstance(path, str | Path):
            raise ConfigError(f"the database path must be a str or Path, not {type(path).__name__}")
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise StorageError(f"cannot open the node database {self.path}: {error}") from None
        try:
            self._configure()
            self._migrate()
        except BaseException:
            self._connection.close()
            raise

    def _configure(self) -> None:
        with self._mapped_errors("configure"):
            mode = self._connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StorageError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute("PRAGMA foreign_keys=ON")
            self._connection.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")

    def _migrate(self) -> None:
        with self.transaction() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} has schema version {version}, newer than this tds "
                    f"({SCHEMA_VERSION}): upgrade tds, or restore a backup"
                )
            for target, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                # executescript would commit the open transaction; run statement by statement.
                for statement in filter(str.strip, script.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version={target}")
                _log.info("migrated %s to schema version %d", self.path, target)

    @property
    def lock(self) -> threading.RLock:
        """The lock every transaction holds; code that must not interleave with one takes it."""
        return self._lock

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error.

        Inside another transaction of the same thread it is a savepoint: its changes are undone
        on error, and committed with the outer transaction.
        """
        with self._lock, self._mapped_errors("transaction"):
            connection = self._connection
            savepoint = f"nested_{self._depth}"
            begin, commit, rollback = (
                ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
                if self._depth == 0
                else (
                    f"SAVEPOINT {savepoint}",
                    f"RELEASE {savepoint}",
                    f"ROLLBACK TO {savepoint}; RELEASE {savepoint}",
                )
            )
            connection.execute(begin)
            self._depth += 1
            try:
                yield connection
            except BaseException:
                self._depth -= 1
                for statement in rollback.split("; "):
                    connection.execute(statement)
                raise
            self._depth -= 1
            connection.execute(commit)

    @contextmanager
    def _mapped_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise StorageError(f"{self.path}: {what} failed: {error}") from None

    def schema_version(self) -> int:
        with self._lock, self._mapped_errors("read the schema version"):
            return self._connection.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close the database; later calls raise StorageError."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
