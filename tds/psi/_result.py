"""Modes, what each mode reveals to whom, and the result a party ends with."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, replace
from enum import StrEnum

from tds.errors import ConfigError
from tds.psi._group import DIGEST_BYTES
from tds.psi._items import DistinctItems

__all__ = ["Disclosure", "Mode", "PsiResult", "Revealed", "parse_mode", "with_items"]


class Mode(StrEnum):
    """What a secure join computes."""

    INTERSECTION = "intersection"  # the left party learns the shared items
    BOTH = "both"  # both parties learn the shared items
    CARDINALITY = "cardinality"  # the left party learns how many items are shared
    SUM = "sum"  # both learn how many; the right learns the sum of its values over them


class Revealed(StrEnum):
    """One thing a party learns about the other's input."""

    ITEMS = "items"  # which items are shared (the learner's own items, so it knows them)
    SIZE = "size"  # how many distinct keys are shared
    SUM = "sum"  # the sum of the right party's values over the shared keys
    PEER_SET_SIZE = "peer_set_size"  # how many distinct keys the other party holds
    PEER_BUCKET_SIZE = "peer_bucket_size"  # a bucketed join: the peer's largest bucket


@dataclass(frozen=True)
class Disclosure:
    """The privacy parameters of a job: everything each party learns beyond its own input.

    ``left_learns`` and ``right_learns`` hold while both parties follow the protocol
    (semi-honest): nothing else leaks, in particular not the peer's items outside the
    intersection, nor how often the peer holds a key, nor the order of the peer's rows.

    ``left_could_learn`` and ``right_could_learn`` are what that party could learn at worst, by
    deviating from the protocol or by choosing its inputs to probe, in one job: in cardinality
    and sum a left that blinds each item with its own scalar learns which of its items are
    shared; in sum a right that picks its values (1, 2, 4, ...) reads the shared items off the
    sum. ``roles_for_untrusted_peer`` names the roles (``"left"``, ``"right"``) where the two
    agree, the only roles to give a party the data owner does not trust (docs/protocol.md).

    ``false_match_bound`` is the chance, per pair of items, that two different items are
    reported as shared.
    """

    left_learns: frozenset[Revealed]
    right_learns: frozenset[Revealed]
    left_could_learn: frozenset[Revealed]
    right_could_learn: frozenset[Revealed]
    false_match_bound: float = 2.0 ** (-8 * DIGEST_BYTES)

    @classmethod
    def for_mode(cls, mode: Mode | str) -> Disclosure:
        """What a job of ``mode`` discloses."""
        return _DISCLOSURES[parse_mode(mode)]

    def bucketed(self) -> Disclosure:
        """The same, for a join split into buckets: each party also learns how many items the
        other's largest bucket holds (every bucket is padded to it)."""
        extra = {Revealed.PEER_BUCKET_SIZE}
        return Disclosure(
            left_learns=self.left_learns | extra,
            right_learns=self.right_learns | extra,
            left_could_learn=self.left_could_learn | extra,
            right_could_learn=self.right_could_learn | extra,
            false_match_bound=self.false_match_bound,
        )

    @property
    def roles_for_untrusted_peer(self) -> frozenset[str]:
        """The roles in which deviating teaches a party nothing beyond what the role learns."""
        roles = {
            "left": self.left_learns == self.left_could_learn,
            "right": self.right_learns == self.right_could_learn,
        }
        return frozenset(role for role, safe in roles.items() if safe)


