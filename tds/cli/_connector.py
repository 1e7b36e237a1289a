"""``tds connector serve``: run this node's daemon in the foreground."""

from __future__ import annotations

import dataclasses
import enum
import sys
import threading
from typing import Annotated

import typer

from tds.cli._common import ConfigOption, DirOption, load_node_config, reporting_errors, warn
from tds.connector._daemon import Daemon
from tds.connector._logging import configure_logging
from tds.connector._transport import INSECURE_WARNING

__all__ = ["app"]

app = typer.Typer(
    help="The connector daemon.\n\nServe this node's catalog, negotiations and audit log to "
    "its peers over mutual TLS.",
    no_args_is_help=True,
)


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command("serve")
def serve(
    directory: DirOption = None,
    config: ConfigOption = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option("--log-format", help="text for people, json for one JSON object per line."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Turn TLS off. DEVELOPMENT ONLY: anyone can connect as any node.",
        ),
    ] = False,
    stop_with_stdin: Annotated[
        bool,
        typer.Option(
            "--stop-with-stdin",
            help="Also stop when standard input closes: for a daemon another program starts "
            "with a pipe, so that it never outlives that program.",
        ),
    ] = False,
) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C.

    Calls in flight finish (or are cancelled after the grace period) and the node's database
    is closed before it exits. Exit code 2 for a bad node.toml or a port already in use,
    1 when the node's key, certificate or database cannot be used.
    """
    with reporting_errors():
        node_config = load_node_config(directory, config)
        if insecure:
            node_config = dataclasses.replace(node_config, insecure=True)
        configure_logging(
            (log_format.value if log_format else node_config.log_format), node_config.log_level
        )
        if node_config.insecure:
            warn(INSECURE_WARNING)
        stop = threading.Event()
        if stop_with_stdin:
            threading.Thread(target=_stop_at_end_of_input, args=(stop,), daemon=True).start()
        Daemon(node_config).run(stop)


def _stop_at_end_of_input(stop: threading.Event) -> None:
    # Reading returns b"" only at end of input: the parent closed the pipe or exited.
    while sys.stdin.buffer.read(4096):
        pass
    stop.set()
