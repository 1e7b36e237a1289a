"""Ocean data space: buoy and water-quality observations, fishing-vessel catch logs, a port's
vessel registry, and the terms they are shared under.

The story is set in the Yellow Sea and the Bohai off Shandong, China, where marine ranching is
big. Two marine ranches (:data:`RANCHES`) each run water-quality buoys in their licensed waters
(:data:`RANCH_AREAS`) and keep the catch logs of the vessels that land at them; the Qingdao port
authority (:data:`PORT`) holds the vessel registry. Fishing happens in named sea areas
(:data:`SEA_AREAS`) and lands the region's usual :data:`SPECIES`.

:func:`generate` writes a seeded synthetic copy of every party's tables, and the templates
(:func:`observations`, :func:`catch_statistics`, :func:`vessel_registry`) return the usage
policies each party offers them under.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The private module, not tds.connector: the connector's dataset files load sector templates.
from tds.connector._catalog import Column, ColumnType
from tds.errors import ConfigError
from tds.policy import (
    Action,
    BoundingBox,
    Constraint,
    Duration,
    Duty,
    DutyAction,
    Permission,
    Policy,
    Prohibition,
)
from tds.sectors._offer import check_uid, offer_or_agreement
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
    "CATCH_LOGS",
    "OBSERVATIONS",
    "PORT",
    "RANCHES",
    "RANCH_AREAS",
    "SEA_AREAS",
    "SPECIES",
    "VESSEL_REGISTRY",
    "catch_statistics",
    "generate",
    "observations",
    "vessel_registry",
]

# -- the parties and the sea -----------------------------------------------------------------

RANCHES = ("laoshan-ranch", "rongcheng-ranch")
"""The marine ranches: each offers its buoy observations and the catch logs landed at it."""

PORT = "qingdao-port"
"""The port authority that holds the vessel registry."""

SEA_AREAS: dict[str, BoundingBox] = {
    "Bohai Strait": BoundingBox(120.30, 37.80, 121.70, 38.90),
    "North Yellow Sea": BoundingBox(121.80, 37.60, 124.00, 39.20),
    "Rongcheng Bay": BoundingBox(122.40, 37.00, 122.80, 37.50),
    "Laoshan Bay": BoundingBox(120.70, 36.15, 121.00, 36.45),
    "Qingdao Offshore": BoundingBox(120.60, 35.30, 121.90, 36.05),
    "Central Yellow Sea": BoundingBox(122.00, 34.50, 124.50, 36.50),
}
"""Named fishing areas (west, south, east, north in degrees); no two overlap."""

RANCH_AREAS: dict[str, BoundingBox] = {
    "laoshan-ranch": BoundingBox(120.75, 36.20, 120.95, 36.40),  # in Laoshan Bay
    "rongcheng-ranch": BoundingBox(122.60, 37.05, 122.78, 37.25),  # in Rongcheng Bay
}
"""The licensed waters of each ranch: the area it releases observations for."""

SPECIES = (
    "small-yellow-croaker",
    "largehead-hairtail",
    "japanese-spanish-mackerel",
    "japanese-anchovy",
    "swimming-crab",
    "sea-cucumber",
    "pacific-oyster",
    "zhikong-scallop",
)
"""The species landed in the catch logs."""

# -- the tables ------------------------------------------------------------------------------

_STRING, _DECIMAL = ColumnType.STRING, ColumnType.DECIMAL

OBSERVATIONS = TableSchema(
    name="observations",
    title="Buoy and water-quality observations",
    description=(
        "Hourly readings of a ranch's water-quality buoys: position, sea-surface temperature "
        "(degrees C), salinity (PSU), dissolved oxygen (mg/L) and chlorophyll-a (ug/L)."
    ),
    columns=(
        Column("station_id", _STRING),
        Column("latitude", _DECIMAL),
        Column("longitude", _DECIMAL),
        Column("observed_at", ColumnType.TIMESTAMP),
        Column("temperature_c", _DECIMAL),
        Column("salinity_psu", _DECIMAL),
        Column("dissolved_oxygen_mg_l", _DECIMAL),
        Column("chlorophyll_ug_l", _DECIMAL),
    ),
    subject_column="station_id",
    time_column="observed_at",
    location_columns=("latitude", "longitude"),
)

CATCH_LOGS = TableSchema(
    name="catch-logs",
    title="Fishing-vessel catch logs",
    description=(
        "One row per catch landed at a ranch: the vessel (MMSI), the landing day, the species, "
        "the sea area and haul position, and the landed weight in kg."
    ),
    columns=(
        Column("vessel_id", _STRING),
        Column("landed_on", ColumnType.DATE),
        Column("species", _STRING),
        Column("sea_area", _STRING),
        Column("latitude", _DECIMAL),
        Column("longitude", _DECIMAL),
        Column("weight_kg", _DECIMAL),
    ),
    subject_column="vessel_id",
    time_column="landed_on",
    location_columns=("latitude", "longitude"),
)

VESSEL_REGISTRY = TableSchema(
    name="vessel-registry",
    title="Port vessel registry",
    description=(
        "The fishing vessels registered with the port authority: MMSI, name, home port, gear, "
        "length overall in metres and the date of registration."
    ),
    columns=(
        Column("vessel_id", _STRING),
        Column("vessel_name", _STRING),
        Column("home_port", _STRING),
        Column("gear", _STRING),
        Column("length_m", _DECIMAL),
        Column("registered_on", ColumnType.DATE),
    ),
    subject_column="vessel_id",
)

# -- what the generator draws from -----------------------------------------------------------

# Each ranch's offshore buoy, outside its licensed waters (latitude, longitude in hundredths),
# and the sea area it lies in.
_OFFSHORE_BUOYS = {
    "laoshan-ranch": ("Qingdao Offshore", 3600, 12100),
    "rongcheng-ranch": ("North Yellow Sea", 3770, 12290),
}

# Chinese MMSIs start 412, 413 or 414: 3 million numbers in all.
_MMSI_FIRST, _MMSI_SPAN = 412_000_000, 3_000_000
# Each ranch's share of the fleet, as a window over a random ranking: the windows overlap, so
# some vessels land at both ranches.
_RANCH_WINDOWS = {"laoshan-ranch": (0.0, 0.6), "rongcheng-ranch": (0.35, 1.0)}
# The registry lists this share of the fleet, and vessels that never land at the ranches: as
# many as this share of the fleet.
_REGISTERED_SHARE = 0.7
_UNLANDED_SHARE = 0.3

_AREA_NAMES = tuple(SEA_AREAS)
# Where each ranch's vessels fish, by sea area (in the order of SEA_AREAS).
_RANCH_AREA_WEIGHTS = {
    "laoshan-ranch": (0.03, 0.05, 0.02, 0.30, 0.35, 0.25),
    "rongcheng-ranch": (0.10, 0.30, 0.30, 0.02, 0.08, 0.20),
}
# Per species: median landed weight (kg), its lognormal spread, and the sea areas it is caught in.
_OFFSHORE = ("Bohai Strait", "North Yellow Sea", "Qingdao Offshore", "Central Yellow Sea")
_BAYS = ("Laoshan Bay", "Rongcheng Bay")
_SPECIES_TRAITS = {
    "small-yellow-croaker": (
        180.0,
        0.9,
        ("North Yellow Sea", "Qingdao Offshore", "Central Yellow Sea"),
    ),
    "largehead-hairtail": (250.0, 0.9, _OFFSHORE),
    "japanese-spanish-mackerel": (300.0, 1.0, _OFFSHORE),
    "japanese-anchovy": (1500.0, 1.1, _OFFSHORE),
    "swimming-crab": (60.0, 0.8, ("Bohai Strait", "North Yellow Sea", "Qingdao Offshore", *_BAYS)),
    "sea-cucumber": (25.0, 0.7, _BAYS),
    "pacific-oyster": (400.0, 0.8, _BAYS),
    "zhikong-scallop": (350.0, 0.8, _BAYS),
}
# Each species' share of the catches at each ranch in the open season (in the order of SPECIES).
_SPECIES_SHARES = {
    "laoshan-ranch": (0.14, 0.12, 0.10, 0.09, 0.15, 0.14, 0.14, 0.12),
    "rongcheng-ranch": (0.08, 0.12, 0.08, 0.10, 0.12, 0.20, 0.12, 0.18),
}
# The summer fishing moratorium north of 35 N (1 May to 1 September): only the ranches' own
# sea cucumbers, oysters and scallops are landed then, and fewer of them.
_MORATORIUM_MONTHS = (5, 8)
_MORATORIUM_ACTIVITY = 0.3
_FARMED = ("sea-cucumber", "pacific-oyster", "zhikong-scallop")

_PORTS = ("Qingdao", "Rongcheng", "Shidao", "Weihai", "Yantai", "Rizhao")
_PORT_SHARES = (0.30, 0.22, 0.14, 0.14, 0.10, 0.10)
_NAME_PREFIXES = ("LU QING YU", "LU RONG YU", "LU RONG YU", "LU WEI YU", "LU YAN YU", "LU RI YU")
# Gear, its share of the registry, and the median length overall (m) of a vessel using it.
_GEARS = ("bottom-trawl", "gillnet", "purse-seine", "pot", "longline")
_GEAR_SHARES = (0.32, 0.28, 0.12, 0.16, 0.12)
_GEAR_LENGTHS = (36.0, 22.0, 42.0, 14.0, 26.0)
_FIRST_REGISTRATION = np.datetime64("1990-01-01", "D")

# The warmest day of the year at the surface of the Yellow Sea (mid-August); a tropical year.
_WARMEST = np.datetime64("2000-08-15T00:00:00", "s")
_YEAR_DAYS = 365.2425
# The spring bloom peaks in mid-April, the autumn one half a year later.
_BLOOM_AFTER_WARMEST = -122.0
# Slow weather swings of the water temperature: periods in days and amplitudes in degrees C.
_WEATHER_PERIODS = (3.7, 8.3, 17.9)
_WEATHER_AMPLITUDES = (0.35, 0.6, 0.9)

# The last day of the default data: recent, but the same on every run.
_DEFAULT_END = np.datetime64("2026-11-30", "D")

_LIMITS = {
    "stations_per_ranch": (1, 1_000),
    "days": (1, 36_600),
    "vessels": (1, 1_000_000),
    "catches_per_ranch": (0, 100_000_000),
    "seed": (0, 2**128 - 1),
}


def generate(
    directory: Path | str,
    *,
    stations_per_ranch: int = 6,
    days: int = 90,
    vessels: int = 600,
    catches_per_ranch: int = 5_000,
    seed: int = 2026,
    end: np.datetime64 | dt.date | str = _DEFAULT_END,
) -> tuple[GeneratedTable, ...]:
    """Write every party's synthetic tables to ``directory``; what was written.

    Each ranch gets ``<ranch>-observations.csv``: hourly readings over the ``days`` days that
    end with the day ``end``, from ``stations_per_ranch`` buoys inside its licensed waters and
    one offshore buoy outside them; and ``<ranch>-catch-logs.csv``: ``catches_per_ranch``
    catches landed over the same days by vessels of a fleet of ``vessels`` (the two ranches
    share some vessels). The port gets ``qingdao-port-vessel-registry.csv``: about 70% of the
    fleet and vessels that never land at the ranches.

    The same arguments give byte-identical files. Memory holds one chunk of rows at a time
    (plus the fleet), whatever the number of rows. ConfigError for a bad argument.
    """
    stations_per_ranch = _count("stations_per_ranch", stations_per_ranch)
    days = _count("days", days)
    vessels = _count("vessels", vessels)
    catches_per_ranch = _count("catches_per_ranch", catches_per_ranch)
    seed = _count("seed", seed)
    last_day = end_day(end)
    first_day = last_day - np.timedelta64(days - 1, "D")
    if first_day < np.datetime64("1900-01-01", "D"):
        raise ConfigError(f"{days} days ending {last_day} start before 1900")
    folder = output_directory(directory)
    fleet = _Fleet.draw(seed, vessels)

    tables = []
    for ranch in RANCHES:
        stations = _Stations.place(seed, ranch, stations_per_ranch)
        path = folder / f"{ranch}-{OBSERVATIONS.name}.csv"
        chunks = _observation_chunks(seed, ranch, stations, first_day, days)
        tables.append(
            GeneratedTable(ranch, OBSERVATIONS, path, write_csv(path, OBSERVATIONS, chunks))
        )
        path = folder / f"{ranch}-{CATCH_LOGS.name}.csv"
        chunks = _catch_chunks(seed, ranch, fleet, first_day, days, catches_per_ranch)
        tables.append(GeneratedTable(ranch, CATCH_LOGS, path, write_csv(path, CATCH_LOGS, chunks)))
    path = folder / f"{PORT}-{VESSEL_REGISTRY.name}.csv"
    chunks = _registry_chunks(seed, fleet, last_day)
    tables.append(
        GeneratedTable(PORT, VESSEL_REGISTRY, path, write_csv(path, VESSEL_REGISTRY, chunks))
    )
    return tuple(tables)


def _count(name: str, value: object) -> int:
    return count_argument(name, value, *_LIMITS[name])


def _box_hundredths(box: BoundingBox) -> tuple[int, int, int, int]:
    """A box's edges in hundredths of a degree, rounded inwards: south, north, west, east."""
    return (
        math.ceil(box.south * 100 - 1e-6),
        math.floor(box.north * 100 + 1e-6),
        math.ceil(box.west * 100 - 1e-6),
        math.floor(box.east * 100 + 1e-6),
    )


