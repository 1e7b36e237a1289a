"""Bucketed joins: the merged result equals plain set arithmetic for both protocols, every
bucket's join shows the same padded sizes, the bucket hash is keyed per job, and a peer that
breaks the bucket protocol is refused with a specific error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tds.errors import (
    ConfigError,
    DecodeError,
    JobMismatchError,
    ProtocolError,
    UnexpectedMessageError,
)
from tds.psi import (
    BucketedLeftParty,
    BucketedRightParty,
    BucketMessage,
    BucketPlan,
    BucketSetup,
    LeftPoints,
    Mode,
    OprfReply,
    OprfSetup,
    Revealed,
    _buckets,
    _local,
    decode_message,
    run_local,
)
from tds.psi._local import exchange

JOB = b"bucket-test-job"
SMALL = _buckets.MIN_BUCKET_ITEMS  # the finest split a right accepts


def _pair(left, right, *, mode="intersection", protocol="oprf", bucket_items=SMALL, **kwargs):
    return (
        BucketedLeftParty(
            left, job_id=JOB, mode=mode, protocol=protocol, bucket_items=bucket_items, **kwargs
        ),
        BucketedRightParty(right, job_id=JOB, mode=mode, protocol=protocol, **kwargs),
    )


@pytest.mark.parametrize("protocol", ["oprf", "ecdh"])
@pytest.mark.parametrize("mode", ["intersection", "both"])
def test_the_merged_buckets_give_the_plain_intersection(protocol: str, mode: str) -> None:
    rng = np.random.default_rng(11)
    left = rng.choice(40_000, 5_000, replace=False).tolist()
    right = rng.choice(40_000, 4_000, replace=False).tolist()
    left_party, right_party = _pair(left, right, mode=mode, protocol=protocol, workers=2)
    exchange(left_party, right_party, keep=False)
    shared = set(left) & set(right)
    result = left_party.result()
    assert set(result.items) == shared and result.size == len(shared)
    assert (result.left_set_size, result.right_set_size) == (5000, 4000)
    assert left_party._buckets == 8  # 5000 items, at most 1024 a bucket on average
    assert Revealed.PEER_BUCKET_SIZE in result.disclosure.left_learns
    right_view = right_party.result()
    if mode == "both":
        assert set(right_view.items) == shared
    else:
        assert right_view.items is None and right_view.size is None


@settings(max_examples=10, deadline=None)
@given(
    st.sets(st.integers(0, 6000), max_size=3000),
    st.sets(st.integers(0, 6000), max_size=3000),
)
def test_any_sets_join_exactly_in_buckets(left: set[int], right: set[int]) -> None:
    result = run_local(sorted(left), sorted(right), bucket_items=SMALL, workers=1)
    assert set(result.items) == left & right


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([], []),
        ([], list(range(3000))),
        (list(range(3000)), []),
        (list(range(3000)), list(range(3000))),
        (list(range(3000)), list(range(3000, 6000))),
    ],
)
def test_edge_sets_in_buckets(left: list[int], right: list[int]) -> None:
    for protocol in ("oprf", "ecdh"):
        result = run_local(left, right, protocol=protocol, bucket_items=SMALL, workers=1)
        assert set(result.items) == set(left) & set(right)


def test_duplicates_keep_their_counts_and_first_forms() -> None:
    left = ["x", "x", "y", ("t", 1), *map(str, range(3000))]
    result = run_local(left, ["y", "x", ("t", 1)], bucket_items=SMALL, workers=1)
    assert result.items == ("x", "y", ("t", 1))
    assert result.counts == (2, 1, 1)


def test_every_bucket_shows_the_peer_the_same_padded_sizes() -> None:
    rng = np.random.default_rng(5)
    left = rng.choice(10**6, 6000, replace=False).tolist()
    right = rng.choice(10**6, 3000, replace=False).tolist()
    moved = exchange(*_pair(left, right, workers=1))
    inner = [decode_message(m.inner) for m in moved if isinstance(m, BucketMessage)]
    setups = [m.right_set_size for m in inner if isinstance(m, OprfSetup)]
    replies = [m.left_set_size for m in inner if isinstance(m, OprfReply)]
    assert len(setups) == len(replies) == 8
    assert len(set(setups)) == len(set(replies)) == 1
    # Padded to the largest bucket: a little above the average, never below it.
    assert 6000 / 8 <= replies[0] < 6000 / 8 * 1.5
    assert 3000 / 8 <= setups[0] < 3000 / 8 * 1.5


def test_the_bucket_hash_is_keyed() -> None:
    encoded = [b"item-%d" % i for i in range(4000)]
    first = _buckets.bucket_ids(encoded, b"k" * 32, 8)
    assert first.dtype == np.uint32 and set(first.tolist()) == set(range(8))
    assert np.array_equal(first, _buckets.bucket_ids(encoded, b"k" * 32, 8))
    assert not np.array_equal(first, _buckets.bucket_ids(encoded, b"K" * 32, 8))
    counts = np.bincount(first, minlength=8)
    assert counts.min() > 400  # about 500 each


@pytest.mark.parametrize(
    ("largest", "bucket_items", "buckets"),
    [(0, 2**20, 1), (2**20, 2**20, 1), (2**20 + 1, 2**20, 2), (2**24, 2**20, 16), (5000, 1024, 8)],
)
def test_bucket_count(largest: int, bucket_items: int, buckets: int) -> None:
    assert _buckets.bucket_count(largest, bucket_items) == buckets


def test_run_local_buckets_large_sets_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_local, "BUCKET_ITEMS", 2048)
    stages = []
    left, right = list(range(5000)), list(range(2500, 9000))
    result = run_local(left, right, workers=1, progress=lambda p: stages.append(p.stage))
    assert set(result.items) == set(left) & set(right)
    assert "buckets" in stages
    counted = run_local(left, right, mode="cardinality", protocol="ecdh", workers=1)
    assert counted.size == 2500  # cardinality never runs in buckets


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cardinality", "sum"])
def test_modes_that_hide_the_items_are_refused(mode: str) -> None:
    with pytest.raises(ConfigError, match="intersection and both"):
        BucketedLeftParty(["a"], job_id=JOB, mode=mode)
    with pytest.raises(ConfigError, match="intersection and both"):
        run_local(["a"], ["a"], mode=mode, bucket_items=SMALL)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"protocol": "rr22"}, "ecdh or oprf"),
        ({"bucket_items": 10}, "at least 1024"),
        ({"bucket_items": 2048.0}, "at least 1024"),
        ({"job_id": b""}, "job_id"),
        ({"progress": 3}, "progress"),
        ({"executor": "threads"}, "executor must be"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object], message: str) -> None:
    arguments = {"job_id": JOB, **options}
    with pytest.raises(ConfigError, match=message):
        BucketedLeftParty(["a"], **arguments)


def test_the_parties_must_run_the_same_protocol() -> None:
    left = BucketedLeftParty(["a"], job_id=JOB, protocol="ecdh")
    right = BucketedRightParty(["a"], job_id=JOB, protocol="oprf")
    with pytest.raises(ProtocolError, match="with oprf, this party with ecdh"):
        left.receive(right.next_message())


def test_a_plan_with_needlessly_many_buckets_is_refused() -> None:
    right = BucketedRightParty(list(range(3000)), job_id=JOB)
    with pytest.raises(ProtocolError, match="at most 4"):
        right.receive(BucketPlan(JOB, Mode.INTERSECTION, 3000, 64, 2))


def test_messages_out_of_turn_are_refused() -> None:
    left, right = _pair(list(range(6000)), list(range(6000)), workers=1)  # 8 buckets
    stray = BucketMessage(
        JOB, Mode.INTERSECTION, 0, LeftPoints(JOB, Mode.BOTH, 0, 0, b"").to_bytes()
    )
    with pytest.raises(UnexpectedMessageError, match="expected BucketSetup"):
        left.receive(stray)
    with pytest.raises(UnexpectedMessageError, match="expected BucketPlan"):
        right.receive(stray)
    left.receive(right.next_message())  # the setup
    plan = left.next_message()
    right.receive(plan)
    with pytest.raises(UnexpectedMessageError, match="expected a bucket's message"):
        right.receive(plan)
    # Open at once: two buckets here, two at the left, so bucket 4 is the first beyond.
    beyond = BucketMessage(JOB, Mode.INTERSECTION, 4, b"\x01\x01" + bytes(8))
    with pytest.raises(UnexpectedMessageError, match="beyond the buckets"):
        right.receive(beyond)
    missing = BucketMessage(JOB, Mode.INTERSECTION, 8, b"\x01\x01" + bytes(8))
    with pytest.raises(UnexpectedMessageError, match="bucket 8 is not open"):
        right.receive(missing)


def test_a_bucket_message_of_another_job_or_an_inner_job_mismatch_is_refused() -> None:
    left, right = _pair(list(range(3000)), list(range(3000)), workers=1)
    left.receive(right.next_message())
    right.receive(left.next_message())
    with pytest.raises(JobMismatchError):
        left.receive(BucketSetup(b"other", Mode.INTERSECTION, "oprf", 1, 2, bytes(16)))
    first = right.next_message()
    inner = decode_message(first.inner)
    forged = OprfSetup(b"other-bucket", inner.mode, inner.right_set_size, inner.width,
                       inner.seed, inner.ot_request)  # fmt: skip
    with pytest.raises(JobMismatchError):
        left.receive(BucketMessage(JOB, Mode.INTERSECTION, first.bucket, forged.to_bytes()))


def test_results_wait_for_the_last_bucket() -> None:
    left, _ = _pair(["a"], ["a"])
    with pytest.raises(ProtocolError, match="has not finished"):
        left.result()


# -- messages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        BucketSetup(JOB, Mode.BOTH, "ecdh", 2**40, 64, bytes(range(16))),
        BucketPlan(JOB, Mode.INTERSECTION, 5, 2**16, 1),
        BucketMessage(JOB, Mode.BOTH, 65535, LeftPoints(JOB, Mode.BOTH, 0, 0, b"").to_bytes()),
    ],
)
def test_bucket_messages_round_trip(message: object) -> None:
    assert decode_message(message.to_bytes()) == message


@pytest.mark.parametrize(
    "build",
    [
        lambda: BucketSetup(JOB, Mode.BOTH, "rr22", 1, 2, bytes(16)),
        lambda: BucketSetup(JOB, Mode.BOTH, "oprf", 1, 0, bytes(16)),
        lambda: BucketSetup(JOB, Mode.BOTH, "oprf", 1, 65, bytes(16)),
        lambda: BucketSetup(JOB, Mode.BOTH, "oprf", 1, 2, bytes(15)),
        lambda: BucketPlan(JOB, Mode.BOTH, 1, 3, 2),
        lambda: BucketPlan(JOB, Mode.BOTH, 1, 0, 2),
        lambda: BucketPlan(JOB, Mode.BOTH, 1, 2**17, 2),
        lambda: BucketMessage(JOB, Mode.BOTH, 2**16, b"\x01\x01"),
        lambda: BucketMessage(JOB, Mode.BOTH, 0, b"\x01"),
        lambda: BucketMessage(JOB, Mode.BOTH, 0, BucketPlan(JOB, Mode.BOTH, 1, 1, 1).to_bytes()),
    ],
)
def test_bucket_messages_cannot_be_built_malformed(build: object) -> None:
    with pytest.raises(DecodeError):
        build()


def test_unknown_protocol_codes_are_refused_on_decode() -> None:
    data = bytearray(BucketSetup(JOB, Mode.BOTH, "oprf", 1, 2, bytes(16)).to_bytes())
    data[4 + len(JOB)] = 9
    with pytest.raises(DecodeError, match="protocol code 9"):
        decode_message(bytes(data))
