"""Dataset description files: what ``tds dataset publish FILE`` reads.

A description is TOML::

    id = "visits"
    title = "Hospital visits 2025"
    sector = "healthcare"
    description = "One row per outpatient visit, ICD-10 coded."
    counter_offers = false          # answer a different request with the offer (else refuse)
    approval = "auto"               # or "manual": a person approves each job (tds job approve)
    subject_column = "patient_id"   # cohorts count distinct patients, not rows (optional)
    time_column = "visit_date"      # lets jobs ask for a period; needed by dataAge (optional)
    # location_columns = ["latitude", "longitude"]   # areas; needed by spatial (optional)
    # collections = ["urn:tds:assets:personal-data"]  # asset collections it is in (optional)

    [source]
    csv = "visits.csv"              # or: sqlite = "records.db" and table = "visits"

    [columns]
    patient_id = "string"
    icd10 = "string"
    visit_date = "date"
    cost = "decimal"

    [policy]                        # the contract policy offered
    template = "healthcare.medical_research"
    min_cohort = 10                 # the template's own parameters
    # or instead: odrl = "offer.json" (an ODRL Offer by this node for this dataset)

    [access]                        # who sees the offer in the catalog (default: every node)
    allow = ["insurer"]

Paths are relative to the file.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from tds.connector._catalog import (
    Column,
    Dataset,
    DataSource,
    access_policy,
    check_dataset_id,
    dataset_target,
)
from tds.connector._trust import node_uri
from tds.errors import ConfigError, PolicyError
from tds.policy import BoundingBox, Policy

__all__ = ["load_dataset_file", "templates"]


@functools.cache
def templates() -> dict[str, Callable[..., Policy]]:
    """The sector templates a dataset file may name, by ``sector.function``.

    Imported on first use, not with this module: the sector modules build on the connector.
    """
    from tds.sectors import healthcare, ocean, power

    return {
        "healthcare.medical_research": healthcare.medical_research,
        "ocean.catch_statistics": ocean.catch_statistics,
        "ocean.observations": ocean.observations,
        "ocean.vessel_registry": ocean.vessel_registry,
        "power.enterprise_indicators": power.enterprise_indicators,
        "power.household_aggregates": power.household_aggregates,
    }


_TOP_KEYS = {
    "id",
    "title",
    "sector",
    "description",
    "counter_offers",
    "approval",
    "subject_column",
    "time_column",
    "location_columns",
    "collections",
    "source",
    "columns",
}
_TABLES = {"policy", "access"}


def load_dataset_file(path: str | Path, node_name: str) -> Dataset:
    """The dataset described in ``path`` (format in the module doc), offered by ``node_name``.

    ConfigError naming the file and the key for anything missing, unknown or mistyped.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"dataset description {path} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read dataset description {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None

    try:
        return _dataset(document, path, node_name)
    except (ConfigError, PolicyError) as error:
        if str(error).startswith(f"{path}: "):
            raise
        raise ConfigError(f"{path}: {error}") from None


def _dataset(document: dict[str, Any], path: Path, node_name: str) -> Dataset:
    def problem(message: str) -> ConfigError:
        return ConfigError(f"{path}: {message}")

    unknown = set(document) - _TOP_KEYS - _TABLES
    if unknown:
        raise problem(f"unknown keys {sorted(unknown)}; known: {sorted(_TOP_KEYS | _TABLES)}")
    for key in ("id", "title", "sector", "source", "columns", "policy"):
        if key not in document:
            raise problem(f"{key!r} is missing")
    dataset_id = check_dataset_id(document["id"])
    base = path.parent
    source = _source(_table(document, "source", problem), base, problem)
    columns = tuple(
        Column(name, kind) for name, kind in _table(document, "columns", problem).items()
    )
    policy = _policy(_table(document, "policy", problem), base, node_name, dataset_id, problem)
    access = _table(document, "access", problem) if "access" in document else None
    counter_offers = document.get("counter_offers", False)
    if not isinstance(counter_offers, bool):
        raise problem("counter_offers must be true or false")
    return Dataset(
        id=dataset_id,
        title=document["title"],
        sector=document["sector"],
        description=document.get("description", ""),
        columns=columns,
        source=source,
        contract_policy=policy,
        access_policy=None if access is None else _access(access, node_name, dataset_id, problem),
        counter_offers=counter_offers,
        approval=document.get("approval", "auto"),
        subject_column=document.get("subject_column"),
        time_column=document.get("time_column"),
        location_columns=document.get("location_columns"),
        collections=document.get("collections", ()),
    )


def _table(document: Mapping[str, Any], key: str, problem: Callable[[str], ConfigError]) -> dict:  # type: ignore[type-arg]
    value = document[key]
    if not isinstance(value, dict):
        raise problem(f"[{key}] must be a table")
    return value


def _source(table: dict[str, Any], base: Path, problem: Callable[[str], ConfigError]) -> DataSource:
    if set(table) == {"csv"} and isinstance(table["csv"], str):
        return DataSource("csv", base / table["csv"])
    if set(table) == {"sqlite", "table"} and all(isinstance(v, str) for v in table.values()):
        return DataSource("sqlite", base / table["sqlite"], table["table"])
    raise problem('[source] is csv = "FILE", or sqlite = "FILE" with table = "TABLE"')


def _policy(
    table: dict[str, Any],
    base: Path,
    node_name: str,
    dataset_id: str,
    problem: Callable[[str], ConfigError],
) -> Policy:
    if "odrl" in table:
        if set(table) != {"odrl"}:
            raise problem("[policy] with odrl = FILE takes no other keys")
        odrl_path = base / table["odrl"]
        try:
            return Policy.from_odrl(odrl_path.read_bytes())
        except OSError as error:
            raise problem(f"cannot read the policy {odrl_path}: {error}") from None
    name = table.get("template")
    if name not in templates():
        raise problem(f'[policy] needs template = one of {sorted(templates())}, or odrl = "FILE"')
    parameters = {key: _parameter(key, value) for key, value in table.items() if key != "template"}
    for reserved in ("uid", "assigner", "target", "assignee"):
        if reserved in parameters:
            raise problem(f"[policy] {reserved} is set by tds, not by the file")
    try:
        return templates()[name](
            uid=f"urn:tds:policy:{node_name}:{dataset_id}",
            assigner=node_uri(node_name),
            target=dataset_target(node_name, dataset_id),
            **parameters,
        )
    except TypeError as error:
        raise problem(f"[policy] {error}") from None


def _parameter(key: str, value: object) -> object:
    if key == "area" and isinstance(value, list) and len(value) == 4:
        return BoundingBox(*value)
    if key == "epsilon_budget" and isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, list):
        return tuple(value)
    return value


def _access(
    table: dict[str, Any], node_name: str, dataset_id: str, problem: Callable[[str], ConfigError]
) -> Policy:
    allow = table.get("allow")
    if set(table) != {"allow"} or not isinstance(allow, list) or not allow:
        raise problem('[access] is allow = ["NODE", ...], the nodes that see the offer')
    return access_policy(node_name, dataset_id, allow)
