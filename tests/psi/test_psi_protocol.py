"""The protocol end to end: results equal plain set arithmetic, and openmined-psi agrees."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import private_set_intersection.python as openmined
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tds
from tds.errors import ProtocolError
from tds.he import Ciphertext
from tds.psi import (
    Disclosure,
    EncryptedSum,
    LeftParty,
    Mode,
    Progress,
    Revealed,
    RightParty,
    RightPoints,
    run_local,
)
from tds.psi._local import exchange

keys = st.one_of(
    st.integers(-50, 50),
    st.sampled_from(["a", "b", "c", "ä", ""]),
    st.sampled_from([b"a", b"\x00", b""]),
    st.tuples(st.integers(0, 5), st.sampled_from(["x", "y"])),
)
tables = st.lists(keys, max_size=25)


def first_occurrences(rows: list) -> list:
    seen: dict = {}
    for row in rows:
        seen.setdefault(tds.psi.encode_item(row), row)
    return list(seen.values())


def shared_in_left_order(left: list, right: list) -> list:
    right_keys = {tds.psi.encode_item(row) for row in right}
    return [row for row in first_occurrences(left) if tds.psi.encode_item(row) in right_keys]


@settings(max_examples=40, deadline=None)
@given(tables, tables, st.integers(1, 6))
def test_intersection_equals_set_intersection(left: list, right: list, chunk: int) -> None:
    result = run_local(left, right, chunk_size=chunk, workers=1)
    expected = shared_in_left_order(left, right)
    assert list(result.items) == expected
    assert result.size == len(expected)
    counts = Counter(tds.psi.encode_item(row) for row in left)
    assert list(result.counts) == [counts[tds.psi.encode_item(row)] for row in expected]
    assert result.left_set_size == len(first_occurrences(left))
    assert result.right_set_size == len(first_occurrences(right))


@settings(max_examples=25, deadline=None)
@given(tables, tables, st.integers(1, 6))
def test_both_parties_learn_the_same_intersection(left: list, right: list, chunk: int) -> None:
    left_party = LeftParty(left, job_id="j", mode="both", chunk_size=chunk)
    right_party = RightParty(right, job_id="j", mode="both", chunk_size=chunk)
    exchange(left_party, right_party)
    left_view, right_view = left_party.result(), right_party.result()
    assert list(left_view.items) == shared_in_left_order(left, right)
    assert list(right_view.items) == shared_in_left_order(right, left)
    assert left_view.size == right_view.size == len(left_view.items)
    assert right_view.counts == tuple(
        Counter(tds.psi.encode_item(r) for r in right)[tds.psi.encode_item(i)]
        for i in right_view.items
    )


@settings(max_examples=25, deadline=None)
@given(tables, tables, st.integers(1, 6))
def test_cardinality_equals_set_size(left: list, right: list, chunk: int) -> None:
    result = run_local(left, right, mode="cardinality", chunk_size=chunk, workers=1)
    assert result.size == len(shared_in_left_order(left, right))
    assert result.items is None and result.counts is None and result.sum is None


@settings(max_examples=15, deadline=None)
@given(
    left=st.lists(st.integers(0, 30), max_size=20),
    right_rows=st.lists(
        st.tuples(st.integers(0, 30), st.integers(-(2**31), 2**31 - 1)), max_size=20
    ),
    chunk=st.integers(1, 6),
)
def test_sum_equals_semi_join_sum(
    left: list, right_rows: list, chunk: int, sum_key: tds.he.PrivateKey
) -> None:
    right = [key for key, _ in right_rows]
    values = [value for _, value in right_rows]
    result = run_local(
        left,
        right,
        "sum",
        values,
        sum_key=sum_key,
        chunk_size=chunk,
        workers=1,
        insecure=True,
    )
    left_keys = set(left)
    assert result.sum == sum(value for key, value in right_rows if key in left_keys)
    assert result.size == len(left_keys & set(right))


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize(
    ("left", "right"),
    [([], []), (["a"], []), ([], ["a"]), (["a", "b"], ["c"]), (["a", "b"], ["b", "a"])],
    ids=["both-empty", "right-empty", "left-empty", "disjoint", "equal"],
)
def test_edge_cases(mode: Mode, left: list, right: list, sum_key: tds.he.PrivateKey) -> None:
    values = list(range(1, len(right) + 1)) if mode is Mode.SUM else None
    key = sum_key if mode is Mode.SUM else None
    result = run_local(left, right, mode, values, sum_key=key, workers=1, insecure=True)
    shared = [item for item in left if item in right]
    assert result.size == len(shared)
    if mode in (Mode.INTERSECTION, Mode.BOTH):
        assert list(result.items) == shared
    if mode is Mode.SUM:
        assert result.sum == sum(v for item, v in zip(right, values, strict=True) if item in left)


def test_duplicates_and_multi_column_keys(sum_key: tds.he.PrivateKey) -> None:
    hospital = [("P-1", 1980), ("P-2", 1975), ("P-1", 1980), ("P-3", 1990), ("P-1", 1981)]
    insurer = [("P-1", 1980), ("P-1", 1980), ("P-3", 1990), ("P-9", 1999), ("P-1", 1980)]
    claims = [100, 250, 40, 999, 5]
    result = run_local(hospital, insurer, workers=1)
    assert result.items == (("P-1", 1980), ("P-3", 1990))
    assert result.counts == (2, 1)
    summed = run_local(hospital, insurer, "sum", claims, sum_key=sum_key, workers=1, insecure=True)
    assert (summed.size, summed.sum) == (2, 100 + 250 + 40 + 5)


def test_mixed_kinds_never_collide() -> None:
    result = run_local([1, "1", b"1", (1,), ("1", 1)], ["1", (1,), 2, ("1", 1)], workers=1)
    assert result.items == ("1", (1,), ("1", 1))


def test_a_process_pool_gives_the_same_result(sum_key: tds.he.PrivateKey) -> None:
    left = [f"id-{i}" for i in range(300)]
    right = [f"id-{i}" for i in range(150, 500)]
    result = run_local(left, right, chunk_size=64, workers=2)
    assert list(result.items) == left[150:]
    summed = run_local(
        left,
        right,
        "sum",
        list(range(350)),
        sum_key=sum_key,
        chunk_size=64,
        workers=2,
        insecure=True,
    )
    assert (summed.size, summed.sum) == (150, sum(range(150)))


@pytest.mark.parametrize("mode", ["intersection", "cardinality"])
def test_agrees_with_openmined_psi(mode: str) -> None:
    left = [f"patient-{i}" for i in range(0, 400, 3)]
    right = [f"patient-{i}" for i in range(0, 400, 5)]
    reveal = mode == "intersection"
    client = openmined.client.CreateWithNewKey(reveal)
    server = openmined.server.CreateWithNewKey(reveal)
    setup = server.CreateSetupMessage(1e-9, len(left), right, openmined.DataStructure.RAW)
    response = server.ProcessRequest(client.CreateRequest(left))
    ours = run_local(left, right, mode, workers=1)
    if reveal:
        theirs = sorted(client.GetIntersection(setup, response))
        assert list(ours.items) == [left[index] for index in theirs]
    else:
        assert ours.size == client.GetIntersectionSize(setup, response)


def test_sum_is_rerandomized_before_it_returns(sum_key: tds.he.PrivateKey) -> None:
    """The right knows every ciphertext it sent; the sum it gets back must not be their product."""
    left = ["a", "b", "c"]
    right = ["b", "c", "d"]
    left_party = LeftParty(left, job_id="j", mode="sum", insecure=True)
    right_party = RightParty(
        right, job_id="j", mode="sum", values=[5, 7, 11], sum_key=sum_key, insecure=True
    )
    moved = exchange(left_party, right_party)
    public_key = sum_key.public_key
    sent = [m for m in moved if isinstance(m, RightPoints)]
    # The messages name the key once (RightKey): each ciphertext travels bare.
    assert all(m.ciphertext_size == public_key.ciphertext_size for m in sent)
    ciphertexts = {
        sum_key.decrypt(Ciphertext.from_raw_bytes(public_key, raw)): raw
        for m in sent
        for raw in (m.ciphertext(i) for i in range(m.count))
    }
    product = Ciphertext.from_raw_bytes(public_key, ciphertexts[5]) + Ciphertext.from_raw_bytes(
        public_key, ciphertexts[7]
    )
    (returned,) = [m for m in moved if isinstance(m, EncryptedSum)]
    assert (
        sum_key.decrypt(product)
        == sum_key.decrypt(Ciphertext.from_raw_bytes(public_key, returned.ciphertext))
        == 12
    )
    assert returned.ciphertext != product.to_raw_bytes()
    assert returned.size == 2
    assert right_party.result().sum == 12 and left_party.result().sum is None


def test_each_party_sees_only_what_its_mode_reveals(sum_key: tds.he.PrivateKey) -> None:
    for mode in Mode:
        values = [1, 2] if mode is Mode.SUM else None
        key = sum_key if mode is Mode.SUM else None
        left_party = LeftParty(["a", "b", "z"], job_id="j", mode=mode, insecure=True)
        right_party = RightParty(
            ["a", "b"], job_id="j", mode=mode, values=values, sum_key=key, insecure=True
        )
        exchange(left_party, right_party)
        disclosure = Disclosure.for_mode(mode)
        for view, learns in (
            (left_party.result(), disclosure.left_learns),
            (right_party.result(), disclosure.right_learns),
        ):
            assert view.disclosure == disclosure
            assert (view.items is not None) == (Revealed.ITEMS in learns)
            assert (view.size is not None) == (Revealed.SIZE in learns)
            assert (view.sum is not None) == (Revealed.SUM in learns)
            assert (view.left_set_size, view.right_set_size) == (3, 2)
            assert Revealed.PEER_SET_SIZE in learns
    assert Disclosure.for_mode(Mode.INTERSECTION).false_match_bound == 2.0**-128


def test_messages_stay_in_chunks() -> None:
    left_party = LeftParty(range(50), job_id="j", chunk_size=8)
    right_party = RightParty(range(25, 90), job_id="j", chunk_size=8)
    moved = exchange(left_party, right_party)
    assert max(getattr(m, "count", 0) for m in moved) == 8
    assert len(moved) == 7 + 7 + 9


def test_progress_reports_every_stage() -> None:
    reports: list[Progress] = []
    run_local(range(20), range(10, 35), chunk_size=8, workers=1, progress=reports.append)
    final = {
        ("left", "own-points"): 20,
        ("left", "digests"): 20,
        ("left", "peer-points"): 25,
        ("right", "peer-points"): 20,
        ("right", "own-points"): 25,
    }
    assert {(r.role, r.stage) for r in reports} == set(final)
    for (role, stage), total in final.items():
        done = [r.done for r in reports if (r.role, r.stage) == (role, stage)]
        assert done == sorted(done) and done[-1] == total
        assert {r.total for r in reports if (r.role, r.stage) == (role, stage)} == {total}


def test_result_before_the_end_is_an_error() -> None:
    left_party = LeftParty(["a"], job_id="j")
    right_party = RightParty(["a"], job_id="j")
    assert not left_party.done and not right_party.done
    with pytest.raises(ProtocolError, match="left party has not finished"):
        left_party.result()
    with pytest.raises(ProtocolError, match="right party has not finished"):
        right_party.result()


def test_scalars_are_fresh_per_job() -> None:
    def first_points(job: str) -> bytes:
        return LeftParty(["same"], job_id=job).next_message().points

    assert first_points("j") != first_points("j")


def test_the_crypto_core_imports_no_network() -> None:
    code = "import sys, tds.psi; assert 'grpc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_each_party_says_how_many_distinct_keys_it_brings() -> None:
    left = LeftParty(["a", "b", "b", ("a", 1)], job_id="size")
    right = RightParty([1, 1, 1], job_id="size")
    assert (left.set_size, right.set_size) == (3, 1)
