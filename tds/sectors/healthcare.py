"""Healthcare data space: hospital visit records and insurer claims.

The story: two hospitals, ``harbour-general`` and ``st-marys``, record their visits; the insurer
``coastal-mutual`` records the claims it paid. All three name a person by the same national health
id (``HN`` and nine digits), so a researcher can count cohorts across hospitals or join visits to
claims, under the :func:`medical_research` terms, without any row leaving its owner.

:data:`VISITS` and :data:`CLAIMS` are the tables' schemas; :func:`generate` writes a seeded
synthetic copy of the three tables, of any size, in bounded memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tds.connector._catalog import Column
from tds.errors import ConfigError
from tds.policy import Action, Constraint, Duration, Duty, DutyAction, Permission, Policy
from tds.sectors import _tables
from tds.sectors._offer import check_uid, offer_or_agreement
from tds.sectors._tables import GeneratedTable, TableSchema, write_csv

__all__ = [
    "AGE_BANDS",
    "CLAIMS",
    "HOSPITALS",
    "ICD10_CHAPTERS",
    "INSURER",
    "VISITS",
    "generate",
    "medical_research",
    "patient_ids",
]

HOSPITALS = ("harbour-general", "st-marys")
INSURER = "coastal-mutual"

# (roman numeral, block range, short title) of the 22 chapters of ICD-10.
ICD10_CHAPTERS: tuple[tuple[str, str, str], ...] = (
    ("I", "A00-B99", "Infectious and parasitic diseases"),
    ("II", "C00-D48", "Neoplasms"),
    ("III", "D50-D89", "Blood and immune disorders"),
    ("IV", "E00-E90", "Endocrine, nutritional and metabolic diseases"),
    ("V", "F00-F99", "Mental and behavioural disorders"),
    ("VI", "G00-G99", "Diseases of the nervous system"),
    ("VII", "H00-H59", "Diseases of the eye and adnexa"),
    ("VIII", "H60-H95", "Diseases of the ear and mastoid process"),
    ("IX", "I00-I99", "Diseases of the circulatory system"),
    ("X", "J00-J99", "Diseases of the respiratory system"),
    ("XI", "K00-K93", "Diseases of the digestive system"),
    ("XII", "L00-L99", "Diseases of the skin and subcutaneous tissue"),
    ("XIII", "M00-M99", "Diseases of the musculoskeletal system and connective tissue"),
    ("XIV", "N00-N99", "Diseases of the genitourinary system"),
    ("XV", "O00-O99", "Pregnancy, childbirth and the puerperium"),
    ("XVI", "P00-P96", "Conditions originating in the perinatal period"),
    ("XVII", "Q00-Q99", "Congenital malformations and chromosomal abnormalities"),
    ("XVIII", "R00-R99", "Symptoms, signs and abnormal findings"),
    ("XIX", "S00-T98", "Injury, poisoning and other consequences of external causes"),
    ("XX", "V01-Y98", "External causes of morbidity and mortality"),
    ("XXI", "Z00-Z99", "Factors influencing health status and contact with health services"),
    ("XXII", "U00-U99", "Codes for special purposes"),
)

AGE_BANDS = ("0-4", "5-14", "15-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+")


def medical_research(
    *,
    uid: str,
    assigner: str,
    target: str,
    assignee: str | None = None,
    purpose: str = "medical-research",
    min_cohort: int = 10,
    max_uses: int = 100,
    valid_for: Duration | str = "P1Y",
    consent_required: bool = True,
) -> Policy:
    """Aggregates and joined sums for medical research, over cohorts of at least ``min_cohort``.

    Any use is for ``purpose`` (or a sub-purpose such as ``medical-research/oncology``), is an
    ``aggregate`` or a ``join-sum`` (never rows, never the joined identities), releases no group
    smaller than ``min_cohort`` people, happens at most ``max_uses`` times and within
    ``valid_for`` of the agreement, and is logged. With ``consent_required`` the consumer must
    have recorded the patients' consent (duty ``<uid>#consent``) before the first use.
    """
    check_uid(uid)
    duties = [Duty(action=DutyAction.LOG)]
    if consent_required:
        duties.append(Duty(action=DutyAction.OBTAIN_CONSENT, uid=f"{uid}#consent"))
    permission = Permission(
        action=Action.USE,
        constraints=(
            Constraint("purpose", "isA", purpose),
            Constraint("operation", "isAnyOf", [Action.AGGREGATE, Action.JOIN_SUM]),
            Constraint("minCohort", "gteq", min_cohort),
            Constraint("count", "lteq", max_uses),
            Constraint("elapsedTime", "lteq", valid_for),
        ),
        duties=tuple(duties),
    )
    return offer_or_agreement(
        uid=uid, assigner=assigner, target=target, assignee=assignee, permissions=(permission,)
    )


VISITS = TableSchema(
    name="visits",
    title="Hospital visits",
    description=(
        "One row per hospital visit (outpatient or admission): the patient's national health "
        "id, the visit date, the ICD-10 chapter of the main diagnosis, the patient's age band "
        "and sex, and the cost of the visit."
    ),
    columns=(
        Column("patient_id", "string"),
        Column("visit_date", "date"),
        Column("icd10_chapter", "string"),
        Column("age_band", "string"),
        Column("sex", "string"),
        Column("cost", "decimal"),
    ),
    subject_column="patient_id",
    time_column="visit_date",
)

CLAIMS = TableSchema(
    name="claims",
    title="Insurance claims paid",
    description=(
        "One row per claim the insurer paid, to a hospital or another provider: the member's "
        "national health id, the claim date, the ICD-10 chapter of the diagnosis, and the "
        "amount paid."
    ),
    columns=(
        Column("member_id", "string"),
        Column("claim_date", "date"),
        Column("icd10_chapter", "string"),
        Column("paid", "decimal"),
    ),
    subject_column="member_id",
    time_column="claim_date",
)


# --- Synthetic data ------------------------------------------------------------------------

_MAX_PEOPLE = 10**9
# Any multiplier coprime with 10**9 (odd, not a multiple of 5) makes index -> id a bijection;
# the offset keeps person 0 from being HN000000000.
_ID_MULTIPLIER = 738_219_467
_ID_OFFSET = 104_729_311

# Share of the population in each age band, roughly a European age pyramid.
_AGE_SHARES = np.array([5, 10, 11, 12, 13, 13, 14, 11, 8, 3], dtype=float)
# How often a person of each age band uses a hospital, relative to the middle-aged.
_AGE_USE = np.array([1.6, 0.6, 0.6, 0.7, 0.8, 1.0, 1.3, 1.9, 2.6, 3.2])
_FEMALE_SHARE = 0.51
# Gamma shape of a person's propensity to use care: below 1, most people visit rarely and a
# few visit often, as in real utilisation data.
_USE_SHAPE = 0.6
_INSURED_SHARE = 0.55
# Each hospital's catchment, as a share of the population (first, last): they overlap in the
# middle fifth, whose people may visit either hospital.
_CATCHMENTS = ((0.0, 0.6), (0.4, 1.0))

_BANDS = len(AGE_BANDS)
_FLAT = (1.0,) * _BANDS
# Per chapter: share of hospital visits (per mille, at age 45-54), how that share changes with
# age band, the median cost in currency units, and whether the chapter peaks in winter.
_CHAPTER_MODEL: tuple[tuple[float, tuple[float, ...], float, bool], ...] = (
    (25, (2.0, 1.5, 1.0, 1.0, 0.9, 1.0, 1.0, 1.1, 1.3, 1.5), 350, False),  # I
    (90, (0.05, 0.05, 0.1, 0.2, 0.4, 1.0, 1.5, 1.9, 1.8, 1.5), 2500, False),  # II
    (8, _FLAT, 600, False),  # III
    (45, (0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 1.2, 1.3, 1.2, 1.1), 400, False),  # IV
    (45, (0.1, 0.6, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 1.0, 1.2), 500, False),  # V
    (40, _FLAT, 700, False),  # VI
    (0.6, (0.3, 0.3, 0.3, 0.4, 0.6, 1.0, 1.4, 2.0, 2.2, 2.2), 300, False),  # VII
    (0.6, (3.0, 2.0, 0.6, 0.5, 0.6, 1.0, 1.0, 1.2, 1.4, 1.5), 250, False),  # VIII
    (130, (0.02, 0.03, 0.05, 0.1, 0.4, 1.0, 1.6, 2.2, 2.6, 2.8), 1500, False),  # IX
    (100, (3.0, 1.8, 0.8, 0.7, 0.8, 1.0, 1.1, 1.3, 1.6, 2.0), 600, True),  # X
    (90, (0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.1, 1.2, 1.2, 1.2), 900, False),  # XI
    (20, (1.5, 1.2, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2), 250, False),  # XII
    (100, (0.1, 0.4, 0.7, 0.9, 1.0, 1.0, 1.1, 1.1, 1.0, 0.9), 700, False),  # XIII
    (50, (0.5, 0.4, 0.8, 0.9, 0.9, 1.0, 1.1, 1.3, 1.5, 1.6), 600, False),  # XIV
    (60, (0, 0, 1.5, 3.0, 1.2, 0.05, 0, 0, 0, 0), 1800, False),  # XV: women 15-54 only
    (1, (6.0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 3000, False),  # XVI: infants only
    (0.5, (8.0, 3.0, 1.0, 0.5, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2), 2000, False),  # XVII
    (80, (1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2), 300, False),  # XVIII
    (90, (1.5, 2.0, 2.0, 1.4, 1.1, 1.0, 0.8, 0.9, 1.3, 2.0), 800, False),  # XIX
    (1.5, _FLAT, 400, False),  # XX: usually a secondary code, rarely the main diagnosis
    (40, (2.0, 1.0, 1.0, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), 150, False),  # XXI
    (10, _FLAT, 500, True),  # XXII
)
_PREGNANCY = 14  # index of chapter XV in ICD10_CHAPTERS
# Cost of a visit relative to the middle-aged: infants and the old need more care per visit.
_AGE_COST = np.array([1.1, 0.8, 0.8, 0.85, 0.9, 1.0, 1.1, 1.25, 1.35, 1.4])
_COST_SIGMA = 0.8
_COST_CENTS = (40_00, 20_000_00)
# The insurer pays 70% to 90% of a hospital bill, a few days to three weeks after the visit.
_PAID_SHARE = (0.70, 0.90)
_CLAIM_DELAY_DAYS = (2, 22)
# Claims from other providers (family doctors, clinics, pharmacies): about 30% more rows than
# the hospital claims, for smaller amounts.
_OTHER_CLAIMS = 0.3
_OTHER_COST_SCALE = 0.3
# Fewer visits at weekends; winter chapters peak in mid-January.
_WEEKDAY_USE = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.35])
_WINTER_PEAK = 0.5

# Entropy streams, one per kind of draw, so each can be regenerated alone.
_POPULATION, _CLAIMS_STREAM, _FIRST_VISITS_STREAM = 0, 1, 2


def _chapter_cumulative() -> np.ndarray:
    """Cumulative chapter probabilities per (age band, sex), shape (bands, 2, chapters)."""
    shares = np.array([share for share, _, _, _ in _CHAPTER_MODEL])
    weights = shares[:, None] * np.array([ages for _, ages, _, _ in _CHAPTER_MODEL])
    by_group = np.repeat(weights.T[:, None, :], 2, axis=1)
    by_group[:, 1, _PREGNANCY] = 0.0  # men (sex 1) have no pregnancy visits
    cumulative = np.cumsum(by_group, axis=2)
    return cumulative / cumulative[:, :, -1:]


_CHAPTER_CUMULATIVE = _chapter_cumulative()
_CHAPTER_MEDIAN_CENTS = np.array([median * 100 for _, _, median, _ in _CHAPTER_MODEL])
_WINTER_CHAPTERS = np.array([winter for _, _, _, winter in _CHAPTER_MODEL])
_CHAPTER_TEXT = np.array([roman for roman, _, _ in ICD10_CHAPTERS], dtype=np.dtypes.StringDType())
_AGE_TEXT = np.array(AGE_BANDS, dtype=np.dtypes.StringDType())
_SEX_TEXT = np.array(["F", "M"], dtype=np.dtypes.StringDType())


def patient_ids(indices: np.ndarray) -> np.ndarray:
    """The national health id (``HN`` and nine digits) of each person index in ``indices``.

    A bijection from 0 .. 10**9 - 1 onto the ids: distinct people get distinct ids, and
    consecutive indices get ids that look unrelated.
    """
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise ConfigError(f"person indices must be integers, not {indices.dtype}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= _MAX_PEOPLE):
        raise ConfigError(f"person indices run from 0 to {_MAX_PEOPLE - 1}")
    # Below 10**9 * 10**9 = 10**18, so the product fits in an int64.
    number = (indices * _ID_MULTIPLIER + _ID_OFFSET) % _MAX_PEOPLE
    digits = np.strings.zfill(number.astype(np.dtypes.StringDType()), 9)
    return np.strings.add("HN", digits)


@dataclass(frozen=True)
class _Population:
    """What is fixed per person: age band, sex, insurance, and who goes to which hospital."""

    age_band: np.ndarray
    sex: np.ndarray
    insured: np.ndarray
    # Per hospital: the first person of its catchment and the cumulative propensity to visit
    # over the catchment, for drawing patients by inverse transform.
    catchments: tuple[tuple[int, np.ndarray], ...]
    insured_people: np.ndarray
    insured_cumulative: np.ndarray


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    # A generator of its own per chunk, so that the claims pass can regenerate any chunk of
    # visits without keeping them.
    return np.random.default_rng(np.random.SeedSequence((seed, stream, chunk)))


def _population(people: int, seed: int) -> _Population:
    rng = _rng(seed, _POPULATION)
    age_band = _draw(np.cumsum(_AGE_SHARES), rng.random(people)).astype(np.uint8)
    sex = (rng.random(people) >= _FEMALE_SHARE).astype(np.uint8)
    use = rng.gamma(_USE_SHAPE, 1 / _USE_SHAPE, people) * _AGE_USE[age_band]
    insured = rng.random(people) < _INSURED_SHARE
    catchments = []
    for first_share, last_share in _CATCHMENTS:
        first = math.floor(people * first_share)
        last = max(first + 1, math.ceil(people * last_share))
        catchments.append((first, np.cumsum(use[first:last])))
    insured_people = np.flatnonzero(insured)
    return _Population(
        age_band=age_band,
        sex=sex,
        insured=insured,
        catchments=tuple(catchments),
        insured_people=insured_people,
        insured_cumulative=np.cumsum(use[insured_people]),
    )


def _draw(cumulative: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Indices drawn with the weights whose running sum is ``cumulative``."""
    picked = np.searchsorted(cumulative, uniform * cumulative[-1], side="right")
    # Rounding can put a draw a hair past the last bound.
    return np.minimum(picked, len(cumulative) - 1)


