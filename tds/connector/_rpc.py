"""How a node serves a gRPC method: authenticate, decode, handle, encode, map errors.

Methods are registered with raw bytes in and out, so that a malformed message reaches
:mod:`tds.connector.serde` and is answered INVALID_ARGUMENT (gRPC's own deserializers would
answer INTERNAL). Every tds error becomes its precise status (``_status.py``) with its class
name in the ``tds-error`` trailer; anything else is a bug of the node: it is logged with its
traceback and answered INTERNAL without details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc

from tds.connector._status import ERROR_TRAILER, status_for_error
from tds.connector._transport import ReloadingTrustStore, authenticated_caller
from tds.errors import TdsError

__all__ = ["Handler", "RepliesHandler", "Service", "StreamHandler", "generic_handler"]

_log = logging.getLogger("tds.connector.rpc")

Handler = Callable[[bytes, str], bytes]
"""A method's body: the request bytes and the verified caller's node name, to reply bytes."""

StreamHandler = Callable[[Iterator[bytes], str], Iterator[bytes]]
"""A bidirectional stream's body: the caller's messages and name, to the replies."""

RepliesHandler = Callable[[bytes, str], Iterator[bytes]]
"""A server stream's body: one request and the caller's name, to a stream of replies."""


@dataclass(frozen=True)
class Service:
    """A gRPC service of the node: its full name (``tds.v1.CatalogService``), its unary
    methods, its bidirectional streams and its server streams (one request, many replies)."""

    name: str
    methods: Mapping[str, Handler]
    streams: Mapping[str, StreamHandler] = field(default_factory=dict)
    replies: Mapping[str, RepliesHandler] = field(default_factory=dict)

    @property
    def method_names(self) -> set[str]:
        return {*self.methods, *self.streams, *self.replies}


def generic_handler(
    service: Service, trust: ReloadingTrustStore | None, node: str
) -> grpc.GenericRpcHandler:
    """The gRPC handler serving ``service``; ``trust`` None is insecure mode."""
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            _serve(f"{service.name}/{method}", handler, trust, node)
        )
        for method, handler in service.methods.items()
    }
    for method, stream in service.streams.items():
        handlers[method] = grpc.stream_stream_rpc_method_handler(
            _serve_stream(f"{service.name}/{method}", stream, trust, node)
        )
    for method, replies in service.replies.items():
        handlers[method] = grpc.unary_stream_rpc_method_handler(
            _serve_stream(
                f"{service.name}/{method}",
                lambda requests, caller, replies=replies: replies(next(requests), caller),
                trust,
                node,
                one_request=True,
            )
        )
    return grpc.method_handlers_generic_handler(service.name, handlers)


def _serve(
    method: str, handler: Handler, trust: ReloadingTrustStore | None, node: str
) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def serve(request: bytes, context: grpc.ServicerContext) -> bytes:
        started = time.perf_counter()
        caller = "?"
        try:
            caller = authenticated_caller(context, trust)
            reply = handler(request, caller)
        except Exception as error:
            _abort(context, method, caller, node, error, started)
        _log_ok(method, caller, started)
        return reply

    return serve


def _serve_stream(
    method: str,
    handler: StreamHandler,
    trust: ReloadingTrustStore | None,
    node: str,
    *,
    one_request: bool = False,
) -> Callable[[Any, grpc.ServicerContext], Iterator[bytes]]:
    def serve(requests: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
        started = time.perf_counter()
        caller = "?"
        try:
            caller = authenticated_caller(context, trust)
            yield from handler(iter([requests]) if one_request else requests, caller)
        except Exception as error:
            _abort(context, method, caller, node, error, started)
        _log_ok(method, caller, started)

    return serve


def _log_ok(method: str, caller: str, started: float) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    _log.info(
        "%s from %s: OK in %.1f ms",
        method,
        caller,
        elapsed_ms,
        extra={"rpc": method, "peer": caller, "status": "OK", "ms": round(elapsed_ms, 1)},
    )


def _abort(
    context: grpc.ServicerContext,
    method: str,
    caller: str,
    node: str,
    error: Exception,
    started: float,
) -> NoReturn:
    """Answer a failed call with the status of a tds error, or INTERNAL for a bug."""
    if isinstance(error, TdsError):
        status, message, error_name = status_for_error(error), str(error), type(error).__name__
    else:
        _log.error(
            "%s from %s failed with a bug of node %s",
            method,
            caller,
            node,
            exc_info=(type(error), error, error.__traceback__),
        )
        status = grpc.StatusCode.INTERNAL
        message, error_name = f"internal error in node {node}; its log has the details", ""
    elapsed_ms = (time.perf_counter() - started) * 1000
    _log.warning(
        "%s from %s: %s: %s",
        method,
        caller,
        status.name,
        message,
        extra={"rpc": method, "peer": caller, "status": status.name, "ms": elapsed_ms},
    )
    if error_name:
        context.set_trailing_metadata(((ERROR_TRAILER, error_name),))
    context.abort(status, message)
    raise AssertionError("unreachable")  # context.abort raises
