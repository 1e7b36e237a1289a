"""The catalog: what a node offers, to whom, and what a peer may send back as an offer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tds.connector._catalog import (
    Catalog,
    Column,
    ColumnType,
    Dataset,
    DatasetOffer,
    DataSource,
    access_policy,
    check_dataset_id,
    dataset_target,
)
from tds.connector._store import Store
from tds.connector._trust import node_uri
from tds.errors import AlreadyExistsError, ConfigError, DecodeError, NotFoundError
from tds.policy import BoundingBox, Policy
from tds.sectors import healthcare, ocean, power


def _offer_policy(node: str, dataset_id: str, **parameters: object) -> Policy:
    return healthcare.medical_research(
        uid=f"urn:tds:policy:{node}:{dataset_id}",
        assigner=node_uri(node),
        target=dataset_target(node, dataset_id),
        **parameters,
    )


def _dataset(dataset_id: str = "visits", node: str = "hospital", **changes: object) -> Dataset:
    dataset = Dataset(
        id=dataset_id,
        title="Outpatient visits 2025",
        sector="healthcare",
        description="One row per visit.",
        columns=(Column("patient_id", "string"), Column("cost", ColumnType.DECIMAL)),
        source=DataSource("csv", Path("visits.csv")),
        contract_policy=_offer_policy(node, dataset_id),
    )
    return dataclasses.replace(dataset, **changes)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Store(tmp_path / "node.db") as store:
        yield Catalog(store, "hospital")


def test_a_published_dataset_is_offered_with_its_policy_but_not_its_source(
    catalog: Catalog,
) -> None:
    dataset = catalog.publish(_dataset())
    assert catalog.get("visits") == dataset
    offer = catalog.offer_for("visits", "insurer")
    assert offer.provider == "hospital"
    assert offer.policy.content_hash == dataset.contract_policy.content_hash
    assert offer.target == "urn:tds:dataset:hospital:visits"
    assert "source" not in offer.to_dict()
    assert str(dataset.source.path) not in str(offer.to_dict())


def test_the_catalog_survives_reopening_the_database(tmp_path: Path) -> None:
    with Store(tmp_path / "node.db") as store:
        Catalog(store, "hospital").publish(_dataset())
    with Store(tmp_path / "node.db") as store:
        assert [d.id for d in Catalog(store, "hospital").datasets()] == ["visits"]


def test_publishing_an_id_twice_needs_replace(catalog: Catalog) -> None:
    catalog.publish(_dataset())
    with pytest.raises(AlreadyExistsError, match="--replace"):
        catalog.publish(_dataset(title="Another title"))
    assert catalog.get("visits").title == "Outpatient visits 2025"
    catalog.publish(_dataset(title="Another title"), replace=True)
    assert catalog.get("visits").title == "Another title"


def test_a_withdrawn_dataset_is_no_longer_offered_but_stays_on_record(catalog: Catalog) -> None:
    catalog.publish(_dataset())
    catalog.withdraw("visits")
    assert catalog.datasets() == []
    assert catalog.offers_for("insurer") == []
    with pytest.raises(NotFoundError):
        catalog.offer_for("visits", "insurer")
    assert catalog.get("visits", withdrawn=True).id == "visits"
    with pytest.raises(NotFoundError):
        catalog.withdraw("visits")
    catalog.publish(_dataset())
    assert [d.id for d in catalog.datasets()] == ["visits"]


def test_an_access_policy_hides_the_offer_from_other_nodes(catalog: Catalog) -> None:
    catalog.publish(_dataset(access_policy=access_policy("hospital", "visits", ["insurer"])))
    catalog.publish(_dataset("open"))
    assert [o.id for o in catalog.offers_for("insurer")] == ["open", "visits"]
    assert [o.id for o in catalog.offers_for("lab")] == ["open"]
    with pytest.raises(NotFoundError) as hidden:
        catalog.offer_for("visits", "lab")
    with pytest.raises(NotFoundError) as missing:
        catalog.offer_for("nothing", "lab")
    # The same words for a hidden dataset as for a missing one: nothing to learn.
    assert str(hidden.value).replace("visits", "X") == str(missing.value).replace("nothing", "X")


def test_the_contract_policy_must_be_this_nodes_offer_for_this_dataset(
    catalog: Catalog,
) -> None:
    with pytest.raises(ConfigError, match="assigned by"):
        catalog.publish(_dataset(contract_policy=_offer_policy("lab", "visits")))
    with pytest.raises(ConfigError, match="targets"):
        catalog.publish(_dataset(contract_policy=_offer_policy("hospital", "other")))
    agreement = _offer_policy("hospital", "visits", assignee=node_uri("insurer"))
    with pytest.raises(ConfigError, match="must be an Offer"):
        catalog.publish(_dataset(contract_policy=agreement))
    assert catalog.datasets() == []


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"id": "Visits"}, "not a dataset id"),
        ({"id": ""}, "not a dataset id"),
        ({"title": " "}, "title is empty"),
        ({"title": "x" * 201}, "over the 200"),
        ({"sector": 7}, "sector must be text"),
        ({"columns": ()}, "1 to 256 columns"),
        ({"columns": (Column("a", "string"), Column("a", "integer"))}, "repeat"),
        ({"counter_offers": "yes"}, "True or False"),
        ({"contract_policy": "policy.json"}, "must be a Policy"),
    ],
)
def test_an_invalid_dataset_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _dataset(**changes)


@pytest.mark.parametrize(
    "name, kind, message",
    [("1st", "string", "not a column name"), ("cost", "money", "use one of")],
)
def test_an_invalid_column_is_refused(name: str, kind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Column(name, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kind, table", [("csv", "visits"), ("sqlite", None), ("excel", None), ("sqlite", "a;b")]
)
def test_an_invalid_source_is_refused(kind: str, table: str | None) -> None:
    with pytest.raises(ConfigError):
        DataSource(kind, Path("x"), table)


def test_dataset_ids_are_checked() -> None:
    assert check_dataset_id("visits-2025.v2") == "visits-2025.v2"
    for bad in ("", "-x", "a" * 65, "a/b", 3):
        with pytest.raises(ConfigError):
            check_dataset_id(bad)


def test_an_offer_round_trips_through_its_dict() -> None:
    offer = _dataset().offer("hospital")
    assert DatasetOffer.from_dict(offer.to_dict()) == offer


def _offer_dict(**changes: object) -> dict[str, object]:
    return {**_dataset().offer("hospital").to_dict(), **changes}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"provider": "Hospital"}, "not a node name"),
        ({"id": "../x"}, "not a dataset id"),
        ({"columns": "patient_id"}, "columns must be a list"),
        ({"columns": [{"name": "x", "type": "blob"}]}, "use one of"),
        ({"title": ""}, "title is empty"),
        ({"policy": {"@type": "Offer"}}, "malformed dataset offer"),
        # A peer cannot pass off another node's offer, or one for another dataset, as its own.
        ({"provider": "lab"}, "assigned by"),
        ({"id": "other"}, "targets"),
    ],
)
def test_a_malformed_offer_from_a_peer_is_a_decode_error(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        DatasetOffer.from_dict(_offer_dict(**changes))


def test_an_offer_missing_a_field_is_a_decode_error() -> None:
    document = _offer_dict()
    del document["sector"]
    with pytest.raises(DecodeError, match="lacks 'sector'"):
        DatasetOffer.from_dict(document)


def test_access_policies_need_valid_nodes() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        access_policy("hospital", "visits", [])
    with pytest.raises(ConfigError, match="not a node name"):
        access_policy("hospital", "visits", ["Insurer"])


def test_publish_takes_only_datasets(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="expected a Dataset"):
        catalog.publish(_dataset().to_dict())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "template, parameters",
    [
        (healthcare.medical_research, {"min_cohort": 20}),
        (ocean.observations, {"area": BoundingBox(120.0, 30.0, 123.0, 32.0)}),
        (power.household_aggregates, {"min_meters": 50}),
    ],
)
def test_datasets_under_every_sector_template_can_be_published(
    catalog: Catalog, template: Callable[..., Policy], parameters: dict[str, object]
) -> None:
    policy = template(
        uid="urn:tds:policy:hospital:data",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "data"),
        **parameters,
    )
    catalog.publish(_dataset("data", contract_policy=policy))
    assert catalog.get("data").contract_policy == policy
    assert catalog.offer_for("data", "insurer").policy == policy
