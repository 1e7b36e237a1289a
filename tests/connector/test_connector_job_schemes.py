"""Aggregations under either additive scheme: the requester's key (Paillier or
Okamoto-Uchiyama) decides how providers encrypt, and the totals come out the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from provider_space import provider_space, visits_dataset

from tds.connector import Client, Column, DataSource, JobState
from tds.errors import ConfigError
from tds.policy import Action, Permission

REGIONS = ["north", "south", "east"]
ROWS = [(f"P{number:06d}", REGIONS[number % 3], number % 7) for number in range(600)]


def _dataset(tmp_path: Path):
    dataset = visits_dataset(tmp_path, [row[0] for row in ROWS], (Permission(action=Action.USE),))
    lines = ["patient_id,region,visits", *(",".join(map(str, row)) for row in ROWS)]
    (tmp_path / "regions.csv").write_text("\n".join(lines) + "\n")
    return dataclasses.replace(
        dataset,
        columns=(Column("patient_id", "string"), Column("region", "string"),
                 Column("visits", "integer")),
        source=DataSource("csv", tmp_path / "regions.csv"),
    )  # fmt: skip


@pytest.mark.parametrize("scheme", ["paillier", "ou"])
def test_an_aggregation_adds_up_the_same_under_either_scheme(tmp_path: Path, scheme: str) -> None:
    for space in provider_space(tmp_path, _dataset(tmp_path), provider="hospital",
                                requester="insurer"):  # fmt: skip
        with Client(space.requester) as client:
            job = client.aggregate(
                {space.peer: "visits"}, purpose="research", group_by=["region"],
                groups=[[region] for region in REGIONS], sums=["visits"], scheme=scheme,
            )  # fmt: skip
            with pytest.raises(ConfigError, match="'paillier' or 'ou'"):
                client.aggregate({space.peer: "visits"}, purpose="research", scheme="rsa")
        assert job.state is JobState.SUCCEEDED
        expected = {
            region: [
                sum(1 for r in ROWS if r[1] == region),
                sum(r[2] for r in ROWS if r[1] == region),
            ]
            for region in REGIONS
        }
        assert {row[0]: row[1:] for row in job.result["rows"]} == expected
