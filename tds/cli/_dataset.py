"""``tds dataset``: this node's catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tds.cli._client import node_client
from tds.cli._common import ConfigOption, DirOption, JsonOption, emit
from tds.connector import Dataset, load_dataset_file

__all__ = ["app", "catalog"]

app = typer.Typer(
    help="This node's catalog.\n\nPublish datasets for peers to negotiate; the data itself "
    "never leaves the node.",
    no_args_is_help=True,
)


def _summary(dataset: Dataset) -> dict[str, object]:
    return {
        "id": dataset.id,
        "title": dataset.title,
        "sector": dataset.sector,
        "columns": [column.to_dict() for column in dataset.columns],
        "source": dataset.source.to_dict(),
        "policy": dataset.contract_policy.uid,
        "visible_to": "every node" if dataset.access_policy is None else "the access policy",
        "counter_offers": dataset.counter_offers,
    }


@app.command("publish")
def publish(
    description: Annotated[
        Path, typer.Argument(help="The dataset description (TOML; see docs/connector.md).")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a published dataset with the same id.")
    ] = False,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a dataset in this node's catalog."""
    with node_client(directory, config) as client:
        dataset = client.publish(load_dataset_file(description, client.name), replace=replace)
        emit(
            _summary(dataset),
            as_json,
            lambda: (
                f"published '{dataset.id}' ({dataset.title}) in {client.name}'s catalog; "
                f"peers see it with `tds catalog {client.name}` and ask for it with "
                f"`tds negotiate {client.name} {dataset.id}`"
            ),
        )


@app.command("list")
def list_datasets(
    directory: DirOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The datasets this node offers."""
    with node_client(directory, config) as client:
        datasets = client.datasets()
        emit(
            [_summary(dataset) for dataset in datasets],
            as_json,
            lambda: (
                "\n".join(f"{d.id}: {d.title} [{d.sector}] from {d.source.path}" for d in datasets)
                or "no datasets published yet: `tds dataset publish FILE`"
            ),
        )


@app.command("withdraw")
def withdraw(
    dataset_id: Annotated[str, typer.Argument(help="The dataset's id.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a dataset out of the catalog; agreements already made on it stay."""
    with node_client(directory, config) as client:
        client.withdraw(dataset_id)
        emit({"withdrawn": dataset_id}, as_json, f"withdrew '{dataset_id}'")


def catalog(
    peer: Annotated[str, typer.Argument(help="The peer: a name from [peers], or NAME@HOST:PORT.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The datasets a peer offers to this node."""
    with node_client(directory, config) as client:
        offers = client.catalog(peer)

        def text() -> str:
            if not offers:
                return f"{peer} offers no datasets to {client.name}"
            lines = []
            for offer in offers:
                columns = ", ".join(f"{c.name} ({c.type.value})" for c in offer.columns)
                lines += [
                    f"{offer.id}: {offer.title} [{offer.sector}]",
                    f"  {offer.description}" if offer.description else "",
                    f"  columns: {columns}",
                    f"  ask for it: tds negotiate {offer.provider} {offer.id}",
                ]
            return "\n".join(line for line in lines if line)

        emit([offer.to_dict() for offer in offers], as_json, text)
