"""Power data space: smart-meter readings, enterprise consumption, a bank's loan book, and the
terms they are shared under.

The story is set in a coastal Chinese city modelled on Ningbo. Its grid company
(:data:`GRID`) reads the smart meters of households in the city's :data:`DISTRICTS` every hour
and bills the enterprises it supplies every month; a bank (:data:`BANK`) keeps a loan book of
enterprise loans; the municipal energy office (:data:`ENERGY_OFFICE`) asks for district load
curves. Enterprises are named by their unified social credit code (:func:`is_valid_uscc`), so
the bank and the grid company can join their tables on it without either revealing its list.

:func:`generate` writes a seeded synthetic copy of the grid company's and the bank's tables, and
the templates (:func:`household_aggregates`, :func:`enterprise_indicators`) return the usage
policies they are offered under.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

# The private module, not tds.connector: the connector's dataset files load sector templates.
from tds.connector._catalog import Column, ColumnType
from tds.errors import ConfigError
from tds.policy import (
    Action,
    Constraint,
    Duty,
    DutyAction,
    Permission,
    Policy,
    Prohibition,
)
from tds.sectors._offer import offer_or_agreement
from tds.sectors._tables import (
    GeneratedTable,
    TableSchema,
    chunk_rng,
    chunk_sizes,
    count_argument,
    end_day,
    hundredths,
    output_directory,
    write_csv,
)

__all__ = [
    "BANK",
    "CITY_TIME",
    "DISTRICTS",
    "ENERGY_OFFICE",
    "ENTERPRISE_CONSUMPTION",
    "GRID",
    "LOAN_BOOK",
    "LOAN_STATUSES",
    "METER_READINGS",
    "USCC_ALPHABET",
    "enterprise_codes",
    "enterprise_indicators",
    "generate",
    "household_aggregates",
    "is_valid_uscc",
    "uscc_check_character",
]

# -- the parties and the city ----------------------------------------------------------------

GRID = "eastgrid"
"""The grid company: households' hourly meter readings and enterprises' monthly consumption."""

BANK = "harbour-bank"
"""The bank: its book of enterprise loans."""

ENERGY_OFFICE = "energy-office"
"""The municipal energy office: asks the grid company for district load curves."""

CITY_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
"""The city's clock, China Standard Time: days and hours of the load curves are local."""

DISTRICTS = (
    "haishu",
    "jiangbei",
    "beilun",
    "zhenhai",
    "yinzhou",
    "fenghua",
    "yuyao",
    "cixi",
)
"""The city's districts, where the metered households live."""

_DISTRICT_NAMES = np.array(DISTRICTS, dtype=np.dtypes.StringDType())

# Each district's administrative division code (GB/T 2260), in the order of DISTRICTS.
_DIVISION_CODES = (
    "330203",
    "330205",
    "330206",
    "330211",
    "330212",
    "330213",
    "330281",
    "330282",
)

# -- unified social credit codes -------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of a unified social credit code (GB 32100-2015): no I, O, S, V or Z."""

# The weight of each of the first 17 characters in the check character: 3**i mod 31.
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# The weight of each of the 8 characters of an organization code (GB 11714) in its check.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CHECK = {10: "X", 11: "0"}  # else the digit

_USCC_VALUE = {character: value for value, character in enumerate(USCC_ALPHABET)}
_DIGITS = frozenset("0123456789")


def _org_value(character: str) -> int:
    """A character's value in an organization code: digits as themselves, A=10 ... Z=35."""
    return int(character) if character in _DIGITS else ord(character) - ord("A") + 10


