"""Jobs through real connector daemons against the same computation in one process, in one run.

A data space of four nodes is built once per module: a requester, ``lab``, which runs its side
in this process through :class:`tds.connector.Client`, and three providers, ``site-1`` to
``site-3``, each a ``tds connector serve`` subprocess over mutual TLS on 127.0.0.1, as an
operator would run it. ``site-1`` offers a table of ids with an integer value per id for the
secure joins; every site offers a table of visits (a month, a decimal cost) for the
aggregation. The requester negotiates every dataset once, under a permissive offer built with
:mod:`tds.policy` (any join, joined sum or aggregate for the purpose ``benchmark``, enough uses
for every round).

Every group times the in-process computation first (the peer), then the job through the
daemons on the same data:

- secure joins: ``tds.psi.run_local`` with the pool of every core (``intersection`` and
  ``sum``) against ``Client.secure_join`` (``psi`` and ``psi-sum``); left = the requester's
  ``n`` ids, right = the provider's ``n`` ids, ``n / 2`` of them shared;
- aggregation: each provider's ``LocalAggregate.compute`` (12 month groups, one decimal sum),
  ``encrypt_vector`` under a fresh 2048-bit key, the sum of the three vectors and one
  ``decrypt_vector``, against ``Client.aggregate`` over the three daemons.

Besides time per element and the ratio (the conftest's table), each job benchmark stores in
its ``extra_info`` its time over the in-process time (``overhead_vs_in_process``: the goal is
at most 1.3 at 2^16) and the bytes the requester counted on the wire, per element, and prints
both at the end of the module (visible with ``-s``).
"""

from __future__ import annotations

import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import tds
from benchmarks import conftest
from benchmarks.conftest import compare, size
from tds._workers import default_workers
from tds.connector import (
    CertificateAuthority,
    Client,
    Column,
    ColumnType,
    Dataset,
    DataSource,
    NodeConfig,
    dataset_target,
    enroll_node,
    node_uri,
)
from tds.connector._aggregate import PACKING_BOUND, LocalAggregate
from tds.connector._jobs import JobKind, JobSpec, ProviderPart, new_job_id
from tds.connector._tables import from_units
from tds.errors import TdsError
from tds.policy import Action, Constraint, Duty, DutyAction, Permission, Policy, PolicyType

CORES = default_workers()
# Ids per side: 2^16, or 2^TDS_BENCH_CONNECTOR_LOG2 (the 2^20 rows of docs/benchmarks.md).
PSI_N = size(1 << int(os.environ.get("TDS_BENCH_CONNECTOR_LOG2", "16")), 1 << 8)
ROWS = size(10**6, 10**3)  # rows of each provider's visits
PROVIDERS = 3
MONTHS = tuple(f"2026-{month:02d}" for month in range(1, 13))
PURPOSE = "benchmark"
MAX_USES = 1000  # every round spends one use of an agreement
MIN_COHORT = 10
START_TIMEOUT_S = 60

# What the job benchmarks measured, printed at the end of the module.
_report: dict[str, dict[str, float]] = {}
_expected_rows: list[list[object]] = []


def permissive_offer(provider: str, dataset_id: str) -> Policy:
    """Any join, joined sum or aggregate of the dataset for ``PURPOSE``, logged."""
    permission = Permission(
        action=Action.USE,
        constraints=(
            Constraint("purpose", "isA", PURPOSE),
            Constraint("operation", "isAnyOf", [Action.JOIN, Action.JOIN_SUM, Action.AGGREGATE]),
            Constraint("count", "lteq", MAX_USES),
        ),
        duties=(Duty(action=DutyAction.LOG),),
    )
    return Policy(
        uid=f"urn:tds:policy:{provider}:{dataset_id}",
        type=PolicyType.OFFER,
        assigner=node_uri(provider),
        target=dataset_target(provider, dataset_id),
        permissions=(permission,),
    )


