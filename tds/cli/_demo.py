"""``tds demo SECTOR``: a sector's data space, set up and run on this machine."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from tds.cli._common import reporting_errors
from tds.demo import SECTORS, run

__all__ = ["demo"]

Sector = enum.StrEnum("Sector", {name.upper(): name for name in SECTORS})  # type: ignore[misc]


def demo(
    sector: Annotated[Sector, typer.Argument(help="Which data space: " + ", ".join(SECTORS))],
) -> None:
    """Run a sector's story on a data space made on this machine, then remove it.

    Certificates, daemons (one process per node), synthetic data, agreements and jobs are all
    real; nothing is left behind. healthcare: hospitals and an insurer; ocean: marine ranches
    and a port authority; power: a grid company, a bank and an energy office.
    """
    with reporting_errors():
        run(sector.value, echo=typer.echo)
