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

__all__ = ["SHUTDOWN_GRACE_SECONDS", "serve"]

_log = logging.getLogger("tds.connector.daemon")

# Calls in flight get this long to finish once shutdown begins; later ones are cancelled.
SHUTDOWN_GRACE_SECONDS = 5.0


def serve(
    node: OpenNode,
    *,
    listen: str,
    settings: TransportSettings,
    max_workers: int = 16,
    stop: threading.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``node`` on ``listen`` until ``stop`` is set or the process gets SIGTERM/SIGINT.

    On the way out calls in flight finish (or are cancelled after the grace period) and the
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
        server.stop(SHUTDOWN_GRACE_SECONDS)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        node.close()
        _log.info("closed the node database", extra={"node": node.name})