def id_sets(n: int) -> tuple[list[str], list[str], list[int]]:
    """The requester's ``n`` ids, the provider's ``n`` ids (half shared) and its values."""
    left = [f"{i:012d}" for i in range(n)]
    right = [f"{i:012d}" for i in range(n // 2, n + n // 2)]
    rng = random.Random(7)
    return left, right, [rng.randrange(2**32) for _ in right]


def write_visits(path: Path, rows: int, seed: int) -> None:
    """``rows`` visits: a month of 2026 and a cost in cents written as a decimal."""
    rng = np.random.default_rng(seed)
    months = rng.integers(0, len(MONTHS), rows)
    cents = rng.integers(0, 1_000_000, rows)
    lines = [f"{MONTHS[m]},{c // 100}.{c % 100:02d}" for m, c in zip(months, cents, strict=True)]
    path.write_text("month,cost\n" + "\n".join(lines) + "\n", encoding="utf-8")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Space:
    """The requester's client, and the providers' addresses (``NAME@HOST:PORT``) and data."""

    client: Client
    peers: list[str]
    visits: list[Dataset]
    ids: tuple[list[str], list[str], list[int]]


def start_daemon(config: NodeConfig) -> subprocess.Popen[bytes]:
    log = (config.directory / "daemon.log").open("ab")
    command = [sys.executable, "-m", "tds.cli", "connector", "serve", "--dir", config.directory]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return process


def wait_until_serving(
    client: Client, peer: str, process: subprocess.Popen[bytes], directory: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            log = (directory / "daemon.log").read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"the daemon of {peer} exited ({process.returncode}):\n{log}")
        try:
            if client.health(peer) == "SERVING":
                return
        except TdsError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    root = tmp_path_factory.mktemp("connector")
    ca = CertificateAuthority.create(root / "ca", "Benchmark data space")
    lab = NodeConfig(name="lab", directory=root / "lab")
    sites = [
        NodeConfig(
            name=f"site-{number}",
            directory=root / f"site-{number}",
            listen=f"127.0.0.1:{free_port()}",
            log_level="warning",
        )
        for number in range(1, PROVIDERS + 1)
    ]
    for config in (lab, *sites):
        enroll_node(config.directory, config.name, ca)
    left, right, values = id_sets(PSI_N)
    (root / "ids.csv").write_text(
        "id,value\n" + "".join(f"{i},{v}\n" for i, v in zip(right, values, strict=True)),
        encoding="utf-8",
    )
    visits = []
    for number, config in enumerate(sites):
        config.write()
        write_visits(root / f"visits-{number}.csv", ROWS, seed=number)
        visits.append(
            Dataset(
                id="visits",
                title="Visits",
                sector="healthcare",
                columns=(Column("month", "string"), Column("cost", "decimal")),
                source=DataSource("csv", root / f"visits-{number}.csv"),
                contract_policy=permissive_offer(config.name, "visits"),
            )
        )
        with Client(config) as provider:
            provider.publish(visits[-1])
            if number == 0:
                provider.publish(
                    Dataset(
                        id="ids",
                        title="Ids",
                        sector="healthcare",
                        columns=(Column("id", "string"), Column("value", "integer")),
                        source=DataSource("csv", root / "ids.csv"),
                        contract_policy=permissive_offer(config.name, "ids"),
                    )
                )
    peers = [f"{config.name}@{config.listen}" for config in sites]
    daemons = []
    try:
        daemons += [start_daemon(config) for config in sites]
        with Client(lab) as client:
            for peer, process, config in zip(peers, daemons, sites, strict=True):
                wait_until_serving(client, peer, process, config.directory)
                client.negotiate(peer, "visits")
            client.negotiate(peers[0], "ids")
            yield Space(client, peers, visits, (left, right, values))
    finally:
        for process in daemons:
            process.terminate()
        for process in daemons:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if _report:
        python = platform.python_version()
        print(f"\njobs through daemons vs in process ({CORES} cores, Python {python})")
        for group, numbers in _report.items():
            shown = ", ".join(f"{name} {value:.4g}" for name, value in numbers.items())
            print(f"  {group}: {shown}")


def record(benchmark, group: str, wire: dict[str, int], elements: int) -> None:
    """The ratio to the in-process time of the group and the bytes per element, if timed."""
    numbers: dict[str, float] = {}
    timed = conftest._groups.get(group)
    if benchmark.stats and timed is not None and timed.peer in timed.per_item:
        ours = benchmark.stats.stats.median
        theirs = timed.per_item[timed.peer] * elements
        numbers |= {"seconds": ours, "in_process_seconds": theirs, "ratio": ours / theirs}
        benchmark.extra_info["overhead_vs_in_process"] = round(ours / theirs, 3)
    for direction, count in wire.items():
        numbers[f"{direction}_per_element"] = count / elements
        benchmark.extra_info[f"{direction}_per_element"] = round(count / elements, 2)
    _report[group] = numbers


def psi_group(kind: str) -> str:
    exponent = PSI_N.bit_length() - 1
    return f"connector {kind} 2^{exponent} x 2^{exponent}"


class TestSecureJoin:
    GROUP = psi_group("psi (intersection)")

    def test_in_process(self, benchmark, space: Space) -> None:
        left, right, _ = space.ids
        result = compare(
            benchmark,
            self.GROUP,
            f"run_local, {CORES} cores",
            lambda: tds.psi.run_local(
                left, right, mode="intersection", workers=CORES, protocol="ecdh"
            ),
            items=PSI_N,
            unit="pair",
            rounds=1,
        )
        assert result.size == PSI_N // 2

    def test_daemons(self, benchmark, space: Space) -> None:
        left, right, _ = space.ids
        job = compare(
            benchmark,
            self.GROUP,
            "secure_join psi, daemon",
            lambda: space.client.secure_join(
                space.peers[0], "ids", left, key_columns=["id"], purpose=PURPOSE, kind="psi"
            ),
            items=PSI_N,
            unit="pair",
            rounds=1,
        )
        assert job.result["size"] == PSI_N // 2
        assert sorted(job.result["items"]) == sorted(set(left) & set(right))
        record(benchmark, self.GROUP, job.result["wire"], PSI_N)


class TestSecureJoinSum:
    GROUP = psi_group("psi-sum (32-bit values, 2048-bit Paillier)")

    def test_in_process(self, benchmark, space: Space) -> None:
        left, right, values = space.ids
        result = compare(
            benchmark,
            self.GROUP,
            f"run_local sum, {CORES} cores",
            lambda: tds.psi.run_local(left, right, "sum", values, workers=CORES),
            items=PSI_N,
            unit="pair",
            rounds=1,
        )
        assert result.sum == sum(values[: PSI_N // 2])

    def test_daemons(self, benchmark, space: Space) -> None:
        left, _, values = space.ids
        job = compare(
            benchmark,
            self.GROUP,
            "secure_join psi-sum, daemon",
            lambda: space.client.secure_join(
                space.peers[0],
                "ids",
                left,
                key_columns=["id"],
                value_column="value",
                purpose=PURPOSE,
                kind="psi-sum",
            ),
            items=PSI_N,
            unit="pair",
            rounds=1,
        )
        assert job.result["size"] == PSI_N // 2
        assert job.result["sum"] == sum(values[: PSI_N // 2])
        record(benchmark, self.GROUP, job.result["wire"], PSI_N)


class TestAggregate:
    GROUP = f"connector aggregate {PROVIDERS} x {ROWS:,} rows, 12 groups, 1 decimal sum"

    @staticmethod
    def spec() -> JobSpec:
        """The job's spec as the providers see it (the key it carries is not used here)."""
        public, _ = tds.he.generate_keypair()
        parts = tuple(
            ProviderPart(node=f"site-{n}", agreement_id="local", dataset_id="visits")
            for n in range(1, PROVIDERS + 1)
        )
        return JobSpec(
            job_id=new_job_id(),
            kind=JobKind.AGGREGATE,
            requester="lab",
            providers=parts,
            purpose=PURPOSE,
            group_by=("month",),
            sums=("cost",),
            groups=tuple((month,) for month in MONTHS),
            min_cohort=MIN_COHORT,
            requester_key=public.to_bytes(),
        )

    def test_in_process(self, benchmark, space: Space) -> None:
        spec = self.spec()

        def aggregate() -> LocalAggregate:
            public, private = tds.he.generate_keypair()
            total = None
            for dataset in space.visits:
                local = LocalAggregate.compute(dataset, spec).suppress(spec.min_cohort)
                vector = public.encrypt_vector(
                    local.to_vector(), bound=PACKING_BOUND, max_additions=PROVIDERS
                )
                total = vector if total is None else total + vector
            return LocalAggregate.from_vector(private.decrypt_vector(total), len(MONTHS), 1)

        total = compare(
            benchmark, self.GROUP, "in process", aggregate, items=PROVIDERS * ROWS, unit="row"
        )
        assert int(total.counts.sum()) == PROVIDERS * ROWS
        _expected_rows[:] = [
            [month, int(count), from_units(int(cents), ColumnType.DECIMAL)]
            for month, count, cents in zip(MONTHS, total.counts, total.sums[:, 0], strict=True)
        ]

    def test_daemons(self, benchmark, space: Space) -> None:
        job = compare(
            benchmark,
            self.GROUP,
            "aggregate, 3 daemons",
            lambda: space.client.aggregate(
                dict.fromkeys(space.peers, "visits"),
                purpose=PURPOSE,
                group_by=["month"],
                groups=[[month] for month in MONTHS],
                sums=["cost"],
                min_cohort=MIN_COHORT,
            ),
            items=PROVIDERS * ROWS,
            unit="row",
        )
        rows = job.result["rows"]
        assert sum(row[1] for row in rows) == PROVIDERS * ROWS
        if _expected_rows:  # the in-process run's table, when it ran first
            assert rows == _expected_rows
        record(benchmark, self.GROUP, job.result["wire"], PROVIDERS * ROWS)
