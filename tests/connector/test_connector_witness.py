"""The witness kept in the node database: peers' checkpoints, in whatever order they arrive."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tds.connector import AuditLog, EventKind, InMemoryAuditStore
from tds.connector._store import Store
from tds.connector._witness import StoredWitness
from tds.errors import AuditProofError, AuthenticationError

KEY = ec.generate_private_key(ec.SECP256R1())


def _log(entries: int, origin: str = "hospital") -> AuditLog:
    log = AuditLog(InMemoryAuditStore(), origin=origin)
    for index in range(entries):
        log.append(EventKind.JOB, {"job": index})
    return log


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[StoredWitness]:
    with Store(tmp_path / "node.db") as store:
        yield StoredWitness(store)


def test_a_newer_checkpoint_moves_the_witness_with_the_peers_proof(
    witness: StoredWitness,
) -> None:
    log = _log(3)
    first = log.checkpoint(KEY)
    assert witness.advance("hospital", first, KEY.public_key(), log.consistency_proof) is None
    log.append(EventKind.JOB, {"job": "more"})
    second = log.checkpoint(KEY)
    asked: list[tuple[int, int]] = []

    def proof(old: int, new: int) -> list[bytes]:
        asked.append((old, new))
        return log.consistency_proof(old, new)

    assert witness.advance("hospital", second, KEY.public_key(), proof) == first
    assert asked == [(3, 4)]
    assert witness.last("hospital") == second


def test_an_older_checkpoint_overtaken_on_the_way_is_checked_but_moves_nothing(
    witness: StoredWitness,
) -> None:
    log = _log(3)
    older = log.checkpoint(KEY)
    for index in range(5):
        log.append(EventKind.JOB, {"job": f"later-{index}"})
    newer = log.checkpoint(KEY)
    witness.advance("hospital", newer, KEY.public_key(), log.consistency_proof)
    assert witness.advance("hospital", older, KEY.public_key(), log.consistency_proof) == newer
    assert witness.last("hospital") == newer


def test_an_older_checkpoint_of_another_history_is_a_rewrite(witness: StoredWitness) -> None:
    log = _log(8)
    witness.advance("hospital", log.checkpoint(KEY), KEY.public_key(), log.consistency_proof)
    forked = _log(3)
    forked.append(EventKind.JOB, {"job": "forged"})
    with pytest.raises(AuditProofError):
        witness.advance("hospital", forked.checkpoint(KEY), KEY.public_key(), log.consistency_proof)


def test_a_newer_checkpoint_that_rewrites_history_is_refused_and_remembered_not(
    witness: StoredWitness,
) -> None:
    log = _log(3)
    first = log.checkpoint(KEY)
    witness.advance("hospital", first, KEY.public_key(), log.consistency_proof)
    rewritten = _log(2)
    for index in range(4):
        rewritten.append(EventKind.JOB, {"job": f"other-{index}"})
    with pytest.raises(AuditProofError):
        witness.advance(
            "hospital", rewritten.checkpoint(KEY), KEY.public_key(), rewritten.consistency_proof
        )
    assert witness.last("hospital") == first


def test_a_checkpoint_of_another_log_or_key_is_refused(witness: StoredWitness) -> None:
    log = _log(2, origin="lab")
    with pytest.raises(AuthenticationError, match="only vouch for its own log"):
        witness.advance("hospital", log.checkpoint(KEY), KEY.public_key(), log.consistency_proof)
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(AuthenticationError):
        witness.advance(
            "hospital", _log(2).checkpoint(KEY), other_key.public_key(), log.consistency_proof
        )
    assert witness.last("hospital") is None


def test_concurrent_checkpoints_in_any_order_leave_the_newest(witness: StoredWitness) -> None:
    log = _log(1)
    checkpoints = []
    for index in range(30):
        log.append(EventKind.JOB, {"job": f"step-{index}"})
        checkpoints.append(log.checkpoint(KEY))
    shuffled = checkpoints[1::2] + checkpoints[::2][::-1]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda c: witness.advance("hospital", c, KEY.public_key(), log.consistency_proof),
                shuffled,
            )
        )
    assert witness.last("hospital") == checkpoints[-1]
