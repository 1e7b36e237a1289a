"""executor="ray": the same results as the local pool and as plain set arithmetic, on a local
Ray cluster of 2 CPUs that these tests start (Ray comes with the dev extra), and a helper that
starts such a cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
import ray

import tds
from tds import _ray
from tds.errors import WorkerError
from tests.dying_pool import DyingPool

LEFT = [f"id-{i}" for i in range(6000)]
RIGHT = [f"id-{i}" for i in range(4000, 9000)]


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[str]:
    with _ray.local_cluster(2) as address:
        yield address


def test_ray_is_the_cluster_the_program_started() -> None:
    pool = _ray.ray_executor()
    assert pool.cpus == 2
    assert tds._workers.resolve_executor("ray") == (pool, 2)
    assert pool.submit(divmod, 7, 2).result() == (3, 1)
    assert pool.submit(os.getpid).result() != os.getpid()


def test_a_task_that_raises_hands_on_its_own_exception() -> None:
    with pytest.raises(ZeroDivisionError):
        _ray.ray_executor().submit(divmod, 1, 0).result()


@pytest.mark.parametrize("protocol", ["ecdh", "oprf"])
@pytest.mark.parametrize("mode", ["intersection", "both"])
def test_joins_on_ray_equal_the_local_ones_and_plain_sets(protocol: str, mode: str) -> None:
    on_ray = tds.psi.run_local(LEFT, RIGHT, mode=mode, protocol=protocol, executor="ray")
    local = tds.psi.run_local(LEFT, RIGHT, mode=mode, protocol=protocol, workers=2)
    assert set(on_ray.items) == set(local.items) == set(LEFT) & set(RIGHT)
    assert on_ray.size == local.size == 2000


def test_cardinality_and_sum_run_on_ray_too() -> None:
    values = list(range(len(RIGHT)))
    shared = set(LEFT) & set(RIGHT)
    private_key = tds.he.generate_keypair(1024, insecure=True)[1]
    total = tds.psi.run_local(
        LEFT,
        RIGHT,
        mode="sum",
        right_values=values,
        sum_key=private_key,
        insecure=True,
        executor="ray",
    )
    assert total.size == len(shared)
    assert total.sum == sum(v for item, v in zip(RIGHT, values, strict=True) if item in shared)


def test_paillier_batches_on_ray_decrypt_to_their_plaintexts() -> None:
    public_key, private_key = tds.he.generate_keypair(1024, insecure=True)
    values = list(range(-300, 300))
    ciphertexts = public_key.encrypt_many(values, executor="ray")
    assert private_key.decrypt_many(ciphertexts, workers=2) == values
    from_private = private_key.encrypt_many(values, executor="ray")
    assert private_key.decrypt_many(from_private) == values
    array = np.arange(-5000, 5000, dtype=np.int64)
    vector = public_key.encrypt_vector(array, executor="ray") + public_key.encrypt_vector(array)
    assert np.array_equal(private_key.decrypt_vector(vector), 2 * array)


def test_a_task_whose_worker_dies_fails_with_worker_error() -> None:
    # Ray runs the task once more on a fresh worker; that one dies too.
    with pytest.raises(WorkerError, match="Ray worker was lost"):
        _ray.ray_executor().submit(os._exit, 1).result()
    assert _ray.ray_executor().submit(abs, -2).result() == 2


def test_a_worker_killed_mid_join_fails_the_join_cleanly() -> None:
    with pytest.raises(WorkerError):
        tds.psi.run_local(
            LEFT,
            RIGHT,
            protocol="oprf",
            executor=DyingPool(_ray.ray_executor(), fatal=4),
            workers=2,
        )
    again = tds.psi.run_local(LEFT, RIGHT, protocol="oprf", executor="ray")
    assert set(again.items) == set(LEFT) & set(RIGHT)


def test_the_cluster_is_the_one_the_tests_started(cluster: str) -> None:
    port = cluster.rpartition(":")[2]
    assert ray.get_runtime_context().gcs_address.endswith(f":{port}")
