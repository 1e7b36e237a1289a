"""A data space on one machine: its own certificate authority and nodes, each node's daemon a
process of its own, all in one directory that goes away when the space stops.

This is what the notebooks and ``tds demo`` stand on, and what a pilot team tries tds with
before it runs nodes on separate machines. The daemons are real ``tds connector serve``
processes talking gRPC over mutual TLS on ``127.0.0.1``; only their setup is automatic.

A space never outlives the program that started it: :meth:`LocalDataSpace.stop` runs at
the latest when the interpreter exits (a notebook's kernel too, also after a failed cell),
and every daemon watches its standard input, which closes when its parent dies, however it
dies.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tds.connector._client import Client
from tds.connector._config import NodeConfig
from tds.connector._pki import CertificateAuthority, enroll_node
from tds.connector._trust import validate_node_name
from tds.errors import ConfigError, PeerUnavailableError

__all__ = ["LocalDataSpace"]

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class LocalDataSpace:
    """A certificate authority and ``nodes`` in ``directory`` (a new temporary one by default),
    each node's daemon running as its own process.

    Use :meth:`start` (or the class as a context manager), :meth:`client` to act as a node,
    and :meth:`stop`, which stops the daemons and, unless ``keep``, removes the directory.
    """

    def __init__(
        self,
        nodes: Sequence[str],
        *,
        name: str = "Local data space",
        directory: str | Path | None = None,
        keep: bool = False,
    ) -> None:
        if isinstance(nodes, str) or not nodes:
            raise ConfigError("a local data space needs a list of node names")
        names = [validate_node_name(node) for node in nodes]
        if len(set(names)) != len(names):
            raise ConfigError(f"a node name appears twice: {', '.join(names)}")
        self.name = name
        self.nodes: tuple[str, ...] = tuple(names)
        self.keep = keep
        self._made_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="tds-space-")).resolve()
        self._configs: dict[str, NodeConfig] = {}
        self._daemons: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stopped = False

    @classmethod
    def start(
        cls,
        nodes: Sequence[str],
        *,
        name: str = "Local data space",
        directory: str | Path | None = None,
        keep: bool = False,
    ) -> LocalDataSpace:
        """Create the space and start every node's daemon; returns once all of them listen."""
        space = cls(nodes, name=name, directory=directory, keep=keep)
        space.open()
        return space

    def open(self) -> None:
        """Issue the certificates, write each node's configuration and start the daemons."""
        atexit.register(self.stop)
        try:
            ca = CertificateAuthority.create(self.directory / "ca", self.name)
            ports = {node: _free_port() for node in self.nodes}
            for node, port in ports.items():
                peers = {peer: f"127.0.0.1:{p}" for peer, p in ports.items() if peer != node}
                config = NodeConfig(
                    name=node,
                    directory=self.directory / node,
                    listen=f"127.0.0.1:{port}",
                    peers=peers,
                )
                enroll_node(config.directory, node, ca)
                config.write()
                self._configs[node] = config
            for node in self.nodes:
                self._daemons[node] = self._spawn(self._configs[node])
            self._wait_until_listening(ports)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, config: NodeConfig) -> subprocess.Popen[bytes]:
        log = (config.directory / "daemon.log").open("ab")
        try:
            command = [sys.executable, "-m", "tds.cli", "connector", "serve", "--stop-with-stdin"]
            return subprocess.Popen(
                [*command, "--dir", str(config.directory)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                # Their own session: a Ctrl-C in a terminal, or the interrupt a notebook
                # server sends its kernel's process group, reaches this program, which then
                # stops them in order, rather than killing them halfway through a job.
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait_until_listening(self, ports: dict[str, int]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for node, port in ports.items():
            while not _listening(port):
                daemon = self._daemons[node]
                if daemon.poll() is not None or time.monotonic() > deadline:
                    log = self.directory / node / "daemon.log"
                    raise PeerUnavailableError(
                        f"the daemon of {node} did not start; the end of its log {log}:\n"
                        + self.daemon_log(node)[-2000:]
                    )
                time.sleep(0.05)

    def config(self, node: str) -> NodeConfig:
        """The configuration of ``node``."""
        try:
            return self._configs[node]
        except KeyError:
            raise ConfigError(
                f"{node!r:.80} is not a node of this data space: {', '.join(self.nodes)}"
            ) from None

    def client(self, node: str) -> Client:
        """A :class:`Client` acting as ``node``; close it (or use it in a ``with`` block)."""
        if self._stopped:
            raise ConfigError("this data space has stopped")
        return Client(self.config(node))

    def daemon_log(self, node: str) -> str:
        """What ``node``'s daemon has logged so far."""
        path = self.config(node).directory / "daemon.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    @property
    def running(self) -> tuple[str, ...]:
        """The nodes whose daemons are running."""
        return tuple(node for node, daemon in self._daemons.items() if daemon.poll() is None)

    def stop(self) -> None:
        """Stop every daemon (SIGTERM, as an operator would), then remove the directory unless
        ``keep``. Safe to call twice, and called at interpreter exit."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        for daemon in self._daemons.values():
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
        for daemon in self._daemons.values():
            try:
                daemon.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            if daemon.stdin is not None:
                daemon.stdin.close()
        if self._made_directory and not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalDataSpace:
        if not self._daemons:
            self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"running {', '.join(self.running)}"
        return f"<LocalDataSpace {self.name!r} in {self.directory}: {state}>"
