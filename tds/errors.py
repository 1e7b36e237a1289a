"""Every exception that tds raises on purpose.

Catch ``TdsError`` to handle them all, or a branch to handle one layer. Errors
about bad input also derive from the matching builtin (``ValueError`` or
``TypeError``) so generic handlers keep working::

    TdsError
    ├── CryptoError
    │   ├── KeySizeError            (ValueError) key below the safe size
    │   ├── KeyMismatchError        (ValueError) operands under different keys
    │   ├── PlaintextTypeError      (TypeError)  not an integer
    │   ├── PlaintextRangeError     (ValueError) integer does not fit the plaintext space
    │   ├── InvalidCiphertextError  (ValueError) not an element of Z*_{n^2}
    │   └── PackingOverflowError    (ValueError) a packed slot could carry into its neighbour
    ├── DecodeError                 (ValueError) malformed serialized bytes or documents
    ├── ItemTypeError               (TypeError)  set item not str, bytes, int or a tuple of them
    ├── ProtocolError
    │   ├── UnexpectedMessageError  message out of order for the party's state
    │   ├── JobMismatchError        message belongs to another job or session
    │   └── InvalidPointError       (ValueError) invalid or low-order curve point from a peer
    ├── PolicyError
    │   ├── PolicySyntaxError       (ValueError) policy document outside the tds ODRL profile
    │   ├── PolicyEvaluationError   (ValueError) request cannot be evaluated as given
    │   └── UsageDeniedError        a use was refused; carries the Decision
    ├── ConnectorError
    │   ├── NotFoundError
    │   ├── AlreadyExistsError
    │   ├── StateTransitionError    event not allowed in the current state
    │   ├── AuthenticationError     peer identity missing or not trusted
    │   ├── AuditProofError         a proof or checkpoint shows the audit log was rewritten
    │   ├── MessageTooLargeError    a message is over the configured size limit
    │   ├── PeerUnavailableError    a peer could not be reached, or did not answer in time
    │   └── StorageError            the node's database failed
    ├── WorkerError                 a batch worker (pool process or Ray task) was lost
    └── ConfigError                 (ValueError) invalid node or job configuration
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExistsError",
    "AuditProofError",
    "AuthenticationError",
    "ConfigError",
    "ConnectorError",
    "CryptoError",
    "DecodeError",
    "InvalidCiphertextError",
    "InvalidPointError",
    "ItemTypeError",
    "JobMismatchError",
    "KeyMismatchError",
    "KeySizeError",
    "MessageTooLargeError",
    "NotFoundError",
    "PackingOverflowError",
    "PeerUnavailableError",
    "PlaintextRangeError",
    "PlaintextTypeError",
    "PolicyError",
    "PolicyEvaluationError",
    "PolicySyntaxError",
    "ProtocolError",
    "StateTransitionError",
    "StorageError",
    "TdsError",
    "UnexpectedMessageError",
    "UsageDeniedError",
    "WorkerError",
]


class TdsError(Exception):
    """Root of every exception raised on purpose by tds."""


class CryptoError(TdsError):
    """A homomorphic-encryption operation was given something it cannot use."""


class KeySizeError(CryptoError, ValueError):
    """The requested key is smaller than the safe minimum."""


class KeyMismatchError(CryptoError, ValueError):
    """Operands were produced under different public keys."""


class PlaintextTypeError(CryptoError, TypeError):
    """A plaintext is not an integer (floats need an explicit fixed-point scale)."""


class PlaintextRangeError(CryptoError, ValueError):
    """An integer does not fit the plaintext space or the packing layout."""


class InvalidCiphertextError(CryptoError, ValueError):
    """A ciphertext is not an element of Z*_{n^2} for its key."""


class PackingOverflowError(CryptoError, ValueError):
    """Another addition could carry a packed slot into its neighbour."""


class DecodeError(TdsError, ValueError):
    """Serialized bytes or a document are malformed."""


class ItemTypeError(TdsError, TypeError):
    """A set item for a secure join is not str, bytes, int or a tuple of those."""


class ProtocolError(TdsError):
    """A two-party protocol message violates the protocol."""


class UnexpectedMessageError(ProtocolError):
    """A message arrived that the party's current state does not accept."""


class JobMismatchError(ProtocolError):
    """A message belongs to another job or session."""


class InvalidPointError(ProtocolError, ValueError):
    """A peer sent an invalid or low-order curve point."""


class PolicyError(TdsError):
    """A usage policy could not be parsed, evaluated or honoured."""


class PolicySyntaxError(PolicyError, ValueError):
    """A policy document falls outside the tds ODRL profile.

    ``path`` names the offending element, e.g. ``permission[0].constraint[1].operator``.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class PolicyEvaluationError(PolicyError, ValueError):
    """A request cannot be evaluated as given (e.g. a naive datetime)."""


class UsageDeniedError(PolicyError):
    """A use was refused by policy; ``decision`` explains why."""

    def __init__(self, message: str, decision: Any = None) -> None:
        super().__init__(message)
        self.decision = decision


class ConnectorError(TdsError):
    """The connector could not carry out a request."""


class NotFoundError(ConnectorError):
    """The named dataset, negotiation, agreement or job does not exist."""


class AlreadyExistsError(ConnectorError):
    """An object with that identifier already exists."""


class StateTransitionError(ConnectorError):
    """An event is not allowed in the object's current state."""


class AuthenticationError(ConnectorError):
    """The peer's identity is missing or not trusted."""


class AuditProofError(ConnectorError):
    """An audit log's proof or checkpoint does not check out: the log was rewritten.

    Raised when an inclusion or consistency proof does not lead to the claimed root, or when
    a peer's new checkpoint contradicts one seen before (a smaller tree, or another root for
    the same size). Treat it as a security event: keep the evidence and stop trusting the log.
    """


class MessageTooLargeError(ConnectorError):
    """A message is over the size limit of the sender or of the receiving node."""


class PeerUnavailableError(ConnectorError):
    """A peer could not be reached, or did not answer within the deadline, after retries."""


class StorageError(ConnectorError):
    """The node's database failed."""


class WorkerError(TdsError):
    """A worker running batch work died (a process of the pool, or a task on Ray) before it
    finished: the batch's results are lost, nothing else. The next batch starts afresh."""


class ConfigError(TdsError, ValueError):
    """A node or job configuration is invalid."""
