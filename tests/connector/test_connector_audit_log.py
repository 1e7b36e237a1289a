"""The audit log: canonical entries, the subtree store, roots and proofs, bad input."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.connector._audit import (
    AuditEntry,
    AuditLog,
    EventKind,
    InMemoryAuditStore,
    SubtreeNode,
)
from tds.connector._merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    verify_consistency,
    verify_inclusion,
)
from tds.errors import ConfigError, DecodeError, NotFoundError, StorageError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_sha256.json").read_text())
WHEN = datetime(2025, 3, 1, 12, 30, 0, 250000, tzinfo=UTC)


def _log(size: int = 0) -> AuditLog:
    log = AuditLog(InMemoryAuditStore(), "node-a.example")
    for i in range(size):
        log.append(EventKind.JOB, {"job": f"job-{i}"}, timestamp=WHEN)
    return log


def _leaf_hashes(log: AuditLog) -> list[bytes]:
    return [leaf_hash(log.entry_bytes(i)) for i in range(log.size)]


# --- Entries ------------------------------------------------------------------------------


def test_an_entry_is_canonical_json_of_kind_timestamp_and_data() -> None:
    entry = AuditEntry(
        EventKind.AGREEMENT,
        WHEN,
        {"peer": "node-b", "policy_hash": b"\xab\xcd", "at": WHEN, "rows": (1, 2), "é": 1.5},
    )
    assert (
        entry.to_bytes()
        == (
            '{"data":{"at":"2025-03-01T12:30:00.250000Z","peer":"node-b","policy_hash":"abcd",'
            '"rows":[1,2],"é":1.5},"kind":"agreement","timestamp":"2025-03-01T12:30:00.250000Z",'
            '"version":1}'
        ).encode()
    )


def test_an_entry_reads_back_equal() -> None:
    entry = AuditEntry(EventKind.USE_DECISION, WHEN, {"allowed": True, "n": None, "b": b"\x00"})
    again = AuditEntry.from_bytes(entry.to_bytes())
    assert again == entry
    assert again.data == {"allowed": True, "n": None, "b": "00"}
    assert again.kind is EventKind.USE_DECISION


def test_entry_timestamps_are_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    entry = AuditEntry("job", WHEN.astimezone(paris))
    assert entry.timestamp == WHEN
    assert entry.timestamp.tzinfo is UTC


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(EventKind)), st.dictionaries(st.text(max_size=6), json_values, max_size=4)
)
def test_every_entry_reads_back_to_the_same_bytes(kind: EventKind, data: dict) -> None:
    entry = AuditEntry(kind, WHEN, data)
    assert AuditEntry.from_bytes(entry.to_bytes()).to_bytes() == entry.to_bytes()


@pytest.mark.parametrize(
    ("kind", "data", "timestamp", "message"),
    [
        ("bribe", {}, WHEN, "unknown audit event kind 'bribe'"),
        (["job"], {}, WHEN, "unknown audit event kind"),
        ("job", [("a", 1)], WHEN, "must be a mapping"),
        ("job", {}, WHEN.replace(tzinfo=None), "timezone-aware"),
        ("job", {}, "2025-03-01", "must be a datetime"),
        ("job", {"x": float("nan")}, WHEN, r"data\.x is nan"),
        ("job", {"x": [float("inf")]}, WHEN, r"data\.x\[0\] is inf"),
        ("job", {"x": 2**63}, WHEN, "64-bit"),
        ("job", {"x": -(2**63) - 1}, WHEN, "64-bit"),
        ("job", {"x": {1, 2}}, WHEN, "set, which has no canonical JSON form"),
        ("job", {"x": object()}, WHEN, "object, which has no canonical JSON form"),
        ("job", {1: "x"}, WHEN, "key 1 that is not valid text"),
        ("job", {"\ud800": "x"}, WHEN, "not valid text"),
        ("job", {"x": "\udfff"}, WHEN, "lone surrogate"),
        ("job", {"x": WHEN.replace(tzinfo=None)}, WHEN, r"data\.x must be timezone-aware"),
        ("job", {"x": "y" * (1 << 20)}, WHEN, "over the 1048576-byte limit"),
    ],
)
def test_events_without_a_canonical_form_are_refused(kind, data, timestamp, message) -> None:
    with pytest.raises(DecodeError, match=message):
        AuditEntry(kind, timestamp, data)


def test_deep_nesting_is_refused() -> None:
    data: dict = {}
    for _ in range(40):
        data = {"x": data}
    with pytest.raises(DecodeError, match="nests deeper than 32"):
        AuditEntry("job", WHEN, data)


CANONICAL = AuditEntry(EventKind.JOB, WHEN, {"a": 1}).to_bytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (CANONICAL.replace(b'{"a":1}', b'{"a": 1}'), "not in canonical form"),
        (CANONICAL.replace(b'"a":1', b'"a":1,"a":2'), "duplicate key"),
        (CANONICAL.replace(b'"a":1', b'"a":NaN'), "NaN is not allowed"),
        (CANONICAL.replace(b'"a":1', b'"a":1.0e0'), "not in canonical form"),
        (CANONICAL.replace(b'"version":1', b'"version":2'), "format version 2"),
        (CANONICAL.replace(b'"version":1', b'"version":true'), "format version True"),
        (CANONICAL.replace(b'"version":1', b'"version":1.0'), "format version 1.0"),
        (CANONICAL.replace(b'"kind":"job"', b'"kind":"bribe"'), "unknown audit event kind"),
        (CANONICAL.replace(b'"kind":"job"', b'"kind":7'), "kind must be a string"),
        (CANONICAL.replace(b'"version":1', b'"version":1,"x":0'), r"unexpected keys \['x'\]"),
        (CANONICAL.replace(b"30:00.250000Z", b"30:00Z"), "YYYY-MM-DDTHH:MM:SS.ffffffZ"),
        (CANONICAL.replace(b"2025-03-01", b"2025-02-30"), "not a real date"),
        (CANONICAL.replace(b'{"a":1}', b"[1]"), "must be a mapping"),
        (b"[1]", "must be a JSON object"),
        (b"\xff", "not valid UTF-8 JSON"),
        (b"[" * 100_000, "nests too deeply|not valid UTF-8 JSON"),
        ('{"a":1}', "must be bytes, not str"),
        (b" " * ((1 << 20) + 1), "over the 1048576-byte limit"),
    ],
)
def test_malformed_entry_bytes_are_refused(data, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        AuditEntry.from_bytes(data)


# --- The store ----------------------------------------------------------------------------


def _published_store() -> InMemoryAuditStore:
    """The eight published leaves, with the published subtree hashes as the stored nodes."""
    store = InMemoryAuditStore()
    levels = VECTORS["subtree_hashes"]
    for index, leaf in enumerate(VECTORS["leaves"]):
        nodes = []
        level, position = 0, index
        while position & 1:
            level, position = level + 1, position >> 1
            nodes.append(SubtreeNode(level, position, bytes.fromhex(levels[level][position])))
        store.append(index, bytes.fromhex(leaf), bytes.fromhex(levels[0][index]), nodes)
    return store


@pytest.mark.parametrize("size", range(len(VECTORS["roots"])))
def test_the_log_reads_published_roots_off_the_published_subtrees(size: int) -> None:
    log = AuditLog(_published_store(), "vectors")
    assert log.root(size).hex() == VECTORS["roots"][size]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-of-{c['size']}")
def test_the_log_serves_published_inclusion_proofs(case: dict) -> None:
    log = AuditLog(_published_store(), "vectors")
    assert [h.hex() for h in log.inclusion_proof(case["index"], case["size"])] == case["proof"]


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"{c['old_size']}-to-{c['new_size']}"
)
def test_the_log_serves_published_consistency_proofs(case: dict) -> None:
    log = AuditLog(_published_store(), "vectors")
    proof = log.consistency_proof(case["old_size"], case["new_size"])
    assert [h.hex() for h in proof] == case["proof"]


def test_the_store_keeps_one_node_per_completed_subtree() -> None:
    store = InMemoryAuditStore()
    log = AuditLog(store, "node-a")
    for i in range(13):
        log.append("job", {"i": i}, timestamp=WHEN)
    hashes = _leaf_hashes(log)
    # 13 = 0b1101: six pairs, three quadruples and one octet are complete, nothing more.
    for level, complete in [(0, 13), (1, 6), (2, 3), (3, 1), (4, 0)]:
        width = 1 << level
        for index in range(complete):
            subtree = hashes[index * width : (index + 1) * width]
            assert store.subtree_hash(level, index) == merkle_root(subtree)
        with pytest.raises(NotFoundError):
            store.subtree_hash(level, complete)


def test_the_store_refuses_an_append_at_a_stale_index() -> None:
    store = InMemoryAuditStore()
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(StorageError, match="another writer appended first"):
        store.append(0, b"b", leaf_hash(b"b"), [])
    assert store.size() == 1


def test_the_store_refuses_nodes_that_do_not_extend_the_tree() -> None:
    store = InMemoryAuditStore()
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(StorageError, match=r"completes the subtrees \[\(1, 0\)\]"):
        store.append(1, b"b", leaf_hash(b"b"), [])
    with pytest.raises(StorageError, match="nothing was written"):
        store.append(1, b"b", leaf_hash(b"b"), [SubtreeNode(2, 0, EMPTY_ROOT)])
    assert store.size() == 1


@pytest.mark.parametrize("coordinates", [(0, 1), (1, 0), (-1, 0), (0, -1), ("0", 0), (0, None)])
def test_the_store_reports_missing_subtrees(coordinates: tuple) -> None:
    store = InMemoryAuditStore()
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(NotFoundError, match="no complete audit subtree"):
        store.subtree_hash(*coordinates)


@pytest.mark.parametrize("index", [1, -1, "0", None])
def test_the_store_reports_missing_entries(index: object) -> None:
    store = InMemoryAuditStore()
    store.append(0, b"a", leaf_hash(b"a"), [])
    with pytest.raises(NotFoundError, match="no audit entry"):
        store.entry(index)


# --- Roots and proofs ---------------------------------------------------------------------

LOG_SIZE = 40
LOG = _log(LOG_SIZE)
LOG_LEAF_HASHES = _leaf_hashes(LOG)


def test_the_log_root_of_every_size_is_the_merkle_root() -> None:
    for size in range(LOG_SIZE + 1):
        assert LOG.root(size) == merkle_root(LOG_LEAF_HASHES[:size])
    assert LOG.root() == LOG.root(LOG_SIZE)


def test_an_empty_log_has_the_empty_root() -> None:
    assert _log().root() == EMPTY_ROOT
    assert len(_log()) == 0


def test_the_log_serves_every_inclusion_proof() -> None:
    for size in range(1, LOG_SIZE + 1):
        root = LOG.root(size)
        for index in range(size):
            proof = LOG.inclusion_proof(index, size)
            assert proof == inclusion_proof(LOG_LEAF_HASHES[:size], index)
            verify_inclusion(leaf_hash(LOG.entry_bytes(index)), index, size, proof, root)


def test_the_log_serves_every_consistency_proof() -> None:
    for new in range(LOG_SIZE + 1):
        for old in range(new + 1):
            proof = LOG.consistency_proof(old, new)
            assert proof == consistency_proof(LOG_LEAF_HASHES[:new], old)
            verify_consistency(old, new, LOG.root(old), LOG.root(new), proof)


def test_proofs_default_to_the_whole_log() -> None:
    assert LOG.inclusion_proof(3) == LOG.inclusion_proof(3, LOG_SIZE)
    assert LOG.consistency_proof(7) == LOG.consistency_proof(7, LOG_SIZE)


def test_appends_return_consecutive_indexes_and_read_back() -> None:
    log = _log()
    assert log.append("negotiation-event", {"state": "offered"}, timestamp=WHEN) == 0
    assert log.append(EventKind.AGREEMENT, timestamp=WHEN) == 1
    assert log.entry(0) == AuditEntry(EventKind.NEGOTIATION_EVENT, WHEN, {"state": "offered"})
    assert log.entry(1).data == {}
    assert log.size == 2


def test_appends_default_to_the_current_time() -> None:
    log = _log()
    before = datetime.now(UTC)
    log.append("job")
    assert before <= log.entry(0).timestamp <= datetime.now(UTC)


def test_a_refused_event_leaves_the_log_unchanged() -> None:
    log = _log(3)
    root = log.root()
    with pytest.raises(DecodeError):
        log.append("job", {"x": float("nan")})
    with pytest.raises(DecodeError):
        log.append("bribe")
    assert (log.size, log.root()) == (3, root)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda log: log.entry(3), NotFoundError, "no audit entry 3; the log holds 3"),
        (lambda log: log.entry(-1), DecodeError, "must not be negative"),
        (lambda log: log.entry_bytes("0"), DecodeError, "must be an int"),
        (lambda log: log.root(4), NotFoundError, "no tree of 4 entries yet"),
        (lambda log: log.root(True), DecodeError, "must be an int"),
        (lambda log: log.inclusion_proof(3), NotFoundError, "no audit entry 3 in a tree of 3"),
        (lambda log: log.inclusion_proof(0, 0), NotFoundError, "in a tree of 0"),
        (lambda log: log.inclusion_proof(0, 4), NotFoundError, "no tree of 4"),
        (lambda log: log.inclusion_proof(1.0), DecodeError, "must be an int"),
        (lambda log: log.consistency_proof(3, 2), DecodeError, "old size 3 is larger"),
        (lambda log: log.consistency_proof(1, 4), NotFoundError, "no tree of 4"),
        (lambda log: log.consistency_proof(-1), DecodeError, "must not be negative"),
        (lambda log: log.record_peer_checkpoint(b"{}"), DecodeError, "expected a Checkpoint"),
    ],
)
def test_requests_outside_the_log_are_refused(call, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call(_log(3))


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("", "1 to 255 characters"),
        ("x" * 256, "1 to 255"),
        (None, "must be a string"),
        ("a\nb", "printable"),
        ("a\ud800", "printable"),
    ],
)
def test_a_log_needs_a_printable_origin(origin: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AuditLog(InMemoryAuditStore(), origin)


class _TamperedStore(InMemoryAuditStore):
    def entry(self, index: int) -> bytes:
        return super().entry(index).replace(b"job-1", b"job-9")


def test_entries_altered_in_the_store_are_detected() -> None:
    log = AuditLog(_TamperedStore(), "node-a")
    log.append("job", {"job": "job-0"}, timestamp=WHEN)
    log.append("job", {"job": "job-1"}, timestamp=WHEN)
    assert log.entry(0).data == {"job": "job-0"}
    with pytest.raises(StorageError, match="does not match its stored leaf hash"):
        log.entry(1)


def test_concurrent_appends_all_land_in_the_tree() -> None:
    log = _log()

    def append_many(worker: int) -> None:
        for i in range(50):
            log.append("job", {"worker": worker, "i": i}, timestamp=WHEN)

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.size == 200
    assert log.root() == merkle_root(_leaf_hashes(log))
    assert sorted((log.entry(i).data["worker"], log.entry(i).data["i"]) for i in range(200)) == [
        (w, i) for w in range(4) for i in range(50)
    ]


def test_ten_thousand_entries_prove_their_place_and_history() -> None:
    log = _log()
    for i in range(10_000):
        log.append(EventKind.USE_DECISION, {"request": i, "allowed": i % 3 != 0}, timestamp=WHEN)
    root = log.root()
    proofs = [(i, log.inclusion_proof(i)) for i in range(0, 10_000, 37)]
    consistency = [(m, log.consistency_proof(m)) for m in range(1, 10_000, 53)]
    for index, proof in proofs:
        verify_inclusion(leaf_hash(log.entry_bytes(index)), index, 10_000, proof, root)
    for old, proof in consistency:
        verify_consistency(old, 10_000, log.root(old), root, proof)