def _org_check(body: str) -> str:
    remainder = 11 - sum(_org_value(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return _ORG_CHECK.get(remainder, str(remainder))


def uscc_check_character(code17: str) -> str:
    """The check character (18th) of the unified social credit code whose first 17 are ``code17``.

    The characters' values in :data:`USCC_ALPHABET`, weighted by 3**i mod 31, sum to S; the
    check character is the one of value (31 - S mod 31) mod 31. ConfigError unless ``code17`` is
    17 characters of the alphabet.
    """
    if not isinstance(code17, str) or len(code17) != 17:
        raise ConfigError(f"a code to check is 17 characters, not {code17!r:.40}")
    if not set(code17) <= _USCC_VALUE.keys():
        raise ConfigError(f"{code17!r:.40} has characters outside {USCC_ALPHABET}")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(code17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Whether ``code`` is a well-formed unified social credit code (GB 32100-2015).

    Eighteen characters of :data:`USCC_ALPHABET`: the registration authority, the entity type,
    the six-digit administrative division code, the nine-character organization code (eight
    characters and their GB 11714 check character), and the check character of the whole.
    False for anything else, never an exception.
    """
    if not isinstance(code, str) or len(code) != 18 or not set(code) <= _USCC_VALUE.keys():
        return False
    if not set(code[2:8]) <= _DIGITS:
        return False
    if code[16] != _org_check(code[8:16]):
        return False
    return code[17] == uscc_check_character(code[:17])


# Lookup tables from an ASCII byte to its value, for the vectorised codes.
_BYTE_USCC_VALUE = np.zeros(128, dtype=np.int64)
_BYTE_USCC_VALUE[np.frombuffer(USCC_ALPHABET.encode(), np.uint8)] = np.arange(31)
_BYTE_ORG_VALUE = np.zeros(128, dtype=np.int64)
_BYTE_ORG_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_BYTE_ORG_VALUE[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)] = np.arange(10, 36)
_ALPHABET_BYTES = np.frombuffer(USCC_ALPHABET.encode(), np.uint8)
_ORG_CHECK_BYTES = np.frombuffer(b"?123456789X0", np.uint8)  # by 11 - (sum mod 11), 1 to 11

# The code space: an enterprise's index is scrambled by an affine bijection of 0 .. 10**8 - 1,
# and the scrambled number spelt as the organization code's eight characters.
_CODE_SPACE = 10**8
_SCRAMBLE = (48_271_829, 31_415_926)  # multiplier coprime to 10**8, offset


def enterprise_codes(
    indices: np.ndarray, *, division_codes: Sequence[str] = _DIVISION_CODES
) -> np.ndarray:
    """The unified social credit codes of the enterprises ``indices`` (0 to 10**8 - 1).

    Distinct indices get distinct valid codes, always the same ones: registration authority 9
    (market regulation), entity type 1 (enterprise), one of ``division_codes`` (the city's
    districts), and an organization code that is eight digits for an older enterprise and
    ``MA`` and six characters for one registered since 2015. Vectorised: no loop per code.
    """
    values = np.asarray(indices)
    if values.ndim != 1 or not (values.size == 0 or np.issubdtype(values.dtype, np.integer)):
        raise ConfigError("enterprise indices are a one-dimensional array of integers")
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= _CODE_SPACE):
        raise ConfigError(f"enterprise indices are from 0 to {_CODE_SPACE - 1}")
    divisions = list(division_codes)
    if not divisions or not all(
        isinstance(d, str) and len(d) == 6 and set(d) <= _DIGITS for d in divisions
    ):
        raise ConfigError("division codes are six-digit strings")
    multiplier, offset = _SCRAMBLE
    scrambled = (values * multiplier + offset) % _CODE_SPACE
    count = len(values)
    chars = np.empty((count, 18), dtype=np.uint8)
    chars[:, 0] = ord("9")
    chars[:, 1] = ord("1")
    division_bytes = np.frombuffer("".join(divisions).encode(), np.uint8).reshape(-1, 6)
    chars[:, 2:8] = division_bytes[scrambled // 7 % len(divisions)]
    # About three in five are new-style codes, MA and six characters of the alphabet.
    new_style = scrambled % 5 < 3
    digits = scrambled[:, None] // 10 ** np.arange(7, -1, -1) % 10 + ord("0")
    letters = _ALPHABET_BYTES[scrambled[:, None] // 31 ** np.arange(5, -1, -1) % 31]
    new_body = np.concatenate(
        [np.broadcast_to(np.frombuffer(b"MA", np.uint8), (count, 2)), letters], axis=1
    )
    chars[:, 8:16] = np.where(new_style[:, None], new_body, digits)
    org_sum = _BYTE_ORG_VALUE[chars[:, 8:16]] @ np.array(_ORG_WEIGHTS, dtype=np.int64)
    chars[:, 16] = _ORG_CHECK_BYTES[11 - org_sum % 11]
    uscc_sum = _BYTE_USCC_VALUE[chars[:, :17]] @ np.array(_USCC_WEIGHTS, dtype=np.int64)
    chars[:, 17] = _ALPHABET_BYTES[(31 - uscc_sum % 31) % 31]
    return np.ascontiguousarray(chars).view("S18").ravel().astype(np.str_)


# -- the tables ------------------------------------------------------------------------------

_STRING, _DECIMAL, _DATE = ColumnType.STRING, ColumnType.DECIMAL, ColumnType.DATE

METER_READINGS = TableSchema(
    name="meter-readings",
    title="Smart-meter readings, hourly",
    description=(
        "One row per household and hour: the household's meter account, its district, the "
        "hour the reading covers (its start, UTC; the city keeps China Standard Time, UTC+8) "
        "and the energy used in that hour, in kWh."
    ),
    columns=(
        Column("household_id", _STRING),
        Column("district", _STRING),
        Column("read_at", ColumnType.TIMESTAMP),
        Column("kwh", _DECIMAL),
    ),
    subject_column="household_id",
    time_column="read_at",
)

ENTERPRISE_CONSUMPTION = TableSchema(
    name="enterprise-consumption",
    title="Enterprise electricity consumption, monthly",
    description=(
        "One row per enterprise the grid company supplies and month: the enterprise's unified "
        "social credit code, its industry (GB/T 4754 section and a short name), the month (its "
        "first day), the energy billed in kWh, the month's peak demand in kW, and the part of "
        "the month's bill left unpaid (CNY, usually 0)."
    ),
    columns=(
        Column("uscc", _STRING),
        Column("industry", _STRING),
        Column("month", _DATE),
        Column("kwh", _DECIMAL),
        Column("peak_kw", _DECIMAL),
        Column("arrears", _DECIMAL),
    ),
    subject_column="uscc",
    time_column="month",
)

LOAN_BOOK = TableSchema(
    name="loan-book",
    title="Enterprise loan book",
    description=(
        "One row per loan to an enterprise: the borrower's unified social credit code, the "
        "loan, the principal and the amount outstanding (CNY), its status (performing, watch, "
        "overdue or default) and the day it was issued."
    ),
    columns=(
        Column("uscc", _STRING),
        Column("loan_id", _STRING),
        Column("principal", _DECIMAL),
        Column("outstanding", _DECIMAL),
        Column("status", _STRING),
        Column("issued_on", _DATE),
    ),
    subject_column="uscc",
    time_column="issued_on",
)

LOAN_STATUSES = ("performing", "watch", "overdue", "default")
"""A loan's status in the loan book, from sound to lost."""

# -- what the generator draws from -----------------------------------------------------------

_UTC_OFFSET = np.timedelta64(8, "h")  # CITY_TIME

# Per district: share of the households, median size of a household's use (relative), and the
# share of households at home in the day (retired, working from home, small children).
_DISTRICT_SHARES = (0.16, 0.10, 0.12, 0.07, 0.22, 0.08, 0.12, 0.13)
_DISTRICT_SCALES = (0.90, 1.00, 1.05, 1.00, 1.15, 1.10, 1.20, 1.20)
_DISTRICT_AT_HOME = (0.40, 0.25, 0.20, 0.25, 0.15, 0.40, 0.35, 0.30)

# kWh in each local hour, for a household of scale 1: one out all day on weekdays, and one at
# home; both with the night trough at 3 to 5 and the evening peak at 19 to 21.
# [weekday or weekend][morning, afternoon and evening]
_OUT = (
    (
        (0.28, 0.24, 0.21, 0.20, 0.20, 0.23, 0.38, 0.62, 0.55, 0.32, 0.27, 0.28),
        (0.33, 0.28, 0.26, 0.27, 0.33, 0.52, 0.85, 1.05, 1.10, 0.95, 0.70, 0.45),
    ),
    (
        (0.32, 0.27, 0.23, 0.21, 0.20, 0.21, 0.25, 0.33, 0.50, 0.62, 0.60, 0.62),
        (0.58, 0.50, 0.47, 0.48, 0.55, 0.70, 0.95, 1.05, 1.05, 0.92, 0.72, 0.48),
    ),
)
_HOME_WEEKDAY = (
    (0.28, 0.24, 0.21, 0.20, 0.20, 0.24, 0.36, 0.52, 0.55, 0.50, 0.52, 0.62),
    (0.58, 0.50, 0.48, 0.50, 0.58, 0.75, 0.95, 0.98, 0.90, 0.72, 0.52, 0.38),
)
_PROFILES_OUT = np.array(_OUT).reshape(2, 24)  # [weekend, local hour]
_PROFILES_HOME = np.array([_HOME_WEEKDAY, _HOME_WEEKDAY]).reshape(2, 24) * np.array([[1.0], [1.04]])
_EVENING = np.isin(np.arange(24), np.arange(17, 23))
# Heating and cooling in each calendar month: a hot, humid summer and a damp, unheated winter.
_HOUSEHOLD_SEASON = np.array([1.35, 1.25, 1.0, 0.9, 0.9, 1.05, 1.45, 1.5, 1.1, 0.9, 0.95, 1.2])
_HOUSEHOLD_SCALE = 0.75  # about 8 kWh a day in spring and autumn
_VACANT_SHARE = 0.03  # homes empty in the period

# Industries (GB/T 4754-2017 sections): share of enterprises, median monthly kWh, load factor
# (mean over peak demand), seasonal pattern, and the share in distress.
_INDUSTRIES = (
    ("A agriculture", 0.030, 8_000, 0.40, "farm", 0.06),
    ("B mining", 0.005, 150_000, 0.65, "flat", 0.08),
    ("C manufacturing", 0.280, 120_000, 0.60, "industry", 0.10),
    ("D utilities", 0.010, 250_000, 0.75, "flat", 0.03),
    ("E construction", 0.070, 20_000, 0.35, "industry", 0.14),
    ("F wholesale-retail", 0.220, 6_000, 0.40, "services", 0.07),
    ("G transport-storage", 0.060, 25_000, 0.45, "flat", 0.07),
    ("H hospitality", 0.080, 15_000, 0.45, "services", 0.10),
    ("I information-technology", 0.060, 10_000, 0.55, "services", 0.05),
    ("K real-estate", 0.040, 12_000, 0.40, "services", 0.15),
    ("L business-services", 0.070, 4_000, 0.35, "services", 0.06),
    ("M research", 0.020, 9_000, 0.50, "services", 0.04),
    ("O resident-services", 0.055, 3_000, 0.35, "services", 0.07),
)
_INDUSTRY_NAMES = np.array([row[0] for row in _INDUSTRIES], dtype=np.dtypes.StringDType())
_INDUSTRY_SHARES = np.array([row[1] for row in _INDUSTRIES])
_INDUSTRY_MEDIAN_KWH = np.array([row[2] for row in _INDUSTRIES], dtype=np.float64)
_INDUSTRY_LOAD_FACTOR = np.array([row[3] for row in _INDUSTRIES])
_INDUSTRY_DISTRESS = np.array([row[5] for row in _INDUSTRIES])
# By calendar month, January first: factories slow down over the Spring Festival; shops and
# offices cool in summer and heat in winter.
_SEASONS = {
    "industry": (0.95, 0.70, 1.00, 1.02, 1.03, 1.05, 1.08, 1.08, 1.04, 0.98, 1.02, 1.05),
    "services": (1.15, 1.00, 0.90, 0.85, 0.90, 1.10, 1.35, 1.40, 1.15, 0.90, 0.88, 1.05),
    "farm": (0.80, 0.80, 0.95, 1.05, 1.10, 1.20, 1.30, 1.30, 1.15, 1.00, 0.90, 0.80),
    "flat": (1.02, 0.95, 1.00, 0.98, 0.99, 1.01, 1.03, 1.03, 1.00, 0.98, 0.99, 1.02),
}
_SEASON_KINDS = tuple(_SEASONS)
_INDUSTRY_SEASON = np.array([_SEASON_KINDS.index(row[4]) for row in _INDUSTRIES])
_SEASON_TABLE = np.array([_SEASONS[kind] for kind in _SEASON_KINDS])  # [kind, calendar month]
_TARIFF = 0.68  # CNY per kWh, general industry and commerce
_MONTHS = 12

_GRID_SHARE = 0.85  # of the enterprises, supplied by the grid company
_SECOND_LOAN_SHARE = 0.2  # of the loans, an enterprise's second
_BORROWERS_AT_GRID = 0.75  # of the distinct borrowers, grid customers
_LOAN_TERMS = (1, 2, 3, 5)  # years
# The chance of each status (in the order of LOAN_STATUSES) for a sound and a distressed borrower.
_STATUS_SOUND = (0.87, 0.08, 0.035, 0.015)
_STATUS_DISTRESSED = (0.20, 0.25, 0.30, 0.25)

# The last day of the default data: recent, but the same on every run.
_DEFAULT_END = np.datetime64("2026-11-30", "D")

_LIMITS = {
    "households": (1, 100_000_000),
    "districts": (1, len(DISTRICTS)),
    "days": (1, 36_600),
    "enterprises": (1, _CODE_SPACE),
    "loans": (0, 100_000_000),
    "seed": (0, 2**128 - 1),
}


def generate(
    directory: Path | str,
    *,
    households: int = 600,
    districts: int = 8,
    days: int = 7,
    enterprises: int = 4_000,
    loans: int = 1_500,
    seed: int = 2026,
    end: np.datetime64 | dt.date | str = _DEFAULT_END,
) -> tuple[GeneratedTable, ...]:
    """Write the grid company's and the bank's synthetic tables to ``directory``; what was
    written.

    The grid company gets ``eastgrid-meter-readings.csv``: a reading per household per hour
    for ``households`` households in the first ``districts`` of :data:`DISTRICTS`, over the
    ``days`` days (China Standard Time) that end with the day ``end``; and
    ``eastgrid-enterprise-consumption.csv``: twelve months, the last the month of ``end``, for
    about 85% of a population of ``enterprises`` enterprises. The bank gets
    ``harbour-bank-loan-book.csv``: ``loans`` loans to about ``0.8 * loans`` enterprises of the
    same population (a fifth of the loans are a borrower's second), about three quarters of
    them the grid company's customers. Enterprises in distress use less power month by month,
    leave bills unpaid, and are far more often overdue or in default with the bank.

    The same arguments give byte-identical files. Memory holds one chunk of rows at a time
    (plus a few numbers per household and per enterprise), whatever the number of rows.
    ConfigError for a bad argument.
    """
    households = _count("households", households)
    districts = _count("districts", districts)
    days = _count("days", days)
    enterprises = _count("enterprises", enterprises)
    loans = _count("loans", loans)
    seed = _count("seed", seed)
    last_day = end_day(end)
    first_day = last_day - np.timedelta64(days - 1, "D")
    if first_day < np.datetime64("1900-01-01", "D"):
        raise ConfigError(f"{days} days ending {last_day} start before 1900")
    borrowers = loans - int(loans * _SECOND_LOAN_SHARE)
    if borrowers > enterprises:
        raise ConfigError(
            f"{loans} loans go to {borrowers} distinct enterprises, more than the "
            f"{enterprises} enterprises there are"
        )
    folder = output_directory(directory)

    tables = []
    homes = _Households.draw(seed, households, districts)
    path = folder / f"{GRID}-{METER_READINGS.name}.csv"
    chunks = _meter_chunks(seed, homes, first_day, days)
    tables.append(
        GeneratedTable(GRID, METER_READINGS, path, write_csv(path, METER_READINGS, chunks))
    )
    population = _Enterprises.draw(seed, enterprises)
    path = folder / f"{GRID}-{ENTERPRISE_CONSUMPTION.name}.csv"
    chunks = _consumption_chunks(seed, population, last_day)
    rows = write_csv(path, ENTERPRISE_CONSUMPTION, chunks)
    tables.append(GeneratedTable(GRID, ENTERPRISE_CONSUMPTION, path, rows))
    path = folder / f"{BANK}-{LOAN_BOOK.name}.csv"
    chunks = _loan_chunks(seed, population, loans, borrowers, last_day)
    tables.append(GeneratedTable(BANK, LOAN_BOOK, path, write_csv(path, LOAN_BOOK, chunks)))
    return tuple(tables)


def _count(name: str, value: object) -> int:
    return count_argument(name, value, *_LIMITS[name])


def _text(values: np.ndarray) -> np.ndarray:
    return values.astype(np.dtypes.StringDType())


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` and each number zero-padded to ``width`` digits, as text."""
    return np.strings.add(prefix, np.strings.zfill(_text(numbers), width))


def _pick(rng: np.random.Generator, weights: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    """``size`` indices into ``weights``, each drawn with those weights."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    index = np.searchsorted(cumulative / cumulative[-1], rng.random(size), side="right")
    return np.minimum(index, len(cumulative) - 1)


def _pick_each(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of ``weights`` (a few columns), drawn with that row's weights."""
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random(len(weights))[:, None] * cumulative[:, -1:]
    return np.minimum((draws >= cumulative).sum(axis=1), weights.shape[1] - 1)


def _sample(
    rng: np.random.Generator, pool: np.ndarray, weights: np.ndarray, count: int
) -> np.ndarray:
    """``count`` distinct members of ``pool``, drawn one after another with ``weights``.

    Efraimidis and Spirakis: the members with the largest u ** (1 / weight) win. Vectorised,
    unlike numpy's choice without replacement, which draws and redraws.
    """
    keys = np.log(1.0 - rng.random(len(pool))) / weights  # u in (0, 1]
    return pool[np.sort(np.argpartition(-keys, count - 1)[:count])] if count else pool[:0]


# -- meter readings --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Households:
    """The metered households: who they are, where, and how they use power."""

    ids: np.ndarray
    district: np.ndarray  # index into DISTRICTS
    scale: np.ndarray  # multiplies the profile
    occupied: np.ndarray  # False for a home empty in the period: the fridge and standby only
    at_home: np.ndarray  # 0 (out all day on weekdays) to 1 (at home)
    evening: np.ndarray  # multiplies the evening hours

    @classmethod
    def draw(cls, seed: int, count: int, districts: int) -> _Households:
        rng = chunk_rng(seed, "households", 0)
        shares = np.array(_DISTRICT_SHARES[:districts])
        district = _pick(rng, shares, count)
        scale = np.array(_DISTRICT_SCALES)[district] * rng.lognormal(-0.125, 0.5, count)
        scale *= _HOUSEHOLD_SCALE
        occupied = rng.random(count) >= _VACANT_SHARE
        scale = np.where(occupied, scale, 0.06)
        home = rng.random(count) < np.array(_DISTRICT_AT_HOME)[district]
        at_home = np.where(home, rng.uniform(0.6, 1.0, count), rng.uniform(0.0, 0.3, count))
        width = max(7, len(str(count - 1)))
        return cls(
            ids=_numbered("HH", np.arange(count), width),
            district=district,
            scale=scale,
            occupied=occupied,
            at_home=at_home,
            evening=rng.uniform(0.8, 1.25, count),
        )


def _meter_chunks(
    seed: int, homes: _Households, first_day: np.datetime64, days: int
) -> Iterator[dict[str, np.ndarray]]:
    # Rows go hour by hour, every household in each hour, as a meter data system collects them.
    start = 0
    for chunk, size in enumerate(chunk_sizes(len(homes.ids) * days * 24)):
        rng = chunk_rng(seed, METER_READINGS.name, chunk)
        yield _meter_chunk(rng, homes, first_day, start, size)
        start += size


def _meter_chunk(
    rng: np.random.Generator, homes: _Households, first_day: np.datetime64, start: int, size: int
) -> dict[str, np.ndarray]:
    """The readings of rows ``start`` to ``start + size``: what depends on the hour alone is
    worked out once per hour, and the per-row arrays are freed as soon as they are used."""
    count = len(homes.ids)
    first = start // count
    hours = np.arange(first, (start + size - 1) // count + 1)  # since the first local midnight
    day = first_day + (hours // 24).astype("timedelta64[D]")
    weekend = ((day.astype(np.int64) + 3) % 7 >= 5).astype(np.int64)  # 1970-01-01 a Thursday
    local_hour = hours % 24
    season = _HOUSEHOLD_SEASON[day.astype("datetime64[M]").astype(np.int64) % 12]
    out = _PROFILES_OUT[weekend, local_hour] * season
    at_home = _PROFILES_HOME[weekend, local_hour] * season - out
    evening = _EVENING[local_hour]
    # A water heater, an oven or an electric car now and then, more often in the evening.
    spike_chance = np.where(evening, 0.04, 0.01)
    read_at = first_day.astype("datetime64[s]") - _UTC_OFFSET + hours * np.timedelta64(1, "h")

    row = np.arange(start, start + size, dtype=np.int64)
    hour = row // count - first  # index into the arrays by hour
    home = row % count
    del row
    kwh = at_home[hour]
    kwh *= homes.at_home[home]
    kwh += out[hour]
    kwh *= np.where(evening[hour], homes.evening[home], 1.0)
    kwh *= homes.scale[home]
    kwh *= rng.gamma(6.0, 1 / 6, size)
    spike = rng.random(size) < spike_chance[hour]
    spike &= homes.occupied[home]
    kwh[spike] += rng.exponential(1.2, np.count_nonzero(spike))
    del spike
    readings = {"kwh": np.maximum(hundredths(kwh), 0), "read_at": read_at[hour]}
    del kwh, hour
    readings["household_id"] = homes.ids[home]
    readings["district"] = _DISTRICT_NAMES[homes.district[home]]
    return readings


# -- enterprises -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Enterprises:
    """The city's enterprises: who they are, what they do, how big, and which are in trouble."""

    codes: np.ndarray
    industry: np.ndarray  # index into _INDUSTRIES
    base_kwh: np.ndarray  # monthly kWh before season and trend
    growth: np.ndarray  # yearly growth of a sound enterprise
    customer: np.ndarray  # supplied by the grid company
    distressed: np.ndarray
    onset: np.ndarray  # the month (0 to 11) its consumption starts to fall, if distressed
    decline: np.ndarray  # how fast it falls, per month

    @classmethod
    def draw(cls, seed: int, count: int) -> _Enterprises:
        rng = chunk_rng(seed, "enterprises", 0)
        industry = _pick(rng, _INDUSTRY_SHARES, count)
        size = rng.normal(0.0, 1.0, count)  # log of the size against the industry's median
        # Small enterprises fall into distress more often than big ones; exp(-0.4 size) is 1
        # on average, as exp(0.08) / exp(0.08), so the industry's share holds overall.
        distress = _INDUSTRY_DISTRESS[industry] * np.exp(-0.4 * size - 0.08)
        return cls(
            codes=_text(enterprise_codes(np.arange(count))),
            industry=industry,
            base_kwh=_INDUSTRY_MEDIAN_KWH[industry] * np.exp(size),
            growth=rng.normal(0.03, 0.06, count),
            customer=rng.random(count) < _GRID_SHARE,
            distressed=rng.random(count) < distress,
            onset=rng.integers(2, 10, count),
            decline=rng.uniform(0.05, 0.18, count),
        )


def _consumption_chunks(
    seed: int, population: _Enterprises, last_day: np.datetime64
) -> Iterator[dict[str, np.ndarray]]:
    # Rows go month by month, every customer in each month, as the bills are issued.
    customers = np.flatnonzero(population.customer)
    last_month = last_day.astype("datetime64[M]")
    chunk = 0
    for number in range(_MONTHS):
        month = last_month - np.timedelta64(_MONTHS - 1 - number, "M")
        first = month.astype("datetime64[D]")
        hours = ((month + 1).astype("datetime64[D]") - first).astype(np.int64) * 24
        calendar = month.astype(np.int64) % 12
        start = 0
        for size in chunk_sizes(len(customers)):
            rng = chunk_rng(seed, ENTERPRISE_CONSUMPTION.name, chunk)
            chunk += 1
            who = customers[start : start + size]
            start += size
            industry = population.industry[who]
            distressed = population.distressed[who]
            falling = np.maximum(0, number - population.onset[who])
            trend = np.where(
                distressed,
                np.exp(-population.decline[who] * falling),
                (1 + population.growth[who]) ** (number / _MONTHS),
            )
            season = _SEASON_TABLE[_INDUSTRY_SEASON[industry], calendar]
            kwh = population.base_kwh[who] * season * trend * rng.lognormal(0.0, 0.08, size)
            load_factor = _INDUSTRY_LOAD_FACTOR[industry] * rng.uniform(0.8, 1.1, size)
            peak_kw = kwh / (hours * load_factor)
            # A distressed enterprise leaves most bills after the slide begins partly unpaid;
            # a sound one now and then pays a bill late.
            behind = distressed & (falling > 0)
            owes = np.where(behind, rng.random(size) < 0.7, rng.random(size) < 0.01)
            unpaid = np.where(
                behind,
                rng.beta(2.0, 2.0, size) * np.minimum(1.0, 0.3 + 0.15 * falling),
                rng.beta(1.0, 4.0, size),
            )
            kwh_hundredths = hundredths(kwh)
            arrears = np.where(owes, hundredths(kwh_hundredths / 100 * _TARIFF * unpaid), 0)
            yield {
                "uscc": population.codes[who],
                "industry": _INDUSTRY_NAMES[industry],
                "month": np.full(size, first),
                "kwh": kwh_hundredths,
                "peak_kw": hundredths(peak_kw),
                "arrears": arrears,
            }


# -- loans -----------------------------------------------------------------------------------


def _loan_chunks(
    seed: int, population: _Enterprises, loans: int, borrowers: int, last_day: np.datetime64
) -> Iterator[dict[str, np.ndarray]]:
    rng = chunk_rng(seed, LOAN_BOOK.name, 0)
    customers = np.flatnonzero(population.customer)
    others = np.flatnonzero(~population.customer)
    # About three quarters of the borrowers are grid customers, as far as there are enough of
    # each; the bank lends more readily to bigger enterprises.
    at_grid = min(
        max(round(borrowers * _BORROWERS_AT_GRID), borrowers - len(others)), len(customers)
    )

    weight = population.base_kwh**0.3
    chosen = np.concatenate(
        [
            _sample(rng, customers, weight[customers], at_grid),
            _sample(rng, others, weight[others], borrowers - at_grid),
        ]
    )
    seconds = rng.permutation(chosen)[: loans - borrowers]
    borrower = np.concatenate([chosen, seconds])
    # Every loan in the book is still running: issued less than its term ago.
    term_days = rng.choice(np.array(_LOAN_TERMS) * 365, loans)
    age = rng.integers(0, term_days)
    # The loan ids number the loans in the order they were issued.
    order = np.lexsort((borrower, -age))
    borrower, term_days, age = borrower[order], term_days[order], age[order]
    issued_on = last_day - age.astype("timedelta64[D]")

    distressed = population.distressed[borrower]
    weights = np.where(distressed[:, None], _STATUS_DISTRESSED, _STATUS_SOUND)
    status = _pick_each(rng, weights)
    # Bigger enterprises (by their power bill) borrow more, less than in proportion.
    annual_bill = population.base_kwh[borrower] * 12 * _TARIFF
    scale = np.sqrt(annual_bill / 500_000) * rng.lognormal(0.0, 0.6, loans)
    principal = np.clip(400_000 * scale, 50_000, 200_000_000)
    principal = np.rint(principal / 10_000) * 10_000  # whole ten thousands of yuan
    # Repaid evenly over the term; an overdue or defaulted loan stopped being repaid halfway.
    elapsed = age / term_days
    remaining = np.where(status >= 2, np.maximum(1 - 0.5 * elapsed, 0.3), 1 - elapsed)
    years = issued_on.astype("datetime64[Y]").astype(np.int64) + 1970
    loan_ids = np.strings.add(
        np.strings.add("HB", _text(years)), _numbered("-", np.arange(1, loans + 1), 6)
    )
    statuses = _text(np.array(LOAN_STATUSES))
    start = 0
    for size in chunk_sizes(loans):
        part = slice(start, start + size)
        start += size
        yield {
            "uscc": population.codes[borrower[part]],
            "loan_id": loan_ids[part],
            "principal": hundredths(principal[part]),
            "outstanding": hundredths(principal[part] * remaining[part]),
            "status": statuses[status[part]],
            "issued_on": issued_on[part],
        }


# -- the terms -------------------------------------------------------------------------------


def household_aggregates(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purposes: Sequence[str] = ("carbon-accounting", "credit-assessment"),
    min_meters: int = 20,
    epsilon_budget: Decimal | float | None = None,
) -> Policy:
    """Household readings only as aggregates over at least ``min_meters`` meters.

    Reading or joining household rows is prohibited outright (a prohibition wins over any
    permission, including one added later by mistake). Every aggregate is logged; with an
    ``epsilon_budget`` the aggregates also spend a differential-privacy budget and the provider
    adds the matching noise.
    """
    constraints = [
        Constraint("purpose", "isAnyOf", purposes),
        Constraint("minCohort", "gteq", min_meters),
    ]
    duties = [Duty(action=DutyAction.LOG)]
    if epsilon_budget is not None:
        constraints.append(Constraint("dpEpsilon", "lteq", epsilon_budget))
        duties.append(Duty(action=DutyAction.ADD_NOISE))
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=(
            Permission(
                action=Action.AGGREGATE, constraints=tuple(constraints), duties=tuple(duties)
            ),
        ),
        prohibitions=(Prohibition(action=Action.READ), Prohibition(action=Action.JOIN)),
    )


def enterprise_indicators(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purposes: Sequence[str] = ("credit-assessment",),
    min_shared: int = 10,
    min_peer_set: int = 50,
) -> Policy:
    """Enterprise consumption only as indicators over the enterprises both parties know.

    A ``join-sum`` (sums of this table's columns over the enterprises in the requester's set)
    and a ``cardinality`` (how many enterprises the two share) are permitted for one of
    ``purposes``, when at least ``min_shared`` enterprises are behind any released value (so
    nothing is released about a handful of enterprises) and the requester brings at least
    ``min_peer_set`` enterprises to the join (so it cannot probe a single enterprise by
    bringing a set of one). Each use is logged. The list of shared enterprises (``join``) and
    the rows (``read``) are prohibited outright.
    """
    constraints = (
        Constraint("purpose", "isAnyOf", purposes),
        Constraint("minCohort", "gteq", min_shared),
        Constraint("peerSetSize", "gteq", min_peer_set),
    )
    duties = (Duty(action=DutyAction.LOG),)
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=tuple(
            Permission(action=action, constraints=constraints, duties=duties)
            for action in (Action.JOIN_SUM, Action.CARDINALITY)
        ),
        prohibitions=(Prohibition(action=Action.JOIN), Prohibition(action=Action.READ)),
    )
