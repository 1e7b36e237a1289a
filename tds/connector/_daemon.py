"""A node's daemon: its services on the network, in the background or until a signal."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from tds.connector._config import NodeConfig
from tds.connector._job_monitor import PolicyMonitor
from tds.connector._job_provider import JobProvider
from tds.connector._job_requester import request_contribution
from tds.connector._jobs import Contribution, ProviderPart
from tds.connector._node import OpenNode
from tds.connector._peer import PeerPool
from tds.connector._server import NodeServer
from tds.connector._servicers import node_services

__all__ = ["Daemon"]

_log = logging.getLogger("tds.connector.daemon")


class Daemon:
    """The daemon of the node whose ``node.toml`` is at ``config`` (or in the directory
    ``config``): its catalog, negotiation and audit services over mutual TLS.

    :meth:`start` serves in background threads and returns the port (``listen`` with port 0
    picks a free one); :meth:`stop` lets calls in flight finish, then closes the node's
    database. As a context manager it does both. :meth:`run` serves in the foreground until
    SIGTERM or SIGINT, which is what ``tds connector serve`` does.
    """

    def __init__(self, config: str | Path | NodeConfig) -> None:
        self.config = config if isinstance(config, NodeConfig) else NodeConfig.load(config)
        self.node = OpenNode(self.config.directory, name=self.config.name)
        self._peers = PeerPool(self.node, self.config.transport_settings)
        self.jobs = JobProvider(self.node, self._contribute, self.config.compute)
        self._monitor = PolicyMonitor(self.jobs)
        try:
            self._server = NodeServer(
                self.node,
                node_services(self.node, self.jobs),
                listen=self.config.listen,
                settings=self.config.transport_settings,
                max_workers=self.config.max_workers,
            )
        except BaseException:
            self.node.close()
            raise
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    @property
    def name(self) -> str:
        """The node's name."""
        return self.node.name

    @property
    def port(self) -> int:
        """The port the daemon listens on (0 until started)."""
        return self._server.port

    @property
    def address(self) -> str:
        """``HOST:PORT`` where peers reach the daemon, once started."""
        host = self.config.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> int:
        """Bind and serve in the background; the port. ConfigError if the port is in use."""
        with self._lock:
            if self._started:
                return self.port
            try:
                for job in self.node.jobs.fail_interrupted("the provider's daemon restarted"):
                    _log.warning("job %s was running when the daemon stopped: FAILED", job.id)
                port = self._server.start()
                self._monitor.start()
            except BaseException:
                self._stopped = True
                self.node.close()
                raise
            self._started = True
            return port

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop taking calls, let those in flight finish for ``grace_seconds`` (default: the
        configured ``shutdown_grace_seconds``), cancel the rest and close the database."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            grace = self.config.shutdown_grace_seconds if grace_seconds is None else grace_seconds
            try:
                self._monitor.stop()
                if self._started:
                    self._server.stop(grace)
            finally:
                self._peers.close()
                self.node.close()
                _log.info("closed the node database", extra={"node": self.node.name})

    def _contribute(self, part: ProviderPart, job_id: str, timeout: float) -> Contribution:
        return request_contribution(self._peers.get(part.node, part.address), job_id, timeout)

    def run(self, stop: threading.Event | None = None) -> None:
        """Serve until ``stop`` is set or the process gets SIGTERM or SIGINT, then stop."""
        stop = stop or threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():

            def request_stop(signum: int, _frame: object) -> None:
                _log.info("received %s: shutting down", signal.Signals(signum).name)
                stop.set()

            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, request_stop)
        try:
            self.start()
            while not stop.wait(0.5):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.stop()

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
