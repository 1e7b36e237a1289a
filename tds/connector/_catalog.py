"""A node's catalog: the datasets it offers, under which contract policy, and to whom.

A :class:`Dataset` is the provider's full record, with the source of the data; it never
leaves the node. A peer sees a :class:`DatasetOffer`: the description, the columns and the
contract policy, and only when the dataset's access policy lets it see the offer.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tds.connector._pki import check_memberships
from tds.connector._store import Store
from tds.connector._trust import node_uri, validate_node_name
from tds.errors import AlreadyExistsError, ConfigError, DecodeError, NotFoundError, PolicyError
from tds.policy import Action, Permission, Policy, PolicyType, Request, evaluate

__all__ = [
    "Catalog",
    "Column",
    "ColumnType",
    "DataSource",
    "Dataset",
    "DatasetOffer",
    "access_policy",
    "catalog_target",
    "check_dataset_id",
    "dataset_target",
]

_DATASET_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_TITLE = 200
_MAX_SECTOR = 64
_MAX_DESCRIPTION = 2000
_MAX_COLUMNS = 256


# How jobs on a dataset are approved: at once when the agreement permits them, or by a
# person ("one scenario, one authorization").
APPROVALS = ("auto", "manual")


class ColumnType(enum.StrEnum):
    """The type of a dataset column, as the catalog announces it."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


