"""The OPRF join (Chase-Miao): results equal plain set arithmetic, parameters follow their
derivation, the random OTs hand out the right keys, and a peer that breaks the protocol is
refused with a specific error."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

import tds
from tds.errors import (
    ConfigError,
    DecodeError,
    JobMismatchError,
    ProtocolError,
    UnexpectedMessageError,
)
from tds.psi import (
    Mode,
    OprfColumns,
    OprfLeftParty,
    OprfOutputs,
    OprfReply,
    OprfRightParty,
    OprfSetup,
    _oprf,
    choose_protocol,
    decode_message,
    run_local,
)
from tds.psi._local import exchange
from tds.psi._ot import RandomOtReceiver, RandomOtSender

JOB = b"oprf-test-job"
small_sets = st.sets(st.integers(0, 60), max_size=40)


def _pair(left, right, mode="intersection"):
    return (
        OprfLeftParty(left, job_id=JOB, mode=mode),
        OprfRightParty(right, job_id=JOB, mode=mode),
    )


@settings(max_examples=25, deadline=None)
@given(small_sets, small_sets)
def test_the_intersection_is_the_plain_one(left: set[int], right: set[int]) -> None:
    result = run_local(sorted(left), sorted(right), protocol="oprf")
    assert set(result.items) == left & right
    assert result.size == len(left & right)
    assert (result.left_set_size, result.right_set_size) == (len(left), len(right))


@settings(max_examples=15, deadline=None)
@given(small_sets, small_sets)
def test_in_both_mode_each_side_learns_the_shared_items(left: set[int], right: set[int]) -> None:
    left_party, right_party = _pair(sorted(left), sorted(right), "both")
    exchange(left_party, right_party)
    assert set(left_party.result().items) == left & right
    assert set(right_party.result().items) == left & right


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([], []),
        ([], ["a"]),
        (["a"], []),
        (["a"], ["a"]),
        (["a"], ["b"]),
        (list(range(3000)), list(range(3000))),  # every item shared
        (list(range(3000)), list(range(3000, 5000))),  # none shared
    ],
)
def test_edge_sets(left: list[object], right: list[object]) -> None:
    assert set(run_local(left, right, protocol="oprf").items) == set(left) & set(right)


def test_duplicates_count_rows_and_items_keep_their_first_form() -> None:
    result = run_local(["x", "x", "y", ("t", 1)], ["y", "x", ("t", 1)], protocol="oprf")
    assert result.items == ("x", "y", ("t", 1))
    assert result.counts == (2, 1, 1)


def test_an_oprf_join_agrees_with_the_ecdh_join() -> None:
    rng = np.random.default_rng(7)
    left = rng.choice(20_000, 5_000, replace=False).tolist()
    right = rng.choice(20_000, 6_000, replace=False).tolist()
    oprf = run_local(left, right, protocol="oprf")
    ecdh = run_local(left, right, protocol="ecdh", workers=1)
    assert oprf.items == ecdh.items and oprf.size == len(set(left) & set(right))


def test_positions_that_collide_do_not_break_the_join(monkeypatch: pytest.MonkeyPatch) -> None:
    # Squeeze every position into 16 rows: items share positions all the time (which would
    # weaken what the left may learn about the right's other items, not the answer). Members
    # still match, their positions all cleared; two different items give equal rows only if
    # their bits agree in every one of hundreds of columns, about one chance in 2^300.
    positions = _oprf.PositionHash.positions

    def squeezed(self, digests, first):
        return positions(self, digests, first) & 15

    monkeypatch.setattr(_oprf.PositionHash, "positions", squeezed)
    left, right = list(range(0, 40)), list(range(20, 60))
    result = run_local(left, right, protocol="oprf")
    assert set(result.items) == set(range(20, 40))


def test_gathered_rows_hold_each_items_bits_at_its_aes_positions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Recomputed one item and one column at a time from the definition: the position of
    # column c is word c % 4 of AES_k(H1(x) with c // 4 xored into its last word), mod m.
    monkeypatch.setattr(_oprf, "ITEMS_PER_ROUND", 128)  # several rounds of 300 items
    rng = np.random.default_rng(3)
    rows, first, count = 1024, 8, 16
    digests = rng.integers(0, 256, (300, 16), dtype=np.uint8)
    key = bytes(range(16))
    packed = rng.integers(0, 256, (count, rows // 8), dtype=np.uint8)
    cleared = np.ones((count, rows), dtype=np.uint8)
    got = _oprf.gather_rows(packed, _oprf.PositionHash(key, rows), digests, first, cleared)
    aes = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    expected_cleared = np.ones_like(cleared)
    for item, digest in enumerate(digests.tobytes()[i : i + 16] for i in range(0, 4800, 16)):
        for offset in range(count):
            column = first + offset
            last_word = int.from_bytes(digest[12:], "little") ^ (column // 4)
            block = aes.update(digest[:12] + last_word.to_bytes(4, "little"))
            word = block[4 * (column % 4) : 4 * (column % 4) + 4]
            position = int.from_bytes(word, "little") % rows
            bit = (int(packed[offset][position // 8]) >> (position % 8)) & 1
            assert (int(got[item][offset // 8]) >> (offset % 8)) & 1 == bit
            expected_cleared[offset][position] = 0
    assert np.array_equal(cleared, expected_cleared)


@settings(max_examples=200)
@given(
    st.integers(1, 12).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.lists(st.binary(min_size=size, max_size=size), max_size=30),
            st.lists(st.binary(min_size=size, max_size=size), max_size=30),
        )
    )
)
def test_found_in_agrees_with_a_set(case: tuple[int, list[bytes], list[bytes]]) -> None:
    # Short values and small alphabets make shared 8-byte prefixes (the set fallback) and
    # values that differ only after the prefix (the confirmation) both common.
    size, values, pool = case
    found = _oprf.found_in(b"".join(values), b"".join(pool), size)
    assert found.tolist() == [value in set(pool) for value in values]
    both = _oprf.found_both(b"".join(values), b"".join(pool), size)
    assert both[0].tolist() == found.tolist()
    assert both[1] is not None
    assert both[1].tolist() == [value in set(values) for value in pool]


def test_found_in_confirms_the_bytes_after_the_prefix() -> None:
    pool = [bytes(8) + b"\x01\x02", b"\xff" * 8 + b"\x00\x00"]
    values = [bytes(8) + b"\x01\x02", bytes(8) + b"\x01\x03", b"\xff" * 10]
    found = _oprf.found_in(b"".join(values), b"".join(pool), 10)
    assert found.tolist() == [True, False, False]


def test_auto_picks_oprf_for_large_intersections_only() -> None:
    assert choose_protocol("auto", "intersection", 10, 5000) == "oprf"
    assert choose_protocol("auto", "both", 4096, 1) == "oprf"
    assert choose_protocol("auto", "intersection", 100, 100) == "ecdh"
    assert choose_protocol("auto", "cardinality", 10**6, 10**6) == "ecdh"
    assert choose_protocol("auto", "sum", 10**6, 10**6) == "ecdh"
    assert choose_protocol("ecdh", "intersection", 10**6, 10**6) == "ecdh"
    with pytest.raises(ConfigError, match="unknown PSI protocol 'rr22'"):
        choose_protocol("rr22", "intersection", 1, 1)


@pytest.mark.parametrize("mode", ["cardinality", "sum"])
def test_modes_that_must_hide_the_items_are_refused(mode: str) -> None:
    with pytest.raises(ConfigError, match="intersection and both"):
        OprfLeftParty(["a"], job_id=JOB, mode=mode)
    with pytest.raises(ConfigError, match="intersection and both"):
        run_local(["a"], ["a"], mode=mode, protocol="oprf")


def test_values_are_refused_for_an_oprf_join() -> None:
    with pytest.raises(ConfigError, match="adds up nothing"):
        run_local(["a"], ["a"], right_values=[1], protocol="oprf")


# -- parameters ---------------------------------------------------------------------------


def _binomial_log2_tail(width: int, p: float, below: int = 128) -> float:
    terms = [
        math.lgamma(width + 1) - math.lgamma(k + 1) - math.lgamma(width - k + 1)
        + k * math.log(p) + (width - k) * math.log(1 - p)
        for k in range(below)
    ]  # fmt: skip
    top = max(terms)
    return (top + math.log(sum(math.exp(t - top) for t in terms))) / math.log(2)


@pytest.mark.parametrize("log_size", [1, 10, 16, 20, 24])
def test_the_width_is_the_least_that_keeps_128_unknown_bits(log_size: int) -> None:
    width = _oprf.width_for(2**log_size)
    p = (1 - 1 / _oprf.MIN_ROWS) ** (_oprf.MIN_ROWS // 2)
    assert width % 8 == 0
    assert _binomial_log2_tail(width, p) <= -(40 + max(log_size, 1))
    assert _binomial_log2_tail(width - 8, p) > -(40 + max(log_size, 1))


def test_rows_and_output_length() -> None:
    assert _oprf.rows_for(0) == _oprf.rows_for(1) == 1024
    assert _oprf.rows_for(2**20) == 2**21
    assert _oprf.rows_for(2**20 + 1) == 2**22
    assert _oprf.output_bytes(2**20, 2**20) == 10  # 40 + 20 + 20 bits
    assert _oprf.output_bytes(2**24, 2**24) == 11


@pytest.mark.parametrize(
    ("width", "rows", "message"),
    [
        (8, 4096, "width of 8"),
        (_oprf.width_for(100) + 4, 4096, "multiple of 8"),
        (_oprf.MAX_WIDTH + 8, 4096, "width of"),
        (_oprf.width_for(100), 3000, "power of two"),
        (_oprf.width_for(100), 512, "rows does not fit"),
        (_oprf.width_for(100), 1024, "rows does not fit"),  # fewer than twice 1000 items
    ],
)
def test_parameters_that_weaken_the_join_are_refused(width: int, rows: int, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        _oprf.OprfParameters.check(width, rows, 1000, 100)


# -- random OT ----------------------------------------------------------------------------


def test_random_ot_hands_the_receiver_the_chosen_key_only() -> None:
    choices = np.array([0, 1, 1, 0, 1], dtype=np.uint8)
    receiver = RandomOtReceiver(JOB, choices)
    reply, zeros, ones = RandomOtSender(JOB, 5).answer(receiver.request())
    chosen = receiver.keys(reply)
    for index, choice in enumerate(choices):
        assert chosen[index] == (ones if choice else zeros)[index]
        assert chosen[index] != (zeros if choice else ones)[index]
    assert len(set(zeros) | set(ones)) == 10


def test_random_ot_refuses_requests_and_replies_of_the_wrong_size() -> None:
    receiver = RandomOtReceiver(JOB, np.zeros(3, dtype=np.uint8))
    with pytest.raises(ProtocolError, match="expected 4 public key pairs"):
        RandomOtSender(JOB, 4).answer(receiver.request())
    with pytest.raises(ProtocolError, match="expected 3 ephemeral keys"):
        receiver.keys(bytes(64))


def test_random_ot_refuses_a_small_order_point() -> None:
    receiver = RandomOtReceiver(JOB, np.zeros(1, dtype=np.uint8))
    with pytest.raises(ProtocolError, match="not a usable curve25519 point"):
        receiver.keys(bytes(32))


# -- messages and a peer that breaks the protocol ----------------------------------------


def _setup() -> OprfSetup:
    return OprfRightParty(["a", "b"], job_id=JOB).next_message()  # type: ignore[return-value]


@pytest.mark.parametrize(
    "message",
    [
        lambda: _setup(),
        lambda: OprfReply(JOB, Mode.INTERSECTION, 3, 1024, bytes(64)),
        lambda: OprfColumns(JOB, Mode.BOTH, 0, 16, 128, bytes(256)),
        lambda: OprfOutputs(JOB, Mode.INTERSECTION, 0, 3, 9, bytes(27)),
        lambda: OprfOutputs(JOB, Mode.INTERSECTION, 0, 0, 9, b""),
    ],
)
def test_messages_round_trip(message) -> None:
    built = message()
    assert decode_message(built.to_bytes()) == built


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: OprfSetup(JOB, Mode.INTERSECTION, 1, 2, bytes(15), bytes(128)), "seed"),
        (lambda: OprfSetup(JOB, Mode.INTERSECTION, 1, 2, bytes(16), bytes(127)), "key pair"),
        (lambda: OprfReply(JOB, Mode.INTERSECTION, 1, 1024, bytes(31)), "32-byte"),
        (lambda: OprfColumns(JOB, Mode.INTERSECTION, 0, 4, 8, bytes(12)), "whole columns"),
        (lambda: OprfColumns(JOB, Mode.INTERSECTION, 3, 4, 8, bytes(16)), "within the total"),
        (lambda: OprfColumns(JOB, Mode.INTERSECTION, 0, 4, 8, b""), "at least one column"),
        (lambda: OprfOutputs(JOB, Mode.INTERSECTION, 0, 1, 0, b""), "nonzero size"),
        (lambda: OprfOutputs(JOB, Mode.INTERSECTION, 0, 1, 33, bytes(33)), "output size"),
        (lambda: OprfOutputs(JOB, Mode.INTERSECTION, 2, 3, 4, bytes(8)), "past the stream"),
        (lambda: OprfOutputs(JOB, Mode.INTERSECTION, 0, 3, 4, b""), "only an empty stream"),
    ],
)
def test_malformed_messages_are_refused(build, error: str) -> None:
    with pytest.raises(DecodeError, match=error):
        build()


def test_a_truncated_message_is_refused() -> None:
    data = _setup().to_bytes()
    with pytest.raises(DecodeError, match="message ends inside"):
        decode_message(data[:-1])
    with pytest.raises(DecodeError, match="bytes after the message"):
        decode_message(data + b"\0")


def test_a_message_of_another_job_or_mode_is_refused() -> None:
    setup = _setup()
    with pytest.raises(JobMismatchError):
        OprfLeftParty(["a"], job_id=b"other").receive(setup)
    with pytest.raises(ProtocolError, match="mode"):
        OprfLeftParty(["a"], job_id=JOB, mode="both").receive(setup)


def test_messages_out_of_turn_are_refused() -> None:
    left, right = _pair(["a", "b"], ["b", "c"])
    with pytest.raises(UnexpectedMessageError):
        left.receive(OprfOutputs(JOB, Mode.INTERSECTION, 0, 0, 9, b""))
    with pytest.raises(UnexpectedMessageError):
        right.receive(OprfColumns(JOB, Mode.INTERSECTION, 0, 8, 128, bytes(128)))
    with pytest.raises(ProtocolError, match="has not finished"):
        left.result()


def test_a_right_proposing_too_narrow_a_matrix_is_refused() -> None:
    setup = _setup()
    narrow = OprfSetup(JOB, Mode.INTERSECTION, setup.right_set_size, 64, setup.seed, bytes(64 * 64))
    with pytest.raises(ProtocolError, match="width of 64"):
        OprfLeftParty(["a"], job_id=JOB).receive(narrow)


def test_a_left_proposing_too_few_rows_is_refused() -> None:
    left, right = _pair(list(range(3000)), ["x"])
    left.receive(right.next_message())
    reply = left.next_message()
    assert isinstance(reply, OprfReply)
    with pytest.raises(ProtocolError, match="rows does not fit"):
        right.receive(dataclasses.replace(reply, rows=4096))


def test_columns_out_of_order_are_refused() -> None:
    left, right = _pair(["a"] * 1, ["a", "b"])
    left.receive(right.next_message())
    right.receive(left.next_message())
    columns = left.next_message()
    assert isinstance(columns, OprfColumns)
    with pytest.raises(ProtocolError, match="out of order"):
        right.receive(dataclasses.replace(columns, offset=8, total=columns.total))


def test_outputs_of_the_wrong_size_are_refused() -> None:
    left, right = _pair(["a"], ["a", "b"])
    left.receive(right.next_message())
    while (message := left.next_message()) is not None:
        right.receive(message)
    outputs = right.next_message()
    assert isinstance(outputs, OprfOutputs)
    longer = outputs.output_bytes + 1
    with pytest.raises(ProtocolError, match="wrong size"):
        left.receive(dataclasses.replace(outputs, output_bytes=longer, outputs=bytes(2 * longer)))


def test_progress_reports_both_sides() -> None:
    reports = []
    run_local(list(range(100)), list(range(50, 150)), protocol="oprf", progress=reports.append)
    stages = {(report.role, report.stage) for report in reports}
    assert stages == {
        ("left", "columns"),
        ("right", "columns"),
        ("right", "outputs"),
        ("left", "outputs"),
    }
    assert tds.psi.OPRF_THRESHOLD == 4096
