"""What each role learns, honestly and at worst, and the attacks that make the worst case real."""

from __future__ import annotations

import pytest

import tds
from tds.errors import ConfigError
from tds.psi import (
    Disclosure,
    LeftDigests,
    LeftPoints,
    Mode,
    Revealed,
    RightParty,
    RightPoints,
    encode_item,
    run_local,
)
from tds.psi._group import DIGEST_BYTES, blind_to_digests, fresh_scalar, hash_and_blind
from tds.psi._parties import DST_PREFIX

ITEMS, SIZE, SUM, PEER_SET_SIZE = (
    Revealed.ITEMS,
    Revealed.SIZE,
    Revealed.SUM,
    Revealed.PEER_SET_SIZE,
)

# mode: (left learns, right learns, left could learn, right could learn, roles for untrusted peers)
TABLE = {
    Mode.INTERSECTION: (
        {ITEMS, SIZE, PEER_SET_SIZE},
        {PEER_SET_SIZE},
        {ITEMS, SIZE, PEER_SET_SIZE},
        {PEER_SET_SIZE},
        {"left", "right"},
    ),
    Mode.BOTH: (
        {ITEMS, SIZE, PEER_SET_SIZE},
        {ITEMS, SIZE, PEER_SET_SIZE},
        {ITEMS, SIZE, PEER_SET_SIZE},
        {ITEMS, SIZE, PEER_SET_SIZE},
        {"left", "right"},
    ),
    Mode.CARDINALITY: (
        {SIZE, PEER_SET_SIZE},
        {PEER_SET_SIZE},
        {ITEMS, SIZE, PEER_SET_SIZE},  # by blinding each item with its own scalar
        {PEER_SET_SIZE},  # the right only ever receives points
        {"right"},
    ),
    Mode.SUM: (
        {SIZE, PEER_SET_SIZE},
        {SIZE, SUM, PEER_SET_SIZE},
        {ITEMS, SIZE, PEER_SET_SIZE},  # as in cardinality
        {ITEMS, SIZE, SUM, PEER_SET_SIZE},  # by picking values that spell out the intersection
        set(),
    ),
}


@pytest.mark.parametrize("mode", list(Mode))
def test_the_disclosure_table(mode: Mode) -> None:
    disclosure = Disclosure.for_mode(mode)
    left, right, left_worst, right_worst, roles = TABLE[mode]
    assert disclosure.left_learns == left
    assert disclosure.right_learns == right
    assert disclosure.left_could_learn == left_worst
    assert disclosure.right_could_learn == right_worst
    assert disclosure.roles_for_untrusted_peer == roles


@pytest.mark.parametrize("mode", list(Mode))
def test_a_role_is_safe_exactly_where_deviating_teaches_nothing_more(mode: Mode) -> None:
    disclosure = Disclosure.for_mode(mode)
    for role, honest, worst in (
        ("left", disclosure.left_learns, disclosure.left_could_learn),
        ("right", disclosure.right_learns, disclosure.right_could_learn),
    ):
        assert honest <= worst
        assert (role in disclosure.roles_for_untrusted_peer) == (honest == worst)


def test_a_deviating_left_learns_membership_in_cardinality_mode() -> None:
    """A left that blinds each item with its own scalar can test each of them against every
    right point: |targets| x |right set| multiplications, so probing a few identities is cheap."""
    job = b"job-7"
    targets = ["alice", "bob", "carol", "dave"]
    right = RightParty(["bob", "dave", "erin"], job_id=job, mode="cardinality")
    scalars = [fresh_scalar() for _ in targets]
    points = b"".join(
        hash_and_blind(DST_PREFIX + job, scalar, [encode_item(target)])
        for scalar, target in zip(scalars, targets, strict=True)
    )
    right.receive(LeftPoints(job, Mode.CARDINALITY, 0, len(targets), points))
    replies = list(iter(right.next_message, None))
    assert right.done
    digests = b"".join(m.digests for m in replies if isinstance(m, LeftDigests))
    shuffled = {digests[i : i + DIGEST_BYTES] for i in range(0, len(digests), DIGEST_BYTES)}
    right_points = b"".join(m.points for m in replies if isinstance(m, RightPoints))

    def is_shared(scalar: bytes) -> bool:
        final = blind_to_digests(scalar, 0, right_points)
        return any(
            final[i : i + DIGEST_BYTES] in shuffled for i in range(0, len(final), DIGEST_BYTES)
        )

    learned = [t for t, s in zip(targets, scalars, strict=True) if is_shared(s)]
    assert learned == ["bob", "dave"]
    disclosure = Disclosure.for_mode(Mode.CARDINALITY)
    assert ITEMS in disclosure.left_could_learn - disclosure.left_learns
    assert "left" not in disclosure.roles_for_untrusted_peer


def test_a_right_that_picks_its_values_reads_the_intersection_off_the_sum(
    sum_key: tds.he.PrivateKey,
) -> None:
    right = ["p1", "p2", "p3", "p4"]
    values = [1, 2, 4, 8]
    result = run_local(
        ["p4", "x", "p2"], right, "sum", values, sum_key=sum_key, workers=1, insecure=True
    )
    learned = [item for bit, item in enumerate(right) if result.sum >> bit & 1]
    assert learned == ["p2", "p4"]
    disclosure = Disclosure.for_mode(Mode.SUM)
    assert ITEMS in disclosure.right_could_learn - disclosure.right_learns
    assert "right" not in disclosure.roles_for_untrusted_peer


def test_for_mode_takes_the_modes_name_and_refuses_others() -> None:
    assert Disclosure.for_mode("cardinality") is Disclosure.for_mode(Mode.CARDINALITY)
    with pytest.raises(ConfigError, match="unknown PSI mode"):
        Disclosure.for_mode("union")
