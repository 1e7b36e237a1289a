"""Collections through the connector: the CA certifies which collections a node belongs to,
and a provider's policy for a collection reaches exactly the requesters so certified; the
operator puts datasets in asset collections, and rules on a collection reach its datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from provider_space import join, provider_space, visits_dataset

from tds.connector import (
    CertificateAuthority,
    Dataset,
    JobState,
    enroll_node,
)
from tds.connector._trust import VerifiedNode
from tds.errors import ConfigError, UsageDeniedError
from tds.policy import Action, Collection, Permission, Prohibition

SPACE = "urn:tds:space:healthcare"
PATIENTS = [f"P{number:06d}" for number in range(0, 3000)]


def _dataset(tmp_path: Path) -> Dataset:
    permission = Permission(action=Action.USE, assignee=SPACE)
    return visits_dataset(tmp_path, PATIENTS, (permission,), (Collection(SPACE, "party"),))


def test_a_certified_member_of_the_collection_may_join(tmp_path: Path) -> None:
    for space in provider_space(
        tmp_path, _dataset(tmp_path), provider="hospital", requester="insurer",
        requester_memberships=(SPACE,),
    ):  # fmt: skip
        job = join(space, PATIENTS[1000:2000])
        assert job.state is JobState.SUCCEEDED and job.result["size"] == 1000


def test_a_requester_the_ca_did_not_certify_is_refused(tmp_path: Path) -> None:
    for space in provider_space(
        tmp_path, _dataset(tmp_path), provider="hospital", requester="insurer",
        requester_memberships=("urn:tds:space:power",),
    ):  # fmt: skip
        with pytest.raises(UsageDeniedError, match="members of urn:tds:space:healthcare"):
            join(space, PATIENTS[1000:2000])


def test_the_ca_writes_memberships_into_the_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Space")
    identity = enroll_node(tmp_path / "n", "insurer", ca, memberships=[SPACE, SPACE])
    certificate = x509.load_pem_x509_certificate(identity.certificate_pem)
    assert VerifiedNode("insurer", certificate).memberships == {SPACE}


@pytest.mark.parametrize("bad", [SPACE, ["no-colon"], ["urn:" + "x" * 61], ["urn:a b"], [3]])
def test_memberships_must_be_short_collection_iris(tmp_path: Path, bad: object) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca", "Space")
    with pytest.raises(ConfigError, match="collection"):
        enroll_node(tmp_path / "n", "insurer", ca, memberships=bad)
    assert not (tmp_path / "n").exists()


PERSONAL = "urn:tds:assets:personal-data"


def test_a_permission_on_an_asset_collection_reaches_the_datasets_in_it(tmp_path: Path) -> None:
    dataset = visits_dataset(
        tmp_path, PATIENTS, (Permission(action=Action.JOIN, target=PERSONAL),),
        (Collection(PERSONAL, "asset"),), in_collections=(PERSONAL,),
    )  # fmt: skip
    for space in provider_space(tmp_path, dataset, provider="hospital", requester="insurer"):
        job = join(space, PATIENTS[1000:2000])
        assert job.state is JobState.SUCCEEDED and job.result["size"] == 1000


def test_a_prohibition_on_an_asset_collection_reaches_the_datasets_in_it(tmp_path: Path) -> None:
    dataset = visits_dataset(
        tmp_path, PATIENTS, (Permission(action=Action.USE),), (Collection(PERSONAL, "asset"),),
        prohibitions=(Prohibition(action=Action.JOIN, target=PERSONAL),),
        in_collections=(PERSONAL,),
    )  # fmt: skip
    for space in provider_space(tmp_path, dataset, provider="hospital", requester="insurer"):
        with pytest.raises(UsageDeniedError, match="prohibition 1 forbids"):
            join(space, PATIENTS[1000:2000])


def test_an_offer_may_not_target_a_collection_its_dataset_is_not_in(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="which the dataset is not in"):
        for _ in provider_space(
            tmp_path,
            visits_dataset(
                tmp_path, PATIENTS, (Permission(action=Action.JOIN, target=PERSONAL),),
                (Collection(PERSONAL, "asset"),),
            ),
            provider="hospital", requester="insurer",
        ):  # fmt: skip
            pass


@pytest.mark.parametrize("bad", ["urn:one:string", ["no-colon"], ["urn:x " + "y"], [3]])
def test_a_dataset_is_in_collections_named_by_iris(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigError, match="collection"):
        visits_dataset(tmp_path, PATIENTS, (Permission(action=Action.USE),), in_collections=bad)


def test_a_dataset_keeps_its_collections_in_the_catalog(tmp_path: Path) -> None:
    dataset = visits_dataset(
        tmp_path, PATIENTS, (Permission(action=Action.USE),),
        in_collections=(PERSONAL, "urn:tds:assets:hospital"),
    )  # fmt: skip
    assert Dataset.from_dict(dataset.to_dict()) == dataset
    assert dataset.collections == ("urn:tds:assets:hospital", PERSONAL)