def _text(values: np.ndarray) -> np.ndarray:
    return values.astype(np.dtypes.StringDType())


def _pick(rng: np.random.Generator, cumulative: np.ndarray, size: int) -> np.ndarray:
    """``size`` indices drawn with the weights whose normalised running sum is ``cumulative``."""
    index = np.searchsorted(cumulative, rng.random(size), side="right")
    return np.minimum(index, len(cumulative) - 1)


def _cumulative(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    running = np.cumsum(np.asarray(weights, dtype=np.float64))
    return running / running[-1]


# -- observations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stations:
    """A ranch's buoys, the last one offshore: where they are and how their water differs."""

    ids: np.ndarray
    latitude: np.ndarray  # hundredths of a degree
    longitude: np.ndarray
    seasonal_range: np.ndarray  # half the yearly swing of temperature, degrees C
    warmth: np.ndarray  # offset of the mean temperature
    salinity: np.ndarray  # mean salinity, PSU
    chlorophyll: np.ndarray  # median chlorophyll-a, ug/L
    weather_phase: np.ndarray  # (stations, len(_WEATHER_PERIODS)) radians

    @classmethod
    def place(cls, seed: int, ranch: str, inside: int) -> _Stations:
        rng = chunk_rng(seed, f"{ranch}/stations", 0)
        south, north, west, east = _box_hundredths(RANCH_AREAS[ranch])
        _, offshore_latitude, offshore_longitude = _OFFSHORE_BUOYS[ranch]
        count = inside + 1
        ids = [f"{ranch}-{number:02d}" for number in range(1, inside + 1)] + [f"{ranch}-offshore"]
        offshore = np.arange(count) == inside
        return cls(
            ids=_text(np.array(ids)),
            latitude=np.append(rng.integers(south, north + 1, inside), offshore_latitude),
            longitude=np.append(rng.integers(west, east + 1, inside), offshore_longitude),
            # Deeper offshore water swings less over the year and is saltier and clearer.
            seasonal_range=np.where(offshore, 9.5, 11.0) + rng.normal(0.0, 0.3, count),
            warmth=np.where(offshore, -0.6, 0.0) + rng.normal(0.0, 0.4, count),
            salinity=np.where(offshore, 31.8, 31.2) + rng.normal(0.0, 0.15, count),
            chlorophyll=np.where(offshore, 0.9, 1.8) * rng.lognormal(0.0, 0.2, count),
            weather_phase=rng.uniform(0.0, 2 * np.pi, (count, len(_WEATHER_PERIODS))),
        )


def _observation_chunks(
    seed: int, ranch: str, stations: _Stations, first_day: np.datetime64, days: int
) -> Iterator[dict[str, np.ndarray]]:
    # Rows go hour by hour, every station in each hour, as a buoy network reports.
    count = len(stations.ids)
    first_hour = first_day.astype("datetime64[s]")
    start = 0
    for chunk, size in enumerate(chunk_sizes(count * days * 24)):
        rng = chunk_rng(seed, f"{ranch}/observations", chunk)
        hour, station = np.divmod(np.arange(start, start + size, dtype=np.int64), count)
        start += size
        observed_at = first_hour + (hour * 3600).astype("timedelta64[s]")
        # Days since a warmest day, and the surface's daily cycle: warmest at 14:00 in Shandong
        # (06:00 UTC; the first hour is midnight UTC).
        days_on = (observed_at - _WARMEST).astype(np.float64) / 86400.0
        daily = np.cos(2 * np.pi * (hour % 24 - 6) / 24)
        del hour
        season = np.cos(2 * np.pi * days_on / _YEAR_DAYS)  # 1 in mid-August
        # Blooms in spring and autumn, half a year apart.
        bloom = 1.0 + 0.5 * np.cos(4 * np.pi * (days_on - _BLOOM_AFTER_WARMEST) / _YEAR_DAYS)

        temperature = stations.seasonal_range[station] * season
        temperature += stations.warmth[station] + 15.0
        temperature += 0.4 * daily
        for swing, period in enumerate(_WEATHER_PERIODS):
            phase = stations.weather_phase[station, swing]
            temperature += _WEATHER_AMPLITUDES[swing] * np.sin(2 * np.pi * days_on / period + phase)
        del days_on
        temperature += rng.normal(0.0, 0.15, size)
        np.clip(temperature, -1.5, 30.0, out=temperature)
        # Summer rain and river water freshen the surface.
        salinity = stations.salinity[station] - 0.225 * (1 + season)
        salinity += rng.normal(0, 0.08, size)
        del season
        # Colder water holds more oxygen; algae add a little in the afternoon.
        oxygen = (11.0 - 0.17 * temperature) * rng.normal(0.97, 0.025, size) + 0.1 * daily
        del daily
        chlorophyll = stations.chlorophyll[station] * bloom * rng.lognormal(0.0, 0.45, size)
        del bloom
        yield {
            "station_id": stations.ids[station],
            "latitude": stations.latitude[station],
            "longitude": stations.longitude[station],
            "observed_at": observed_at,
            "temperature_c": hundredths(temperature),
            "salinity_psu": hundredths(np.clip(salinity, 29.0, 33.5)),
            "dissolved_oxygen_mg_l": hundredths(np.clip(oxygen, 4.0, 12.0)),
            "chlorophyll_ug_l": hundredths(np.clip(chlorophyll, 0.1, 25.0)),
        }


# -- the fleet, its catches and the registry -------------------------------------------------


@dataclass(frozen=True)
class _Fleet:
    """The vessels of the story: who lands at which ranch, and who is in the registry."""

    mmsi: np.ndarray  # int64: the fleet first, then the vessels that never land at a ranch
    landings: dict[str, tuple[np.ndarray, np.ndarray]]  # ranch: (vessel indices, cumulative)
    registry: np.ndarray  # indices into mmsi, in the registry's order

    @classmethod
    def draw(cls, seed: int, vessels: int) -> _Fleet:
        rng = chunk_rng(seed, "fleet", 0)
        unlanded = max(1, round(vessels * _UNLANDED_SHARE))
        mmsi = _MMSI_FIRST + rng.choice(_MMSI_SPAN, size=vessels + unlanded, replace=False)
        # Some vessels land far more often than others.
        activity = rng.lognormal(0.0, 0.8, vessels)
        rank = np.empty(vessels, dtype=np.int64)
        rank[rng.permutation(vessels)] = np.arange(vessels)
        landings = {}
        for ranch in RANCHES:
            low, high = _RANCH_WINDOWS[ranch]
            members = np.flatnonzero(
                (rank >= math.floor(low * vessels)) & (rank < math.ceil(high * vessels))
            )
            landings[ranch] = (members, _cumulative(activity[members]))
        registered = rng.permutation(vessels)[: math.ceil(_REGISTERED_SHARE * vessels)]
        registry = rng.permutation(np.concatenate([registered, np.arange(vessels, len(mmsi))]))
        return cls(mmsi=mmsi, landings=landings, registry=registry)


def _catch_chunks(
    seed: int, ranch: str, fleet: _Fleet, first_day: np.datetime64, days: int, rows: int
) -> Iterator[dict[str, np.ndarray]]:
    # Landings per day first (fewer during the moratorium), so the log runs in date order.
    dates = first_day + np.arange(days).astype("timedelta64[D]")
    closed = _moratorium(dates)
    activity = np.where(closed, _MORATORIUM_ACTIVITY, 1.0)
    per_day = chunk_rng(seed, f"{ranch}/catch-days", 0).multinomial(rows, activity / activity.sum())
    last_row_of_day = np.cumsum(per_day)

    members, vessel_weights = fleet.landings[ranch]
    shares = np.array(_SPECIES_SHARES[ranch])
    open_species = _cumulative(shares)
    farmed = np.array([name in _FARMED for name in SPECIES])
    closed_species = _cumulative(np.where(farmed, shares, 0.0))
    ranch_areas = np.array(_RANCH_AREA_WEIGHTS[ranch])
    species_areas = [
        _cumulative(ranch_areas * [area in _SPECIES_TRAITS[name][2] for area in _AREA_NAMES])
        for name in SPECIES
    ]
    edges = np.array([_box_hundredths(SEA_AREAS[area]) for area in _AREA_NAMES])
    medians = np.log([_SPECIES_TRAITS[name][0] for name in SPECIES])
    spreads = np.array([_SPECIES_TRAITS[name][1] for name in SPECIES])
    species_names, area_names = _text(np.array(SPECIES)), _text(np.array(_AREA_NAMES))

    start = 0
    for chunk, size in enumerate(chunk_sizes(rows)):
        rng = chunk_rng(seed, f"{ranch}/catch-logs", chunk)
        row = np.arange(start, start + size, dtype=np.int64)
        start += size
        day = np.searchsorted(last_row_of_day, row, side="right")
        species = np.where(
            closed[day], _pick(rng, closed_species, size), _pick(rng, open_species, size)
        )
        vessel = members[_pick(rng, vessel_weights, size)]
        area = np.empty(size, dtype=np.int64)
        draws = rng.random(size)
        for number, cumulative in enumerate(species_areas):
            caught = species == number
            area[caught] = np.searchsorted(cumulative, draws[caught], side="right")
        area = np.minimum(area, len(_AREA_NAMES) - 1)
        box = edges[area]
        weight = rng.lognormal(medians[species], spreads[species])
        yield {
            "vessel_id": _text(fleet.mmsi[vessel]),
            "landed_on": dates[day],
            "species": species_names[species],
            "sea_area": area_names[area],
            "latitude": rng.integers(box[:, 0], box[:, 1] + 1),
            "longitude": rng.integers(box[:, 2], box[:, 3] + 1),
            "weight_kg": np.maximum(hundredths(np.minimum(weight, 50_000.0)), 1),
        }


def _moratorium(dates: np.ndarray) -> np.ndarray:
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return (month >= _MORATORIUM_MONTHS[0]) & (month <= _MORATORIUM_MONTHS[1])


def _registry_chunks(
    seed: int, fleet: _Fleet, last_day: np.datetime64
) -> Iterator[dict[str, np.ndarray]]:
    ports, prefixes = _text(np.array(_PORTS)), _text(np.array(_NAME_PREFIXES))
    gears, lengths = _text(np.array(_GEARS)), np.log(_GEAR_LENGTHS)
    port_shares, gear_shares = _cumulative(_PORT_SHARES), _cumulative(_GEAR_SHARES)
    span = max(1, int((last_day - _FIRST_REGISTRATION) / np.timedelta64(1, "D")) - 30)
    start = 0
    for chunk, size in enumerate(chunk_sizes(len(fleet.registry))):
        rng = chunk_rng(seed, f"{PORT}/vessel-registry", chunk)
        vessel = fleet.registry[start : start + size]
        start += size
        port = _pick(rng, port_shares, size)
        gear = _pick(rng, gear_shares, size)
        hull = _text(rng.integers(1000, 100_000, size))
        length = np.clip(rng.lognormal(lengths[gear], 0.18), 8.0, 80.0)
        registered = _FIRST_REGISTRATION + rng.integers(0, span, size).astype("timedelta64[D]")
        yield {
            "vessel_id": _text(fleet.mmsi[vessel]),
            "vessel_name": np.strings.add(np.strings.add(prefixes[port], " "), hull),
            "home_port": ports[port],
            "gear": gears[gear],
            "length_m": hundredths(length),
            "registered_on": registered,
        }


# -- usage-policy templates ------------------------------------------------------------------


def observations(
    *,
    uid: str,
    assigner: str,
    target: str,
    area: BoundingBox,
    assignee: str | None = None,
    embargo: Duration | str = "P30D",
    aggregate_embargo: Duration | str | None = None,
) -> Policy:
    """Observations inside ``area``: raw rows once ``embargo`` old, aggregates sooner.

    Raw observations (``read``) are released only when the newest record read is at least
    ``embargo`` old. Aggregates over the area carry no embargo unless ``aggregate_embargo`` is
    given: recent water quality at a ranch is commercially sensitive, so a ranch may hold back
    even aggregates until the newest record in them is that old. Both are logged.
    """
    inside = Constraint("spatial", "isPartOf", area)
    aggregate = [inside]
    if aggregate_embargo is not None:
        aggregate.append(Constraint("dataAge", "gteq", aggregate_embargo))
    log = (Duty(action=DutyAction.LOG),)
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=(
            Permission(
                action=Action.READ,
                constraints=(inside, Constraint("dataAge", "gteq", embargo)),
                duties=log,
            ),
            Permission(action=Action.AGGREGATE, constraints=tuple(aggregate), duties=log),
        ),
    )


