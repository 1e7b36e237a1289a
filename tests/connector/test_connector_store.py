"""The node database and the SQLite usage state: durable, migrated, spent exactly once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tds.connector._store import SCHEMA_VERSION, Store
from tds.connector._usage import SqliteUsageState
from tds.errors import ConfigError, PolicyEvaluationError, StorageError
from tds.policy import (
    Action,
    Constraint,
    Permission,
    Policy,
    Request,
    UsageKey,
    Use,
    evaluate,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = UsageKey("hash", "permission[0]", "urn:tds:node:insurer")


def limited_policy(max_uses: int) -> Policy:
    return Policy(
        uid="urn:tds:policy:limited",
        permissions=(
            Permission(
                action=Action.AGGREGATE,
                target="urn:tds:dataset:visits",
                assignee="urn:tds:node:insurer",
                constraints=(Constraint("count", "lteq", max_uses),),
            ),
        ),
    )


def aggregate_request(at: datetime = T0) -> Request:
    return Request(
        assignee="urn:tds:node:insurer",
        action=Action.AGGREGATE,
        target="urn:tds:dataset:visits",
        time=at,
    )


def test_a_new_database_is_in_wal_mode_at_the_current_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        assert store.schema_version() == SCHEMA_VERSION
    connection = sqlite3.connect(tmp_path / "node.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_from_a_newer_tds_is_refused_and_left_alone(tmp_path: Path) -> None:
    Store(tmp_path / "node.db").close()
    connection = sqlite3.connect(tmp_path / "node.db")
    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StorageError, match="newer than this tds"):
        Store(tmp_path / "node.db")
    connection = sqlite3.connect(tmp_path / "node.db")
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_unopenable_paths_and_bad_arguments_raise_tds_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        Store(tmp_path / "missing-dir" / "node.db")
    with pytest.raises(ConfigError):
        Store(42)  # type: ignore[arg-type]
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError):
        Store(tmp_path / "garbage.db")


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.db")
    with pytest.raises(RuntimeError), store.transaction() as connection:
        connection.execute("INSERT INTO agreement_times VALUES ('h', 1)")
        raise RuntimeError("crash mid-write")
    state = SqliteUsageState(store)
    assert state.agreed_at("h") is None


def test_a_closed_store_raises_storage_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.db")
    store.close()
    with pytest.raises(StorageError):
        SqliteUsageState(store).agreed_at("h")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        state = SqliteUsageState(store)
        state.record_agreement("hash", T0)
        state.record_fulfilment(KEY)
        assert state.try_consume(KEY, lambda ledger: True, Use(T0, Decimal("0.25")))
    with Store(tmp_path / "node.db") as store:
        state = SqliteUsageState(store)
        assert state.agreed_at("hash") == T0
        assert state.is_fulfilled(KEY)
        assert not state.is_fulfilled(UsageKey("hash", "other", KEY.assignee))
        seen = []
        state.try_consume(KEY, lambda ledger: seen.append(ledger.uses) or True, None)
        assert seen == [1]


def test_the_first_agreement_time_stays(tmp_path: Path) -> None:
    state = SqliteUsageState(Store(tmp_path / "node.db"))
    state.record_agreement("hash", T0)
    state.record_agreement("hash", T0 + timedelta(days=3))
    assert state.agreed_at("hash") == T0


def test_the_ledger_counts_uses_budget_and_windows_exactly(tmp_path: Path) -> None:
    state = SqliteUsageState(Store(tmp_path / "node.db"))
    for minutes, epsilon in [(0, "0.1"), (10, "0.2"), (20, "0.3")]:
        use = Use(T0 + timedelta(minutes=minutes), Decimal(epsilon))
        state.try_consume(KEY, lambda ledger: True, use)
    seen = {}

    def look(ledger: object) -> bool:
        seen["uses"] = ledger.uses
        seen["epsilon"] = ledger.epsilon_spent
        seen["after"] = ledger.uses_after(T0 + timedelta(minutes=10))
        return False

    assert state.try_consume(KEY, look, Use(T0)) is False
    # 0.1 + 0.2 + 0.3 is exactly 0.6 in decimal, unlike in binary floating point.
    assert seen == {"uses": 3, "epsilon": Decimal("0.6"), "after": 1}
    state.try_consume(KEY, look, None)
    assert seen["uses"] == 3, "a refused check or a dry run must record nothing"


def test_naive_times_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    state = SqliteUsageState(Store(tmp_path / "node.db"))
    with pytest.raises(PolicyEvaluationError):
        state.record_agreement("hash", datetime(2026, 1, 1))
    with pytest.raises(PolicyEvaluationError):
        state.try_consume(KEY, lambda ledger: True, Use(datetime(2026, 1, 1)))
    assert state.agreed_at("hash") is None


def test_evaluate_spends_a_count_limit_once_per_use(tmp_path: Path) -> None:
    state = SqliteUsageState(Store(tmp_path / "node.db"))
    policy = limited_policy(3)
    granted = [evaluate(policy, aggregate_request(), state).permitted for _ in range(5)]
    assert granted == [True, True, True, False, False]


RACER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from tds.connector._store import Store
    from tds.connector._usage import SqliteUsageState
    from tds.policy import Action, Constraint, Permission, Policy, Request, evaluate

    policy = Policy(uid="urn:tds:policy:limited", permissions=(Permission(
        action=Action.AGGREGATE, target="urn:tds:dataset:visits",
        assignee="urn:tds:node:insurer", constraints=(Constraint("count", "lteq", 7),)),))
    request = Request(assignee="urn:tds:node:insurer", action=Action.AGGREGATE,
                      target="urn:tds:dataset:visits", time=datetime(2026, 12, 1, tzinfo=UTC))
    state = SqliteUsageState(Store(sys.argv[1]))
    print(sum(evaluate(policy, request, state).permitted for _ in range(10)))
    """
)


def test_processes_racing_for_the_last_uses_never_exceed_the_limit(tmp_path: Path) -> None:
    database = tmp_path / "node.db"
    Store(database).close()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(database)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    granted = [int(racer.communicate(timeout=120)[0]) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sum(granted) == 7


def test_a_nested_transaction_is_undone_alone_and_committed_with_the_outer(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "node.db")
    with store.transaction() as connection:
        connection.execute("INSERT INTO fulfilments VALUES ('p', 'r', 'kept')")
        with pytest.raises(RuntimeError), store.transaction() as inner:
            inner.execute("INSERT INTO fulfilments VALUES ('p', 'r', 'undone')")
            raise RuntimeError("inner step failed")
        with store.transaction() as inner:
            inner.execute("INSERT INTO fulfilments VALUES ('p', 'r', 'nested')")
    with store.transaction() as connection:
        rows = connection.execute("SELECT assignee FROM fulfilments ORDER BY assignee").fetchall()
    assert rows == [("kept",), ("nested",)]


def test_an_outer_failure_undoes_its_nested_transactions(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.db")
    with pytest.raises(RuntimeError), store.transaction() as connection:
        with store.transaction() as inner:
            inner.execute("INSERT INTO fulfilments VALUES ('p', 'r', 'a')")
        connection.execute("INSERT INTO fulfilments VALUES ('p', 'r', 'b')")
        raise RuntimeError("outer failed")
    with store.transaction() as connection:
        assert connection.execute("SELECT count(*) FROM fulfilments").fetchone()[0] == 0
