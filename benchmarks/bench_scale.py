"""Scale-out: the same large OPRF join as one join and in buckets, on the local pool and on a
Ray cluster of 1 and of 2 workers, in one run; then 2^24 a side, one join against buckets.

Sets as in ``bench_psi``: ``n`` ids a side, half shared. Ray runs on this machine
(``tds._ray.local_cluster(k)``), so its numbers show the scheduling and transfer overhead of Ray
next to the local pool, and how the work spreads over 1 and 2 workers. ``extra_info`` keeps
the number of buckets and, for the 2^24 runs, the peak memory of this process so far.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

import tds
from benchmarks.bench_psi import id_sets
from benchmarks.conftest import compare, size
from tds import _ray
from tds.psi import OprfLeftParty, OprfRightParty
from tds.psi._local import exchange

LARGE = size(1 << 22, 1 << 12)
LARGEST = size(1 << 24, 1 << 13)
BUCKET_ITEMS = size(1 << 20, 1 << 10)


def one_join(left: list[str], right: list[str], workers: int = 2) -> tds.psi.PsiResult:
    """The OPRF join without buckets, whatever the size."""
    left_party = OprfLeftParty(left, job_id="scale", workers=workers)
    right_party = OprfRightParty(right, job_id="scale", workers=workers)
    exchange(left_party, right_party, keep=False)
    return left_party.result()


def bucketed(left: list[str], right: list[str], **options: object) -> tds.psi.PsiResult:
    return tds.psi.run_local(left, right, protocol="oprf", bucket_items=BUCKET_ITEMS, **options)


@pytest.fixture
def ray_cluster(request: pytest.FixtureRequest) -> Iterator[int]:
    """A Ray of ``request.param`` CPUs on this machine, for one benchmark."""
    with _ray.local_cluster(request.param):
        yield request.param


def group(n: int) -> str:
    return f"OPRF join 2^{n.bit_length() - 1} x 2^{n.bit_length() - 1}: one join, buckets, Ray"


def check(result: tds.psi.PsiResult, n: int) -> None:
    assert result.size == n // 2


class TestScaleOut:
    def test_one_join_local_pool(self, benchmark) -> None:
        left, right = id_sets(LARGE)
        run = lambda: one_join(left, right)  # noqa: E731
        check(compare(benchmark, group(LARGE), "one join, local pool of 2", run, items=LARGE,
                      unit="pair", rounds=1), LARGE)  # fmt: skip

    def test_buckets_local_pool(self, benchmark) -> None:
        left, right = id_sets(LARGE)
        run = lambda: bucketed(left, right, workers=2)  # noqa: E731
        result = compare(benchmark, group(LARGE), "buckets, local pool of 2", run, items=LARGE,
                         unit="pair", rounds=1)  # fmt: skip
        check(result, LARGE)
        benchmark.extra_info["buckets"] = tds.psi._buckets.bucket_count(LARGE, BUCKET_ITEMS)

    @pytest.mark.parametrize("ray_cluster", [1, 2], indirect=True)
    def test_buckets_on_ray(self, benchmark, ray_cluster: int) -> None:
        left, right = id_sets(LARGE)
        run = lambda: bucketed(left, right, executor="ray")  # noqa: E731
        name = f"buckets, Ray of {ray_cluster} worker{'s' if ray_cluster > 1 else ''}"
        check(compare(benchmark, group(LARGE), name, run, items=LARGE, unit="pair", rounds=1),
              LARGE)  # fmt: skip


class TestLargest:
    # Last in the file, buckets first: each peak of this process's memory is then theirs.
    def test_buckets(self, benchmark) -> None:
        left, right = id_sets(LARGEST)
        run = lambda: bucketed(left, right, workers=2)  # noqa: E731
        check(compare(benchmark, group(LARGEST), "buckets, local pool of 2", run,
                      items=LARGEST, unit="pair", rounds=1), LARGEST)  # fmt: skip
        benchmark.extra_info["peak_rss_gib"] = peak_gib()
        benchmark.extra_info["buckets"] = tds.psi._buckets.bucket_count(LARGEST, BUCKET_ITEMS)

    def test_one_join(self, benchmark) -> None:
        left, right = id_sets(LARGEST)
        run = lambda: one_join(left, right)  # noqa: E731
        check(compare(benchmark, group(LARGEST), "one join, local pool of 2", run,
                      items=LARGEST, unit="pair", rounds=1), LARGEST)  # fmt: skip
        benchmark.extra_info["peak_rss_gib"] = peak_gib()


def peak_gib() -> float:
    """The peak resident memory of this process so far, in GiB (ru_maxrss is in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