def catch_statistics(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purposes: Sequence[str] = ("fisheries-management", "stock-assessment"),
    min_vessels: int = 3,
    area: BoundingBox | None = None,
    embargo: Duration | str | None = None,
) -> Policy:
    """Catch logs only as statistics over at least ``min_vessels`` vessels, for ``purposes``.

    Reading the rows is prohibited: a vessel's catches and haul positions are its business
    secret. An aggregate may cover only catches inside ``area`` when it is given, and only
    catches at least ``embargo`` old when that is given. Every aggregate is logged.
    """
    check_uid(uid)
    constraints = [
        Constraint("purpose", "isAnyOf", purposes),
        Constraint("minCohort", "gteq", min_vessels),
    ]
    if area is not None:
        constraints.append(Constraint("spatial", "isPartOf", area))
    if embargo is not None:
        constraints.append(Constraint("dataAge", "gteq", embargo))
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=(
            Permission(
                action=Action.AGGREGATE,
                constraints=tuple(constraints),
                duties=(Duty(action=DutyAction.LOG),),
            ),
        ),
        prohibitions=(Prohibition(action=Action.READ),),
    )


def vessel_registry(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purposes: Sequence[str] = ("catch-verification",),
    min_peer_set: int = 20,
) -> Policy:
    """The registry for checking vessels against it: a secure join or its cardinality only.

    A ``join`` (private set intersection) tells the requester which of its own vessels are
    registered; a ``cardinality`` tells it how many. Either is for one of ``purposes``, needs
    the requester to bring at least ``min_peer_set`` vessels (so that a handful of guesses
    cannot probe single registrations), and is logged. Rows are never released.
    """
    check_uid(uid)
    constraints = (
        Constraint("purpose", "isAnyOf", purposes),
        Constraint("peerSetSize", "gteq", min_peer_set),
    )
    log = (Duty(action=DutyAction.LOG),)
    return offer_or_agreement(
        uid=uid,
        assigner=assigner,
        target=target,
        assignee=assignee,
        permissions=(
            Permission(action=Action.JOIN, constraints=constraints, duties=log),
            Permission(action=Action.CARDINALITY, constraints=constraints, duties=log),
        ),
    )
