"""Usage state: counters, budgets, agreement times, fulfilled and violated duties.

Stateful operands (``count``, ``rate``, ``dpEpsilon``) are checked and spent in one atomic step,
``UsageState.try_consume``, which runs the evaluator's check against the current ledger and
records the use only if the check passes. An implementation must make that step atomic with
respect to every other ``try_consume`` on the same key: the in-memory state holds a lock; a
SQLite state runs it inside one ``BEGIN IMMEDIATE`` transaction. Two concurrent requests can then
never both spend the last use.
"""

from __future__ import annotations

import bisect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tds.errors import PolicyEvaluationError, PolicySyntaxError
from tds.policy._request import utc_instant
from tds.policy._values import exact_sum, is_text, shown, to_decimal


@dataclass(frozen=True)
class UsageKey:
    """Scope of one counter or one fulfilled duty.

    ``policy`` is the policy's content hash, so two agreements never share counters even if
    they reuse a uid; ``rule`` is the permission's or duty's uid, or its path such as
    ``permission[0]`` or ``permission[0].duty[1]``; counters are kept per ``assignee``.
    """

    policy: str
    rule: str
    assignee: str

    def __post_init__(self) -> None:
        for name in ("policy", "rule", "assignee"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or not is_text(value):
                raise PolicyEvaluationError(
                    f"UsageKey.{name} must be a non-empty string of Unicode text, "
                    f"got {shown(value)}"
                )


def _check_key(key: object) -> None:
    if not isinstance(key, UsageKey):
        raise PolicyEvaluationError(f"expected a UsageKey, got {type(key).__name__}")


@dataclass(frozen=True)
class Use:
    """One use to record: when it happened (kept in UTC) and how much privacy budget it spent."""

    time: datetime
    epsilon: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", utc_instant("use time", self.time))
        try:
            epsilon = to_decimal(self.epsilon, what="epsilon")
        except PolicySyntaxError as error:
            raise PolicyEvaluationError(str(error)) from None
        object.__setattr__(self, "epsilon", epsilon)


class UsageLedger(Protocol):
    """Read-only view of one key's recorded uses, as of the current transaction."""

    @property
    def uses(self) -> int: ...

    @property
    def epsilon_spent(self) -> Decimal: ...

    def uses_after(self, instant: datetime) -> int:
        """Recorded uses strictly later than ``instant``."""
        ...


class UsageState(ABC):
    """Where counters, budgets, agreement times and fulfilled duties are kept."""

    @abstractmethod
    def agreed_at(self, content_hash: str) -> datetime | None:
        """When the policy with this content hash was agreed, if known."""

    @abstractmethod
    def is_fulfilled(self, duty: UsageKey) -> bool:
        """Whether a duty that must precede use (e.g. obtaining consent) was fulfilled."""

    @abstractmethod
    def is_violated(self, duty: UsageKey) -> bool:
        """Whether a duty owed after the use (compensate) was recorded as violated."""

    @abstractmethod
    def try_consume(
        self, key: UsageKey, check: Callable[[UsageLedger], bool], use: Use | None
    ) -> bool:
        """Atomically run ``check`` on the key's ledger and, if it passes, record ``use``.

        Returns ``check``'s result. With ``use=None`` nothing is recorded (a dry run). ``check``
        may run more than once if the implementation retries, and must not call back into the
        state.
        """


@dataclass
class _Ledger:
    times: list[datetime] = field(default_factory=list)  # kept sorted
    epsilon_spent: Decimal = Decimal(0)

    @property
    def uses(self) -> int:
        return len(self.times)

    def uses_after(self, instant: datetime) -> int:
        return len(self.times) - bisect.bisect_right(self.times, instant)


def _check_hash(content_hash: object) -> None:
    if not isinstance(content_hash, str) or not content_hash or not is_text(content_hash):
        raise PolicyEvaluationError(f"expected a policy's content hash, got {shown(content_hash)}")


class InMemoryUsageState(UsageState):
    """A thread-safe UsageState in process memory, for tests and single-process use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ledgers: dict[UsageKey, _Ledger] = {}
        self._agreements: dict[str, datetime] = {}
        self._fulfilled: set[UsageKey] = set()
        self._violated: set[UsageKey] = set()

    def record_agreement(self, content_hash: str, at: datetime) -> None:
        """Record when the policy with this content hash was agreed."""
        _check_hash(content_hash)
        instant = utc_instant("agreement time", at)
        with self._lock:
            self._agreements[content_hash] = instant

    def record_fulfilment(self, duty: UsageKey) -> None:
        """Record that a duty which must precede use (such as obtaining consent) is fulfilled."""
        _check_key(duty)
        with self._lock:
            self._fulfilled.add(duty)

    def record_violation(self, duty: UsageKey) -> None:
        """Record that a duty owed after the use (compensate) was violated."""
        _check_key(duty)
        with self._lock:
            self._violated.add(duty)

    def ledger(self, key: UsageKey) -> UsageLedger:
        """A snapshot of the key's ledger."""
        _check_key(key)
        with self._lock:
            ledger = self._ledgers.get(key, _Ledger())
            return _Ledger(list(ledger.times), ledger.epsilon_spent)

    def agreed_at(self, content_hash: str) -> datetime | None:
        _check_hash(content_hash)
        with self._lock:
            return self._agreements.get(content_hash)

    def is_fulfilled(self, duty: UsageKey) -> bool:
        _check_key(duty)
        with self._lock:
            return duty in self._fulfilled

    def is_violated(self, duty: UsageKey) -> bool:
        _check_key(duty)
        with self._lock:
            return duty in self._violated

    def try_consume(
        self, key: UsageKey, check: Callable[[UsageLedger], bool], use: Use | None
    ) -> bool:
        _check_key(key)
        if not callable(check):
            raise PolicyEvaluationError(f"check must be callable, got {type(check).__name__}")
        if use is not None and not isinstance(use, Use):
            raise PolicyEvaluationError(f"expected a Use or None, got {type(use).__name__}")
        with self._lock:
            ledger = self._ledgers.get(key) or _Ledger()
            if not check(ledger):
                return False
            if use is not None:
                spent = exact_sum(ledger.epsilon_spent, use.epsilon)
                if spent is None:
                    raise PolicyEvaluationError(
                        "the epsilon spent under this key cannot be added up exactly; "
                        "nothing was recorded"
                    )
                bisect.insort(ledger.times, use.time)
                ledger.epsilon_spent = spent
                self._ledgers[key] = ledger
            return True