def _chapters(age_band: np.ndarray, sex: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    chapter = np.empty(len(uniform), dtype=np.intp)
    for band in range(_BANDS):
        for sex_code in (0, 1):
            group = (age_band == band) & (sex == sex_code)
            chapter[group] = _draw(_CHAPTER_CUMULATIVE[band, sex_code], uniform[group])
    return chapter


def _day_weights(year: int) -> tuple[np.datetime64, np.ndarray, np.ndarray]:
    """1 January of ``year``, and the cumulative weight of each day: all year, winter chapters."""
    first = np.datetime64(f"{year:04d}-01-01", "D")
    days = np.arange(first, np.datetime64(f"{year + 1:04d}-01-01", "D"))
    # 1970-01-01, day 0, was a Thursday (weekday 3, counting from Monday).
    weekday = (days.astype(np.int64) + 3) % 7
    weights = _WEEKDAY_USE[weekday]
    season = 1 + _WINTER_PEAK * np.cos(2 * np.pi * (np.arange(len(days)) - 15) / len(days))
    return first, np.cumsum(weights), np.cumsum(weights * season)


def _dates(
    chapter: np.ndarray, uniform: np.ndarray, days: tuple[np.datetime64, np.ndarray, np.ndarray]
) -> np.ndarray:
    first, all_year, winter = days
    offset = np.empty(len(uniform), dtype=np.int64)
    in_winter = _WINTER_CHAPTERS[chapter]
    offset[in_winter] = _draw(winter, uniform[in_winter])
    offset[~in_winter] = _draw(all_year, uniform[~in_winter])
    return first + offset


def _costs(
    chapter: np.ndarray, age_band: np.ndarray, normal: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """Lognormal costs in cents, by chapter and age band."""
    median = _CHAPTER_MEDIAN_CENTS[chapter] * _AGE_COST[age_band] * scale
    cents = np.rint(median * np.exp(_COST_SIGMA * normal))
    return np.clip(cents, *_COST_CENTS).astype(np.int64)


@dataclass(frozen=True)
class _Visits:
    person: np.ndarray
    chapter: np.ndarray
    date: np.ndarray
    cost: np.ndarray


def _visits(
    population: _Population,
    hospital: int,
    chunk: int,
    rows: int,
    seed: int,
    days: tuple[np.datetime64, np.ndarray, np.ndarray],
) -> _Visits:
    """Chunk ``chunk`` of hospital ``hospital``'s visits; the same arguments, the same rows."""
    rng = _rng(seed, _FIRST_VISITS_STREAM + hospital, chunk)
    first, cumulative = population.catchments[hospital]
    person = first + _draw(cumulative, rng.random(rows))
    age_band = population.age_band[person]
    chapter = _chapters(age_band, population.sex[person], rng.random(rows))
    date = _dates(chapter, rng.random(rows), days)
    cost = _costs(chapter, age_band, rng.standard_normal(rows))
    return _Visits(person, chapter, date, cost)


def _visit_chunks(
    population: _Population,
    hospital: int,
    sizes: list[int],
    seed: int,
    days: tuple[np.datetime64, np.ndarray, np.ndarray],
) -> Iterator[dict[str, np.ndarray]]:
    for chunk, rows in enumerate(sizes):
        visits = _visits(population, hospital, chunk, rows, seed, days)
        age_band = population.age_band[visits.person]
        yield {
            "patient_id": patient_ids(visits.person),
            "visit_date": visits.date,
            "icd10_chapter": _CHAPTER_TEXT[visits.chapter],
            "age_band": _AGE_TEXT[age_band],
            "sex": _SEX_TEXT[population.sex[visits.person]],
            "cost": visits.cost,
        }


def _claim_chunks(
    population: _Population,
    sizes: list[int],
    seed: int,
    days: tuple[np.datetime64, np.ndarray, np.ndarray],
) -> Iterator[dict[str, np.ndarray]]:
    # Chunk k of claims holds the claims for chunk k of every hospital's visits, regenerated
    # here, and the matching share of claims from other providers, shuffled together.
    for chunk, rows in enumerate(sizes):
        rng = _rng(seed, _CLAIMS_STREAM, chunk)
        member, chapter, date, paid = [], [], [], []
        for hospital in range(len(HOSPITALS)):
            visits = _visits(population, hospital, chunk, rows, seed, days)
            insured = population.insured[visits.person]
            count = int(insured.sum())
            delay = rng.integers(*_CLAIM_DELAY_DAYS, size=count)
            share = rng.uniform(*_PAID_SHARE, size=count)
            member.append(visits.person[insured])
            chapter.append(visits.chapter[insured])
            date.append(visits.date[insured] + delay)
            paid.append(np.floor(visits.cost[insured] * share).astype(np.int64))
        others = round(_OTHER_CLAIMS * sum(len(part) for part in member))
        if others and len(population.insured_people):
            person = population.insured_people[
                _draw(population.insured_cumulative, rng.random(others))
            ]
            age_band = population.age_band[person]
            other_chapter = _chapters(age_band, population.sex[person], rng.random(others))
            cost = _costs(other_chapter, age_band, rng.standard_normal(others), _OTHER_COST_SCALE)
            member.append(person)
            chapter.append(other_chapter)
            date.append(_dates(other_chapter, rng.random(others), days))
            paid.append(np.floor(cost * rng.uniform(*_PAID_SHARE, size=others)).astype(np.int64))
        order = rng.permutation(sum(len(part) for part in member))
        columns = [np.concatenate(part)[order] for part in (member, date, chapter, paid)]
        # Up to 1.4 times a chunk of visits: written in pieces of at most a chunk, since the
        # text of a row takes far more memory than its numbers.
        for start in range(0, len(order), sizes[0]):
            piece = [column[start : start + sizes[0]] for column in columns]
            yield {
                "member_id": patient_ids(piece[0]),
                "claim_date": piece[1],
                "icd10_chapter": _CHAPTER_TEXT[piece[2]],
                "paid": piece[3],
            }


def _check_int(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, not {value!r:.40}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
        raise ConfigError(f"{name} must be {bounds}, not {value:,}")
    return value


def generate(
    directory: Path | str,
    *,
    people: int = 20_000,
    visits_per_hospital: int = 10_000,
    seed: int = 2026,
    year: int = 2026,
) -> tuple[GeneratedTable, ...]:
    """Write the sector's synthetic tables into ``directory``; the tables written.

    A population of ``people`` persons (age band, sex, insurance fixed by ``seed``) uses two
    hospitals with overlapping catchments, ``visits_per_hospital`` visits each during ``year``;
    a few people use care often, most rarely. The insurer covers about 55% of the population
    and pays one claim for each visit of a member at either hospital, a few days later, plus
    about 30% more claims from other providers.

    Files: ``harbour-general-visits.csv``, ``st-marys-visits.csv`` and
    ``coastal-mutual-claims.csv``. The same arguments write the same bytes. Memory holds one
    chunk of rows and a few arrays of ``people`` entries, whatever the number of visits.
    """
    people = _check_int(people, "people", 1, _MAX_PEOPLE)
    visits_per_hospital = _check_int(visits_per_hospital, "visits_per_hospital", 1)
    seed = _check_int(seed, "seed", 0)
    # Claims of late-December visits fall in the next year, which must still be a date.
    year = _check_int(year, "year", 1, 9998)
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create directory {directory}: {error}") from None

    population = _population(people, seed)
    days = _day_weights(year)
    # Read at call time, so a test can make the chunks small.
    sizes = list(_tables.chunk_sizes(visits_per_hospital, _tables.CHUNK_ROWS))
    tables = []
    for hospital, node in enumerate(HOSPITALS):
        path = directory / f"{node}-visits.csv"
        chunks = _visit_chunks(population, hospital, sizes, seed, days)
        tables.append(GeneratedTable(node, VISITS, path, write_csv(path, VISITS, chunks)))
    path = directory / f"{INSURER}-claims.csv"
    chunks = _claim_chunks(population, sizes, seed, days)
    tables.append(GeneratedTable(INSURER, CLAIMS, path, write_csv(path, CLAIMS, chunks)))
    return tuple(tables)
