"""An aggregation's numbers: each provider's local counts and sums per group, as the one
integer vector that travels encrypted along the chain of providers, and back into a table.

The vector holds, for each group the job asks for, the group's row count and then one sum per
summed column. A provider suppresses (zeroes) every group with fewer rows than the job's
``min_cohort`` before anything leaves it, and with an ``epsilon`` adds discrete Laplace noise
(:func:`discrete_laplace`) to every number it releases.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tds.connector._catalog import Dataset
from tds.connector._jobs import JobSpec
from tds.connector._tables import from_units, read_columns, to_units
from tds.errors import ConfigError

__all__ = [
    "PACKING_BOUND",
    "LocalAggregate",
    "aggregate_table",
    "discrete_laplace",
    "fresh_rng",
]

# Every number a provider contributes stays within this bound, so the packed slots (sized for
# one addition per provider) can never carry into their neighbours.
PACKING_BOUND = 2**52


def fresh_rng() -> np.random.Generator:
    """A generator seeded from the operating system's randomness, never reused."""
    return np.random.default_rng(secrets.randbits(128))


def discrete_laplace(scale: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of the discrete Laplace distribution: P(k) proportional to
    exp(-|k| / scale), as the difference of two geometric draws (Inusah and Kozubowski 2006).
    """
    p = 1.0 - math.exp(-1.0 / scale)
    return rng.geometric(p, size).astype(np.int64) - rng.geometric(p, size).astype(np.int64)


@dataclass(frozen=True)
class LocalAggregate:
    """One provider's counts (one per group) and sums (groups by summed columns), in units."""

    counts: np.ndarray
    sums: np.ndarray
    suppressed: int = 0

    @classmethod
    def compute(cls, dataset: Dataset, spec: JobSpec) -> LocalAggregate:
        """Count and sum the rows of ``dataset`` per group of ``spec``; rows in other groups
        are not read into the result. With an epsilon, each summed value is clipped to
        ``value_bound`` first, which bounds what one row can change."""
        columns = read_columns(dataset, [*spec.group_by, *spec.sums])
        groups = spec.groups if spec.group_by else ((),)
        index = {group: position for position, group in enumerate(groups)}
        keys = list(zip(*columns[: len(spec.group_by)], strict=True))
        if not spec.group_by:
            keys = [()] * (len(columns[0]) if columns else 0)
        positions = np.fromiter((index.get(key, -1) for key in keys), np.int64, len(keys))
        wanted = positions >= 0
        counts = np.bincount(positions[wanted], minlength=len(groups)).astype(np.int64)
        types = {column.name: column.type for column in dataset.columns}
        sums = np.zeros((len(groups), len(spec.sums)), dtype=np.int64)
        chosen = positions[wanted]
        for number, name in enumerate(spec.sums):
            text = columns[len(spec.group_by) + number]
            what = f"column {name} of dataset {dataset.id}"
            try:
                units = np.array(to_units(text, types[name], what), dtype=np.int64)[wanted]
            except OverflowError:
                raise ConfigError(f"a value in {what} is too large to add up") from None
            if spec.epsilon is not None:
                units = np.clip(units, -spec.value_bound, spec.value_bound)
            # The float sums only tell the magnitude, so that the exact int64 sums cannot
            # have wrapped around unnoticed.
            magnitude = np.bincount(
                chosen, weights=np.abs(units.astype(np.float64)), minlength=len(groups)
            )
            if np.any(magnitude > PACKING_BOUND):
                raise ConfigError(
                    f"a group's sum of {what} could exceed 2**52 units, more than an "
                    "aggregation carries"
                )
            np.add.at(sums[:, number], chosen, units)
        return cls(counts, sums)

    def suppress(self, min_cohort: int) -> LocalAggregate:
        """Zero every group with fewer than ``min_cohort`` rows (its count too)."""
        small = self.counts < min_cohort
        counts, sums = self.counts.copy(), self.sums.copy()
        counts[small] = 0
        sums[small, :] = 0
        return LocalAggregate(counts, sums, int(np.count_nonzero(small & (self.counts > 0))))

    def with_noise(self, epsilon: Decimal, value_bound: int) -> LocalAggregate:
        """The same numbers with discrete Laplace noise for an ``epsilon`` budget, split evenly
        between the counts (sensitivity 1) and each summed column (sensitivity
        ``value_bound``); the groups are disjoint, so one row touches one group only."""
        share = float(epsilon) / (1 + self.sums.shape[1])
        rng = fresh_rng()
        counts = self.counts + discrete_laplace(1 / share, len(self.counts), rng)
        sums = self.sums.copy()
        for column in range(sums.shape[1]):
            sums[:, column] += discrete_laplace(value_bound / share, sums.shape[0], rng)
        return LocalAggregate(counts, sums, self.suppressed)

    def to_vector(self) -> np.ndarray:
        """Per group: the count, then the sums."""
        return np.column_stack([self.counts, self.sums]).reshape(-1).astype(np.int64)

    @classmethod
    def from_vector(cls, vector: np.ndarray, groups: int, sums: int) -> LocalAggregate:
        table = np.asarray(vector, dtype=np.int64).reshape(groups, 1 + sums)
        return cls(table[:, 0].copy(), table[:, 1:].copy())

    @property
    def smallest_group(self) -> int | None:
        """The smallest nonzero group count, the cohort this contribution releases."""
        nonzero = self.counts[self.counts > 0]
        return int(nonzero.min()) if nonzero.size else None


def aggregate_table(
    spec: JobSpec, total: LocalAggregate, column_types: dict[str, object]
) -> dict[str, object]:
    """The requester's result: one row per group with its count and sums, in column terms."""
    groups = spec.groups if spec.group_by else ((),)
    rows = []
    for position, group in enumerate(groups):
        sums = [
            from_units(int(total.sums[position, number]), column_types[name])  # type: ignore[arg-type]
            for number, name in enumerate(spec.sums)
        ]
        rows.append([*group, int(total.counts[position]), *sums])
    return {
        "columns": [*spec.group_by, "count", *(f"sum_{name}" for name in spec.sums)],
        "rows": rows,
        "providers": len(spec.providers),
        "min_cohort": spec.min_cohort,
        "epsilon": None if spec.epsilon is None else str(spec.epsilon),
    }