def check_dataset_id(dataset_id: object) -> str:
    """``dataset_id`` if it is a dataset id (``[a-z0-9][a-z0-9._-]{0,63}``); ConfigError if not."""
    if not isinstance(dataset_id, str) or _DATASET_ID.fullmatch(dataset_id) is None:
        raise ConfigError(
            f"{dataset_id!r} is not a dataset id: use 1 to 64 lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return dataset_id


def dataset_target(node_name: str, dataset_id: str) -> str:
    """The ODRL target that names dataset ``dataset_id`` of node ``node_name``."""
    return f"urn:tds:dataset:{validate_node_name(node_name)}:{check_dataset_id(dataset_id)}"


def catalog_target(node_name: str, dataset_id: str) -> str:
    """The ODRL target of a dataset's catalog entry (what an access policy governs)."""
    return f"urn:tds:catalog:{validate_node_name(node_name)}:{check_dataset_id(dataset_id)}"


def access_policy(node_name: str, dataset_id: str, allow: Iterable[str]) -> Policy:
    """A policy that shows the offer of ``dataset_id`` to the nodes in ``allow`` only."""
    names = sorted({validate_node_name(name) for name in allow})
    if not names:
        raise ConfigError("an access policy needs at least one node allowed to see the offer")
    return Policy(
        uid=f"urn:tds:access:{validate_node_name(node_name)}:{check_dataset_id(dataset_id)}",
        type=PolicyType.SET,
        target=catalog_target(node_name, dataset_id),
        permissions=tuple(
            Permission(action=Action.READ, assignee=node_uri(name)) for name in names
        ),
    )


def _text(value: object, what: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise ConfigError(f"{what} is empty")
    if len(value) > limit:
        raise ConfigError(f"{what} is {len(value)} characters long, over the {limit} allowed")
    return value


@dataclass(frozen=True)
class Column:
    """One column of a dataset: its name and type (``type`` may be given as text)."""

    name: str
    type: ColumnType

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or _COLUMN_NAME.fullmatch(self.name) is None:
            raise ConfigError(
                f"{self.name!r} is not a column name: letters, digits and '_', not starting "
                "with a digit, at most 64"
            )
        try:
            object.__setattr__(self, "type", ColumnType(self.type))
        except ValueError:
            known = ", ".join(t.value for t in ColumnType)
            raise ConfigError(
                f"column {self.name!r} has type {self.type!r}; use one of {known}"
            ) from None

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type.value}


def _columns(columns: object) -> tuple[Column, ...]:
    if not isinstance(columns, list | tuple) or not all(isinstance(c, Column) for c in columns):
        raise ConfigError("columns must be a sequence of Column")
    if not 0 < len(columns) <= _MAX_COLUMNS:
        raise ConfigError(f"a dataset has 1 to {_MAX_COLUMNS} columns, not {len(columns)}")
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        raise ConfigError(f"column names repeat: {', '.join(names)}")
    return tuple(columns)


@dataclass(frozen=True)
class DataSource:
    """Where the rows of a dataset live on the provider's machine: a CSV file, or a table of
    an SQLite database."""

    kind: str
    path: Path
    table: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("csv", "sqlite"):
            raise ConfigError(f"a data source is csv or sqlite, not {self.kind!r}")
        object.__setattr__(self, "path", Path(self.path).resolve())
        if (self.kind == "sqlite") != (self.table is not None):
            raise ConfigError("an sqlite source names a table; a csv source does not")
        if self.table is not None and _COLUMN_NAME.fullmatch(self.table) is None:
            raise ConfigError(f"{self.table!r} is not a table name")

    def to_dict(self) -> dict[str, str]:
        source = {"kind": self.kind, "path": str(self.path)}
        if self.table is not None:
            source["table"] = self.table
        return source

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSource:
        return cls(data["kind"], Path(data["path"]), data.get("table"))


@dataclass(frozen=True)
class Dataset:
    """A dataset this node offers: what peers see of it, where its rows are, the contract
    policy it is offered under, and who may see the offer (``access_policy``; None for every
    node of the data space).

    ``collections`` are the asset collections the operator puts the dataset in: rules of its
    offer may target one of them, and every decision on the dataset knows it belongs to them.

    With ``counter_offers`` a request for another policy is answered with the offer as a
    counter-offer; without, it is refused with the differences explained.
    """

    id: str
    title: str
    sector: str
    columns: tuple[Column, ...]
    source: DataSource
    contract_policy: Policy
    description: str = ""
    access_policy: Policy | None = None
    counter_offers: bool = False
    approval: str = "auto"
    subject_column: str | None = None
    time_column: str | None = None
    location_columns: tuple[str, str] | None = None
    collections: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_dataset_id(self.id)
        _text(self.title, "title", _MAX_TITLE)
        _text(self.sector, "sector", _MAX_SECTOR)
        _text(self.description, "description", _MAX_DESCRIPTION, required=False)
        object.__setattr__(self, "columns", _columns(self.columns))
        if not isinstance(self.source, DataSource):
            raise ConfigError("source must be a DataSource")
        if not isinstance(self.contract_policy, Policy):
            raise ConfigError("contract_policy must be a Policy")
        if self.access_policy is not None and not isinstance(self.access_policy, Policy):
            raise ConfigError("access_policy must be a Policy or None")
        if not isinstance(self.counter_offers, bool):
            raise ConfigError("counter_offers must be True or False")
        object.__setattr__(
            self, "collections", check_memberships(self.collections, holder="a dataset")
        )
        if self.approval not in APPROVALS:
            raise ConfigError(
                f"approval is 'auto' (jobs the agreement permits run at once) or 'manual' "
                f"(a person approves each job), not {self.approval!r:.40}"
            )
        self._check_roles()

    def _check_roles(self) -> None:
        types = {column.name: column.type for column in self.columns}

        def check(role: str, name: object, allowed: tuple[ColumnType, ...]) -> None:
            if name not in types:
                raise ConfigError(f"{role} {name!r:.80} is not a column of dataset {self.id}")
            if types[name] not in allowed:  # type: ignore[index]
                kinds = " or ".join(kind.value for kind in allowed)
                raise ConfigError(f"{role} {name} must be a {kinds} column, not {types[name]}")  # type: ignore[index]

        if self.subject_column is not None:
            check("subject_column", self.subject_column, tuple(ColumnType))
        if self.time_column is not None:
            check("time_column", self.time_column, (ColumnType.DATE, ColumnType.TIMESTAMP))
        if self.location_columns is not None:
            pair = self.location_columns
            if not isinstance(pair, tuple | list) or len(pair) != 2 or pair[0] == pair[1]:
                raise ConfigError("location_columns names two columns: latitude, then longitude")
            for name in pair:
                check("a location column", name, (ColumnType.DECIMAL,))
            object.__setattr__(self, "location_columns", tuple(pair))

    def offer(self, provider: str) -> DatasetOffer:
        """What peers see of this dataset in ``provider``'s catalog."""
        return DatasetOffer(
            provider=provider,
            id=self.id,
            title=self.title,
            sector=self.sector,
            description=self.description,
            columns=self.columns,
            policy=self.contract_policy,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "sector": self.sector,
            "description": self.description,
            "columns": [column.to_dict() for column in self.columns],
            "source": self.source.to_dict(),
            "contract_policy": self.contract_policy.to_odrl(),
            "access_policy": None if self.access_policy is None else self.access_policy.to_odrl(),
            "counter_offers": self.counter_offers,
            "approval": self.approval,
            "subject_column": self.subject_column,
            "time_column": self.time_column,
            "location_columns": None
            if self.location_columns is None
            else list(self.location_columns),
            "collections": list(self.collections),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dataset:
        access = data["access_policy"]
        location = data.get("location_columns")
        return cls(
            id=data["id"],
            title=data["title"],
            sector=data["sector"],
            description=data["description"],
            columns=tuple(Column(c["name"], c["type"]) for c in data["columns"]),
            source=DataSource.from_dict(data["source"]),
            contract_policy=Policy.from_odrl(data["contract_policy"]),
            access_policy=None if access is None else Policy.from_odrl(access),
            counter_offers=data["counter_offers"],
            # Datasets published before jobs existed have no approval key.
            approval=data.get("approval", "auto"),
            # Nor these, from before sector datasets said who and where their rows are about.
            subject_column=data.get("subject_column"),
            time_column=data.get("time_column"),
            location_columns=None if location is None else tuple(location),
            # Nor these, from before datasets could be put in asset collections.
            collections=tuple(data.get("collections", ())),
        )


def check_offer_policy(
    policy: Policy, provider: str, dataset_id: str, collections: Iterable[str] | None = None
) -> None:
    """ConfigError unless ``policy`` is an Offer by ``provider`` for exactly this dataset.

    A rule may instead target an asset collection the policy declares: one of the dataset's
    ``collections``, or any, where (as for a peer's offer) they are not known.
    """
    where = f"the policy of dataset {dataset_id!r}"
    if policy.type is not PolicyType.OFFER:
        raise ConfigError(f"{where} must be an Offer (no assignee), not a {policy.type}")
    assigner = node_uri(provider)
    target = dataset_target(provider, dataset_id)
    known = None if collections is None else frozenset(collections)
    for path, rule in policy.rules():
        if policy.assigner_of(rule) != assigner:
            raise ConfigError(
                f"{where}: {path} is assigned by {policy.assigner_of(rule)}, not {assigner}"
            )
        ruled = policy.target_of(rule)
        if ruled != target and policy.collection(ruled) is None:
            raise ConfigError(
                f"{where}: {path} targets {ruled}, not {target} or an asset collection"
            )
        if ruled != target and known is not None and ruled not in known:
            raise ConfigError(
                f"{where}: {path} targets the asset collection {ruled}, which the dataset is "
                f"not in (its collections: {', '.join(sorted(known)) or 'none'})"
            )
        assignee = policy.assignee_of(rule)
        if assignee is not None and policy.collection(assignee) is None:
            raise ConfigError(
                f"{where}: {path} names an assignee; an offer is for any consumer, or for the "
                "members of a party collection"
            )


@dataclass(frozen=True)
class DatasetOffer:
    """A dataset as a peer sees it in ``provider``'s catalog."""

    provider: str
    id: str
    title: str
    sector: str
    description: str
    columns: tuple[Column, ...]
    policy: Policy

    @property
    def target(self) -> str:
        """The ODRL target naming this dataset."""
        return dataset_target(self.provider, self.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "id": self.id,
            "title": self.title,
            "sector": self.sector,
            "description": self.description,
            "columns": [column.to_dict() for column in self.columns],
            "policy": self.policy.to_odrl(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetOffer:
        """An offer received from a peer; DecodeError for anything malformed or inconsistent
        (a policy that is not an Offer by that provider for that dataset)."""
        try:
            provider = validate_node_name(data["provider"])
            dataset_id = check_dataset_id(data["id"])
            columns = data["columns"]
            if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
                raise ConfigError("columns must be a list of {name, type}")
            policy = Policy.from_odrl(data["policy"])
            check_offer_policy(policy, provider, dataset_id)
            return cls(
                provider=provider,
                id=dataset_id,
                title=_text(data["title"], "title", _MAX_TITLE),
                sector=_text(data["sector"], "sector", _MAX_SECTOR),
                description=_text(
                    data["description"], "description", _MAX_DESCRIPTION, required=False
                ),
                columns=_columns(tuple(Column(c.get("name"), c.get("type")) for c in columns)),
                policy=policy,
            )
        except KeyError as error:
            raise DecodeError(f"a dataset offer lacks {error.args[0]!r}") from None
        except (ConfigError, PolicyError) as error:
            raise DecodeError(f"a malformed dataset offer: {error}") from None


def _now_us() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)


class Catalog:
    """The datasets node ``node_name`` offers, kept in its database.

    A withdrawn dataset is no longer offered or negotiable, but stays on record: agreements
    made on it still name its source.
    """

    def __init__(self, store: Store, node_name: str) -> None:
        self._store = store
        self.node_name = validate_node_name(node_name)

    def publish(self, dataset: Dataset, *, replace: bool = False) -> Dataset:
        """Offer ``dataset``; AlreadyExistsError if one with its id is offered and not ``replace``.

        ConfigError if its contract policy is not an Offer by this node for this dataset.
        """
        if not isinstance(dataset, Dataset):
            raise ConfigError(f"expected a Dataset, got {type(dataset).__name__}")
        check_offer_policy(dataset.contract_policy, self.node_name, dataset.id, dataset.collections)
        document = json.dumps(dataset.to_dict(), sort_keys=True, ensure_ascii=False)
        with self._store.transaction() as connection:
            row = connection.execute(
                "SELECT withdrawn_at_us FROM datasets WHERE id = ?", (dataset.id,)
            ).fetchone()
            if row is not None and row[0] is None and not replace:
                raise AlreadyExistsError(
                    f"dataset {dataset.id!r} is already in {self.node_name}'s catalog; "
                    "publish with replace (--replace) to change it"
                )
            connection.execute(
                "INSERT INTO datasets (id, document, published_at_us, withdrawn_at_us) "
                "VALUES (?, ?, ?, NULL) ON CONFLICT (id) DO UPDATE SET "
                "document = excluded.document, published_at_us = excluded.published_at_us, "
                "withdrawn_at_us = NULL",
                (dataset.id, document, _now_us()),
            )
        return dataset

    def withdraw(self, dataset_id: str) -> None:
        """Stop offering ``dataset_id``; NotFoundError if it is not offered."""
        check_dataset_id(dataset_id)
        with self._store.transaction() as connection:
            changed = connection.execute(
                "UPDATE datasets SET withdrawn_at_us = ? WHERE id = ? AND withdrawn_at_us IS NULL",
                (_now_us(), dataset_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"{self.node_name} offers no dataset {dataset_id!r}")

    def get(self, dataset_id: str, *, withdrawn: bool = False) -> Dataset:
        """The dataset ``dataset_id`` (also a withdrawn one with ``withdrawn``)."""
        check_dataset_id(dataset_id)
        with self._store.transaction() as connection:
            row = connection.execute(
                "SELECT document, withdrawn_at_us FROM datasets WHERE id = ?", (dataset_id,)
            ).fetchone()
        if row is None or (row[1] is not None and not withdrawn):
            raise NotFoundError(f"{self.node_name} offers no dataset {dataset_id!r}")
        return Dataset.from_dict(json.loads(row[0]))

    def datasets(self) -> list[Dataset]:
        """Every dataset offered now, by id."""
        with self._store.transaction() as connection:
            rows = connection.execute(
                "SELECT document FROM datasets WHERE withdrawn_at_us IS NULL ORDER BY id"
            ).fetchall()
        return [Dataset.from_dict(json.loads(row[0])) for row in rows]

    def visible_to(self, dataset: Dataset, peer: str) -> bool:
        """Whether ``peer`` may see the offer of ``dataset`` (its access policy permits it)."""
        if dataset.access_policy is None:
            return True
        request = Request(
            assignee=node_uri(peer),
            action=Action.READ,
            target=catalog_target(self.node_name, dataset.id),
        )
        return evaluate(dataset.access_policy, request).permitted

    def dataset_for(self, dataset_id: str, peer: str) -> Dataset:
        """The dataset ``peer`` asks for, if it is offered and visible to ``peer``.

        NotFoundError otherwise, with the same message either way, so that a peer cannot
        learn of datasets hidden from it.
        """
        validate_node_name(peer)
        try:
            dataset = self.get(dataset_id)
        except NotFoundError:
            dataset = None
        if dataset is None or not self.visible_to(dataset, peer):
            raise NotFoundError(f"{self.node_name} offers no dataset {dataset_id!r} to {peer}")
        return dataset

    def offers_for(self, peer: str) -> list[DatasetOffer]:
        """The offers ``peer`` may see, by id."""
        validate_node_name(peer)
        return [
            dataset.offer(self.node_name)
            for dataset in self.datasets()
            if self.visible_to(dataset, peer)
        ]

    def offer_for(self, dataset_id: str, peer: str) -> DatasetOffer:
        """The offer of ``dataset_id`` as ``peer`` sees it (see :meth:`dataset_for`)."""
        return self.dataset_for(dataset_id, peer).offer(self.node_name)
