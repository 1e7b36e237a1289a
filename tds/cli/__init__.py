"""The ``tds`` command: run a node of a data space and act as it.

Each group of commands lives in its own module; :data:`GROUPS` and :data:`COMMANDS` list
what ``tds`` offers, in the order ``tds --help`` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

import tds
from tds.cli import (
    _audit,
    _ca,
    _connector,
    _contracts,
    _dataset,
    _demo,
    _jobs,
    _node,
    _status,
)

__all__ = ["COMMANDS", "GROUPS", "app", "main"]

GROUPS: list[tuple[str, typer.Typer]] = [
    ("ca", _ca.app),
    ("node", _node.app),
    ("connector", _connector.app),
    ("dataset", _dataset.app),
    ("negotiation", _contracts.negotiation_app),
    ("agreement", _contracts.agreement_app),
    ("job", _jobs.app),
    ("audit", _audit.app),
]
COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    ("catalog", _dataset.catalog),
    ("negotiate", _contracts.negotiate),
    ("agreements", _contracts.agreements),
    ("status", _status.status),
    ("demo", _demo.demo),
]

app = typer.Typer(
    name="tds",
    help="Trusted data spaces: share what data allows without handing the data over.\n\n"
    "Start with `tds ca init` (once per data space) and `tds node init` (once per node); "
    "`tds status` says what a node needs next.",
    no_args_is_help=True,
    # Help is plain text: "[peers]" is a node.toml section, not markup.
    rich_markup_mode=None,
    # A traceback's local variables could hold key material.
    pretty_exceptions_show_locals=False,
)
for _name, _group in GROUPS:
    app.add_typer(_group, name=_name)
for _name, _command in COMMANDS:
    app.command(_name)(_command)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tds {tds.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Trusted data spaces."""


def main() -> None:
    """The ``tds`` console script."""
    app(prog_name="tds")
