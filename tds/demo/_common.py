"""The parts every sector's demo shares: the data space, publishing, agreements, audits."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from tds.connector import LocalDataSpace, dataset_target, node_uri
from tds.demo._narration import Narrator
from tds.errors import UsageDeniedError
from tds.policy import Policy, describe
from tds.sectors._tables import GeneratedTable

__all__ = ["agree", "check_audit_logs", "open_space", "publish", "read_table", "refusal"]


def open_space(narrator: Narrator, nodes: Sequence[str], name: str) -> LocalDataSpace:
    """Start a local data space and say what was set up."""
    narrator.heading(f"Setting up '{name}' on this machine")
    space = LocalDataSpace.start(nodes, name=name)
    narrator.say(f"A certificate authority for the data space, in {space.directory / 'ca'}.")
    for node in nodes:
        listen = space.config(node).listen
        narrator.say(
            f"{node}: a certificate from that authority, and a daemon of its own on {listen}",
            bullet=True,
        )
    narrator.say(
        "The daemons are separate processes that only talk gRPC to each other, over mutual TLS."
    )
    return space


def policy_ids(table: GeneratedTable) -> dict[str, str]:
    """The uid, assigner and target a template needs for ``table`` offered by its node."""
    return {
        "uid": f"urn:tds:policy:{table.node}:{table.schema.name}",
        "assigner": node_uri(table.node),
        "target": dataset_target(table.node, table.schema.name),
    }


def publish(
    narrator: Narrator, space: LocalDataSpace, table: GeneratedTable, policy: Policy, sector: str
) -> None:
    """Offer ``table`` from its node under ``policy``, and say so in words."""
    dataset = table.schema.dataset(table.path, sector=sector, contract_policy=policy)
    with space.client(table.node) as client:
        client.publish(dataset)
    offered = f"{table.node} offers '{dataset.id}' ({dataset.title.lower()}, {table.rows:,} rows)"
    terms = describe(policy)
    if terms == narrator.last_terms:
        narrator.say(f"{offered} on the same terms.")
        return
    narrator.say(f"{offered} on these terms:")
    for line in terms:
        narrator.say(line, bullet=True)
    narrator.last_terms = terms


def agree(
    narrator: Narrator, space: LocalDataSpace, consumer: str, provider: str, dataset_id: str
) -> None:
    """``consumer`` negotiates an agreement on ``provider``'s dataset, as offered."""
    with space.client(consumer) as client:
        negotiation = client.negotiate(provider, dataset_id)
    narrator.say(
        f"{consumer} accepted {provider}'s terms for '{dataset_id}': agreement "
        f"{negotiation.agreement_id}, signed by both",
        bullet=True,
    )


def refusal(action: object) -> str:
    """Run ``action`` (a callable) and return the refusal's reason; it must be refused."""
    try:
        action()  # type: ignore[operator]
    except UsageDeniedError as refused:
        return str(refused)
    raise AssertionError("the provider should have refused this job")


def check_audit_logs(narrator: Narrator, space: LocalDataSpace) -> None:
    """Every node checks every other node's audit log."""
    narrator.step("Each node checks the others' audit logs")
    for node in space.nodes:
        with space.client(node) as client:
            for peer in space.nodes:
                if peer != node:
                    report = client.verify_audit(peer)
                    narrator.say(f"{node} checked {peer}: {report.summary}", bullet=True)


def read_table(path: Path, *columns: str) -> list[tuple[str, ...]]:
    """The rows of ``columns`` of a generated CSV file, as text (for the demo's own checks)."""
    with path.open(newline="", encoding="utf-8") as file:
        return [tuple(row[column] for column in columns) for row in csv.DictReader(file)]
