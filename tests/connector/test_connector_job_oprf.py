"""Secure joins through a provider daemon on the OPRF join: the same answers as plain set
arithmetic, the provider's checks as for ECDH, and only where the job kind allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_space import ProviderSpace, provider_space, visits_dataset

from tds._workers import start_pool
from tds.connector import (
    Client,
    JobRole,
    JobState,
)
from tds.connector._jobs import Compute
from tds.errors import ConfigError, UsageDeniedError, WorkerError
from tds.policy import Action, Constraint, Permission
from tests.dying_pool import DyingPool

PATIENTS = [f"P{number:06d}" for number in range(0, 6000)]
MINE = [f"P{number:06d}" for number in range(3000, 9000)]


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[ProviderSpace]:
    permission = Permission(
        action=Action.USE, constraints=(Constraint("peerSetSize", "gteq", 1000),)
    )
    dataset = visits_dataset(tmp_path, PATIENTS, (permission,))
    yield from provider_space(tmp_path, dataset, provider="hospital", requester="insurer")


def _join(nodes: ProviderSpace, items: list[str], **options: object):
    with Client(nodes.requester) as client:
        return client.secure_join(
            nodes.peer, "visits", items, key_columns=["patient_id"], purpose="research", **options
        )


def test_an_oprf_join_through_the_daemon_finds_the_shared_keys(nodes: ProviderSpace) -> None:
    job = _join(nodes, MINE, protocol="oprf")
    assert job.state is JobState.SUCCEEDED and job.spec.protocol == "oprf"
    assert set(job.result["items"]) == set(PATIENTS) & set(MINE)
    assert job.result["size"] == 3000 and job.result["provider_set_size"] == 6000


def test_auto_takes_the_oprf_join_for_a_large_psi_job(nodes: ProviderSpace) -> None:
    assert _join(nodes, MINE).spec.protocol == "oprf"
    assert _join(nodes, MINE[:1500]).spec.protocol == "ecdh"


def test_the_provider_learns_the_shared_keys_when_asked_to(nodes: ProviderSpace) -> None:
    job = _join(nodes, MINE, protocol="oprf", reveal_to_provider=True)
    with Client(nodes.provider) as hospital:
        (provided,) = hospital.jobs(role=JobRole.PROVIDER)
    assert provided.id == job.id
    assert set(provided.result["items"]) == set(PATIENTS) & set(MINE)


def test_the_providers_terms_still_decide(nodes: ProviderSpace) -> None:
    with pytest.raises(UsageDeniedError, match="the number of keys the other party brings"):
        _join(nodes, MINE[:10], protocol="oprf")


def test_a_kind_that_must_hide_the_keys_refuses_the_oprf_join(nodes: ProviderSpace) -> None:
    with pytest.raises(ConfigError, match="runs on ECDH"):
        _join(nodes, MINE, protocol="oprf", kind="psi-cardinality")


@pytest.mark.parametrize("side", ["provider", "requester"])
def test_a_worker_killed_mid_join_fails_the_job_cleanly(
    nodes: ProviderSpace, monkeypatch: pytest.MonkeyPatch, side: str
) -> None:
    dying = Compute(DyingPool(start_pool(2)), 2)
    if side == "provider":
        monkeypatch.setattr(nodes.daemon.jobs, "_compute", dying)
    with Client(nodes.requester) as client:
        if side == "requester":
            monkeypatch.setattr(client._requester, "_compute", dying)
        with pytest.raises(WorkerError, match="worker process died"):
            client.secure_join(
                nodes.peer, "visits", MINE, key_columns=["patient_id"], purpose="research",
                protocol="oprf",
            )  # fmt: skip
        (requested,) = client.jobs(role=JobRole.REQUESTER)
    with Client(nodes.provider) as hospital:
        (provided,) = hospital.jobs(role=JobRole.PROVIDER)
    assert requested.state is JobState.FAILED
    if side == "provider":
        assert provided.state is JobState.FAILED
    else:
        # The requester cancels the job at the provider; the provider may see its stream
        # break first and fail the job itself. Ended it is, either way.
        assert provided.state in (JobState.FAILED, JobState.CANCELLED)
    assert "worker process died" in (provided if side == "provider" else requested).reason
    monkeypatch.undo()
    # The node goes on: the next join runs on a fresh pool.
    assert _join(nodes, MINE, protocol="oprf").state is JobState.SUCCEEDED


@pytest.mark.parametrize("protocol", ["oprf", "ecdh"])
def test_a_join_in_buckets_through_the_daemon(nodes: ProviderSpace, protocol: str) -> None:
    job = _join(nodes, MINE, protocol=protocol, bucket_items=1024, reveal_to_provider=True)
    assert job.state is JobState.SUCCEEDED and job.spec.bucket_items == 1024
    assert set(job.result["items"]) == set(PATIENTS) & set(MINE)
    assert job.result["provider_set_size"] == 6000
    with Client(nodes.provider) as hospital:
        (provided,) = hospital.jobs(role=JobRole.PROVIDER)
    assert provided.spec.bucket_items == 1024
    assert set(provided.result["items"]) == set(PATIENTS) & set(MINE)
    assert provided.result["requester_set_size"] == 6000


def test_buckets_are_for_psi_jobs_only(nodes: ProviderSpace) -> None:
    with pytest.raises(ConfigError, match="runs as one join"):
        _join(nodes, MINE, kind="psi-cardinality", bucket_items=1024)
    with pytest.raises(ConfigError, match="bucket_items must be 0 or from 1024"):
        _join(nodes, MINE, bucket_items=100)
