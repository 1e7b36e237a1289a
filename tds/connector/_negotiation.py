"""Contract negotiation between a consumer and a provider (wip: the state machine follows)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tds.policy import Policy

if TYPE_CHECKING:
    from tds.connector._agreement import SignedAgreement
    from tds.connector._audit import Checkpoint

__all__ = [
    "MAX_REASON",
    "Negotiation",
    "NegotiationRole",
    "NegotiationState",
    "NegotiationStep",
    "Negotiations",
]

# A reason is a sentence or two for people, never a document.
MAX_REASON = 1000


class NegotiationState(enum.StrEnum):
    """The states of a negotiation, those of the Dataspace Protocol."""

    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"

    @property
    def is_final(self) -> bool:
        return self in (NegotiationState.FINALIZED, NegotiationState.TERMINATED)


class NegotiationRole(enum.StrEnum):
    """This node's side of a negotiation."""

    PROVIDER = "provider"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class Negotiation:
    """One node's record of a negotiation.

    ``policy`` is the policy on the table: the one requested, the provider's counter-offer
    while OFFERED, the agreement's once AGREED. ``reason`` says why it is in its state (always
    set once TERMINATED); ``agreement_id`` is set from AGREED on.
    """

    id: str
    role: NegotiationRole
    peer: str
    dataset_id: str
    state: NegotiationState
    policy: Policy
    reason: str
    agreement_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def explanation(self) -> str:
        """The state and its reason, as one sentence for people."""
        return f"{self.state}: {self.reason}" if self.reason else str(self.state)


@dataclass(frozen=True)
class NegotiationStep:
    """What one negotiation message led to: the record, and the agreement and audit
    checkpoint to send with the reply (when there are)."""

    negotiation: Negotiation
    agreement: SignedAgreement | None = None
    checkpoint: Checkpoint | None = None


class Negotiations:
    """Placeholder until the state machine lands: holds what OpenNode gives it."""

    def __init__(
        self, store: object, audit_log: object, identity: object, catalog: object, trust: object
    ) -> None:
        self._store = store
