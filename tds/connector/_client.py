"""``tds.connector.Client``: a node's operations for Python services and the ``tds`` command."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from tds.connector import serde
from tds.connector._audit_check import AuditReport, verify_peer_log
from tds.connector._config import NodeConfig
from tds.connector._node import NodeInfo, OpenNode
from tds.connector._peer import PeerConnection
from tds.connector._transport import TransportSettings, parse_address
from tds.connector._trust import validate_node_name
from tds.connector._witness import StoredWitness
from tds.errors import ConfigError, NotFoundError

__all__ = ["Client"]

_log = logging.getLogger("tds.connector.client")
_NODE = "tds.v1.NodeService"


class Client:
    """Act as the node whose ``node.toml`` is at ``config`` (or in the directory ``config``).

    The client opens the node's key, certificate and database itself; it does not need the
    node's daemon to run, and shares the database with it safely. Peers are named as in the
    ``[peers]`` table of node.toml, or given as ``NAME@HOST:PORT``. Close the client when done
    (or use it in a ``with`` block).
    """

    def __init__(self, config: str | Path | NodeConfig) -> None:
        self.config = config if isinstance(config, NodeConfig) else NodeConfig.load(config)
        self.settings = transport_settings(self.config)
        self.node = OpenNode(self.config.directory, name=self.config.name)
        self._witness = StoredWitness(self.node.store)
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, str], PeerConnection] = {}

    @property
    def name(self) -> str:
        """This node's name."""
        return self.node.name

    def connect(self, peer: str) -> PeerConnection:
        """The connection to ``peer`` (a name from ``[peers]``, or ``NAME@HOST:PORT``)."""
        name, address = self._resolve(peer)
        with self._lock:
            connection = self._connections.get((name, address))
            if connection is None:
                connection = PeerConnection(self.node, name, address, self.settings)
                self._connections[(name, address)] = connection
            return connection

    def _resolve(self, peer: object) -> tuple[str, str]:
        if not isinstance(peer, str):
            raise ConfigError(f"a peer is a node name or NAME@HOST:PORT, not {peer!r}")
        if "@" in peer:
            name, _, address = peer.partition("@")
            parse_address(address)
            return validate_node_name(name), address
        validate_node_name(peer)
        address = self.config.peers.get(peer)
        if address is None:
            known = ", ".join(sorted(self.config.peers)) or "none yet"
            raise NotFoundError(
                f"no address for peer {peer!r} in {self.config.path} (known peers: {known}); "
                f"add one with `tds node peer add {peer} HOST:PORT` or pass {peer}@HOST:PORT"
            )
        return peer, address

    def info(self, peer: str) -> NodeInfo:
        """What ``peer`` says about itself: name, versions, job kinds, certificate expiry."""
        reply = self.connect(peer).call(f"{_NODE}/GetInfo", serde.encode_get_info_request())
        return serde.decode_node_info(reply)

    def health(self, peer: str) -> str:
        """``peer``'s health status (``SERVING`` when its daemon takes calls)."""
        return self.connect(peer).health()

    def verify_audit(self, peer: str) -> AuditReport:
        """Check ``peer``'s audit log: signed, only ever appended to since the last check, and
        holding every entry about this node that it shows, each proven included.

        Raises AuditProofError when the peer rewrote its log.
        """
        return verify_peer_log(self.connect(peer), self._witness)

    def close(self) -> None:
        """Close the connections and the node's database."""
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
        self.node.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def transport_settings(config: NodeConfig) -> TransportSettings:
    """The connection settings a node.toml asks for."""
    return TransportSettings(
        max_message_bytes=config.max_message_bytes,
        deadline_seconds=config.deadline_seconds,
        retry_attempts=config.retry_attempts,
        retry_initial_backoff_seconds=config.retry_initial_backoff_seconds,
        retry_max_backoff_seconds=config.retry_max_backoff_seconds,
        keepalive_time_seconds=config.keepalive_time_seconds,
        keepalive_timeout_seconds=config.keepalive_timeout_seconds,
        insecure=config.insecure,
    )
