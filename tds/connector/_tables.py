"""Reading a dataset's rows from its source on the provider's machine, for a job.

Keys and group values are read as text, exactly as the source holds them, so two nodes whose
sources agree on a key agree on its bytes. Summed values are integers: an ``integer`` column
as is, a ``decimal`` column in hundredths (to the cent), refusing a value with more decimal
places rather than rounding it. Times (``date`` and ``timestamp`` columns) are ISO 8601; a
timestamp without an offset is taken as UTC, and a date as its midnight in UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import numpy as np

from tds.connector._catalog import ColumnType, Dataset
from tds.errors import ConfigError

__all__ = ["DECIMAL_PLACES", "SUMMABLE", "from_units", "instants", "read_columns", "to_units"]

DECIMAL_PLACES = 2
SUMMABLE = (ColumnType.INTEGER, ColumnType.DECIMAL)
_SCALE = Decimal(10) ** DECIMAL_PLACES
# No value that adds up has more integer digits than an int64 (2**63 has 19).
_LARGEST_DIGITS = 18


def read_columns(dataset: Dataset, columns: Sequence[str]) -> list[list[str]]:
    """The values of ``columns`` of ``dataset``, one list per column, as text.

    ConfigError when the dataset lacks a column or its source cannot be read; the message
    names the dataset, never its values.
    """
    declared = {column.name for column in dataset.columns}
    missing = [column for column in columns if column not in declared]
    if missing:
        raise ConfigError(f"dataset {dataset.id} has no column {', '.join(missing)}")
    source = dataset.source
    try:
        if source.kind == "csv":
            rows = _csv_rows(dataset, columns)
        else:
            rows = _sqlite_rows(dataset, columns)
    except (OSError, sqlite3.Error, csv.Error, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the source of dataset {dataset.id}: {error}") from None
    return [list(values) for values in zip(*rows, strict=True)] if rows else [[] for _ in columns]


def _csv_rows(dataset: Dataset, columns: Sequence[str]) -> list[tuple[str, ...]]:
    with dataset.source.path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = reader.fieldnames or []
        absent = [column for column in columns if column not in header]
        if absent:
            raise ConfigError(
                f"the CSV file of dataset {dataset.id} has no column {', '.join(absent)}"
            )
        rows = []
        for number, row in enumerate(reader, start=2):
            values = tuple(row[column] for column in columns)
            if any(value is None for value in values):
                raise ConfigError(f"line {number} of the CSV file of dataset {dataset.id} is short")
            rows.append(values)
        return rows


def _sqlite_rows(dataset: Dataset, columns: Sequence[str]) -> list[tuple[str, ...]]:
    # Column and table names were checked against a strict pattern when the dataset was
    # published, so quoting them is enough once they are known to exist (SQLite reads an
    # unknown double-quoted name as a text literal).
    table = dataset.source.table
    uri = dataset.source.path.as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        present = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
        absent = [column for column in columns if column not in present]
        if not present or absent:
            missing = ", ".join(absent) if present else f"table {table}"
            raise ConfigError(f"the database of dataset {dataset.id} has no {missing}")
        selected = ", ".join(f'CAST("{column}" AS TEXT)' for column in columns)
        rows = connection.execute(f'SELECT {selected} FROM "{table}"').fetchall()
    finally:
        connection.close()
    return [tuple("" if value is None else value for value in row) for row in rows]


def to_units(values: Sequence[str], column_type: ColumnType, what: str) -> list[int]:
    """Summed values as integers: hundredths for a decimal column."""
    if column_type not in SUMMABLE:
        raise ConfigError(f"{what} is a {column_type} column; only integer and decimal add up")
    places = 0 if column_type is ColumnType.INTEGER else DECIMAL_PLACES
    units = []
    for number, text in enumerate(values, start=1):
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise ConfigError(f"row {number} of {what} is not a number") from None
        if not value.is_finite():
            raise ConfigError(f"row {number} of {what} is not a finite number")
        if value and value.adjusted() > _LARGEST_DIGITS:
            raise ConfigError(f"a value in {what} is too large to add up (row {number})")
        if value != value.quantize(Decimal(1).scaleb(-places)):
            raise ConfigError(f"row {number} of {what} has more than {places} decimal places")
        units.append(int(value.scaleb(places)))
    return units


def from_units(units: int, column_type: ColumnType) -> int | str:
    """A sum back in the column's terms: an int, or a decimal as text with its cents."""
    if column_type is ColumnType.INTEGER:
        return units
    return str((Decimal(units) / _SCALE).quantize(Decimal(1).scaleb(-DECIMAL_PLACES)))


def instants(values: Sequence[str], what: str) -> np.ndarray:
    """Times as ``datetime64[us]`` in UTC; ConfigError naming the row of one that is not."""
    # A time column repeats its values (every station reports each hour), so each distinct
    # text is parsed once.
    distinct, positions = np.unique(np.array(values, dtype=np.str_), return_inverse=True)
    parsed = np.empty(len(distinct), dtype="datetime64[us]")
    for number, text in enumerate(distinct.tolist()):
        try:
            instant = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            row = int(np.flatnonzero(positions == number)[0]) + 1
            raise ConfigError(f"row {row} of {what} is not an ISO 8601 date or time") from None
        if instant.utcoffset() is not None:
            instant = instant.astimezone(dt.UTC).replace(tzinfo=None)
        parsed[number] = np.datetime64(instant, "us")
    return parsed[positions]
