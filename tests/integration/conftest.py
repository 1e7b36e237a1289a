"""Fixtures for the integration tests: a fresh data space with its CA, per test or per module."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataspace_harness import DataSpace, tds


@contextlib.contextmanager
def _data_space(root: Path) -> Iterator[DataSpace]:
    tds("ca", "init", "--dir", str(root / "ca"), "--name", "Test data space", cwd=root)
    data_space = DataSpace(root, root / "ca")
    try:
        yield data_space
    finally:
        data_space.close()


@pytest.fixture
def space(tmp_path: Path) -> Iterator[DataSpace]:
    with _data_space(tmp_path) as data_space:
        yield data_space


@pytest.fixture(scope="module")
def shared_space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataSpace]:
    """One data space for the tests of a module that leave it as they found it."""
    with _data_space(tmp_path_factory.mktemp("space")) as data_space:
        yield data_space
