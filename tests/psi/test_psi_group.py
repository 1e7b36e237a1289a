"""X25519 group operations, point checks, batches on a process pool, shuffles."""

from __future__ import annotations

import itertools
import secrets
from collections import Counter

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tds._workers import process_pool
from tds.errors import ConfigError, InvalidPointError
from tds.psi import _group, _shuffle
from tds.psi._hash_to_curve import FIELD_PRIME, hash_to_u_batch
from tds.psi._shuffle import random_permutation

P = FIELD_PRIME


def u_bytes(u: int) -> bytes:
    return u.to_bytes(32, "little")


def honest_points(count: int) -> bytes:
    return b"".join(hash_to_u_batch([str(i).encode() for i in range(count)], b"test"))


def test_scalar_multiplication_commutes() -> None:
    a, b = _group.fresh_scalar(), _group.fresh_scalar()
    points = honest_points(5)
    ab = _group.blind(b, 0, _group.blind(a, 0, points))
    ba = _group.blind(a, 0, _group.blind(b, 0, points))
    assert ab == ba
    assert len(set(_group.multiply(a, points))) == 5


def test_hash_and_blind_is_hash_then_multiply() -> None:
    scalar = _group.fresh_scalar()
    messages = [b"x", b"y"]
    assert _group.hash_and_blind(b"dst", scalar, messages) == _group.blind(
        scalar, 0, b"".join(hash_to_u_batch(messages, b"dst"))
    )


def test_fresh_scalars_differ() -> None:
    assert len({_group.fresh_scalar() for _ in range(10)}) == 10


def test_digests_are_truncated_sha256() -> None:
    digests = _group.digest_points([bytes(32), b"\x01" * 32])
    assert len(digests) == 2 * _group.DIGEST_BYTES
    assert _group.blind_to_digests(b"\x05" * 32, 0, honest_points(3)) == _group.digest_points(
        _group.multiply(b"\x05" * 32, honest_points(3))
    )


def test_honest_points_pass_the_checks() -> None:
    _group.check_points(honest_points(20))
    _group.check_points(b"")
    _group.check_points(u_bytes(P - 2))  # the largest canonical u that is not low order


@pytest.mark.parametrize("u", _group.LOW_ORDER_U)
def test_low_order_points_are_refused_before_and_by_x25519(u: int) -> None:
    blob = honest_points(3) + u_bytes(u)
    with pytest.raises(InvalidPointError, match="point 13 has low order"):
        _group.check_points(blob, first_index=10)
    with pytest.raises(InvalidPointError, match="point 3 has low order"):
        _group.multiply(_group.fresh_scalar(), blob)
    # RFC 7748's contributory check refuses exactly these in cryptography itself.
    with pytest.raises(ValueError):
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(u_bytes(u)))


@pytest.mark.parametrize("u", [P, P + 1, P + 18, 2**255 - 1, 2**255, 2**256 - 1, P + 5])
def test_non_canonical_encodings_are_refused(u: int) -> None:
    with pytest.raises(InvalidPointError, match="point 1 is not canonical"):
        _group.check_points(honest_points(1) + u_bytes(u))


def test_partial_points_are_refused() -> None:
    with pytest.raises(InvalidPointError, match="whole number"):
        _group.check_points(bytes(33))


def test_twist_points_pass_and_only_fail_to_match() -> None:
    """Documented choice: twist points are not refused (twist security), they never match."""
    u = next(u for u in range(2, 100) if pow(u**3 + 486662 * u**2 + u, (P - 1) // 2, P) != 1)
    _group.check_points(u_bytes(u))
    a, b = _group.fresh_scalar(), _group.fresh_scalar()
    twisted = _group.blind(b, 0, _group.blind(a, 0, u_bytes(u)))
    assert twisted == _group.blind(a, 0, _group.blind(b, 0, u_bytes(u)))


def test_batches_on_a_process_pool_equal_the_inline_result() -> None:
    scalar = _group.fresh_scalar()
    messages = [str(i).encode() for i in range(7)]
    inline = _group.Batches()
    pooled = _group.Batches(process_pool(2), workers=2)
    expected = inline.hash_and_blind(b"dst", scalar, messages).result()
    assert pooled.hash_and_blind(b"dst", scalar, messages).result() == expected
    assert (
        pooled.blind(scalar, 0, expected, digests=True).result()
        == inline.blind(scalar, 0, expected, digests=True).result()
    )
    assert pooled.hash_and_blind(b"dst", scalar, []).result() == b""


def test_errors_in_workers_name_the_point() -> None:
    pooled = _group.Batches(process_pool(2), workers=2)
    blob = honest_points(4) + u_bytes(0)
    with pytest.raises(InvalidPointError, match="point 104 has low order"):
        pooled.blind(_group.fresh_scalar(), 100, blob, digests=False).result()


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_worker_count_must_be_positive(workers: object) -> None:
    with pytest.raises(ConfigError):
        _group.Batches(None, workers)


def test_split_covers_everything_without_empty_parts() -> None:
    for count, parts in itertools.product(range(0, 12), range(1, 5)):
        ranges = _group.split_ranges(count, parts)
        assert [i for start, stop in ranges for i in range(start, stop)] == list(range(count))
        assert len(ranges) <= parts
        assert all(stop > start for start, stop in ranges)


def test_prefetched_runs_ahead_by_depth() -> None:
    advanced = []

    def work():
        for index in range(5):
            advanced.append(index)
            yield index

    stream = _group.prefetched(work(), depth=2)
    assert advanced == []  # nothing happens before the first request
    assert next(stream) == 0
    assert advanced == [0, 1, 2]
    assert list(stream) == [1, 2, 3, 4]


def test_random_permutations() -> None:
    assert random_permutation(0).tolist() == []
    permutations = {tuple(random_permutation(8).tolist()) for _ in range(20)}
    assert all(sorted(p) == list(range(8)) for p in permutations)
    assert len(permutations) > 15


def test_random_permutations_are_uniform() -> None:
    # 6000 draws of the 6 orders of 3: each expected 1000 times, off by 150 with p < 1e-6.
    counts = Counter(tuple(random_permutation(3).tolist()) for _ in range(6000))
    assert len(counts) == 6 and all(850 < count < 1150 for count in counts.values())


def test_random_permutations_draw_again_when_keys_tie(monkeypatch: pytest.MonkeyPatch) -> None:
    draws, fresh = [], secrets.token_bytes

    def token_bytes(size: int) -> bytes:
        draws.append(size)
        return bytes(size) if len(draws) == 1 else fresh(size)

    monkeypatch.setattr(_shuffle.secrets, "token_bytes", token_bytes)
    assert sorted(random_permutation(50).tolist()) == list(range(50))
    assert draws == [400, 400]
