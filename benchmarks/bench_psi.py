"""Secure joins: tds ECDH-PSI against openmined-psi and against the X25519 floor, in one run.

Every group times its implementations on the same sets (left: ``n`` ids, right: ``n`` ids of
which half are the left's). openmined-psi (P-256, C++) is the peer for intersection and
cardinality; intersection-sum has no Python peer, so its group starts with the floor.

The X25519 floor is what the four scalar multiplications per element pair of ECDH-PSI cost
through ``cryptography`` with nothing else: timed on one core over a fixed sample, it is
reported per pair as ``4 x t / cores`` (perfect use of every core). tds additionally hashes every
item to the curve (RFC 9380), shuffles, serializes and matches.
"""

from __future__ import annotations

import random

import private_set_intersection.python as openmined
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

import tds
from benchmarks.conftest import SMOKE, compare, size
from tds._workers import default_workers

CORES = default_workers()
SMALL = size(1 << 16, 1 << 8)
LARGE = size(1 << 20, 1 << 8)
FLOOR_SAMPLE = size(20_000, 200)  # scalar multiplications timed on one core per round

# Per-pair seconds of the floor, by group, so tds can state its ratio to it.
_floor_per_pair: dict[str, float] = {}


def id_sets(n: int) -> tuple[list[str], list[str]]:
    """Two sets of ``n`` 12-digit ids overlapping in ``n / 2``."""
    left = [f"{i:012d}" for i in range(n)]
    right = [f"{i:012d}" for i in range(n // 2, n + n // 2)]
    return left, right


def group_name(kind: str, n: int) -> str:
    exponent = n.bit_length() - 1
    return f"PSI {kind} 2^{exponent} x 2^{exponent}"


def x25519_floor(benchmark, group: str) -> None:
    """4 scalar multiplications per pair, on one core, scaled to every core."""
    key = X25519PrivateKey.generate()
    start = X25519PrivateKey.generate().public_key().public_bytes_raw()

    def multiply() -> bytes:
        point = start
        for _ in range(FLOOR_SAMPLE):
            point = key.exchange(X25519PublicKey.from_public_bytes(point))
        return point

    pairs = FLOOR_SAMPLE * CORES / 4  # the pairs whose multiplications CORES cores do meanwhile
    name = f"X25519 floor, 4 mults/pair, {CORES} cores"
    compare(benchmark, group, name, multiply, items=pairs, unit="pair")
    if benchmark.stats:  # None under --benchmark-disable
        seconds = benchmark.stats.stats.median
        benchmark.extra_info["multiplications_per_second_per_core"] = round(FLOOR_SAMPLE / seconds)
        _floor_per_pair[group] = seconds / pairs


def record_floor_ratio(benchmark, group: str) -> None:
    if benchmark.stats and group in _floor_per_pair:
        per_pair = benchmark.stats.stats.median / benchmark.extra_info["pairs"]
        benchmark.extra_info["ratio_to_x25519_floor"] = round(per_pair / _floor_per_pair[group], 3)


def openmined_psi(left: list[str], right: list[str], *, reveal: bool) -> int:
    """The client (left) learns the intersection or its size; messages go through bytes."""
    client = openmined.client.CreateWithNewKey(reveal)
    server = openmined.server.CreateWithNewKey(reveal)
    setup = openmined.ServerSetup()
    setup.ParseFromString(server.CreateSetupMessage(1e-9, len(left), right).SerializeToString())
    request = openmined.Request()
    request.ParseFromString(client.CreateRequest(left).SerializeToString())
    response = openmined.Response()
    response.ParseFromString(server.ProcessRequest(request).SerializeToString())
    if reveal:
        return len(client.GetIntersection(setup, response))
    return client.GetIntersectionSize(setup, response)


def tds_psi(benchmark, group: str, n: int, mode: str) -> tds.psi.PsiResult:
    left, right = id_sets(n)
    benchmark.extra_info["pairs"] = n
    result = compare(
        benchmark,
        group,
        f"tds ECDH run_local, {CORES} cores",
        lambda: tds.psi.run_local(left, right, mode=mode, workers=CORES, protocol="ecdh"),
        items=n,
        unit="pair",
        rounds=1,
    )
    record_floor_ratio(benchmark, group)
    return result


@pytest.mark.parametrize("n", sorted({SMALL, LARGE}))
class TestIntersection:
    def test_openmined_psi(self, benchmark, n: int) -> None:
        left, right = id_sets(n)
        run = lambda: openmined_psi(left, right, reveal=True)  # noqa: E731
        found = compare(
            benchmark, group_name("intersection", n), "openmined-psi (P-256)", run,
            items=n, unit="pair", rounds=1,
        )  # fmt: skip
        assert found == n // 2

    def test_x25519_floor(self, benchmark, n: int) -> None:
        x25519_floor(benchmark, group_name("intersection", n))

    def test_tds(self, benchmark, n: int) -> None:
        result = tds_psi(benchmark, group_name("intersection", n), n, "intersection")
        assert result.size == n // 2 and len(result.items) == n // 2


class TestCardinality:
    def test_openmined_psi(self, benchmark) -> None:
        left, right = id_sets(SMALL)
        run = lambda: openmined_psi(left, right, reveal=False)  # noqa: E731
        found = compare(
            benchmark, group_name("cardinality", SMALL), "openmined-psi (P-256)", run,
            items=SMALL, unit="pair", rounds=1,
        )  # fmt: skip
        assert found == SMALL // 2

    def test_tds(self, benchmark) -> None:
        result = tds_psi(benchmark, group_name("cardinality", SMALL), SMALL, "cardinality")
        assert result.size == SMALL // 2 and result.items is None


class TestIntersectionSum:
    """No Python peer publishes intersection-sum: the floor opens the group."""

    GROUP = group_name("intersection-sum (32-bit values, 2048-bit Paillier)", SMALL)

    def test_x25519_floor(self, benchmark) -> None:
        x25519_floor(benchmark, self.GROUP)

    def test_tds(self, benchmark) -> None:
        left, right = id_sets(SMALL)
        rng = random.Random(7)
        values = [rng.randrange(2**32) for _ in right]
        _, key = tds.he.generate_keypair(1024 if SMOKE else 2048, insecure=SMOKE)
        benchmark.extra_info["pairs"] = SMALL
        result = compare(
            benchmark,
            self.GROUP,
            f"tds run_local sum, {CORES} cores",
            lambda: tds.psi.run_local(
                left, right, "sum", values, sum_key=key, workers=CORES, insecure=SMOKE
            ),
            items=SMALL,
            unit="pair",
            rounds=1,
        )
        record_floor_ratio(benchmark, self.GROUP)
        assert result.size == SMALL // 2
        assert result.sum == sum(values[: SMALL // 2])
