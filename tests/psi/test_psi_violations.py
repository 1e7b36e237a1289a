"""Every protocol violation a party must refuse, each with its specific exception."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

import tds
from tds.errors import (
    ConfigError,
    DecodeError,
    InvalidCiphertextError,
    InvalidPointError,
    ItemTypeError,
    JobMismatchError,
    KeySizeError,
    PlaintextRangeError,
    PlaintextTypeError,
    UnexpectedMessageError,
)
from tds.psi import (
    BucketedLeftParty,
    BucketedRightParty,
    EncryptedSum,
    LeftDigests,
    LeftParty,
    LeftPoints,
    MatchBitmap,
    Message,
    Mode,
    OprfLeftParty,
    OprfRightParty,
    RightKey,
    RightParty,
    RightPoints,
    run_local,
)

JOB = "job-42"
LOW_ORDER = (1).to_bytes(32, "little")
NON_CANONICAL = (2**255 - 19).to_bytes(32, "little")


def parties(
    mode: Mode = Mode.INTERSECTION,
    key: tds.he.PrivateKey | None = None,
    left: tuple = ("a", "b", "c", "d", "e"),
    right: tuple = ("c", "d", "e", "f"),
) -> tuple[LeftParty, RightParty]:
    values = list(range(len(right))) if mode is Mode.SUM else None
    # The tests' Paillier key has 1024 bits.
    common = {"job_id": JOB, "mode": mode, "chunk_size": 2, "insecure": True}
    return (
        LeftParty(left, **common),
        RightParty(right, values=values, sum_key=key, **common),
    )


def pump_until(left: LeftParty, right: RightParty, stop: Callable[[Message], bool]) -> Message:
    """Run the protocol and return, undelivered, the first message for which ``stop`` holds."""
    while not (left.done and right.done):
        for sender, receiver in ((left, right), (right, left)):
            message = sender.next_message()
            if message is None:
                continue
            if stop(message):
                return message
            receiver.receive(message)
    raise AssertionError("the protocol ended before the awaited message")


def first(kind: type) -> Callable[[Message], bool]:
    return lambda message: isinstance(message, kind)


# --- messages from another job ---


def test_right_refuses_points_of_another_job() -> None:
    left, right = parties()
    message = left.next_message()
    with pytest.raises(JobMismatchError, match="job b'other'"):
        right.receive(dataclasses.replace(message, job_id=b"other"))


def test_left_refuses_digests_of_another_job() -> None:
    left, right = parties()
    digests = pump_until(left, right, first(LeftDigests))
    with pytest.raises(JobMismatchError):
        left.receive(dataclasses.replace(digests, job_id=b"job-43"))


def test_a_job_of_another_mode_is_another_job() -> None:
    left, _ = parties(Mode.INTERSECTION)
    _, right = parties(Mode.CARDINALITY)
    with pytest.raises(JobMismatchError, match="intersection job reached a cardinality job"):
        right.receive(left.next_message())


# --- messages out of order or in the wrong state ---


def test_right_refuses_a_skipped_chunk() -> None:
    left, right = parties()
    left.next_message()
    with pytest.raises(UnexpectedMessageError, match="offset 2; expected 0"):
        right.receive(left.next_message())


def test_right_refuses_a_repeated_chunk() -> None:
    left, right = parties()
    message = left.next_message()
    right.receive(message)
    with pytest.raises(UnexpectedMessageError, match="offset 0; expected 2"):
        right.receive(message)


def test_right_refuses_a_stream_that_changes_its_total() -> None:
    left, right = parties()
    right.receive(left.next_message())
    second = left.next_message()
    with pytest.raises(UnexpectedMessageError, match="total from 5 to 6"):
        right.receive(dataclasses.replace(second, total=6))


@pytest.mark.parametrize(
    "message",
    [
        RightKey(JOB.encode(), Mode.INTERSECTION, b"key"),
        RightPoints(JOB.encode(), Mode.INTERSECTION, 0, 1, bytes(32)),
        LeftDigests(JOB.encode(), Mode.INTERSECTION, 0, 1, bytes(16)),
        MatchBitmap(JOB.encode(), Mode.INTERSECTION, 1, b"\x01"),
        EncryptedSum(JOB.encode(), Mode.INTERSECTION, 1, b"c"),
    ],
    ids=lambda message: type(message).__name__,
)
def test_right_refuses_anything_but_left_points_at_first(message: Message) -> None:
    _, right = parties()
    with pytest.raises(UnexpectedMessageError, match="right party cannot take"):
        right.receive(message)


@pytest.mark.parametrize(
    "message",
    [
        LeftPoints(JOB.encode(), Mode.INTERSECTION, 0, 1, bytes(32)),
        RightPoints(JOB.encode(), Mode.INTERSECTION, 0, 1, bytes(32)),
        RightKey(JOB.encode(), Mode.INTERSECTION, b"key"),
        MatchBitmap(JOB.encode(), Mode.INTERSECTION, 1, b"\x01"),
    ],
    ids=lambda message: type(message).__name__,
)
def test_left_refuses_what_it_does_not_expect_at_first(message: Message) -> None:
    left, _ = parties()
    with pytest.raises(UnexpectedMessageError, match="left party cannot take"):
        left.receive(message)


@pytest.mark.parametrize("message", [None, b"\x01\x01\x01\x06job-42", "LeftPoints"])
def test_parties_refuse_what_is_not_a_decoded_message(message: object) -> None:
    left, right = parties()
    for party in (left, right):
        with pytest.raises(UnexpectedMessageError, match="not a message"):
            party.receive(message)  # type: ignore[arg-type]


def test_left_refuses_digests_for_points_it_never_sent() -> None:
    left, right = parties()
    right.receive(left.next_message())
    with pytest.raises(UnexpectedMessageError, match="never sent"):
        left.receive(LeftDigests(JOB.encode(), Mode.INTERSECTION, 0, 5, bytes(16 * 3)))


def test_left_refuses_digests_for_another_number_of_points() -> None:
    left, _ = parties()
    left.next_message()
    with pytest.raises(UnexpectedMessageError, match="digests for 4 points; we sent 5"):
        left.receive(LeftDigests(JOB.encode(), Mode.INTERSECTION, 0, 4, bytes(32)))


def test_left_refuses_digests_out_of_order() -> None:
    left, right = parties()
    for _ in range(3):
        right.receive(left.next_message())
    right.next_message()
    with pytest.raises(UnexpectedMessageError, match="offset 2; expected 0"):
        left.receive(right.next_message())


def test_shuffled_digests_cannot_arrive_before_every_point_was_sent() -> None:
    left, _ = parties(Mode.CARDINALITY)
    left.next_message()
    with pytest.raises(UnexpectedMessageError, match="only come after"):
        left.receive(LeftDigests(JOB.encode(), Mode.CARDINALITY, 0, 5, bytes(32)))


def test_left_refuses_right_points_out_of_order_or_resized() -> None:
    left, right = parties()
    first_points = pump_until(left, right, first(RightPoints))
    second_points = right.next_message()
    with pytest.raises(UnexpectedMessageError, match="offset 2; expected 0"):
        left.receive(second_points)
    with pytest.raises(UnexpectedMessageError, match="ciphertexts of 8 bytes; this job uses 0"):
        left.receive(dataclasses.replace(first_points, ciphertext_size=8, ciphertexts=bytes(16)))
    left.receive(first_points)
    with pytest.raises(UnexpectedMessageError, match="total from 4 to 9"):
        left.receive(dataclasses.replace(second_points, total=9))


def test_nothing_is_accepted_after_the_end() -> None:
    left, right = parties()
    last = pump_until(left, right, lambda m: isinstance(m, RightPoints) and m.offset == 2)
    left.receive(last)
    assert left.done and right.done
    assert left.next_message() is None and right.next_message() is None
    with pytest.raises(UnexpectedMessageError, match="while done"):
        left.receive(last)


def test_right_refuses_a_bitmap_of_another_length() -> None:
    left, right = parties(Mode.BOTH)
    bitmap = pump_until(left, right, first(MatchBitmap))
    with pytest.raises(UnexpectedMessageError, match="bitmap of 9 bits; we sent 4"):
        right.receive(MatchBitmap(JOB.encode(), Mode.BOTH, 9, bytes(2)))
    right.receive(bitmap)
    assert right.result().items == ("c", "d", "e")


def test_right_refuses_an_impossible_intersection_size(sum_key: tds.he.PrivateKey) -> None:
    left, right = parties(Mode.SUM, sum_key)
    outcome = pump_until(left, right, first(EncryptedSum))
    with pytest.raises(UnexpectedMessageError, match="intersection of 5 keys"):
        right.receive(dataclasses.replace(outcome, size=5))


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("split", [False, True], ids=["in-one-chunk", "in-the-next-chunk"])
def test_a_repeated_right_point_counts_once(
    mode: Mode, split: bool, sum_key: tds.he.PrivateKey
) -> None:
    """A deviating right that sends every point twice must not make an item count twice."""
    in_sum = mode is Mode.SUM
    left = LeftParty(["a", "b", "c"], job_id=JOB, mode=mode, insecure=True)
    right = RightParty(
        ["b", "z"],
        job_id=JOB,
        mode=mode,
        values=[5, 7] if in_sum else None,
        sum_key=sum_key if in_sum else None,
        insecure=True,
    )
    honest = pump_until(left, right, first(RightPoints))
    assert honest.total == 2
    chunk = dataclasses.replace(honest, total=4)
    repeated = dataclasses.replace(chunk, offset=2)
    if split:
        left.receive(chunk)
        left.receive(repeated)
    else:
        left.receive(
            dataclasses.replace(
                chunk,
                points=chunk.points * 2,
                ciphertexts=chunk.ciphertexts * 2,
            )
        )
    final = left.next_message()
    assert left.done
    result = left.result()
    assert result.size == 1
    if mode in (Mode.INTERSECTION, Mode.BOTH):
        assert (result.items, result.counts) == (("b",), (1,))
    if mode is Mode.BOTH:
        bits = np.unpackbits(np.frombuffer(final.bitmap, np.uint8), bitorder="little")
        assert bits.sum() == 1
    if in_sum:
        encrypted = tds.he.Ciphertext.from_raw_bytes(sum_key.public_key, final.ciphertext)
        assert (final.size, sum_key.decrypt(encrypted)) == (1, 5)


# --- invalid points, keys and ciphertexts ---


@pytest.mark.parametrize(
    ("point", "problem"), [(LOW_ORDER, "low order"), (NON_CANONICAL, "canonical")]
)
def test_right_refuses_bad_points(point: bytes, problem: str) -> None:
    left, right = parties()
    message = left.next_message()
    with pytest.raises(InvalidPointError, match=f"point 1 .*{problem}"):
        right.receive(dataclasses.replace(message, points=message.points[:32] + point))


@pytest.mark.parametrize(
    ("point", "problem"), [(LOW_ORDER, "low order"), (NON_CANONICAL, "canonical")]
)
def test_left_refuses_bad_points(point: bytes, problem: str) -> None:
    left, right = parties()
    message = pump_until(left, right, first(RightPoints))
    with pytest.raises(InvalidPointError, match=f"point 0 .*{problem}"):
        left.receive(dataclasses.replace(message, points=point + message.points[32:]))


def test_left_refuses_a_malformed_paillier_key(sum_key: tds.he.PrivateKey) -> None:
    left, right = parties(Mode.SUM, sum_key)
    key = pump_until(left, right, first(RightKey))
    with pytest.raises(DecodeError):
        left.receive(dataclasses.replace(key, public_key=b"TDPK-not-a-key"))


def test_left_refuses_a_paillier_key_with_an_even_modulus(sum_key: tds.he.PrivateKey) -> None:
    left, right = parties(Mode.SUM, sum_key)
    key = pump_until(left, right, first(RightKey))
    data = bytearray(sum_key.public_key.to_bytes())
    data[9 + 127] ^= 1  # the last byte of n: magic, version, u32 length, then 128 bytes of n
    even = bytes(data)
    with pytest.raises(KeySizeError):
        left.receive(dataclasses.replace(key, public_key=even))
    left.receive(key)


def test_left_refuses_a_small_paillier_key_unless_insecure(
    sum_key: tds.he.PrivateKey,
) -> None:
    left = LeftParty(["a", "b"], job_id=JOB, mode=Mode.SUM)
    right = RightParty(["b"], job_id=JOB, mode=Mode.SUM, values=[7], sum_key=sum_key, insecure=True)
    key = pump_until(left, right, first(RightKey))
    with pytest.raises(KeySizeError, match="1024-bit"):
        left.receive(key)
    # Still waiting for a key: the right's points are out of turn, and nothing is to be sent.
    points = right.next_message()
    assert isinstance(points, RightPoints)
    with pytest.raises(UnexpectedMessageError, match="awaiting key"):
        left.receive(points)
    assert left.next_message() is None and not left.done


def test_right_refuses_its_own_small_paillier_key_unless_insecure(
    sum_key: tds.he.PrivateKey,
) -> None:
    with pytest.raises(KeySizeError, match="insecure=True"):
        RightParty(["a"], job_id=JOB, mode=Mode.SUM, values=[1], sum_key=sum_key)


def test_left_refuses_invalid_ciphertexts(sum_key: tds.he.PrivateKey) -> None:
    left, right = parties(Mode.SUM, sum_key, left=("a",), right=("a", "b"))
    message = pump_until(left, right, first(RightPoints))
    size = message.ciphertext_size
    zero = bytes(size)  # 0 is not in Z*_{n^2}
    for bad in (zero + message.ciphertexts[size:], message.ciphertexts[:size] + zero):
        with pytest.raises(InvalidCiphertextError):
            left.receive(dataclasses.replace(message, ciphertexts=bad))
    left.receive(message)
    right.receive(left.next_message())
    assert right.result().sum == 0 and right.result().size == 1


def test_a_refused_message_leaves_no_trace() -> None:
    left, right = parties()
    first_chunk = left.next_message()
    with pytest.raises(UnexpectedMessageError):
        right.receive(dataclasses.replace(first_chunk, offset=2, total=9))
    with pytest.raises(InvalidPointError):
        right.receive(dataclasses.replace(first_chunk, points=LOW_ORDER + first_chunk.points[32:]))
    right.receive(first_chunk)
    right_points = pump_until(left, right, first(RightPoints))
    with pytest.raises(UnexpectedMessageError):
        left.receive(dataclasses.replace(right_points, offset=2, total=7))
    left.receive(right_points)
    left.receive(right.next_message())
    assert left.done and left.result().items == ("c", "d", "e")


def test_right_refuses_an_invalid_sum(sum_key: tds.he.PrivateKey) -> None:
    left, right = parties(Mode.SUM, sum_key)
    outcome = pump_until(left, right, first(EncryptedSum))
    with pytest.raises(DecodeError):
        right.receive(dataclasses.replace(outcome, ciphertext=b"\x01\x02"))
    with pytest.raises(InvalidCiphertextError):
        right.receive(dataclasses.replace(outcome, ciphertext=bytes(len(outcome.ciphertext))))


# --- configuration ---


@pytest.mark.parametrize(
    "make",
    [
        lambda: LeftParty([], job_id=""),
        lambda: LeftParty([], job_id="j" * 65),
        lambda: LeftParty([], job_id=42),
        lambda: LeftParty([], job_id="j", mode="union"),
        lambda: LeftParty([], job_id="j", chunk_size=0),
        lambda: LeftParty([], job_id="j", chunk_size=2**16 + 1),
        lambda: LeftParty([], job_id="j", chunk_size=True),
        lambda: LeftParty([], job_id="j", workers=0),
        lambda: RightParty([], job_id="j", values=[]),
        lambda: RightParty(["a"], job_id="j", mode="sum"),
        lambda: RightParty(["a"], job_id="j", mode="sum", values=[1, 2]),
        lambda: run_local(["a"], ["a"], workers=0),
        lambda: run_local(["a"], ["a"], workers="2"),
        lambda: run_local(["a"], ["a"], workers=1.5),
        lambda: RightParty(["a"], job_id="j", mode="sum", values=[1], sum_key="key"),
    ],
)
def test_invalid_configuration(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        make()


def test_sum_mode_makes_a_full_size_key_when_none_is_given() -> None:
    left = LeftParty(["a"], job_id=JOB, mode="sum")
    right = RightParty(["a"], job_id=JOB, mode="sum", values=[1])
    key = pump_until(left, right, first(RightKey))
    assert tds.he.PublicKey.from_bytes(key.public_key).n_bits == 2048


def test_a_public_key_is_not_the_rights_paillier_key(sum_key: tds.he.PrivateKey) -> None:
    with pytest.raises(ConfigError, match="PrivateKey"):
        RightParty(["a"], job_id=JOB, mode="sum", values=[1], sum_key=sum_key.public_key)


@pytest.mark.parametrize("copies", [1, 3])
def test_values_that_could_overflow_the_sum_are_refused_up_front(
    sum_key: tds.he.PrivateKey, copies: int
) -> None:
    # Three values of max_int would wrap around n and decrypt to a wrong sum; one value past
    # max_int would stall the right party in the middle of the job.
    large = int(sum_key.public_key.max_int) + (copies == 1)
    with pytest.raises(PlaintextRangeError, match="max_int"):
        RightParty(
            ["a", "b", "c"][:copies],
            job_id=JOB,
            mode="sum",
            values=[large] * copies,
            sum_key=sum_key,
            insecure=True,
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: LeftParty(["a"], job_id="job-\ud800"),
        lambda: RightParty(["a"], job_id="\udfff"),
        lambda: run_local(["a"], ["a"], job_id="\ud83d", workers=1),
        lambda: OprfLeftParty(["a"], job_id="job-\ud800"),
        lambda: OprfRightParty(["a"], job_id="\udfff"),
        lambda: BucketedLeftParty(["a"], job_id="job-\ud800"),
        lambda: BucketedRightParty(["a"], job_id="\udfff"),
        lambda: run_local(["a"], ["a"], job_id="\ud83d", workers=1, bucket_items=1024),
    ],
)
def test_a_job_id_must_be_valid_unicode(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError, match="surrogate"):
        make()


@pytest.mark.parametrize("bare", ["abc", b"abc", bytearray(b"abc"), memoryview(b"abc")])
@pytest.mark.parametrize(
    "make",
    [
        lambda bare: run_local(bare, ["a"], workers=1),
        lambda bare: run_local(["a"], bare, workers=1),
        lambda bare: LeftParty(bare, job_id=JOB),
        lambda bare: RightParty(bare, job_id=JOB),
    ],
    ids=["run_local-left", "run_local-right", "LeftParty", "RightParty"],
)
def test_a_bare_string_is_one_item_not_a_set(
    make: Callable[[object], object], bare: object
) -> None:
    with pytest.raises(ItemTypeError, match=r"pass a list of items, e\.g\. \["):
        make(bare)


@pytest.mark.parametrize("not_a_set", [5, None, 1.5])
def test_items_must_be_iterable(not_a_set: object) -> None:
    for make in (
        lambda: run_local(not_a_set, ["a"], workers=1),
        lambda: LeftParty(not_a_set, job_id=JOB),
        lambda: RightParty(not_a_set, job_id=JOB),
    ):
        with pytest.raises(ItemTypeError, match="iterable"):
            make()


@pytest.mark.parametrize("values", [5, "12", b"\x01\x02", None])
def test_right_values_must_be_a_collection_of_integers(
    values: object, sum_key: tds.he.PrivateKey
) -> None:
    with pytest.raises(ConfigError, match="value"):
        RightParty(
            ["a", "b"],
            job_id=JOB,
            mode="sum",
            values=values,
            sum_key=sum_key,
            insecure=True,
        )


def test_right_values_may_be_any_iterable(sum_key: tds.he.PrivateKey) -> None:
    values = (value for value in (5, 7))
    result = run_local(
        ["a", "b"], ["b", "c"], "sum", values, sum_key=sum_key, workers=1, insecure=True
    )
    assert result.sum == 5


@pytest.mark.parametrize("flag", [True, False, np.bool_(True)])
def test_right_values_refuse_bool(flag: object, sum_key: tds.he.PrivateKey) -> None:
    with pytest.raises(PlaintextTypeError, match="bool"):
        run_local(["a"], ["a"], "sum", [flag], sum_key=sum_key, workers=1, insecure=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LeftParty(["a"], job_id=JOB, progress=5),
        lambda: RightParty(["a"], job_id=JOB, progress="bar"),
        lambda: LeftParty(["a"], job_id=JOB, executor=5),
        lambda: RightParty(["a"], job_id=JOB, executor=object()),
        lambda: run_local(["a"], ["a"], progress=[], workers=1),
    ],
)
def test_progress_and_executor_are_checked_up_front(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError, match=r"progress|executor"):
        make()


def test_the_right_takes_only_its_modes_last_message(sum_key: tds.he.PrivateKey) -> None:
    left, right = parties(Mode.BOTH)
    bitmap = pump_until(left, right, first(MatchBitmap))
    with pytest.raises(UnexpectedMessageError, match="cannot take EncryptedSum"):
        right.receive(EncryptedSum(JOB.encode(), Mode.BOTH, 1, bytes(256)))
    right.receive(bitmap)
    left, right = parties(Mode.SUM, sum_key)
    outcome = pump_until(left, right, first(EncryptedSum))
    with pytest.raises(UnexpectedMessageError, match="cannot take MatchBitmap"):
        right.receive(MatchBitmap(JOB.encode(), Mode.SUM, 4, b"\x0f"))
    right.receive(outcome)
    assert right.result().items is None and right.result().sum == 0 + 1 + 2
