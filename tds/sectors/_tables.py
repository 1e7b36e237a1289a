"""What every sector's synthetic data shares: a table's schema, and a fast chunked CSV writer.

A generator yields its rows in chunks of numpy arrays, one array per column, and
:func:`write_csv` turns each chunk into CSV text with vectorised string operations: no Python
loop runs per row, and memory holds one chunk at a time whatever the number of rows.

How each column type is given to the writer, and how it is written:

- ``string``: an array of text; written as is (the generators never put commas or quotes in).
- ``integer``: an integer array.
- ``decimal``: an integer array in hundredths (``1234`` is written ``12.34``), the units the
  connector sums decimals in, so that a sum is exact.
- ``date``: ``datetime64[D]``, written ``2026-03-01``.
- ``timestamp``: ``datetime64[s]`` in UTC, written ``2026-03-01T13:00:00Z``.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The private module, not tds.connector: the connector's dataset files load sector templates.
from tds.connector._catalog import Column, ColumnType, Dataset, DataSource
from tds.errors import ConfigError
from tds.policy import Policy

__all__ = [
    "CHUNK_ROWS",
    "GeneratedTable",
    "TableSchema",
    "chunk_rng",
    "chunk_sizes",
    "count_argument",
    "end_day",
    "hundredths",
    "output_directory",
    "write_csv",
]

# Rows per chunk: large enough that numpy's per-call overhead vanishes, small enough that a
# chunk of ten text columns stays well under a hundred megabytes.
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True)
class TableSchema:
    """One kind of table in a sector: its columns and what they mean to the connector.

    ``subject_column`` names who a row is about (a patient, a household, a vessel): the
    connector counts a group's cohort in distinct subjects. ``time_column`` and
    ``location_columns`` (latitude, longitude) let a job ask for a period or an area, and let a
    policy's ``dataAge`` and ``spatial`` constraints be checked.
    """

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    subject_column: str | None = None
    time_column: str | None = None
    location_columns: tuple[str, str] | None = None

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def dataset(
        self,
        path: Path | str,
        *,
        sector: str,
        contract_policy: Policy,
        dataset_id: str | None = None,
        title: str | None = None,
        access_policy: Policy | None = None,
        approval: str = "auto",
    ) -> Dataset:
        """The connector :class:`~tds.connector.Dataset` for a CSV file of this table."""
        return Dataset(
            id=dataset_id or self.name,
            title=title or self.title,
            sector=sector,
            description=self.description,
            columns=self.columns,
            source=DataSource("csv", Path(path)),
            contract_policy=contract_policy,
            access_policy=access_policy,
            approval=approval,
            subject_column=self.subject_column,
            time_column=self.time_column,
            location_columns=self.location_columns,
        )


def chunk_sizes(rows: int, chunk_rows: int = CHUNK_ROWS) -> Iterator[int]:
    """``rows`` split into chunks of at most ``chunk_rows``; ConfigError for a bad count."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ConfigError(f"rows must be a non-negative integer, not {rows!r:.40}")
    while rows > 0:
        size = min(rows, chunk_rows)
        yield size
        rows -= size


def write_csv(
    path: Path | str, schema: TableSchema, chunks: Iterable[Mapping[str, np.ndarray]]
) -> int:
    """Write ``chunks`` to a CSV file at ``path`` under ``schema``'s header; the rows written.

    The file is written beside its final name and renamed into place, so that a reader never
    sees half a table, and an interrupted run leaves no file behind.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    rows = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            file.write(",".join(schema.header) + "\n")
            for chunk in chunks:
                lines = _lines(schema, chunk)
                if lines.size:
                    file.write("\n".join(lines.tolist()) + "\n")
                rows += lines.size
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def _lines(schema: TableSchema, chunk: Mapping[str, np.ndarray]) -> np.ndarray:
    missing = [name for name in schema.header if name not in chunk]
    if missing:
        raise ConfigError(f"a chunk of table {schema.name} lacks {', '.join(missing)}")
    lengths = {len(chunk[name]) for name in schema.header}
    if len(lengths) != 1:
        raise ConfigError(f"the columns of a chunk of table {schema.name} differ in length")
    line = None
    for column in schema.columns:
        text = _text(column, np.asarray(chunk[column.name]))
        line = text if line is None else np.strings.add(np.strings.add(line, ","), text)
    assert line is not None
    return line


def _text(column: Column, values: np.ndarray) -> np.ndarray:
    if column.type is ColumnType.STRING:
        return values.astype(np.dtypes.StringDType())
    if column.type is ColumnType.INTEGER:
        return values.astype(np.int64).astype(np.dtypes.StringDType())
    if column.type is ColumnType.DECIMAL:
        hundredths = values.astype(np.int64)
        sign = np.where(hundredths < 0, "-", "")
        magnitude = np.abs(hundredths)
        whole = (magnitude // 100).astype(np.dtypes.StringDType())
        cents = np.strings.zfill((magnitude % 100).astype(np.dtypes.StringDType()), 2)
        return np.strings.add(np.strings.add(np.strings.add(sign, whole), "."), cents)
    if column.type is ColumnType.DATE:
        return values.astype("datetime64[D]").astype(np.dtypes.StringDType())
    if column.type is ColumnType.TIMESTAMP:
        seconds = values.astype("datetime64[s]").astype(np.dtypes.StringDType())
        return np.strings.add(seconds, "Z")
    raise ConfigError(f"column {column.name} is {column.type}; the generators write no such type")


@dataclass(frozen=True)
class GeneratedTable:
    """A table a generator wrote: whose it is, under which dataset id, where, and how many rows."""

    node: str
    schema: TableSchema
    path: Path
    rows: int


# -- what every generator's arguments and randomness share ---------------------------------


def count_argument(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int from ``low`` to ``high``; ConfigError naming ``name`` if not."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, not {value}")
    return int(value)


def end_day(end: object) -> np.datetime64:
    """The last day a generator covers: a numpy datetime64, a date or ``YYYY-MM-DD`` text."""
    if isinstance(end, bool | int | float) or not isinstance(end, np.datetime64 | dt.date | str):
        raise ConfigError(
            f"end must be a date (numpy datetime64, date or 'YYYY-MM-DD'), not {end!r:.40}"
        )
    try:
        day = np.datetime64(end, "D")
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"end is not a date: {end!r:.40}") from None
    if np.isnat(day) or not np.datetime64("1900-01-01") <= day <= np.datetime64("9999-12-31"):
        raise ConfigError(f"end must be a day from 1900 to 9999, not {end!r:.40}")
    return day


def output_directory(directory: object) -> Path:
    """``directory``, created if missing; ConfigError when it cannot be."""
    if not isinstance(directory, str | Path) or not str(directory):
        raise ConfigError(f"directory must be a path, not {directory!r:.40}")
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot write the tables to {folder}: {error.strerror or error}"
        ) from None
    return folder


def chunk_rng(seed: int, table: str, chunk: int) -> np.random.Generator:
    """The random numbers of one chunk of one table: independent of every other chunk, so
    that a table comes out the same whatever else is generated with it."""
    entropy = (seed, zlib.crc32(table.encode()), chunk)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def hundredths(values: np.ndarray) -> np.ndarray:
    """Amounts as the integer hundredths a decimal column is written from."""
    return np.rint(values * 100).astype(np.int64)
