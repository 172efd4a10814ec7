"""The Fellegi-Sunter model: m and u per comparison level, term frequencies, the prior; fitted, saved, loaded.

Estimation, from the data alone (no labels):

- **u** (probability of a level among non-matching pairs) from uniformly drawn random pairs: two
  random staff records are almost never the same person.
- **m** (probability of a level among matching pairs) from *anchor* pairs: records sharing a NUMEN
  hash are the same person (the NUMEN is kept for life), and NUMENs are missing at random, so those
  pairs are a fair sample of true duplicates for every comparison except NUMEN itself. The NUMEN
  comparison's own m comes from pairs agreeing on names, first name and birth date.
- **prior** (probability that two random records match) from the anchor count divided by the
  chance that both records of a pair carry a NUMEN.
- **term frequencies** of surnames and first names: agreeing on ``MARTIN`` is weaker evidence
  than agreeing on ``PIEDALLU``; the agreement weight becomes ``log2(m / f(value))`` (as Splink does).

Match weights are log2 Bayes factors; the total weight of a pair is the prior's log-odds plus the
weights of its levels, and its match probability is ``2^w / (1 + 2^w)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .arrays import distinct_inverse
from .compare import COMPARISONS, DEFAULT_NEIGHBOURS, ComparisonVectors, compare
from .errors import ModelError, ModelFormatError
from .features import MISSING, RecordTable
from .keys import pairs_of_blocks

__all__ = ["FORMAT", "LevelParams", "Model", "fit_model", "vectors_weights"]

FORMAT = "matching-model/1"
"""Version tag of the serialised model."""

_FLOOR = 1e-6
"""Smallest m or u kept, so that no level is ever certain proof either way."""

COHORT_YEARS = 5
"""Width of the birth cohorts of the first-name frequencies."""

NUMEN_COLLISION = 0.01
"""Chance that a record's NUMEN equals another person's one (a typing error), times the record count."""

NUMEN_DIFFERENT_MAX = 1e-3
"""Cap of m for different NUMENs (a data-entry error rate, not a homonym rate)."""


@dataclass(slots=True)
class LevelParams:
    """m and u of one level, and how many pairs they were estimated from."""

    label: str
    m: float
    u: float
    null: bool = False
    tf: bool = False

    @property
    def weight(self) -> float:
        """log2(m / u); zero for the null level."""
        return 0.0 if self.null else math.log2(self.m / self.u)


@dataclass(slots=True)
class Model:
    """A fitted model: per comparison its levels' parameters, the prior, the term-frequency tables."""

    comparisons: dict[str, list[LevelParams]]
    prior: float
    """Probability that two records drawn at random are the same person."""
    surname_counts: dict[str, int] = field(default_factory=dict)
    """Records bearing each surname key (usage or birth), for names borne by two records or more."""
    given_counts: dict[str, int] = field(default_factory=dict)
    given_cohort_counts: dict[str, int] = field(default_factory=dict)
    """Records per first-name key and birth cohort (``nathalie|1965``), for counts of two or more."""
    cohort_totals: dict[str, int] = field(default_factory=dict)
    """Records per birth cohort (five-year span, named by its first year)."""
    total_records: int = 1
    stats: dict[str, float] = field(default_factory=dict)
    """Figures from fitting (anchor pairs, random pairs), for the record."""

    @property
    def prior_weight(self) -> float:
        """log2 of the prior odds."""
        return math.log2(self.prior / (1.0 - self.prior))

    def weight_table(self) -> npt.NDArray[np.float64]:
        """``(len(COMPARISONS), max levels)`` level weights, in the order of ``COMPARISONS``."""
        width = max(len(c.levels) for c in COMPARISONS)
        out = np.zeros((len(COMPARISONS), width), dtype=np.float64)
        for i, comp in enumerate(COMPARISONS):
            params = self.comparisons.get(comp.name)
            if params is None or len(params) != len(comp.levels):
                raise ModelError(f"the model has no parameters for comparison {comp.name!r}")
            for j, p in enumerate(params):
                out[i, j] = p.weight
        return out

    def frequencies(self, values: list[str], counts: Mapping[str, int]) -> npt.NDArray[np.float64]:
        """Chance that another record bears each value: ``(count - 1) / N``, at least ``1 / N``.

        The record itself is left out of the count: for a name borne by two records, the chance
        that a record of *another* person bears it is one in N, not two.
        """
        n = max(self.total_records, 1)
        return np.fromiter(
            (max(counts.get(v, 1) - 1, 1) / n for v in values), dtype=np.float64, count=len(values)
        )

    def to_json(self) -> str:
        """The model as a JSON document (stable key order), to store between runs."""
        doc: dict[str, Any] = {
            "format": FORMAT,
            "prior": self.prior,
            "total_records": self.total_records,
            "stats": self.stats,
            "comparisons": {
                name: [{"label": p.label, "m": p.m, "u": p.u, "null": p.null, "tf": p.tf} for p in params]
                for name, params in self.comparisons.items()
            },
            "term_frequencies": {
                "surname": self.surname_counts,
                "given_name": self.given_counts,
                "given_name_by_cohort": self.given_cohort_counts,
                "cohorts": self.cohort_totals,
            },
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Model:
        """Read a model written by :meth:`to_json`; :class:`ModelFormatError` when it is not one."""
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ModelFormatError(f"not a {FORMAT} document (format {doc.get('format')!r})")
            comparisons = {
                name: [
                    LevelParams(str(p["label"]), float(p["m"]), float(p["u"]), bool(p["null"]), bool(p["tf"]))
                    for p in params
                ]
                for name, params in doc["comparisons"].items()
            }
            tf = doc["term_frequencies"]
            model = cls(
                comparisons=comparisons,
                prior=float(doc["prior"]),
                surname_counts={str(k): int(v) for k, v in tf["surname"].items()},
                given_counts={str(k): int(v) for k, v in tf["given_name"].items()},
                given_cohort_counts={str(k): int(v) for k, v in tf["given_name_by_cohort"].items()},
                cohort_totals={str(k): int(v) for k, v in tf["cohorts"].items()},
                total_records=int(doc["total_records"]),
                stats={str(k): float(v) for k, v in doc.get("stats", {}).items()},
            )
        except ModelFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelFormatError(f"malformed model document: {exc}") from exc
        model.weight_table()  # every comparison must be there, with the right number of levels
        return model


def _level_counts(levels: npt.NDArray[np.int8]) -> list[npt.NDArray[np.float64]]:
    """Per comparison, how many rows fell in each level."""
    return [
        np.bincount(levels[:, i].astype(np.int64), minlength=len(comp.levels)).astype(np.float64)
        for i, comp in enumerate(COMPARISONS)
    ]


def _probabilities(counts: npt.NDArray[np.float64], comp_index: int) -> list[float]:
    """Shares of the non-null levels, with half a pair added to each (no level is ever certain)."""
    comp = COMPARISONS[comp_index]
    non_null = [j for j, lv in enumerate(comp.levels) if not lv.null]
    total = counts[non_null].sum() + 0.5 * len(non_null)
    return [1.0 if lv.null else max((counts[j] + 0.5) / total, _FLOOR) for j, lv in enumerate(comp.levels)]


def _cohort_counts(table: RecordTable) -> tuple[dict[str, int], dict[str, int]]:
    """Records per (first name, birth cohort) and per cohort."""
    known = (table.given != MISSING) & (table.birth_year != MISSING)
    cohorts = table.birth_year[known] // COHORT_YEARS * COHORT_YEARS
    pairs = table.given[known].astype(np.int64) * 10_000 + cohorts
    uniq, inverse = distinct_inverse(pairs.astype(np.int64))
    counts = np.bincount(inverse, minlength=len(uniq))
    names = table.given_names.values
    by_name = {
        f"{names[int(k) // 10_000]}|{int(k) % 10_000}": int(c)
        for k, c in zip(uniq.tolist(), counts.tolist(), strict=True)
        if c > 1
    }
    years, year_inverse = distinct_inverse(cohorts.astype(np.int64))
    year_counts = np.bincount(year_inverse, minlength=len(years))
    totals = {str(int(y)): int(c) for y, c in zip(years.tolist(), year_counts.tolist(), strict=True)}
    return by_name, totals


def _name_counts(table: RecordTable) -> tuple[dict[str, int], dict[str, int]]:
    """Records per surname key (a record counts once even when usage and birth names are equal)."""
    usage, birth = table.usage.astype(np.int64), table.birth.astype(np.int64)
    size = len(table.surnames.values)
    sur = np.bincount(usage[usage != MISSING], minlength=size)
    distinct_birth = (birth != MISSING) & (birth != usage)
    sur += np.bincount(birth[distinct_birth], minlength=size)
    given = table.given.astype(np.int64)
    giv = np.bincount(given[given != MISSING], minlength=len(table.given_names.values))
    surnames = {table.surnames.values[i]: int(c) for i, c in enumerate(sur.tolist()) if c > 1}
    givens = {table.given_names.values[i]: int(c) for i, c in enumerate(giv.tolist()) if c > 1}
    return surnames, givens


def fit_model(
    table: RecordTable,
    *,
    random_pairs: int = 400_000,
    seed: int = 0,
    neighbours: Mapping[str, frozenset[str]] = DEFAULT_NEIGHBOURS,
) -> Model:
    """Estimate a model from the records alone (see the module docstring for how).

    Raises :class:`ModelError` when the data offer too few anchor pairs (records sharing a NUMEN) to
    estimate m: a model fitted on another run of the same directory can be used instead.
    """
    n = len(table)
    if n < 2:
        raise ModelError("at least two records are needed to fit a model")
    rng = np.random.default_rng(seed)
    k = min(random_pairs, n * (n - 1) // 2)
    a = rng.integers(0, n, size=k).astype(np.int32)
    b = rng.integers(0, n - 1, size=k).astype(np.int32)
    b[b >= a] += 1  # never a record with itself
    u_counts = _level_counts(compare(table, a, b, neighbours=neighbours).levels)

    # anchors: every pair of records sharing a NUMEN hash
    numen = table.numen
    present = np.flatnonzero(numen != MISSING).astype(np.int32)
    order = present[np.argsort(numen[present], kind="stable")]
    sorted_codes = numen[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else np.empty(0)
    sizes = np.diff(np.r_[starts, len(order)]) if len(order) else np.empty(0)
    small = sizes <= 50  # a NUMEN on more records than that is a data error, not a person
    codes = pairs_of_blocks(order, starts[small].astype(np.int64), sizes[small].astype(np.int64))
    if len(codes) < 20:
        raise ModelError(f"only {len(codes)} anchor pairs (records sharing a NUMEN): too few to estimate m")
    anchor = compare(
        table, (codes >> 32).astype(np.int32), (codes & 0xFFFFFFFF).astype(np.int32), neighbours=neighbours
    )
    m_counts = _level_counts(anchor.levels)
    m = [_probabilities(c, i) for i, c in enumerate(m_counts)]
    u = [_probabilities(c, i) for i, c in enumerate(u_counts)]
    for i in range(len(COMPARISONS)):
        for j in range(len(m[i])):
            # a level seen neither among anchors nor among random pairs is no evidence either way
            if m_counts[i][j] == 0 and u_counts[i][j] == 0:
                m[i][j] = u[i][j]

    # the NUMEN comparison's own m: names, first name and birth date agreeing, NUMEN on both sides
    numen_i = next(i for i, c in enumerate(COMPARISONS) if c.name == "numen")
    m[numen_i] = _numen_m(table, neighbours)
    # Two people never share a NUMEN; random pairs cannot show how rare a collision is (the
    # pseudo-count alone would set it), so u is the chance that a mistyped NUMEN hits another one.
    u[numen_i][0] = min(u[numen_i][0], NUMEN_COLLISION / n)

    share = len(present) / n
    expected_matches = len(codes) / max(share * share, 1e-3)
    prior = min(max(expected_matches / (n * (n - 1) / 2), 1e-12), 0.5)
    surname_counts, given_counts = _name_counts(table)
    given_cohort_counts, cohort_totals = _cohort_counts(table)
    comparisons = {
        comp.name: [
            LevelParams(lv.label, m[i][j], u[i][j], lv.null, lv.tf) for j, lv in enumerate(comp.levels)
        ]
        for i, comp in enumerate(COMPARISONS)
    }
    return Model(
        comparisons=comparisons,
        prior=prior,
        surname_counts=surname_counts,
        given_counts=given_counts,
        given_cohort_counts=given_cohort_counts,
        cohort_totals=cohort_totals,
        total_records=n,
        stats={"anchor_pairs": float(len(codes)), "random_pairs": float(k), "numen_share": share},
    )


def _numen_m(table: RecordTable, neighbours: Mapping[str, frozenset[str]]) -> list[float]:
    """m of the NUMEN levels from pairs agreeing on surname, first name and birth date."""
    key = np.where(
        (table.birth_date != MISSING) & (table.given != MISSING) & (table.numen != MISSING),
        table.birth_date.astype(np.int64) * (len(table.given_names.values) + 1) + table.given,
        -1,
    )
    rows = np.flatnonzero(key >= 0).astype(np.int32)
    order = rows[np.argsort(key[rows], kind="stable")]
    k = key[order]
    if not len(k):
        return [0.99, 0.01, 1.0]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    small = sizes <= 20
    codes = pairs_of_blocks(order, starts[small].astype(np.int64), sizes[small].astype(np.int64))
    left, right = (codes >> 32).astype(np.int32), (codes & 0xFFFFFFFF).astype(np.int32)
    same_name = (
        (table.usage[left] == table.usage[right])
        | (table.birth[left] == table.usage[right])
        | (table.usage[left] == table.birth[right])
    )
    left, right = left[same_name], right[same_name]
    equal = int((table.numen[left] == table.numen[right]).sum())
    total = len(left)
    m_equal = (equal + 1.0) / (total + 2.0)
    # Pairs agreeing on names, first name and birth date yet not on NUMEN are mostly true homonyms
    # (first name + birth name + birth date is almost, not quite, unique): the share is an upper
    # bound of m(different). A NUMEN is kept for life, so cap it.
    m_different = min(1.0 - m_equal, NUMEN_DIFFERENT_MAX)
    return [max(1.0 - m_different, _FLOOR), max(m_different, _FLOOR), 1.0]


def vectors_weights(
    model: Model, table: RecordTable, vectors: ComparisonVectors
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per pair: the level weights ``(n, len(COMPARISONS))`` and the TF adjustments of surname and first name.

    The TF adjustment of an agreeing level is ``log2(u / f(value))``: added to the level weight
    ``log2(m / u)`` it gives ``log2(m / f(value))``. A first name is weighed by its frequency in
    the pair's birth cohort when both birth years fall in one: Nathalie is common among people born
    around 1968 and rare among those born around 1995, and the birth-date comparison already counts
    the agreement on the date, so the first name must only count what the date does not say.
    """
    table_w = model.weight_table()
    idx = np.arange(len(COMPARISONS))
    weights = table_w[idx[None, :], vectors.levels.astype(np.intp)]
    surname_f = model.frequencies(table.surnames.values, model.surname_counts)
    given_f = model.frequencies(table.given_names.values, model.given_counts)
    s_codes, g_codes = vectors.tf_surname, vectors.tf_given
    f_s = surname_f[s_codes]  # garbage where the code is missing; masked in _tf_adjust
    f_g = given_f[g_codes]
    in_cohort = np.flatnonzero((g_codes != MISSING) & (vectors.cohort != MISSING))
    if len(in_cohort):
        packed = g_codes[in_cohort].astype(np.int64) * 10_000 + vectors.cohort[in_cohort]
        uniq, inverse = distinct_inverse(packed)
        names = table.given_names.values
        cohort_f = np.fromiter(
            (
                max(model.given_cohort_counts.get(f"{names[k // 10_000]}|{k % 10_000}", 1) - 1, 1)
                / max(model.cohort_totals.get(str(k % 10_000), 1), 1)
                for k in uniq.tolist()
            ),
            dtype=np.float64,
            count=len(uniq),
        )
        f_g[in_cohort] = cohort_f[inverse.ravel()]
    adj_s = _tf_adjust(model, "surname", vectors.levels[:, 0], s_codes, f_s)
    adj_g = _tf_adjust(model, "given_name", vectors.levels[:, 1], g_codes, f_g)
    return weights, adj_s, adj_g


def _tf_adjust(
    model: Model,
    name: str,
    levels: npt.NDArray[np.int8],
    values: npt.NDArray[np.int32],
    freqs: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """``log2(u / f)`` for the pairs on a TF-adjusted level, ``f`` being each pair's value frequency."""
    params = model.comparisons[name]
    u = np.array([p.u for p in params], dtype=np.float64)
    tf_level = np.array([p.tf for p in params], dtype=np.bool_)
    out = np.zeros(len(levels), dtype=np.float64)
    hit = tf_level[levels.astype(np.intp)] & (values != MISSING)
    if hit.any():
        floor = 1.0 / max(model.total_records, 1)
        f = np.maximum(freqs[hit], floor)
        out[hit] = np.log2(u[levels[hit].astype(np.intp)] / f)
    return out
