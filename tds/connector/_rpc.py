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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc

from tds.connector._status import ERROR_TRAILER, status_for_error
from tds.connector._transport import ReloadingTrustStore, authenticated_caller
from tds.errors import TdsError

__all__ = ["Handler", "Service", "generic_handler"]

_log = logging.getLogger("tds.connector.rpc")

Handler = Callable[[bytes, str], bytes]
"""A method's body: the request bytes and the verified caller's node name, to reply bytes."""


@dataclass(frozen=True)
class Service:
    """A gRPC service of the node: its full name (``tds.v1.CatalogService``) and methods."""

    name: str
    methods: Mapping[str, Handler]


def generic_handler(
    service: Service, trust: ReloadingTrustStore | None, node: str
) -> grpc.GenericRpcHandler:
    """The gRPC handler serving ``service``; ``trust`` None is insecure mode."""
    return grpc.method_handlers_generic_handler(
        service.name,
        {
            method: grpc.unary_unary_rpc_method_handler(
                _serve(f"{service.name}/{method}", handler, trust, node)
            )
            for method, handler in service.methods.items()
        },
    )


def _serve(
    method: str, handler: Handler, trust: ReloadingTrustStore | None, node: str
) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def serve(request: bytes, context: grpc.ServicerContext) -> bytes:
        started = time.perf_counter()
        caller = "?"
        failure: tuple[grpc.StatusCode, str, str] | None = None
        try:
            caller = authenticated_caller(context, trust)
            reply = handler(request, caller)
        except TdsError as error:
            failure = (status_for_error(error), str(error), type(error).__name__)
        except Exception:
            _log.exception("%s from %s failed with a bug of node %s", method, caller, node)
            failure = (
                grpc.StatusCode.INTERNAL,
                f"internal error in node {node}; its log has the details",
                "",
            )
        elapsed_ms = (time.perf_counter() - started) * 1000
        if failure is None:
            _log.info(
                "%s from %s: OK in %.1f ms",
                method,
                caller,
                elapsed_ms,
                extra={"rpc": method, "peer": caller, "status": "OK", "ms": round(elapsed_ms, 1)},
            )
            return reply
        status, message, error_name = failure
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

    return serve
