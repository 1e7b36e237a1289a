"""Aggregations over an area and a period, through a provider daemon: the provider's terms
judge the area and period asked for before anything is read, and only rows inside both are
summed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_space import ProviderSpace, provider_space

from tds.connector import (
    Client,
    Column,
    Dataset,
    DataSource,
    JobState,
    dataset_target,
    node_uri,
)
from tds.errors import ConfigError, UsageDeniedError
from tds.policy import BoundingBox
from tds.sectors import ocean

WATERS = BoundingBox(120.75, 36.20, 120.95, 36.40)
NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
OLD = (NOW - dt.timedelta(days=60), NOW - dt.timedelta(days=30))
# station, latitude, longitude, observed_at, temperature_c: two stations inside the waters,
# one outside; readings two months ago, 45 days ago and an hour ago.
ROWS = [
    (station, latitude, longitude, NOW - age, temperature)
    for station, latitude, longitude in [
        (
            "in-1",
            "36.30",
            "120.80",
        ),
        ("in-2", "36.25", "120.90"),
        ("out-1", "36.60", "121.20"),
    ]
    for age, temperature in [
        (dt.timedelta(days=61), "10.00"),
        (dt.timedelta(days=45), "12.50"),
        (dt.timedelta(hours=1), "15.25"),
    ]
]


def _dataset(root: Path, **roles: object) -> Dataset:
    lines = ["station_id,latitude,longitude,observed_at,temperature_c"]
    lines += [f"{s},{lat},{lon},{t:%Y-%m-%dT%H:%M:%SZ},{v}" for s, lat, lon, t, v in ROWS]
    (root / "observations.csv").write_text("\n".join(lines) + "\n")
    return Dataset(
        id="observations",
        title="Buoy observations",
        sector="ocean",
        columns=(
            Column("station_id", "string"),
            Column("latitude", "decimal"),
            Column("longitude", "decimal"),
            Column("observed_at", "timestamp"),
            Column("temperature_c", "decimal"),
        ),
        source=DataSource("csv", root / "observations.csv"),
        contract_policy=ocean.observations(
            uid="urn:tds:policy:ranch:observations",
            assigner=node_uri("ranch"),
            target=dataset_target("ranch", "observations"),
            area=WATERS,
            aggregate_embargo="P30D",
        ),
        **roles,  # type: ignore[arg-type]
    )


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[ProviderSpace]:
    dataset = _dataset(
        tmp_path,
        subject_column="station_id",
        time_column="observed_at",
        location_columns=("latitude", "longitude"),
    )
    yield from provider_space(tmp_path, dataset, provider="ranch", requester="port")


def _ask(nodes: ProviderSpace, **where: object) -> dict:
    with Client(nodes.requester) as port:
        job = port.aggregate(
            {nodes.peer: "observations"},
            purpose="fisheries-management",
            sums=["temperature_c"],
            **where,  # type: ignore[arg-type]
        )
    assert job.state is JobState.SUCCEEDED
    return job.result


def test_rows_inside_the_area_and_period_are_summed_and_no_others(nodes: ProviderSpace) -> None:
    result = _ask(nodes, area=WATERS, period=OLD)
    # Only the 45-day-old readings of the two stations inside the waters.
    assert result["rows"] == [[2, "25.00"]]


def test_the_area_may_be_given_as_text(nodes: ProviderSpace) -> None:
    assert _ask(nodes, area=str(WATERS), period=OLD)["rows"] == [[2, "25.00"]]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ({"period": OLD}, "the request gives no location"),
        ({"area": WATERS}, "the request gives no data_time"),
        (
            {"area": BoundingBox(120.7, 36.2, 120.95, 36.4), "period": OLD},
            "the area asked for lies partly inside the box and partly outside",
        ),
        (
            {"area": BoundingBox(121.0, 36.2, 121.5, 36.4), "period": OLD},
            "is not within the box west 120.75",
        ),
        (
            {"area": WATERS, "period": (NOW - dt.timedelta(days=7), NOW)},
            "the age of the newest record",
        ),
    ],
)
def test_the_terms_judge_the_area_and_period_asked_for(
    nodes: ProviderSpace, where: dict[str, object], reason: str
) -> None:
    with pytest.raises(UsageDeniedError, match=reason):
        _ask(nodes, **where)


def test_an_area_over_a_dataset_without_location_columns_is_refused(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, time_column="observed_at")
    for nodes in provider_space(tmp_path, dataset, provider="ranch", requester="port"):
        with pytest.raises(ConfigError, match="no location columns to select an area"):
            _ask(nodes, area=WATERS, period=OLD)


def test_a_bad_area_text_is_refused_before_any_peer_is_asked(nodes: ProviderSpace) -> None:
    with pytest.raises(ConfigError, match="area: not a bounding box"):
        _ask(nodes, area="somewhere", period=OLD)
