"""Whatever a caller or a peer passes, tds.psi raises nothing but tds.errors exceptions.

Each test calls a public entry point with arbitrary arguments at tiny sizes (one process) and lets
any exception other than a ``TdsError`` fail the test. A peer's message that is refused must also
leave the party as it was: the job then still ends with the right result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tds
from tds.errors import TdsError
from tds.psi import (
    EncryptedSum,
    LeftDigests,
    LeftParty,
    LeftPoints,
    MatchBitmap,
    Message,
    Mode,
    RightKey,
    RightParty,
    RightPoints,
    decode_message,
    encode_item,
    hash_to_curve,
    run_local,
)
from tds.psi._local import exchange

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, lone surrogates included (hypothesis leaves them out unless asked).
texts = st.text(st.characters(exclude_categories=()) | st.sampled_from("\ud800\udfff"), max_size=6)
scalars = st.one_of(
    texts,
    st.binary(max_size=6),
    st.integers() | st.integers(-(2**80), 2**80),
    st.booleans(),
    st.floats(allow_nan=True),
    st.none(),
    st.complex_numbers(),
)
items = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.lists(inner, max_size=2),
    max_leaves=6,
)
sets = st.one_of(
    st.lists(items, max_size=6),
    st.lists(st.sampled_from(["a", "b", 1, (1, "a"), b"a"]), max_size=6),  # sets that do meet
    items,
    st.frozensets(st.integers(0, 5) | st.text(max_size=2), max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=3),
)
modes = st.one_of(
    st.sampled_from(list(Mode)), st.sampled_from([m.value for m in Mode]), texts, scalars
)
values = st.one_of(
    st.none(),
    st.lists(st.integers(-1000, 1000), max_size=6),
    st.lists(st.integers() | st.booleans() | st.floats() | texts | st.none(), max_size=6),
    texts,
    st.binary(max_size=4),
    st.integers(),
)
job_ids = st.one_of(st.none(), texts, st.text(max_size=70), st.binary(max_size=70), scalars)
chunk_sizes = st.one_of(st.integers(1, 7), st.integers(-2, 2**16 + 2), st.booleans(), scalars)
# Never more than one process (nor None, which means every core): the fuzz stays in this one.
workers = st.one_of(
    st.just(1), st.integers(-2, 0), texts, st.floats(), st.booleans(), st.binary(max_size=2)
)


def tds_errors_only(call: Callable[[], object]) -> None:
    """Run ``call``; a TdsError is an answer, anything else escapes and fails the test."""
    with contextlib.suppress(TdsError):
        call()


valid_items = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["a", "b", "", b"a"]),
    st.tuples(st.integers(0, 2), st.text(max_size=3)),
)
ARGUMENTS = (
    "left",
    "right",
    "mode",
    "values",
    "job_id",
    "sum_key",
    "chunk_size",
    "workers",
    "executor",
    "progress",
)


class Arguments:
    """Draws each argument valid, except the one chosen to be arbitrary (or all of them, or
    none): a wild argument surrounded by valid ones reaches the check that is meant for it."""

    def __init__(self, data: st.DataObject, sum_key: tds.he.PrivateKey) -> None:
        self._data = data
        self._key = sum_key
        self._wild = data.draw(st.sampled_from([None, "all", *ARGUMENTS]))

    def draw(self, name: str, valid: st.SearchStrategy, wild: st.SearchStrategy) -> object:
        chosen = self._wild in (name, "all")
        return self._data.draw(wild if chosen else valid, label=name)

    def common(self, mode: object) -> dict[str, object]:
        in_sum = mode == "sum"
        key = self.draw(
            "sum_key",
            st.just(self._key if in_sum else None),
            # never None in sum, which would make a full-size key for the example
            st.sampled_from(
                [self._key, self._key.public_key, "key", 3, *([] if in_sum else [None])]
            ),
        )
        return {
            "job_id": self.draw(
                "job_id",
                st.text(min_size=1, max_size=9) | st.binary(min_size=1, max_size=64),
                job_ids,
            ),
            "chunk_size": self.draw("chunk_size", st.integers(1, 7), chunk_sizes),
            "workers": self.draw("workers", st.just(1), workers),
            "progress": self.draw(
                "progress", st.none() | st.just(lambda progress: None), st.none() | scalars
            ),
            "sum_key": key,
            "insecure": True,
        }


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_run_local(data: st.DataObject, sum_key: tds.he.PrivateKey) -> None:
    arguments = Arguments(data, sum_key)
    left = arguments.draw("left", st.lists(valid_items, max_size=6), sets)
    right = arguments.draw("right", st.lists(valid_items, max_size=6), sets)
    mode = arguments.draw(
        "mode", st.sampled_from(list(Mode)) | st.sampled_from([m.value for m in Mode]), modes
    )
    count = len(right) if isinstance(right, list) else 0
    valid_values = st.lists(st.integers(-1000, 1000), min_size=count, max_size=count)
    right_values = arguments.draw("values", valid_values if mode == "sum" else st.none(), values)
    common = arguments.common(mode)
    tds_errors_only(lambda: run_local(left, right, mode, right_values, **common))


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_party_constructors(data: st.DataObject, sum_key: tds.he.PrivateKey) -> None:
    arguments = Arguments(data, sum_key)
    own = arguments.draw("left", st.lists(valid_items, max_size=6), sets)
    mode = arguments.draw("mode", st.sampled_from(list(Mode)), modes)
    count = len(own) if isinstance(own, list) else 0
    valid_values = st.lists(st.integers(-1000, 1000), min_size=count, max_size=count)
    own_values = arguments.draw("values", valid_values if mode == "sum" else st.none(), values)
    common = arguments.common(mode)
    key = common.pop("sum_key")
    executor = arguments.draw("executor", st.none(), scalars)
    tds_errors_only(lambda: LeftParty(own, mode=mode, executor=executor, **common).next_message())
    tds_errors_only(
        lambda: RightParty(
            own, mode=mode, values=own_values, sum_key=key, executor=executor, **common
        ).next_message()
    )


@FUZZ
@given(items)
def test_encode_item(item: object) -> None:
    tds_errors_only(lambda: encode_item(item))


@FUZZ
@given(
    st.binary(max_size=20) | texts | scalars,
    st.binary(max_size=300) | texts | scalars,
)
def test_hash_to_curve(msg: object, dst: object) -> None:
    tds_errors_only(lambda: hash_to_curve(msg, dst))  # type: ignore[arg-type]


# --- messages from a peer ---

JOB = b"fuzz"
LEFT = ["a", "b", "c", 1, (1, "a")]
RIGHT = ["b", "c", "d", (1, "a")]
VALUES = [5, 7, 11, 13]


def honest_messages(mode: Mode, key: tds.he.PrivateKey) -> list[Message]:
    return exchange(*parties(mode, key))


def parties(mode: Mode, key: tds.he.PrivateKey) -> tuple[LeftParty, RightParty]:
    in_sum = mode is Mode.SUM
    return (
        LeftParty(LEFT, job_id=JOB, mode=mode, chunk_size=2, insecure=True),
        RightParty(
            RIGHT,
            job_id=JOB,
            mode=mode,
            chunk_size=2,
            values=VALUES if in_sum else None,
            sum_key=key if in_sum else None,
            insecure=True,
        ),
    )


points = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.sampled_from([bytes(32), (1).to_bytes(32, "little"), b"\xff" * 32]),
)


def blobs(unit: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.lists(unit, max_size=5).map(b"".join)


def messages(job_id: bytes, mode: Mode) -> st.SearchStrategy[Callable[[], Message]]:
    """Builders of messages that pass decoding as often as not, for this job or a neighbour."""
    # Mostly this job and mode, so that the message gets past the first checks.
    job = st.sampled_from([job_id] * 5 + [job_id + b"x"])
    kind = st.sampled_from([mode] * 5 + list(Mode))
    small = st.integers(0, 6) | st.integers(-1, 2**64)
    raw = st.binary(max_size=300)
    return st.one_of(
        st.builds(lambda *a: lambda: LeftPoints(*a), job, kind, small, small, blobs(points)),
        st.builds(
            lambda *a: lambda: LeftDigests(*a),
            job,
            kind,
            small,
            small,
            blobs(st.binary(min_size=16, max_size=16)),
        ),
        st.builds(lambda *a: lambda: RightKey(*a), job, kind, raw),
        st.builds(
            lambda *a: lambda: RightPoints(*a),
            job,
            kind,
            small,
            small,
            blobs(points),
            st.sampled_from([0, 1, 64, 128, 256]),
            raw,
        ),
        st.builds(lambda *a: lambda: MatchBitmap(*a), job, kind, small, st.binary(max_size=2)),
        st.builds(lambda *a: lambda: EncryptedSum(*a), job, kind, small, raw),
        raw.map(lambda data: lambda: decode_message(data)),
    )


# Built once: drawing from a strategy is quick, building and validating one is not.
MESSAGES = {mode: messages(JOB, mode) for mode in Mode}
REPLACEMENTS = st.integers(-1, 8) | st.binary(max_size=64) | st.none()


@FUZZ
@given(data=st.data(), mode=st.sampled_from(list(Mode)))
def test_decode_message_of_mutated_messages(
    data: st.DataObject, mode: Mode, sum_key: tds.he.PrivateKey
) -> None:
    honest = honest_messages(mode, sum_key)
    encoded = bytearray(data.draw(st.sampled_from(honest)).to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and position < len(encoded):
            encoded[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del encoded[position:]
        else:
            encoded[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    tds_errors_only(lambda: decode_message(bytes(encoded)))
    tds_errors_only(lambda: decode_message(data.draw(st.binary(max_size=80))))
    tds_errors_only(lambda: decode_message(data.draw(scalars)))  # type: ignore[arg-type]


@settings(FUZZ, max_examples=100)
@given(data=st.data(), mode=st.sampled_from(list(Mode)))
def test_receive_anything_at_any_step(
    data: st.DataObject, mode: Mode, sum_key: tds.he.PrivateKey
) -> None:
    """Before each honest message (and after the last), a party gets something arbitrary. Each
    refused one leaves no trace, so the honest run still ends with the true result."""
    left, right = parties(mode, sum_key)
    delivered: list[Message] = []
    while True:
        step = next(
            (
                (message, receiver)
                for sender, receiver in ((left, right), (right, left))
                if (message := sender.next_message()) is not None
            ),
            None,
        )
        build = data.draw(MESSAGES[mode])
        candidates = delivered + ([step[0]] if step else [])
        if candidates and data.draw(st.booleans()):
            # A real message again, or one (maybe the next) with a field changed, gets furthest.
            honest = data.draw(st.sampled_from(candidates))
            names = [None, *(field.name for field in dataclasses.fields(honest))]
            name = data.draw(st.sampled_from(names))
            replacement = data.draw(REPLACEMENTS)
            changes = {} if name is None else {name: replacement}
            build = functools.partial(dataclasses.replace, honest, **changes)
        target = data.draw(st.sampled_from([left, right, *([step[1]] * 2 if step else [])]))
        try:
            target.receive(build())
        except TdsError:
            pass
        else:  # accepted: the job may go wrong from here, but only with tds errors
            tds_errors_only(lambda: exchange(left, right))
            tds_errors_only(left.result)
            tds_errors_only(right.result)
            return
        if step is None:
            break
        step[1].receive(step[0])
        delivered.append(step[0])
    assert left.done and right.done
    assert_true_result(mode, left.result(), right.result())


def assert_true_result(mode: Mode, left: tds.psi.PsiResult, right: tds.psi.PsiResult) -> None:
    right_keys = {encode_item(item): index for index, item in enumerate(RIGHT)}
    shared = [item for item in LEFT if encode_item(item) in right_keys]
    assert left.size == len(shared)
    if mode in (Mode.INTERSECTION, Mode.BOTH):
        assert list(left.items) == shared
    if mode is Mode.BOTH:
        assert sorted(map(encode_item, right.items)) == sorted(map(encode_item, shared))
    if mode is Mode.SUM:
        assert right.sum == sum(VALUES[right_keys[encode_item(item)]] for item in shared)
