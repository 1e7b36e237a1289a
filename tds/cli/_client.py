"""Opening this node as a :class:`~tds.connector.Client` for a command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tds.cli._common import load_node_config, reporting_errors
from tds.connector import Client

__all__ = ["node_client"]


@contextlib.contextmanager
def node_client(directory: Path | None, config: Path | None) -> Iterator[Client]:
    """The node chosen by ``--dir``/``--config`` as a client, errors reported the CLI's way."""
    with reporting_errors():
        client = Client(load_node_config(directory, config))
        try:
            yield client
        finally:
            client.close()
