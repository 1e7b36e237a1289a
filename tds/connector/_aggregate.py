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
from tds.connector._tables import from_units, instants, read_columns, to_units
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
    """One provider's counts (one per group) and sums (groups by summed columns), in units.

    ``cohorts`` holds each group's cohort: its distinct subjects when the dataset names a
    subject column (a patient with three visits is one person), else (by default) its rows.
    """

    counts: np.ndarray
    sums: np.ndarray
    suppressed: int = 0
    cohorts: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.cohorts is None:
            object.__setattr__(self, "cohorts", self.counts.copy())

    @classmethod
    def compute(cls, dataset: Dataset, spec: JobSpec) -> LocalAggregate:
        """Count and sum the rows of ``dataset`` per group of ``spec``, keeping only rows in
        the job's area and period; rows in other groups are not read into the result. With an
        epsilon, each summed value is clipped to ``value_bound`` first, which bounds what one
        row can change."""
        groups = spec.groups if spec.group_by else ((),)
        extra = _selection_columns(dataset, spec)
        columns = read_columns(dataset, [*spec.group_by, *spec.sums, *extra])
        rows = len(columns[0]) if columns else 0
        named = dict(zip([*spec.group_by, *spec.sums, *extra], columns, strict=True))
        index = {group: position for position, group in enumerate(groups)}
        if spec.group_by:
            keys = zip(*(named[name] for name in spec.group_by), strict=True)
            positions = np.fromiter((index.get(key, -1) for key in keys), np.int64, rows)
        else:
            positions = np.zeros(rows, dtype=np.int64)
        positions[~_selected(dataset, spec, named, rows)] = -1
        wanted = positions >= 0
        chosen = positions[wanted]
        counts = np.bincount(chosen, minlength=len(groups)).astype(np.int64)
        if dataset.subject_column is None:
            cohorts = counts.copy()
        else:
            subjects = np.unique(np.array(named[dataset.subject_column]), return_inverse=True)[1]
            # One number per (group, subject) pair, so that each pair is counted once.
            span = int(subjects.max(initial=0)) + 1
            pairs = np.unique(chosen * span + subjects[wanted])
            cohorts = np.bincount(pairs // span, minlength=len(groups)).astype(np.int64)
        types = {column.name: column.type for column in dataset.columns}
        sums = np.zeros((len(groups), len(spec.sums)), dtype=np.int64)
        for number, name in enumerate(spec.sums):
            what = f"column {name} of dataset {dataset.id}"
            try:
                units = np.array(to_units(named[name], types[name], what), dtype=np.int64)[wanted]
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
        return cls(counts, sums, cohorts=cohorts)

    def suppress(self, min_cohort: int) -> LocalAggregate:
        """Zero every group whose cohort is under ``min_cohort`` (its count and sums too)."""
        small = self.cohorts < min_cohort
        counts, sums, cohorts = self.counts.copy(), self.sums.copy(), self.cohorts.copy()
        counts[small] = 0
        sums[small, :] = 0
        cohorts[small] = 0
        suppressed = int(np.count_nonzero(small & (self.counts > 0)))
        return LocalAggregate(counts, sums, suppressed, cohorts)

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
        return LocalAggregate(counts, sums, self.suppressed, self.cohorts)

    def to_vector(self) -> np.ndarray:
        """Per group: the count, then the sums."""
        return np.column_stack([self.counts, self.sums]).reshape(-1).astype(np.int64)

    @classmethod
    def from_vector(cls, vector: np.ndarray, groups: int, sums: int) -> LocalAggregate:
        table = np.asarray(vector, dtype=np.int64).reshape(groups, 1 + sums)
        return cls(table[:, 0].copy(), table[:, 1:].copy())

    @property
    def smallest_group(self) -> int | None:
        """The smallest nonzero cohort, the one this contribution releases."""
        nonzero = self.cohorts[self.cohorts > 0]
        return int(nonzero.min()) if nonzero.size else None


def _selection_columns(dataset: Dataset, spec: JobSpec) -> list[str]:
    """The columns beyond the job's own that select and count its rows."""
    extra = []
    if dataset.subject_column is not None:
        extra.append(dataset.subject_column)
    if spec.area is not None and dataset.location_columns is not None:
        extra.extend(dataset.location_columns)
    if spec.period is not None and dataset.time_column is not None:
        extra.append(dataset.time_column)
    wanted = {*spec.group_by, *spec.sums}
    return list(dict.fromkeys(name for name in extra if name not in wanted))


def _selected(
    dataset: Dataset, spec: JobSpec, named: dict[str, list[str]], rows: int
) -> np.ndarray:
    """Which rows lie in the job's area and period (every row when it asks for neither)."""
    keep = np.ones(rows, dtype=bool)
    if spec.area is not None:
        if dataset.location_columns is None:
            raise ConfigError(f"dataset {dataset.id} has no location columns to select an area")
        latitude, longitude = (
            _numbers(named[name], f"column {name} of dataset {dataset.id}")
            for name in dataset.location_columns
        )
        box = spec.area
        keep &= (latitude >= box.south) & (latitude <= box.north)
        if box.west <= box.east:
            keep &= (longitude >= box.west) & (longitude <= box.east)
        else:
            keep &= (longitude >= box.west) | (longitude <= box.east)
    if spec.period is not None:
        if dataset.time_column is None:
            raise ConfigError(f"dataset {dataset.id} has no time column to select a period")
        what = f"column {dataset.time_column} of dataset {dataset.id}"
        times = instants(named[dataset.time_column], what)
        start, end = (np.datetime64(t.replace(tzinfo=None), "us") for t in spec.period)
        keep &= (times >= start) & (times < end)
    return keep


def _numbers(values: list[str], what: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.str_).astype(np.float64)
    except ValueError:
        raise ConfigError(f"{what} holds a value that is not a number") from None


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
