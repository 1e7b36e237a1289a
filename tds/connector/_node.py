"""A node directory opened for work: identity, trust store, database and audit log together.

The daemon and :class:`~tds.connector.Client` both open the node this way; they share the
SQLite database, whose transactions keep them from interleaving.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import tds
from tds.connector._audit import AuditLog
from tds.connector._audit_store import SqliteAuditStore
from tds.connector._catalog import Catalog
from tds.connector._job_store import Jobs
from tds.connector._jobs import JobKind
from tds.connector._negotiation import Negotiations
from tds.connector._pki import NodeIdentity
from tds.connector._store import Store
from tds.connector._transport import ReloadingTrustStore
from tds.connector._usage import SqliteUsageState
from tds.errors import ConfigError

__all__ = ["DATABASE_FILE", "PROTOCOL_VERSIONS", "NodeInfo", "OpenNode"]

DATABASE_FILE = "node.db"
PROTOCOL_VERSIONS = ("tds.v1",)


@dataclass(frozen=True)
class NodeInfo:
    """What a node says about itself (the ``GetInfo`` call)."""

    name: str
    software_version: str
    protocol_versions: tuple[str, ...]
    job_kinds: tuple[str, ...]
    certificate_not_after: dt.datetime
    crl_number: int


class OpenNode:
    """The node in ``directory``: its identity, trust store, database and audit log.

    Close it (or use it as a context manager) to close the database.
    """

    def __init__(self, directory: str | Path, *, name: str) -> None:
        self.directory = Path(directory)
        self.identity = NodeIdentity.load(self.directory)
        if self.identity.name != name:
            raise ConfigError(
                f"node.toml names the node {name!r} but its certificate names "
                f"{self.identity.name!r}; fix [node] name"
            )
        self.trust = ReloadingTrustStore(self.directory)
        self.store = Store(self.directory / DATABASE_FILE)
        self.audit_log = AuditLog(SqliteAuditStore(self.store), origin=self.identity.name)
        self.usage = SqliteUsageState(self.store)
        self.catalog = Catalog(self.store, self.identity.name)
        self.negotiations = Negotiations(
            self.store, self.audit_log, self.identity, self.catalog, self.trust.current
        )
        self.jobs = Jobs(self.store, self.audit_log, self.identity.name)

    @property
    def name(self) -> str:
        return self.identity.name

    def info(self) -> NodeInfo:
        return NodeInfo(
            name=self.identity.name,
            software_version=tds.__version__,
            protocol_versions=PROTOCOL_VERSIONS,
            job_kinds=tuple(kind.value for kind in JobKind),
            certificate_not_after=self.identity.not_valid_after,
            crl_number=self.trust.current().crl_number,
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> OpenNode:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