_ITEMS_AND_SIZE = frozenset({Revealed.ITEMS, Revealed.SIZE, Revealed.PEER_SET_SIZE})
_SIZE = frozenset({Revealed.SIZE, Revealed.PEER_SET_SIZE})
_NOTHING = frozenset({Revealed.PEER_SET_SIZE})
_DISCLOSURES = {
    Mode.INTERSECTION: Disclosure(
        left_learns=_ITEMS_AND_SIZE,
        right_learns=_NOTHING,
        left_could_learn=_ITEMS_AND_SIZE,
        right_could_learn=_NOTHING,
    ),
    Mode.BOTH: Disclosure(
        left_learns=_ITEMS_AND_SIZE,
        right_learns=_ITEMS_AND_SIZE,
        left_could_learn=_ITEMS_AND_SIZE,
        right_could_learn=_ITEMS_AND_SIZE,
    ),
    # The shuffled digests hide which of the left's items matched only from a left that blinds
    # them all with one scalar; with a scalar per item it can test each against every right
    # point. The right only ever receives points.
    Mode.CARDINALITY: Disclosure(
        left_learns=_SIZE,
        right_learns=_NOTHING,
        left_could_learn=_ITEMS_AND_SIZE,
        right_could_learn=_NOTHING,
    ),
    # As cardinality for the left; the right can choose values whose sum spells out which of
    # its items are shared (as many as the sum has bits to spare).
    Mode.SUM: Disclosure(
        left_learns=_SIZE,
        right_learns=_SIZE | {Revealed.SUM},
        left_could_learn=_ITEMS_AND_SIZE,
        right_could_learn=_ITEMS_AND_SIZE | {Revealed.SUM},
    ),
}


def parse_mode(mode: Mode | str) -> Mode:
    try:
        return Mode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise ConfigError(f"unknown PSI mode {mode!r}; choose one of {choices}") from None


# A result can hold millions of items: repr and str show the first few, each cut short.
_SHOWN = 5
_SHORT = reprlib.Repr()
_SHORT.maxtuple = _SHORT.maxlist = _SHOWN
_SHORT.maxstring = _SHORT.maxother = 24
_SHORT.maxlong = 24
_SHORT.maxlevel = 3


@dataclass(frozen=True, repr=False)
class PsiResult:
    """What a secure join produced; a field is ``None`` where its holder did not learn it.

    A party's :meth:`result` holds that party's view. :func:`run_local` returns the joint view:
    items and counts as the left party learned them, the sum as the right party decrypted it.

    * ``size``: the number of distinct keys in both inputs.
    * ``items``: those keys, each as the holder's first row carried it, in the holder's order.
    * ``counts``: for each of ``items``, how many rows of the holder's own input carry it.
    * ``sum``: the sum of the right party's values over every right row whose key the left
      party also holds (duplicate right rows all count; duplicate left rows change nothing):
      ``SELECT SUM(value) FROM right WHERE key IN (SELECT key FROM left)``.
    * ``left_set_size`` / ``right_set_size``: distinct keys of each input; both parties
      learn both.

    ``repr`` and ``str`` show the first few items, each cut short, and how many there are.
    """

    mode: Mode
    disclosure: Disclosure
    left_set_size: int
    right_set_size: int
    size: int | None = None
    items: tuple[object, ...] | None = None
    counts: tuple[int, ...] | None = None
    sum: int | None = None

    def __repr__(self) -> str:
        fields = [f"mode={self.mode.value!r}"]
        if self.size is not None:
            fields.append(f"size={self.size}")
        if self.items is not None:
            more = f" ({len(self.items)} items)" if len(self.items) > _SHOWN else ""
            fields.append(f"items={_SHORT.repr(self.items)}{more}")
        if self.counts is not None:
            fields.append(f"counts={_SHORT.repr(self.counts)}")
        if self.sum is not None:
            fields.append(f"sum={_SHORT.repr(self.sum)}")
        fields.append(f"left_set_size={self.left_set_size}, right_set_size={self.right_set_size}")
        return f"PsiResult({', '.join(fields)})"

    def __str__(self) -> str:
        sets = f"{self.left_set_size} left and {self.right_set_size} right keys"
        if self.size is None:
            text = f"{self.mode.value}: size not learned, {sets}"
        else:
            text = f"{self.mode.value}: {self.size} shared of {sets}"
        if self.items is not None:
            shown = [_SHORT.repr(item) for item in self.items[:_SHOWN]]
            if len(self.items) > _SHOWN:
                shown.append(f"... ({len(self.items)} items)")
            text += f"; items {', '.join(shown)}" if shown else "; no items"
        if self.sum is not None:
            text += f"; sum {_SHORT.repr(self.sum)}"
        return text


def with_items(base: PsiResult, own: DistinctItems, indices: list[int]) -> PsiResult:
    """``base`` with the shared items, given as indices into the party's distinct items."""
    return replace(
        base,
        size=len(indices),
        items=tuple(map(own.originals.__getitem__, indices)),
        counts=tuple(map(own.counts.__getitem__, indices)),
    )
