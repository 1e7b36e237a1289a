"""Secure joins, the fast path: the tds OPRF join (Chase-Miao) against the tds ECDH join and
openmined-psi, on the same sets, in one run, at 2^16, 2^18 and 2^20 items a side.

Sets as in ``bench_psi``: left ``n`` ids, right ``n`` ids of which half are the left's. Every
implementation computes the intersection the left learns. The OPRF join runs both parties in
this process (``run_local`` passes every message through its bytes); the bytes on the wire
per item are recorded in ``extra_info``.
"""

from __future__ import annotations

import pytest

import tds
from benchmarks.bench_psi import id_sets, openmined_psi
from benchmarks.conftest import compare, size
from tds._workers import default_workers
from tds.psi._local import exchange

CORES = default_workers()
SIZES = sorted({size(1 << 16, 1 << 6), size(1 << 18, 1 << 7), size(1 << 20, 1 << 8)})


def group(n: int) -> str:
    exponent = n.bit_length() - 1
    return f"PSI intersection 2^{exponent} x 2^{exponent}, OPRF vs ECDH"


def wire_bytes(left: list[str], right: list[str]) -> int:
    job = b"bench-oprf"
    left_party = tds.psi.OprfLeftParty(left, job_id=job)
    right_party = tds.psi.OprfRightParty(right, job_id=job)
    return sum(len(message.to_bytes()) for message in exchange(left_party, right_party))


@pytest.mark.parametrize("n", SIZES)
class TestOprf:
    def test_openmined_psi(self, benchmark, n: int) -> None:
        left, right = id_sets(n)
        run = lambda: openmined_psi(left, right, reveal=True)  # noqa: E731
        found = compare(
            benchmark, group(n), "openmined-psi (P-256)", run, items=n, unit="pair", rounds=1
        )
        assert found == n // 2

    def test_tds_ecdh(self, benchmark, n: int) -> None:
        left, right = id_sets(n)
        run = lambda: tds.psi.run_local(left, right, protocol="ecdh", workers=CORES)  # noqa: E731
        name = f"tds ECDH, {CORES} cores"
        result = compare(benchmark, group(n), name, run, items=n, unit="pair", rounds=1)
        assert result.size == n // 2

    def test_tds_oprf(self, benchmark, n: int) -> None:
        left, right = id_sets(n)
        run = lambda: tds.psi.run_local(left, right, protocol="oprf")  # noqa: E731
        name = f"tds OPRF, {CORES} cores"
        result = compare(benchmark, group(n), name, run, items=n, unit="pair")
        assert result.size == n // 2 and set(result.items) == set(left) & set(right)
        benchmark.extra_info["wire_bytes_per_item"] = round(wire_bytes(left, right) / n, 1)
