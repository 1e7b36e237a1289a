"""What every ``tds`` command shares: the node options, output for people or JSON, errors.

A command prints plain sentences for people, or with ``--json`` one JSON document for
programs. Problems go to stderr as ``error: ...``, never as a traceback, with exit code 2 for
a bad configuration or usage and 1 for anything else that went wrong.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from tds.connector._config import NodeConfig
from tds.errors import ConfigError, StorageError, TdsError

__all__ = [
    "ConfigOption",
    "DirOption",
    "JsonOption",
    "emit",
    "fail",
    "format_time",
    "load_node_config",
    "read_input",
    "reporting_errors",
    "warn",
    "write_output",
]

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="The node directory, which holds node.toml (default: the current directory).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The node's node.toml, if it is not in the node directory.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document for programs, not sentences.")
]


def load_node_config(directory: Path | None, config: Path | None) -> NodeConfig:
    """The node chosen by ``--dir`` or ``--config`` (default: ./node.toml)."""
    if directory is not None and config is not None:
        raise ConfigError(
            "give --dir or --config, not both: --config names node.toml itself, whose "
            "[node] directory says where the node directory is"
        )
    if config is not None:
        return NodeConfig.load(config)
    return NodeConfig.load(directory if directory is not None else Path("node.toml"))


def emit(data: object, as_json: bool, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON (sorted, indented) with ``as_json``, else ``text`` for people.

    ``text`` may be a function, called only when the sentences are wanted.
    """
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=_to_json))
    else:
        typer.echo(text() if callable(text) else text)


def warn(message: str) -> None:
    """Tell the person running the command something worth knowing, on stderr."""
    typer.echo(f"warning: {message}", err=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Stop the command with ``error: message`` on stderr and exit code ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a TdsError into ``error: MESSAGE`` on stderr and an exit code, no traceback.

    Exit code 2 for a ConfigError (a bad node.toml, option or input file), 1 for the rest.
    """
    try:
        yield
    except ConfigError as error:
        fail(str(error), code=2)
    except TdsError as error:
        fail(str(error), code=1)


def read_input(path: Path, what: str) -> bytes:
    """The bytes of a file named on the command line; ConfigError (exit 2) if unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: give the path of {what}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory: give the path of {what}") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path} ({what}): {error.strerror or error}") from None


def write_output(path: Path, data: bytes) -> None:
    """Write a public file atomically (replacing one already there)."""
    directory = path.parent
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    except OSError as error:
        raise StorageError(f"cannot write in {directory}: {error.strerror or error}") from None
    try:
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise StorageError(f"cannot write {path}: {error.strerror or error}") from None


def format_time(moment: dt.datetime) -> str:
    """A moment for people: ``2026-03-01 12:30 UTC``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _to_json(value: Any) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if callable(getattr(value, "to_dict", None)):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")
