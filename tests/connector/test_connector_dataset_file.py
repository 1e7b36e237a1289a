"""Dataset description files: what `tds dataset publish FILE` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tds.connector._catalog import Catalog, dataset_target
from tds.connector._dataset_file import load_dataset_file, templates
from tds.connector._store import Store
from tds.connector._trust import node_uri
from tds.errors import ConfigError
from tds.policy import PolicyType
from tds.sectors import healthcare

VISITS = """\
id = "visits"
title = "Outpatient visits 2025"
sector = "healthcare"
description = "One row per visit."

[source]
csv = "data/visits.csv"

[columns]
patient_id = "string"
cost = "decimal"

[policy]
template = "healthcare.medical_research"
min_cohort = 20

[access]
allow = ["insurer"]
"""


def _write(tmp_path: Path, text: str, name: str = "visits.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_description_becomes_a_dataset_offered_by_this_node(tmp_path: Path) -> None:
    dataset = load_dataset_file(_write(tmp_path, VISITS), "hospital")
    assert dataset.id == "visits"
    assert [c.to_dict() for c in dataset.columns] == [
        {"name": "patient_id", "type": "string"},
        {"name": "cost", "type": "decimal"},
    ]
    assert dataset.source.path == (tmp_path / "data" / "visits.csv").resolve()
    expected = healthcare.medical_research(
        uid="urn:tds:policy:hospital:visits",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "visits"),
        min_cohort=20,
    )
    assert dataset.contract_policy == expected
    assert dataset.contract_policy.type is PolicyType.OFFER
    assert not dataset.counter_offers
    with Store(tmp_path / "node.db") as store:
        catalog = Catalog(store, "hospital")
        catalog.publish(dataset)
        assert [o.id for o in catalog.offers_for("insurer")] == ["visits"]
        assert catalog.offers_for("lab") == []


def test_a_policy_can_come_from_an_odrl_file(tmp_path: Path) -> None:
    policy = healthcare.medical_research(
        uid="urn:tds:policy:hospital:visits:custom",
        assigner=node_uri("hospital"),
        target=dataset_target("hospital", "visits"),
        max_uses=3,
    )
    (tmp_path / "offer.json").write_text(json.dumps(policy.to_odrl()), encoding="utf-8")
    text = VISITS.replace(
        'template = "healthcare.medical_research"\nmin_cohort = 20', 'odrl = "offer.json"'
    )
    assert load_dataset_file(_write(tmp_path, text), "hospital").contract_policy == policy


def test_an_sqlite_source_names_its_table(tmp_path: Path) -> None:
    text = VISITS.replace('csv = "data/visits.csv"', 'sqlite = "records.db"\ntable = "visits"')
    source = load_dataset_file(_write(tmp_path, text), "hospital").source
    assert (source.kind, source.table) == ("sqlite", "visits")


def test_every_template_is_a_sector_policy() -> None:
    assert sorted(templates()) == [
        "healthcare.medical_research",
        "ocean.catch_statistics",
        "ocean.observations",
        "ocean.vessel_registry",
        "power.enterprise_indicators",
        "power.household_aggregates",
    ]


def test_ocean_areas_are_given_as_four_numbers(tmp_path: Path) -> None:
    text = VISITS.replace(
        '"healthcare.medical_research"\nmin_cohort = 20', '"ocean.observations"'
    ).replace("[access]", 'area = [120.0, 30.0, 123.0, 32.0]\nembargo = "P7D"\n\n[access]')
    dataset = load_dataset_file(_write(tmp_path, text), "ranch")
    assert dataset.contract_policy.uid == "urn:tds:policy:ranch:visits"


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('id = "visits"', 'id = "Visits!"', "not a dataset id"),
        ('id = "visits"\n', "", "'id' is missing"),
        ('sector = "healthcare"', 'sector = "healthcare"\ncolour = "red"', "unknown keys"),
        ('csv = "data/visits.csv"', 'parquet = "v.parquet"', r"\[source\] is csv"),
        ('cost = "decimal"', 'cost = "money"', "use one of"),
        ('template = "healthcare.medical_research"', 'template = "nope"', "needs template"),
        ("min_cohort = 20", 'min_cohort = 20\nuid = "x"', "set by tds"),
        ("min_cohort = 20", "min_cohort = 20\nshoe_size = 9", "unexpected keyword"),
        ('allow = ["insurer"]', "allow = []", r"\[access\] is allow"),
        ('allow = ["insurer"]', 'allow = ["Insurer"]', "not a node name"),
        ('description = "One row per visit."', "counter_offers = 1", "true or false"),
        ('title = "Outpatient visits 2025"', "title = 5", "title must be text"),
        ("[columns]", "columns = 3\n[nothing]", "unknown keys"),
    ],
)
def test_a_bad_description_names_the_file_and_the_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in VISITS
    path = _write(tmp_path, VISITS.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as raised:
        load_dataset_file(path, "hospital")
    assert str(raised.value).startswith(f"{path}: ")


def test_a_template_parameter_of_the_wrong_type_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, VISITS.replace("min_cohort = 20", 'min_cohort = "twenty"'))
    with pytest.raises(ConfigError) as raised:
        load_dataset_file(path, "hospital")
    assert str(raised.value).startswith(f"{path}: ")


def test_unreadable_and_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_dataset_file(tmp_path / "missing.toml", "hospital")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_dataset_file(_write(tmp_path, "id = "), "hospital")
    text = VISITS.replace(
        'template = "healthcare.medical_research"\nmin_cohort = 20', 'odrl = "absent.json"'
    )
    with pytest.raises(ConfigError, match="cannot read the policy"):
        load_dataset_file(_write(tmp_path, text), "hospital")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_dataset_file(_write(tmp_path, text.replace("absent", "broken")), "hospital")


def test_a_description_may_put_the_dataset_in_asset_collections(tmp_path: Path) -> None:
    text = VISITS.replace(
        'description = "One row per visit."',
        'description = "One row per visit."\ncollections = ["urn:tds:assets:personal-data"]',
    )
    dataset = load_dataset_file(_write(tmp_path, text), "hospital")
    assert dataset.collections == ("urn:tds:assets:personal-data",)
    assert load_dataset_file(_write(tmp_path, VISITS, "plain.toml"), "hospital").collections == ()
    one_string = text.replace('["urn:tds:assets:personal-data"]', '"urn:tds:assets:personal-data"')
    with pytest.raises(ConfigError, match="not one string"):
        load_dataset_file(_write(tmp_path, one_string), "hospital")
