"""``tds connector serve``: run a node's daemon in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from tds.connector._node import OpenNode
from tds.connector._server import NodeServer
from tds.connector._servicers import node_services
from tds.connector._transport import TransportSettings

__all__ = ["serve"]

_log = logging.getLogger("tds.connector.daemon")


def serve(
    node: OpenNode,
    *,
    listen: str,
    settings: TransportSettings,
    max_workers: int = 16,
    grace_seconds: float = 10.0,
    stop: threading.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``node`` on ``listen`` until ``stop`` is set or the process gets SIGTERM/SIGINT.

    On the way out calls in flight get ``grace_seconds`` to finish (the rest are cancelled) and the
    node's database is closed. Errors before serving (a port in use) propagate as ConfigError.
    """
    stop = stop or threading.Event()
    server = NodeServer(
        node, node_services(node), listen=listen, settings=settings, max_workers=max_workers
    )
    previous = {}
    if threading.current_thread() is threading.main_thread():

        def request_stop(signum: int, _frame: object) -> None:
            _log.info("received %s: shutting down", signal.Signals(signum).name)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        port = server.start()
        if on_ready is not None:
            on_ready(port)
        while not stop.wait(0.5):
            pass
        server.stop(grace_seconds)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        node.close()
        _log.info("closed the node database", extra={"node": node.name})
