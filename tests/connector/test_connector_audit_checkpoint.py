"""Signed checkpoints and the witness that remembers them and refuses rewrites."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.connector._audit import (
    AuditLog,
    Checkpoint,
    CheckpointWitness,
    EventKind,
    InMemoryAuditStore,
)
from tds.connector._merkle import EMPTY_ROOT
from tds.errors import (
    AuditProofError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotFoundError,
)

WHEN = datetime(2025, 3, 1, 12, 30, 0, 250000, tzinfo=UTC)
P256_KEY = ec.generate_private_key(ec.SECP256R1())
ED25519_KEY = ed25519.Ed25519PrivateKey.generate()
KEYS = {"ecdsa-p256-sha256": P256_KEY, "ed25519": ED25519_KEY}


def _log(origin: str = "node-a", size: int = 0, label: str = "job") -> AuditLog:
    log = AuditLog(InMemoryAuditStore(), origin)
    _grow(log, size, label)
    return log


def _grow(log: AuditLog, count: int, label: str = "job") -> None:
    for i in range(count):
        log.append(EventKind.JOB, {"job": f"{label}-{log.size}", "i": i}, timestamp=WHEN)


# --- Checkpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(KEYS))
def test_a_checkpoint_signs_the_log_size_and_root(algorithm: str) -> None:
    log = _log(size=5)
    key = KEYS[algorithm]
    checkpoint = log.checkpoint(key, timestamp=WHEN)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == ("node-a", 5, log.root())
    assert checkpoint.algorithm == algorithm
    assert checkpoint.timestamp == WHEN
    checkpoint.verify(key.public_key())


@pytest.mark.parametrize("algorithm", sorted(KEYS))
def test_a_checkpoint_reads_back_equal(algorithm: str) -> None:
    checkpoint = _log(size=3).checkpoint(KEYS[algorithm], timestamp=WHEN)
    again = Checkpoint.from_bytes(checkpoint.to_bytes())
    assert again == checkpoint
    again.verify(KEYS[algorithm].public_key())


def test_the_checkpoint_format_is_canonical_json() -> None:
    checkpoint = _log(size=2).checkpoint(ED25519_KEY, timestamp=WHEN)
    document = json.loads(checkpoint.to_bytes())
    assert document == {
        "algorithm": "ed25519",
        "origin": "node-a",
        "root": checkpoint.root.hex(),
        "signature": checkpoint.signature.hex(),
        "size": 2,
        "timestamp": "2025-03-01T12:30:00.250000Z",
        "version": 1,
    }
    assert (
        checkpoint.to_bytes()
        == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    )
    del document["signature"]
    assert (
        checkpoint.signed_bytes()
        == b"tds-audit-checkpoint/v1\n"
        + json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    )


def test_an_empty_log_can_be_checkpointed() -> None:
    checkpoint = _log().checkpoint(P256_KEY)
    assert (checkpoint.size, checkpoint.root) == (0, EMPTY_ROOT)
    checkpoint.verify(P256_KEY.public_key())


@pytest.mark.parametrize("algorithm", sorted(KEYS))
@pytest.mark.parametrize(
    "change",
    [
        {"size": 6},
        {"root": bytes(32)},
        {"origin": "node-b"},
        {"timestamp": WHEN + timedelta(microseconds=1)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_an_altered_checkpoint_fails_verification(algorithm: str, change: dict) -> None:
    checkpoint = _log(size=5).checkpoint(KEYS[algorithm], timestamp=WHEN)
    altered = dataclasses.replace(checkpoint, **change)
    with pytest.raises(AuthenticationError, match="bad signature"):
        altered.verify(KEYS[algorithm].public_key())


@pytest.mark.parametrize("algorithm", sorted(KEYS))
def test_another_nodes_key_fails_verification(algorithm: str) -> None:
    checkpoint = _log(size=1).checkpoint(KEYS[algorithm])
    other = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm.startswith("ecdsa")
        else ed25519.Ed25519PrivateKey.generate()
    )
    with pytest.raises(AuthenticationError, match="bad signature"):
        checkpoint.verify(other.public_key())


def test_a_key_of_the_other_algorithm_fails_verification() -> None:
    checkpoint = _log(size=1).checkpoint(ED25519_KEY)
    with pytest.raises(AuthenticationError, match="signed with ed25519"):
        checkpoint.verify(P256_KEY.public_key())


def test_a_garbled_ecdsa_signature_fails_verification() -> None:
    checkpoint = _log(size=1).checkpoint(P256_KEY)
    garbled = dataclasses.replace(checkpoint, signature=b"\x30\x01\x00")
    with pytest.raises(AuthenticationError, match="bad signature"):
        garbled.verify(P256_KEY.public_key())


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        b"-----BEGIN PRIVATE KEY-----",
        ED25519_KEY.public_key(),
    ],
    ids=["p384", "rsa", "pem-bytes", "public-key"],
)
def test_only_p256_and_ed25519_private_keys_sign(key: object) -> None:
    log = _log(size=1)
    with pytest.raises(ConfigError, match="ECDSA P-256 or Ed25519 private key"):
        log.checkpoint(key)


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP384R1()).public_key(), P256_KEY, None],
    ids=["p384", "private-key", "none"],
)
def test_only_p256_and_ed25519_public_keys_verify(key: object) -> None:
    checkpoint = _log(size=1).checkpoint(P256_KEY)
    with pytest.raises(ConfigError, match="ECDSA P-256 or Ed25519 public key"):
        checkpoint.verify(key)


GOOD = _log(size=3).checkpoint(P256_KEY, timestamp=WHEN)
GOOD_DOCUMENT = json.loads(GOOD.to_bytes())


def _encode(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _with(**changes: object) -> bytes:
    return _encode({**GOOD_DOCUMENT, **changes})


def _without(key: str) -> bytes:
    return _encode({k: v for k, v in GOOD_DOCUMENT.items() if k != key})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (GOOD.to_bytes().replace(b",", b", "), "not in canonical form"),
        (_with(version=2), "format version 2"),
        (_without("signature"), r"missing keys \['signature'\]"),
        (_encode({**GOOD_DOCUMENT, "extra": 1}), r"unexpected keys \['extra'\]"),
        (_with(root=GOOD_DOCUMENT["root"].upper()), "lowercase hex"),
        (_with(root=GOOD_DOCUMENT["root"][:-2]), "root must be 32 bytes"),
        (_with(root="zz" * 32), "lowercase hex"),
        (_with(signature=""), "non-empty bytes"),
        (_with(signature="abc"), "lowercase hex"),
        (_with(size=-1), "must not be negative"),
        (_with(size=True), "must be an int"),
        (_with(size="3"), "must be an int"),
        (_with(size=0), "empty log must carry the empty tree's root"),
        (_with(origin=""), "1 to 255 characters"),
        (_with(origin=7), "must be a string"),
        (_with(origin="a\u0000b"), "printable"),
        (_with(algorithm="rsa"), "unknown checkpoint signature algorithm 'rsa'"),
        (_with(timestamp="2025-03-01T12:30:00+00:00"), "YYYY-MM-DDTHH:MM:SS.ffffffZ"),
        (_with(timestamp="2025-13-01T12:30:00.000000Z"), "not a real date"),
        (b"[]", "must be a JSON object"),
        (b"{", "not valid UTF-8 JSON"),
        (b" " * 5000, "over the 4096-byte limit"),
        (GOOD.to_bytes().decode(), "must be bytes, not str"),
    ],
)
def test_malformed_checkpoints_are_refused(data: object, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        Checkpoint.from_bytes(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_altered_byte_of_a_checkpoint_is_refused_or_fails_verification(
    data: st.DataObject,
) -> None:
    encoded = bytearray(GOOD.to_bytes())
    position = data.draw(st.integers(0, len(encoded) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != encoded[position]))
    encoded[position] = replacement
    with pytest.raises((DecodeError, AuthenticationError)):
        Checkpoint.from_bytes(bytes(encoded)).verify(P256_KEY.public_key())


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(DecodeError, match="timezone-aware"):
        _log(size=1).checkpoint(P256_KEY, timestamp=datetime(2025, 1, 1))


# --- The witness --------------------------------------------------------------------------


def _seen(log: AuditLog, key=P256_KEY) -> CheckpointWitness:
    witness = CheckpointWitness()
    witness.update(log.origin, log.checkpoint(key), key.public_key())
    return witness


def test_the_first_checkpoint_of_a_peer_is_trusted_on_first_use() -> None:
    log = _log(size=4)
    witness = CheckpointWitness()
    assert witness.last("node-a") is None
    checkpoint = log.checkpoint(P256_KEY)
    witness.update("node-a", checkpoint, P256_KEY.public_key())
    assert witness.last("node-a") == checkpoint
    assert witness.peers() == ["node-a"]


@pytest.mark.parametrize(("old", "new"), [(0, 1), (1, 2), (3, 8), (4, 9), (7, 7), (5, 31)])
def test_a_grown_log_with_a_consistency_proof_is_accepted(old: int, new: int) -> None:
    log = _log(size=old)
    witness = _seen(log)
    _grow(log, new - old)
    checkpoint = log.checkpoint(P256_KEY)
    witness.update("node-a", checkpoint, P256_KEY.public_key(), log.consistency_proof(old))
    assert witness.last("node-a") == checkpoint


def test_a_shrunk_log_is_a_rewrite() -> None:
    log = _log(size=5)
    witness = _seen(log)
    before = witness.last("node-a")
    shorter = _log(size=3).checkpoint(P256_KEY)
    with pytest.raises(AuditProofError, match="shrank from 5 to 3"):
        witness.update("node-a", shorter, P256_KEY.public_key())
    assert witness.last("node-a") == before


def test_another_root_at_the_same_size_is_a_rewrite() -> None:
    witness = _seen(_log(size=5))
    fork = _log(size=5, label="forged").checkpoint(P256_KEY)
    with pytest.raises(AuditProofError, match="was rewritten"):
        witness.update("node-a", fork, P256_KEY.public_key())


def test_a_rewritten_history_cannot_prove_consistency() -> None:
    witness = _seen(_log(size=6))
    rewritten = _log(size=9, label="forged")
    checkpoint = rewritten.checkpoint(P256_KEY)
    with pytest.raises(AuditProofError, match="does not extend the one seen at 6"):
        witness.update("node-a", checkpoint, P256_KEY.public_key(), rewritten.consistency_proof(6))
    assert witness.last("node-a").size == 6


@pytest.mark.parametrize(
    "proof",
    [[], [bytes(32)], [b"short"], "not a list"],
    ids=["empty", "wrong-length", "bad-hash", "not-a-list"],
)
def test_a_malformed_consistency_proof_is_refused(proof: object) -> None:
    log = _log(size=3)
    witness = _seen(log)
    _grow(log, 3)
    error = DecodeError if isinstance(proof, str) else AuditProofError
    with pytest.raises(error):
        witness.update("node-a", log.checkpoint(P256_KEY), P256_KEY.public_key(), proof)
    assert witness.last("node-a").size == 3


def test_a_checkpoint_with_a_bad_signature_changes_nothing() -> None:
    log = _log(size=2)
    witness = _seen(log)
    before = witness.last("node-a")
    _grow(log, 2)
    forged = dataclasses.replace(log.checkpoint(P256_KEY), size=3)
    with pytest.raises(AuthenticationError, match="bad signature"):
        witness.update("node-a", forged, P256_KEY.public_key(), log.consistency_proof(2, 3))
    assert witness.last("node-a") == before


def test_a_peer_may_only_vouch_for_its_own_log() -> None:
    witness = CheckpointWitness()
    with pytest.raises(AuthenticationError, match="only vouch for its own log"):
        witness.update("node-b", _log(size=1).checkpoint(P256_KEY), P256_KEY.public_key())
    assert witness.peers() == []


def test_a_first_checkpoint_takes_no_proof() -> None:
    with pytest.raises(DecodeError, match="nothing to prove consistency with"):
        CheckpointWitness().update(
            "node-a", _log(size=1).checkpoint(P256_KEY), P256_KEY.public_key(), [bytes(32)]
        )


def test_update_wants_a_checkpoint() -> None:
    with pytest.raises(DecodeError, match="expected a Checkpoint"):
        CheckpointWitness().update("node-a", GOOD.to_bytes(), P256_KEY.public_key())


def test_the_same_tree_later_keeps_the_newer_checkpoint() -> None:
    log = _log(size=2)
    witness = CheckpointWitness()
    early = log.checkpoint(P256_KEY, timestamp=WHEN)
    late = log.checkpoint(P256_KEY, timestamp=WHEN + timedelta(hours=1))
    witness.update("node-a", late, P256_KEY.public_key())
    witness.update("node-a", early, P256_KEY.public_key())
    assert witness.last("node-a") == late


def test_a_rewrite_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    witness = _seen(_log(size=5))
    with (
        caplog.at_level(logging.WARNING, logger="tds.connector.audit"),
        pytest.raises(AuditProofError),
    ):
        witness.update("node-a", _log(size=4).checkpoint(P256_KEY), P256_KEY.public_key())
    assert [record.name for record in caplog.records] == ["tds.connector.audit"]
    assert "node-a" in caplog.records[0].getMessage()


def test_forgetting_a_peer_trusts_its_next_checkpoint_again() -> None:
    witness = _seen(_log(size=5))
    witness.forget("node-a")
    assert witness.last("node-a") is None
    witness.update("node-a", _log(size=1).checkpoint(P256_KEY), P256_KEY.public_key())
    with pytest.raises(NotFoundError, match="node-z"):
        witness.forget("node-z")


def test_the_witness_state_survives_a_round_trip_through_json() -> None:
    log_a, log_b = _log("node-a", size=3), _log("node-b", size=1)
    witness = _seen(log_a)
    witness.update("node-b", log_b.checkpoint(ED25519_KEY), ED25519_KEY.public_key())
    reloaded = CheckpointWitness.from_json(witness.to_json())
    assert reloaded.peers() == ["node-a", "node-b"]
    assert reloaded.last("node-a") == witness.last("node-a")
    assert reloaded.last("node-b") == witness.last("node-b")
    assert CheckpointWitness.from_json(witness.to_json().encode()).to_json() == witness.to_json()
    # It keeps guarding after the reload.
    with pytest.raises(AuditProofError):
        reloaded.update("node-a", _log(size=2).checkpoint(P256_KEY), P256_KEY.public_key())


WITNESS_STATE = json.loads(_seen(_log(size=3)).to_json())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid UTF-8 JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps({**WITNESS_STATE, "version": 3}), "format version 3"),
        (json.dumps({"version": 1}), r"missing keys \['checkpoints'\]"),
        (json.dumps({"version": 1, "checkpoints": []}), "'checkpoints' must be an object"),
        (
            json.dumps(
                {"version": 1, "checkpoints": {"node-b": WITNESS_STATE["checkpoints"]["node-a"]}}
            ),
            "kept for 'node-b' is of the log 'node-a'",
        ),
        (
            json.dumps({"version": 1, "checkpoints": {"node-a": {"size": 1}}}),
            "checkpoint has missing keys",
        ),
        ('{"version": 1, "version": 1, "checkpoints": {}}', "duplicate key"),
        ("\ud800", "not valid UTF-8 JSON"),
        (None, "must be bytes"),
    ],
)
def test_malformed_witness_state_is_refused(text: object, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        CheckpointWitness.from_json(text)


# --- Two nodes completing an agreement ----------------------------------------------------


def test_agreeing_nodes_pin_each_others_history() -> None:
    key_a, key_b = P256_KEY, ED25519_KEY
    log_a, log_b = _log("node-a", size=4), _log("node-b", size=2)
    witness_a, witness_b = CheckpointWitness(), CheckpointWitness()

    # On completing an agreement each node verifies the other's checkpoint and records it.
    checkpoint_a, checkpoint_b = log_a.checkpoint(key_a), log_b.checkpoint(key_b)
    witness_b.update("node-a", checkpoint_a, key_a.public_key())
    witness_a.update("node-b", checkpoint_b, key_b.public_key())
    log_b.record_peer_checkpoint(checkpoint_a)
    log_a.record_peer_checkpoint(checkpoint_b)
    recorded = log_b.entry(log_b.size - 1)
    assert recorded.kind is EventKind.PEER_CHECKPOINT
    assert Checkpoint.from_bytes(_encode(recorded.data["checkpoint"])) == checkpoint_a

    # node-a later rebuilds its log with one entry changed, and grows it past the old size.
    rewritten = _log("node-a", size=3)
    rewritten.append(EventKind.JOB, {"job": "quietly-changed"}, timestamp=WHEN)
    _grow(rewritten, 4)
    with pytest.raises(AuditProofError, match="peer 'node-a' was rewritten"):
        witness_b.update(
            "node-a",
            rewritten.checkpoint(key_a),
            key_a.public_key(),
            rewritten.consistency_proof(checkpoint_a.size),
        )


@pytest.mark.parametrize("peer", [["node-a"], None, b"node-a"])
def test_peers_are_named_by_strings(peer: object) -> None:
    witness = _seen(_log(size=1))
    with pytest.raises(DecodeError, match="peer name must be a string"):
        witness.last(peer)
    with pytest.raises(DecodeError, match="peer name must be a string"):
        witness.forget(peer)
    with pytest.raises(DecodeError, match="peer name must be a string"):
        witness.update(peer, witness.last("node-a"), P256_KEY.public_key())
