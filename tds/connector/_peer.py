"""A connection to one peer node: verified once, then calls with deadlines and retries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tds.connector._node import OpenNode
from tds.connector._transport import (
    INSECURE_WARNING,
    NODE_METADATA,
    TransportSettings,
    call_with_retries,
    open_channel,
    parse_address,
    translate_error,
    verify_server,
)
from tds.connector._trust import VerifiedNode, validate_node_name
from tds.errors import MessageTooLargeError, PeerUnavailableError

__all__ = ["PeerConnection", "PeerPool"]

_log = logging.getLogger("tds.connector.client")


class PeerConnection:
    """Calls from ``node`` to node ``peer`` at ``address``.

    Before the first call the peer's certificate is checked against the data space CA and the
    current revocation list in a TLS handshake of our own (gRPC cannot check revocation), and
    again whenever a newer revocation list is installed.
    """

    def __init__(
        self, node: OpenNode, peer: str, address: str, settings: TransportSettings
    ) -> None:
        self.peer = validate_node_name(peer)
        parse_address(address)
        self.address = address
        self._node = node
        self._settings = settings
        self._lock = threading.Lock()
        self._verified: tuple[int, VerifiedNode] | None = None
        if settings.insecure:
            _log.warning(INSECURE_WARNING)
        self._channel = open_channel(
            address, peer, None if settings.insecure else node.identity, settings
        )
        self._metadata = ((NODE_METADATA, node.name),) if settings.insecure else ()

    def verified_peer(self) -> VerifiedNode | None:
        """The peer's verified certificate (None in insecure mode), checking it if needed."""
        if self._settings.insecure:
            return None
        trust = self._node.trust.current()
        with self._lock:
            if self._verified is not None and self._verified[0] == trust.crl_number:
                return self._verified[1]
        verified = self._with_retries(
            lambda deadline: verify_server(
                self.address, self.peer, self._node.directory, trust, timeout=deadline
            )
        )
        with self._lock:
            self._verified = (trust.crl_number, verified)
        return verified

    def _with_retries(self, attempt: Callable[[float], VerifiedNode]) -> VerifiedNode:
        backoff = self._settings.retry_initial_backoff_seconds
        for number in range(1, self._settings.retry_attempts + 1):
            try:
                return attempt(self._settings.deadline_seconds)
            except PeerUnavailableError as error:
                if number == self._settings.retry_attempts:
                    raise PeerUnavailableError(
                        f"{error} (gave up after {number} attempts)"
                    ) from None
                _log.warning("%s; retry %d in %.2fs", error, number, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, self._settings.retry_max_backoff_seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, request: bytes, *, timeout: float | None = None) -> bytes:
        """Call ``method`` (``tds.v1.Service/Method``) with the request's bytes, within
        ``timeout`` seconds (default: ``[transport] deadline_seconds``)."""
        self._check_size(method, request)
        self.verified_peer()
        stub = self._channel.unary_unary(f"/{method}")
        deadline = self._settings.deadline_seconds if timeout is None else timeout

        def invoke(_: float) -> bytes:
            return stub(request, timeout=deadline, metadata=self._metadata)

        return call_with_retries(invoke, peer=self.peer, method=method, settings=self._settings)

    def stream(self, method: str, requests: Iterator[bytes], *, timeout: float) -> Iterator[bytes]:
        """Open the bidirectional stream ``method``: send ``requests``, yield the replies.

        A stream carries a job's messages and is never retried: a failure ends it with the
        tds error the peer named.
        """
        self.verified_peer()
        stub = self._channel.stream_stream(f"/{method}")

        def checked() -> Iterator[bytes]:
            for request in requests:
                self._check_size(method, request)
                yield request

        replies = stub(checked(), timeout=timeout, metadata=self._metadata)
        return self._translated(method, replies)

    def replies(self, method: str, request: bytes, *, timeout: float) -> Iterator[bytes]:
        """Call the server stream ``method`` with one request; yield its replies."""
        self._check_size(method, request)
        self.verified_peer()
        stub = self._channel.unary_stream(f"/{method}")
        return self._translated(method, stub(request, timeout=timeout, metadata=self._metadata))

    def _translated(self, method: str, replies: Any) -> Iterator[bytes]:
        """The replies of a streaming call, its failure as the tds error the peer named; the
        call is cancelled when the caller stops reading early."""
        try:
            yield from replies
        except grpc.RpcError as error:
            raise translate_error(error, self.peer, method, attempts=1) from None
        finally:
            replies.cancel()

    def _check_size(self, method: str, request: bytes) -> None:
        if len(request) > self._settings.max_message_bytes:
            raise MessageTooLargeError(
                f"the {method} message takes {len(request)} bytes, over the limit of "
                f"{self._settings.max_message_bytes} ([transport] max_message_bytes in node.toml)"
            )

    def health(self) -> str:
        """The peer's overall health status name (``SERVING``, ``NOT_SERVING``...)."""
        self.verified_peer()
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=self._settings.deadline_seconds,
                metadata=self._metadata,
            )
        except grpc.RpcError as error:
            raise PeerUnavailableError(f"node {self.peer}: {error.details()}") from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def close(self) -> None:
        self._channel.close()


class PeerPool:
    """One :class:`PeerConnection` per peer name and address, opened on first use."""

    def __init__(self, node: OpenNode, settings: TransportSettings) -> None:
        self._node = node
        self._settings = settings
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, str], PeerConnection] = {}

    def get(self, peer: str, address: str) -> PeerConnection:
        with self._lock:
            connection = self._connections.get((peer, address))
            if connection is None:
                connection = PeerConnection(self._node, peer, address, self._settings)
                self._connections[(peer, address)] = connection
            return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
