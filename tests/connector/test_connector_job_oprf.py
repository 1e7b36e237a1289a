"""Secure joins through a provider daemon on the OPRF join: the same answers as plain set
arithmetic, the provider's checks as for ECDH, and only where the job kind allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_space import ProviderSpace, provider_space

from tds.connector import (
    Client,
    Column,
    Dataset,
    DataSource,
    JobRole,
    JobState,
    dataset_target,
    node_uri,
)
from tds.errors import ConfigError, UsageDeniedError
from tds.policy import Action, Constraint, Permission
from tds.sectors._offer import offer_or_agreement

PATIENTS = [f"P{number:06d}" for number in range(0, 6000)]
MINE = [f"P{number:06d}" for number in range(3000, 9000)]


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[ProviderSpace]:
    (tmp_path / "visits.csv").write_text("patient_id\n" + "\n".join(PATIENTS) + "\n")
    policy = offer_or_agreement(
        uid="urn:tds:policy:hospital:visits",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "visits"),
        assignee=None,
        permissions=(
            Permission(
                action=Action.USE,
                constraints=(Constraint("peerSetSize", "gteq", 1000),),
            ),
        ),
    )
    dataset = Dataset(
        id="visits",
        title="Visits",
        sector="healthcare",
        columns=(Column("patient_id", "string"),),
        source=DataSource("csv", tmp_path / "visits.csv"),
        contract_policy=policy,
    )
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
