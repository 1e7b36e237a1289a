"""The connector daemon's gRPC server: the node's services over mutual TLS, the standard
health service and server reflection, with graceful shutdown."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tds.connector._node import OpenNode
from tds.connector._rpc import Service, generic_handler
from tds.connector._transport import (
    INSECURE_WARNING,
    TransportSettings,
    parse_address,
    server_credentials,
    server_options,
)
from tds.errors import ConfigError

__all__ = ["NodeServer"]

_log = logging.getLogger("tds.connector.server")


class NodeServer:
    """Serve ``services`` of ``node`` on ``listen`` (``host:port``; port 0 picks a free one).

    :meth:`start` binds and serves; :meth:`stop` lets calls in flight finish within a grace
    period, then cancels the rest. The health service answers SERVING between the two and
    NOT_SERVING once shutdown has begun, so load balancers and peers stop sending work.
    """

    def __init__(
        self,
        node: OpenNode,
        services: list[Service],
        *,
        listen: str,
        settings: TransportSettings,
        max_workers: int = 16,
    ) -> None:
        parse_address(listen, listening=True)
        self._node = node
        self._listen = listen
        self._settings = settings
        self._services = services
        self._health = health.HealthServicer(experimental_non_blocking=True)
        trust = None if settings.insecure else node.trust
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tds-rpc"),
            handlers=[generic_handler(service, trust, node.name) for service in services],
            options=server_options(settings),
            maximum_concurrent_rpcs=max_workers * 8,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = [service.name for service in services]
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        self.port = 0

    def start(self) -> int:
        """Bind and start serving; return the port. ConfigError if the address is taken."""
        try:
            if self._settings.insecure:
                _log.warning(INSECURE_WARNING)
                port = self._server.add_insecure_port(self._listen)
            else:
                port = self._server.add_secure_port(
                    self._listen, server_credentials(self._node.identity)
                )
        except RuntimeError as error:
            raise ConfigError(
                f"cannot listen on {self._listen}: {error} (is another process using the port?)"
            ) from None
        if not port:
            raise ConfigError(f"cannot listen on {self._listen}: the port is in use")
        self._server.start()
        self.port = port
        for service in ["", *(s.name for s in self._services)]:
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        _log.info(
            "node %s serving on %s",
            self._node.name,
            self._listen.rsplit(":", 1)[0] + f":{port}",
            extra={"node": self._node.name, "port": port},
        )
        return port

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop taking calls, let those in flight finish for ``grace_seconds``, then stop."""
        self._health.enter_graceful_shutdown()
        self._server.stop(grace_seconds).wait()
        _log.info("node %s stopped", self._node.name, extra={"node": self._node.name})

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (True) or ``timeout`` passes (False)."""
        # gRPC's wait_for_termination answers the other question: whether the timeout passed.
        return not self._server.wait_for_termination(timeout)
