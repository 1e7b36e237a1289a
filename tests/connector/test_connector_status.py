"""tds errors to gRPC status codes and back, and what a peer's ``tds-error`` trailer may make
a client raise."""

from __future__ import annotations

import grpc
import pytest

from tds import errors
from tds.connector._status import ERROR_TRAILER, error_for_status, status_for_error
from tds.connector._transport import translate_error

Code = grpc.StatusCode

# Every class of tds.errors and the status a node answers it with. A new error class fails
# test_the_table_covers_every_error_class until it is placed here on purpose.
EXPECTED_STATUS = {
    "TdsError": Code.FAILED_PRECONDITION,
    "CryptoError": Code.INVALID_ARGUMENT,
    "KeySizeError": Code.INVALID_ARGUMENT,
    "KeyMismatchError": Code.INVALID_ARGUMENT,
    "PlaintextTypeError": Code.INVALID_ARGUMENT,
    "PlaintextRangeError": Code.INVALID_ARGUMENT,
    "InvalidCiphertextError": Code.INVALID_ARGUMENT,
    "PackingOverflowError": Code.INVALID_ARGUMENT,
    "DecodeError": Code.INVALID_ARGUMENT,
    "ItemTypeError": Code.INVALID_ARGUMENT,
    "ProtocolError": Code.FAILED_PRECONDITION,
    "UnexpectedMessageError": Code.FAILED_PRECONDITION,
    "JobMismatchError": Code.FAILED_PRECONDITION,
    "InvalidPointError": Code.INVALID_ARGUMENT,
    "PolicyError": Code.FAILED_PRECONDITION,
    "PolicySyntaxError": Code.INVALID_ARGUMENT,
    "PolicyEvaluationError": Code.INVALID_ARGUMENT,
    "UsageDeniedError": Code.PERMISSION_DENIED,
    "ConnectorError": Code.FAILED_PRECONDITION,
    "NotFoundError": Code.NOT_FOUND,
    "AlreadyExistsError": Code.ALREADY_EXISTS,
    "StateTransitionError": Code.FAILED_PRECONDITION,
    "AuthenticationError": Code.UNAUTHENTICATED,
    "AuditProofError": Code.FAILED_PRECONDITION,
    "MessageTooLargeError": Code.RESOURCE_EXHAUSTED,
    "PeerUnavailableError": Code.UNAVAILABLE,
    "StorageError": Code.INTERNAL,
    "WorkerError": Code.ABORTED,
    "ConfigError": Code.INVALID_ARGUMENT,
}


class _FailedCall(grpc.RpcError):
    """What a stub raises for a failed call, as far as translate_error looks at it."""

    def __init__(self, code: grpc.StatusCode, details: str, trailer: str | None = None) -> None:
        self._code = code
        self._details = details
        self._trailer = trailer

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return () if self._trailer is None else ((ERROR_TRAILER, self._trailer),)


def test_the_table_covers_every_error_class() -> None:
    assert sorted(EXPECTED_STATUS) == sorted(errors.__all__)


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_each_error_class_has_its_intended_status(name: str) -> None:
    error = getattr(errors, name)("what went wrong")
    assert status_for_error(error) is EXPECTED_STATUS[name]


def test_only_a_database_failure_reads_as_a_bug_of_the_node() -> None:
    internal = {name for name, code in EXPECTED_STATUS.items() if code is Code.INTERNAL}
    assert internal == {"StorageError"}
    assert Code.UNKNOWN not in EXPECTED_STATUS.values()


def test_a_subclass_from_outside_tds_takes_its_parents_status() -> None:
    class DatasetGone(errors.NotFoundError):
        pass

    assert status_for_error(DatasetGone("gone")) is Code.NOT_FOUND
    # Its name is not one of tds's, so the client raises the parent the status stands for.
    assert error_for_status(Code.NOT_FOUND, "DatasetGone") is errors.NotFoundError


@pytest.mark.parametrize("error", [ValueError("no"), RuntimeError("no"), KeyError("no")])
def test_status_for_error_refuses_what_is_not_a_tds_error(error: Exception) -> None:
    with pytest.raises(TypeError, match="is not a tds error"):
        status_for_error(error)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_the_trailer_brings_back_the_class_the_server_raised(name: str) -> None:
    cls = getattr(errors, name)
    assert error_for_status(status_for_error(cls("x")), name) is cls


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Code.INVALID_ARGUMENT, errors.DecodeError),
        (Code.NOT_FOUND, errors.NotFoundError),
        (Code.ALREADY_EXISTS, errors.AlreadyExistsError),
        (Code.FAILED_PRECONDITION, errors.StateTransitionError),
        (Code.PERMISSION_DENIED, errors.UsageDeniedError),
        (Code.UNAUTHENTICATED, errors.AuthenticationError),
        (Code.RESOURCE_EXHAUSTED, errors.MessageTooLargeError),
        (Code.UNAVAILABLE, errors.PeerUnavailableError),
        (Code.DEADLINE_EXCEEDED, errors.PeerUnavailableError),
        (Code.INTERNAL, errors.ConnectorError),
        (Code.UNKNOWN, errors.ConnectorError),
        (Code.UNIMPLEMENTED, errors.ConnectorError),
        (Code.CANCELLED, errors.ConnectorError),
    ],
)
def test_a_status_without_a_trailer_raises_the_class_it_stands_for(
    status: grpc.StatusCode, expected: type[errors.TdsError]
) -> None:
    assert error_for_status(status, None) is expected
    assert error_for_status(status, "") is expected


