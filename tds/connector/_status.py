"""The one table between tds errors and gRPC status codes, both ways.

A servicer that fails with a :class:`~tds.errors.TdsError` answers with the status of its
class and names the class in the ``tds-error`` trailer; the client raises that same class
again (looked up in :mod:`tds.errors` only, never built from anything else the peer sent).
Anything not in the tree is the node's own fault: INTERNAL, with the details in its log only.
"""

from __future__ import annotations

import grpc

from tds import errors

__all__ = ["ERROR_TRAILER", "error_for_status", "status_for_error"]

ERROR_TRAILER = "tds-error"

# Most specific first: the first class an error is an instance of decides its status.
_STATUS_BY_ERROR: tuple[tuple[type[errors.TdsError], grpc.StatusCode], ...] = (
    (errors.AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.UsageDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (errors.StateTransitionError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.UnexpectedMessageError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.JobMismatchError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.StorageError, grpc.StatusCode.INTERNAL),
    (errors.TdsError, grpc.StatusCode.INVALID_ARGUMENT),
)

# What a status means when the peer named no tds error (or one this version does not know).
_ERROR_BY_STATUS: dict[grpc.StatusCode, type[errors.TdsError]] = {
    grpc.StatusCode.UNAUTHENTICATED: errors.AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: errors.UsageDeniedError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.StateTransitionError,
    grpc.StatusCode.INVALID_ARGUMENT: errors.DecodeError,
}


def status_for_error(error: errors.TdsError) -> grpc.StatusCode:
    """The status a servicer answers with when ``error`` stops it."""
    return next(status for cls, status in _STATUS_BY_ERROR if isinstance(error, cls))


def error_for_status(status: grpc.StatusCode, named: str | None) -> type[errors.TdsError] | None:
    """The tds error to raise for a peer's ``status`` and ``tds-error`` trailer, if any."""
    cls = getattr(errors, named, None) if named in errors.__all__ else None
    if isinstance(cls, type) and issubclass(cls, errors.TdsError):
        return cls
    return _ERROR_BY_STATUS.get(status)
