"""``tds audit``: this node's own audit log, and checking a peer's."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tds.cli._client import node_client
from tds.cli._common import ConfigOption, DirOption, JsonOption, emit
from tds.connector._audit import AuditEntry

__all__ = ["app"]

app = typer.Typer(
    help="The tamper-evident audit log: read this node's, or check that a peer's was never "
    "rewritten.",
    no_args_is_help=True,
)


def _entry(index: int, entry: AuditEntry) -> dict[str, Any]:
    return {"index": index, "kind": entry.kind.value, "time": entry.timestamp, "data": entry.data}


def _entry_line(index: int, entry: AuditEntry) -> str:
    details = json.dumps(entry.data, sort_keys=True, ensure_ascii=False)
    return f"{index:>6}  {entry.timestamp:%Y-%m-%d %H:%M:%S} UTC  {entry.kind.value:<17} {details}"


@app.command("verify")
def verify(
    peer: Annotated[str, typer.Argument(help="The peer: a name from [peers], or NAME@HOST:PORT.")],
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a peer's audit log: signed by the peer, only ever appended to since the last
    check, and holding each entry about this node that it shows.

    Exit code 1, with what was found, when the log was rewritten.
    """
    with node_client(directory, config) as client:
        report = client.verify_audit(peer)
        emit(
            {
                "peer": report.peer,
                "size": report.checkpoint.size,
                "root": report.checkpoint.root.hex(),
                "previous_size": report.previous_size,
                "entries_about_us": [
                    {"kind": e.kind.value, "time": e.timestamp, "data": e.data}
                    for e in report.entries_about_us
                ],
                "valid": True,
            },
            as_json,
            lambda: f"ok: {report.summary}",
        )


@app.command("list")
def list_entries(
    last: Annotated[int, typer.Option("--last", min=1, help="How many recent entries.")] = 20,
    directory: DirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The most recent entries of this node's own audit log."""
    with node_client(directory, config) as client:
        log = client.node.audit_log
        size = log.size
        entries = [
            (index, AuditEntry.from_bytes(log.entry_bytes(index)))
            for index in range(max(0, size - last), size)
        ]
        emit(
            [_entry(index, entry) for index, entry in entries],
            as_json,
            lambda: "\n".join(_entry_line(i, e) for i, e in entries) or "the audit log is empty",
        )
