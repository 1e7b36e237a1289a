"""Fixtures for connector tests: a data space with a CA and the nodes alice, bob and carol.

The CA and the node directories are made once per session; each test that asks for
``data_space`` gets its own copy, so it may revoke, publish and write databases freely.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tds.connector._pki import CertificateAuthority, NodeIdentity, enroll_node
from tds.connector._trust import TrustStore

NODE_NAMES = ("alice", "bob", "carol")


@dataclass(frozen=True)
class DataSpace:
    """A CA directory (``root/ca``) and one directory per node (``root/NAME``)."""

    root: Path

    @property
    def ca_directory(self) -> Path:
        return self.root / "ca"

    def node_directory(self, name: str) -> Path:
        return self.root / name

    def ca(self) -> CertificateAuthority:
        return CertificateAuthority.load(self.ca_directory)

    def identity(self, name: str) -> NodeIdentity:
        return NodeIdentity.load(self.node_directory(name))

    def trust_store(self) -> TrustStore:
        """The CA's current trust store (its latest revocation list)."""
        return TrustStore.load(self.ca_directory)


@pytest.fixture(scope="session")
def _data_space_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data-space")
    ca = CertificateAuthority.create(root / "ca", "Test space")
    for name in NODE_NAMES:
        enroll_node(root / name, name, ca)
    return root


@pytest.fixture
def data_space(_data_space_template: Path, tmp_path: Path) -> DataSpace:
    """A fresh copy of the session's data space, for this test alone."""
    root = tmp_path / "space"
    shutil.copytree(_data_space_template, root)
    return DataSpace(root)


class RecordedLogs(logging.Handler):
    """The records of the ``tds`` loggers, whatever configure_logging did to propagation."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def tds_log() -> Iterator[RecordedLogs]:
    logger = logging.getLogger("tds")
    handler, level = RecordedLogs(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
