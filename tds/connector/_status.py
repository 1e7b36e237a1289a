"""One table from tds errors to gRPC status codes, and back.

A node answers a bad request with the precise status for it (never UNKNOWN or INTERNAL, which
mean a bug in the node) and names the tds error class in the ``tds-error`` trailing metadata,
so a tds client raises the same exception the server raised.
"""

from __future__ import annotations

import grpc

from tds import errors

__all__ = ["ERROR_TRAILER", "error_for_status", "status_for_error"]

ERROR_TRAILER = "tds-error"

# The most specific class wins: the table is searched along the error's method resolution
# order, so a subclass may refine its parent's status.
_STATUS_BY_ERROR: dict[type[errors.TdsError], grpc.StatusCode] = {
    errors.TdsError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.CryptoError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.DecodeError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ItemTypeError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ConfigError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ProtocolError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.InvalidPointError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.PolicySyntaxError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.PolicyEvaluationError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UsageDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    errors.StateTransitionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.AuthenticationError: grpc.StatusCode.UNAUTHENTICATED,
    errors.AuditProofError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.MessageTooLargeError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.PeerUnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.StorageError: grpc.StatusCode.INTERNAL,
    errors.WorkerError: grpc.StatusCode.ABORTED,
}

# What a client raises for a status that came without a tds error name (from gRPC itself or
# from a peer that is not tds).
_ERROR_BY_STATUS: dict[grpc.StatusCode, type[errors.TdsError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.DecodeError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.StateTransitionError,
    grpc.StatusCode.PERMISSION_DENIED: errors.UsageDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: errors.AuthenticationError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.MessageTooLargeError,
    grpc.StatusCode.UNAVAILABLE: errors.PeerUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.PeerUnavailableError,
}


def status_for_error(error: errors.TdsError) -> grpc.StatusCode:
    """The status a node answers with when handling a request raised ``error``."""
    return _status_for_class(type(error))


def _status_for_class(cls: type) -> grpc.StatusCode:
    for ancestor in cls.__mro__:
        status = _STATUS_BY_ERROR.get(ancestor)
        if status is not None:
            return status
    raise TypeError(f"{cls.__name__} is not a tds error")


def error_for_status(status: grpc.StatusCode, error_name: str | None) -> type[errors.TdsError]:
    """The exception class a client raises for a failed call.

    ``error_name`` is the peer's ``tds-error`` trailer. Only tds's own exception classes are
    honoured, and only when they belong to the status they came with, so a peer cannot make
    the client raise an arbitrary class or a status-less one.
    """
    if error_name:
        named = getattr(errors, error_name, None)
        if (
            error_name in errors.__all__
            and isinstance(named, type)
            and issubclass(named, errors.TdsError)
            and _status_for_class(named) == status
        ):
            return named
    return _ERROR_BY_STATUS.get(status, errors.ConnectorError)
