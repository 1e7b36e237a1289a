"""A provider node serving one dataset from a daemon in the test's process, and a requester
node that holds an agreement on it: what the job tests of this directory run against."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tds.connector import (
    CertificateAuthority,
    Client,
    Column,
    Daemon,
    Dataset,
    DataSource,
    Job,
    NodeConfig,
    dataset_target,
    enroll_node,
    node_uri,
)
from tds.policy import Collection, Permission, Prohibition
from tds.sectors._offer import offer_or_agreement


@dataclass
class ProviderSpace:
    """A provider node serving from a daemon in this process, and a requester node that holds
    an agreement on the provider's dataset."""

    provider: NodeConfig
    requester: NodeConfig
    daemon: Daemon

    @property
    def peer(self) -> str:
        """How the requester reaches the provider: ``NAME@HOST:PORT``."""
        return f"{self.provider.name}@{self.daemon.address}"


def provider_space(
    root: Path,
    dataset: Dataset,
    *,
    provider: str,
    requester: str,
    requester_memberships: tuple[str, ...] = (),
) -> Iterator[ProviderSpace]:
    """Publish ``dataset`` at ``provider``, serve it, and let ``requester`` (certified with
    ``requester_memberships``) agree to it."""
    ca = CertificateAuthority.create(root / "ca", "Job space")
    provider_config = NodeConfig(name=provider, directory=root / provider, listen="127.0.0.1:0")
    requester_config = NodeConfig(name=requester, directory=root / requester)
    enroll_node(provider_config.directory, provider, ca)
    enroll_node(requester_config.directory, requester, ca, memberships=requester_memberships)
    with Client(provider_config) as client:
        client.publish(dataset)
    with Daemon(provider_config) as daemon:
        space = ProviderSpace(provider_config, requester_config, daemon)
        with Client(requester_config) as client:
            client.negotiate(space.peer, dataset.id)
        yield space


def visits_dataset(
    directory: Path,
    patients: list[str],
    permissions: tuple[Permission, ...],
    collections: tuple[Collection, ...] = (),
    *,
    prohibitions: tuple[Prohibition, ...] = (),
    in_collections: tuple[str, ...] = (),
) -> Dataset:
    """Hospital's dataset ``visits``: one column of ``patients``, offered under
    ``permissions`` and ``prohibitions`` (and, for rules assigned to or targeting them,
    ``collections``), and put in the asset collections ``in_collections``."""
    (directory / "visits.csv").write_text("patient_id\n" + "\n".join(patients) + "\n")
    policy = offer_or_agreement(
        uid="urn:tds:policy:hospital:visits",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "visits"),
        assignee=None,
        permissions=permissions,
        prohibitions=prohibitions,
    )
    return Dataset(
        id="visits",
        title="Visits",
        sector="healthcare",
        columns=(Column("patient_id", "string"),),
        source=DataSource("csv", directory / "visits.csv"),
        contract_policy=dataclasses.replace(policy, collections=collections),
        collections=in_collections,
    )


def join(space: ProviderSpace, items: list[str]) -> Job:
    """The requester's secure join of ``items`` with the provider's ``visits``, for research."""
    with Client(space.requester) as client:
        return client.secure_join(
            space.peer, "visits", items, key_columns=["patient_id"], purpose="research"
        )
