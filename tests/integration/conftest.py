"""Fixtures for the integration tests: a fresh data space with its CA, per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dataspace_harness import DataSpace, tds


@pytest.fixture
def space(tmp_path: Path) -> Iterator[DataSpace]:
    tds("ca", "init", "--dir", str(tmp_path / "ca"), "--name", "Test data space", cwd=tmp_path)
    data_space = DataSpace(tmp_path, tmp_path / "ca")
    try:
        yield data_space
    finally:
        data_space.close()
