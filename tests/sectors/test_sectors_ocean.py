"""The ocean sector's synthetic data: what generate() writes, and that the connector can read it."""

from __future__ import annotations

import csv
import datetime as dt
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tds.connector._catalog import ColumnType, dataset_target
from tds.connector._dataset_file import load_dataset_file
from tds.connector._tables import read_columns, to_units
from tds.connector._trust import node_uri
from tds.errors import ConfigError
from tds.policy import BoundingBox, Policy
from tds.sectors import ocean
from tds.sectors._tables import CHUNK_ROWS, GeneratedTable

END = np.datetime64("2026-11-30")
MMSI = re.compile(r"41[234]\d{6}")
FARMED = {"sea-cucumber", "pacific-oyster", "zhikong-scallop"}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedTable, ...]:
    return ocean.generate(tmp_path_factory.mktemp("ocean"))


def table(tables: tuple[GeneratedTable, ...], node: str, name: str) -> GeneratedTable:
    (found,) = [t for t in tables if t.node == node and t.schema.name == name]
    return found


def columns(path: Path) -> dict[str, list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


def numbers(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_generate_writes_each_partys_tables(tables, tmp_path_factory) -> None:
    assert [(t.node, t.schema) for t in tables] == [
        ("laoshan-ranch", ocean.OBSERVATIONS),
        ("laoshan-ranch", ocean.CATCH_LOGS),
        ("rongcheng-ranch", ocean.OBSERVATIONS),
        ("rongcheng-ranch", ocean.CATCH_LOGS),
        ("qingdao-port", ocean.VESSEL_REGISTRY),
    ]
    assert [t.path.name for t in tables] == [
        "laoshan-ranch-observations.csv",
        "laoshan-ranch-catch-logs.csv",
        "rongcheng-ranch-observations.csv",
        "rongcheng-ranch-catch-logs.csv",
        "qingdao-port-vessel-registry.csv",
    ]
    assert [t.rows for t in tables[:4]] == [7 * 90 * 24, 5_000, 7 * 90 * 24, 5_000]
    assert 500 <= tables[4].rows <= 700  # 70% of 600 vessels and 30% more that never land
    assert set(ocean.RANCHES) == set(ocean.RANCH_AREAS)
    assert ocean.PORT == "qingdao-port"


def test_rows_and_headers_match_the_files(tables) -> None:
    for generated in tables:
        lines = generated.path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == ",".join(generated.schema.header)
        assert len(lines) - 1 == generated.rows
        assert all(line.count(",") == len(generated.schema.columns) - 1 for line in lines)
    assert not list(tables[0].path.parent.glob("*.partial"))


def test_the_same_seed_writes_the_same_bytes(tables, tmp_path: Path) -> None:
    again = ocean.generate(tmp_path / "again")
    assert [t.path.read_bytes() for t in again] == [t.path.read_bytes() for t in tables]
    other = ocean.generate(tmp_path / "other", seed=2027)
    for first, second in zip(tables, other, strict=True):
        assert first.path.read_bytes() != second.path.read_bytes()


def test_every_file_loads_through_the_connector(tables) -> None:
    area = ocean.RANCH_AREAS["laoshan-ranch"]
    policies = {
        "observations": ocean.observations(
            uid="urn:p", assigner="urn:a", target="urn:t", area=area
        ),
        "catch-logs": ocean.catch_statistics(uid="urn:p", assigner="urn:a", target="urn:t"),
        "vessel-registry": ocean.vessel_registry(uid="urn:p", assigner="urn:a", target="urn:t"),
    }
    for generated in tables:
        schema = generated.schema
        dataset = schema.dataset(
            generated.path, sector="ocean", contract_policy=policies[schema.name]
        )
        assert (dataset.id, dataset.subject_column) == (schema.name, schema.subject_column)
        values = read_columns(dataset, schema.header)
        assert [len(column) for column in values] == [generated.rows] * len(schema.header)
        for column, texts in zip(schema.columns, values, strict=True):
            if column.type is ColumnType.DECIMAL:
                assert len(to_units(texts, column.type, column.name)) == generated.rows
            elif column.type is ColumnType.DATE:
                np.array(texts, dtype="datetime64[D]")
            elif column.type is ColumnType.TIMESTAMP:
                assert all(text.endswith("Z") for text in texts)
                np.array([text[:-1] for text in texts], dtype="datetime64[s]")
            else:
                assert all(texts)


def test_a_dataset_file_offers_catch_logs_under_the_catch_statistics_template(
    tables, tmp_path: Path
) -> None:
    logs = table(tables, "laoshan-ranch", "catch-logs")
    kinds = "\n".join(f'{c.name} = "{c.type.value}"' for c in ocean.CATCH_LOGS.columns)
    (tmp_path / "catch-logs.toml").write_text(
        f"""\
id = "catch-logs"
title = "Catch logs"
sector = "ocean"
subject_column = "vessel_id"
time_column = "landed_on"
location_columns = ["latitude", "longitude"]

[source]
csv = "{logs.path.as_posix()}"

[columns]
{kinds}

[policy]
template = "ocean.catch_statistics"
min_vessels = 5
area = [120.6, 35.3, 121.9, 36.45]
embargo = "P30D"
""",
        encoding="utf-8",
    )
    dataset = load_dataset_file(tmp_path / "catch-logs.toml", "laoshan-ranch")
    assert dataset.contract_policy == ocean.catch_statistics(
        uid="urn:tds:policy:laoshan-ranch:catch-logs",
        assigner=node_uri("laoshan-ranch"),
        target=dataset_target("laoshan-ranch", "catch-logs"),
        min_vessels=5,
        area=BoundingBox(120.6, 35.3, 121.9, 36.45),
        embargo="P30D",
    )
    assert len(read_columns(dataset, ["vessel_id"])[0]) == logs.rows


def test_sea_areas_do_not_overlap_and_each_ranch_lies_in_one() -> None:
    assert 4 <= len(ocean.SEA_AREAS) <= 6
    boxes = list(ocean.SEA_AREAS.values())
    for number, one in enumerate(boxes):
        for other in boxes[number + 1 :]:
            apart = (
                one.east < other.west
                or other.east < one.west
                or one.north < other.south
                or other.north < one.south
            )
            assert apart, (one, other)
        # The Yellow Sea and the Bohai off Shandong.
        assert 119 < one.west < one.east < 125 and 34 < one.south < one.north < 40
    for box in ocean.RANCH_AREAS.values():
        assert sum(area.covers(box) for area in boxes) == 1
    assert len(ocean.SPECIES) == len(set(ocean.SPECIES)) >= 6
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", name) for name in ocean.SPECIES)


def test_stations_lie_in_their_ranchs_waters_but_one_offshore(tables) -> None:
    for ranch in ocean.RANCHES:
        data = columns(table(tables, ranch, "observations").path)
        positions = {
            (station, float(lat), float(lon))
            for station, lat, lon in zip(
                data["station_id"], data["latitude"], data["longitude"], strict=True
            )
        }
        assert len(positions) == len({p[0] for p in positions}) == 7  # a buoy does not move
        released = ocean.RANCH_AREAS[ranch]
        outside = [p for p in positions if not released.contains(p[1], p[2])]
        assert len(outside) == 1
        _, lat, lon = outside[0]
        # The offshore buoy is in a neighbouring sea area, not in the ranch's own.
        (home,) = [box for box in ocean.SEA_AREAS.values() if box.covers(released)]
        assert not home.contains(lat, lon)
        assert any(box.contains(lat, lon) for box in ocean.SEA_AREAS.values())


def test_observations_are_hourly_and_end_on_the_last_day(tables) -> None:
    data = columns(table(tables, "rongcheng-ranch", "observations").path)
    times = np.array([text.rstrip("Z") for text in data["observed_at"]], dtype="datetime64[s]")
    stations = np.array(data["station_id"])
    assert END <= times.max() < END + np.timedelta64(1, "D")
    assert times.min() == END - np.timedelta64(89, "D")
    for station in np.unique(stations):
        own = np.sort(times[stations == station])
        assert len(own) == 90 * 24
        assert (np.diff(own) == np.timedelta64(3600, "s")).all()


def test_observed_values_are_plausible_for_the_yellow_sea(tables) -> None:
    for ranch in ocean.RANCHES:
        data = columns(table(tables, ranch, "observations").path)
        temperature = numbers(data["temperature_c"])
        salinity = numbers(data["salinity_psu"])
        oxygen = numbers(data["dissolved_oxygen_mg_l"])
        chlorophyll = numbers(data["chlorophyll_ug_l"])
        # September to November: the water cools from late summer to late autumn.
        assert temperature.min() >= 3 and temperature.max() <= 29
        assert temperature[:500].mean() > temperature[-500:].mean() + 6
        assert salinity.min() >= 29 and salinity.max() <= 33.5
        assert 30 <= np.median(salinity) <= 32.5
        assert oxygen.min() >= 4 and oxygen.max() <= 12
        assert 6 <= np.median(oxygen) <= 10
        assert np.corrcoef(temperature, oxygen)[0, 1] < -0.8
        assert chlorophyll.min() >= 0.1 and chlorophyll.max() <= 25
        assert 0.5 <= np.median(chlorophyll) <= 8
        assert len(np.unique(chlorophyll)) > 500


def test_a_year_of_temperatures_follows_the_seasons(tmp_path: Path) -> None:
    (generated, *_) = ocean.generate(
        tmp_path, stations_per_ranch=1, days=365, catches_per_ranch=0, vessels=5
    )
    data = columns(generated.path)
    months = np.array([text[5:7] for text in data["observed_at"]])
    temperature = numbers(data["temperature_c"])
    assert temperature[months == "02"].mean() < 8
    assert temperature[months == "08"].mean() > 22
    assert temperature.min() > -2 and temperature.max() < 30


def test_catches_lie_in_their_sea_area_and_follow_the_species(tables) -> None:
    first = END - np.timedelta64(89, "D")
    for ranch in ocean.RANCHES:
        data = columns(table(tables, ranch, "catch-logs").path)
        for area, lat, lon in zip(
            data["sea_area"], data["latitude"], data["longitude"], strict=True
        ):
            assert ocean.SEA_AREAS[area].contains(float(lat), float(lon)), (area, lat, lon)
        assert set(data["species"]) == set(ocean.SPECIES)
        assert len(set(data["sea_area"])) >= 4
        bays = {"Laoshan Bay", "Rongcheng Bay"}
        for species, area in zip(data["species"], data["sea_area"], strict=True):
            assert (area in bays) >= (species in FARMED)  # farmed species come from the bays
        landed = np.array(data["landed_on"], dtype="datetime64[D]")
        assert first <= landed.min() and landed.max() == END
        assert (np.diff(landed) >= np.timedelta64(0, "D")).all()  # the log runs in date order
        weight = numbers(data["weight_kg"])
        assert weight.min() > 0 and weight.max() <= 50_000
        anchovy = weight[np.array(data["species"]) == "japanese-anchovy"]
        sea_cucumber = weight[np.array(data["species"]) == "sea-cucumber"]
        assert np.median(anchovy) > 10 * np.median(sea_cucumber)


def test_only_farmed_species_land_during_the_summer_moratorium(tmp_path: Path) -> None:
    generate = ocean.generate(
        tmp_path, stations_per_ranch=1, days=365, catches_per_ranch=20_000, vessels=50
    )
    data = columns(generate[1].path)
    months = np.array([int(text[5:7]) for text in data["landed_on"]])
    species = np.array(data["species"])
    closed = (months >= 5) & (months <= 8)
    assert set(species[closed]) == FARMED
    assert set(species[~closed]) == set(ocean.SPECIES)
    # Fewer landings per month while the fleet stays in port.
    assert closed.sum() / 4 < (~closed).sum() / 8 / 2


def test_vessel_ids_are_chinese_mmsis_and_the_registry_is_plausible(tables) -> None:
    registry = columns(table(tables, "qingdao-port", "vessel-registry").path)
    assert all(MMSI.fullmatch(vessel) for vessel in registry["vessel_id"])
    assert len(set(registry["vessel_id"])) == len(registry["vessel_id"])
    assert all(re.fullmatch(r"LU [A-Z]+ YU \d{4,5}", name) for name in registry["vessel_name"])
    assert set(registry["gear"]) == {"bottom-trawl", "gillnet", "purse-seine", "pot", "longline"}
    assert {"Qingdao", "Rongcheng"} <= set(registry["home_port"])
    length = numbers(registry["length_m"])
    assert length.min() >= 8 and length.max() <= 80
    registered = np.array(registry["registered_on"], dtype="datetime64[D]")
    assert registered.max() <= END
    for ranch in ocean.RANCHES:
        logs = columns(table(tables, ranch, "catch-logs").path)
        assert all(MMSI.fullmatch(vessel) for vessel in logs["vessel_id"])


def test_the_ranches_and_the_registry_overlap_in_part(tables) -> None:
    registry = set(columns(table(tables, "qingdao-port", "vessel-registry").path)["vessel_id"])
    landed = {
        ranch: set(columns(table(tables, ranch, "catch-logs").path)["vessel_id"])
        for ranch in ocean.RANCHES
    }
    laoshan, rongcheng = landed.values()
    assert laoshan & rongcheng and laoshan - rongcheng and rongcheng - laoshan
    for vessels in landed.values():
        assert 50 < len(vessels & registry) < len(vessels)
    assert registry - laoshan - rongcheng  # vessels that never land at the ranches


def test_generation_holds_one_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The writer is replaced by a sink that drains each chunk as write_csv would (holding the
    # last one while the next is made), so that tracemalloc sees the generator's memory alone.
    generated = {"bytes": 0, "rows": 0}

    def sink(path, schema, chunks) -> int:
        rows = 0
        for chunk in chunks:
            generated["bytes"] += sum(np.asarray(values).nbytes for values in chunk.values())
            rows += len(chunk[schema.header[0]])
        generated["rows"] += rows
        return rows

    monkeypatch.setattr(ocean, "write_csv", sink)

    def peak(days: int) -> int:
        generated.update(bytes=0, rows=0)
        tracemalloc.start()
        try:
            ocean.generate(tmp_path, stations_per_ranch=20, days=days, catches_per_ranch=300_000)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 21 buoys a ranch: two chunks of observations per ranch, then four (2 million in all).
    assert CHUNK_ROWS < 21 * 24 * 1040 <= 2 * CHUNK_ROWS < 3 * CHUNK_ROWS < 21 * 24 * 2000
    small = peak(days=1040)
    large = peak(days=2000)
    assert generated["rows"] > 2 * 21 * 24 * 2000
    assert large < 1.15 * small
    assert large < generated["bytes"] / 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"stations_per_ranch": 0}, "stations_per_ranch must be from 1"),
        ({"stations_per_ranch": 2.0}, "stations_per_ranch must be an integer"),
        ({"days": 0}, "days must be from 1"),
        ({"days": True}, "days must be an integer"),
        ({"vessels": 0}, "vessels must be from 1"),
        ({"vessels": 10_000_000}, "vessels must be from 1 to 1000000"),
        ({"catches_per_ranch": -1}, "catches_per_ranch must be from 0"),
        ({"seed": -1}, "seed must be from 0"),
        ({"seed": "2026"}, "seed must be an integer"),
        ({"end": "30 November"}, "end is not a date"),
        ({"end": 20261130}, "end must be a date"),
        ({"end": np.datetime64("NaT")}, "end must be a day"),
        ({"end": "1900-01-10", "days": 30}, "start before 1900"),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, arguments, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ocean.generate(tmp_path, **arguments)
    assert not list(tmp_path.iterdir())


def test_a_directory_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot write the tables"):
        ocean.generate(tmp_path / "taken")


def test_end_may_be_a_date_or_text(tmp_path: Path) -> None:
    small = {"stations_per_ranch": 1, "days": 2, "vessels": 3, "catches_per_ranch": 4}
    one = ocean.generate(tmp_path / "a", end="2026-06-01", **small)
    two = ocean.generate(tmp_path / "b", end=dt.date(2026, 6, 1), **small)
    assert [t.path.read_bytes() for t in one] == [t.path.read_bytes() for t in two]
    assert one[0].path.read_text(encoding="utf-8").splitlines()[-1].split(",")[3] == (
        "2026-06-01T23:00:00Z"
    )


def test_templates_round_trip_through_odrl() -> None:
    for policy in (
        ocean.catch_statistics(
            uid="urn:c",
            assigner="urn:ranch",
            target="urn:logs",
            area=ocean.SEA_AREAS["Laoshan Bay"],
            embargo="P90D",
        ),
        ocean.vessel_registry(uid="urn:v", assigner="urn:port", target="urn:registry"),
        ocean.observations(
            uid="urn:o",
            assigner="urn:ranch",
            target="urn:obs",
            area=ocean.RANCH_AREAS["rongcheng-ranch"],
            aggregate_embargo="P7D",
        ),
    ):
        assert Policy.from_odrl(policy.to_odrl()) == policy