@pytest.mark.parametrize(
    "name",
    [
        "ValueError",
        "Exception",
        "SystemExit",
        "KeyboardInterrupt",
        "Any",  # imported into tds.errors, but not one of its errors
        "annotations",
        "__builtins__",
        "__class__",
        "TdsError.__subclasses__",
        "os.system",
        "tds.errors.NotFoundError",
        "notfounderror",
    ],
)
def test_a_peer_cannot_name_a_class_outside_tds_errors(name: str) -> None:
    assert error_for_status(Code.NOT_FOUND, name) is errors.NotFoundError
    assert error_for_status(Code.INTERNAL, name) is errors.ConnectorError


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        # A real tds class, but not the one the status stands for: the status wins.
        (Code.INVALID_ARGUMENT, "NotFoundError", errors.DecodeError),
        (Code.UNAVAILABLE, "StorageError", errors.PeerUnavailableError),
        (Code.NOT_FOUND, "AuthenticationError", errors.NotFoundError),
        (Code.OK, "DecodeError", errors.ConnectorError),
        (Code.UNKNOWN, "TdsError", errors.ConnectorError),
    ],
)
def test_a_peer_cannot_pair_a_class_with_another_status(
    status: grpc.StatusCode, name: str, expected: type[errors.TdsError]
) -> None:
    assert error_for_status(status, name) is expected


def test_a_trailer_may_name_a_subclass_of_the_status_default() -> None:
    # INVALID_ARGUMENT defaults to DecodeError; the peer's more precise class is kept.
    assert error_for_status(Code.INVALID_ARGUMENT, "PolicySyntaxError") is errors.PolicySyntaxError
    assert error_for_status(Code.INVALID_ARGUMENT, "KeySizeError") is errors.KeySizeError


def test_the_reverse_table_agrees_with_the_forward_one() -> None:
    for status in Code:
        cls = error_for_status(status, None)
        if cls is not errors.ConnectorError and status is not Code.DEADLINE_EXCEEDED:
            assert status_for_error(cls("x")) is status, status


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_a_failed_call_is_raised_as_the_class_in_its_trailer(name: str) -> None:
    status = EXPECTED_STATUS[name]
    error = translate_error(
        _FailedCall(status, "dataset ocean-1 not found", name), "bob", "M", attempts=1
    )
    assert type(error) is getattr(errors, name)
    assert str(error) == "bob: dataset ocean-1 not found"


def test_a_failed_call_with_a_forged_trailer_is_raised_by_its_status() -> None:
    error = translate_error(
        _FailedCall(Code.NOT_FOUND, "nope", "SystemExit"), "bob", "M", attempts=1
    )
    assert type(error) is errors.NotFoundError


def test_a_failed_call_without_a_trailer_says_what_happened() -> None:
    unreachable = translate_error(
        _FailedCall(Code.UNAVAILABLE, "connection refused"), "bob", "tds.v1.X/Y", attempts=3
    )
    assert isinstance(unreachable, errors.PeerUnavailableError)
    assert "unreachable (3 attempts)" in str(unreachable)
    late = translate_error(_FailedCall(Code.DEADLINE_EXCEEDED, ""), "bob", "tds.v1.X/Y", attempts=1)
    assert isinstance(late, errors.PeerUnavailableError)
    assert "did not answer tds.v1.X/Y within the deadline" in str(late)
    large = translate_error(
        _FailedCall(Code.RESOURCE_EXHAUSTED, "Received message larger than max (9 vs. 4)"),
        "bob",
        "tds.v1.X/Y",
        attempts=1,
    )
    assert isinstance(large, errors.MessageTooLargeError)
    assert "max_message_bytes" in str(large)
    other = translate_error(_FailedCall(Code.UNIMPLEMENTED, ""), "bob", "tds.v1.X/Y", attempts=1)
    assert type(other) is errors.ConnectorError
    assert "failed with UNIMPLEMENTED: UNIMPLEMENTED" in str(other)


def test_a_server_at_its_limit_of_calls_is_busy_not_a_message_too_large() -> None:
    busy = translate_error(
        _FailedCall(Code.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!"),
        "bob",
        "tds.v1.X/Y",
        attempts=1,
    )
    assert type(busy) is errors.PeerUnavailableError
    assert "too busy to take tds.v1.X/Y" in str(busy)
