"""Comparisons: for each candidate pair, which named level of each comparison it falls in.

In the vocabulary of Fellegi-Sunter and Splink, a *comparison* (surname, birth date...) is a list
of *levels* from the strongest agreement to disagreement, each with a label that explains it; a
*null* level (a value missing on either side) carries no evidence. :data:`COMPARISONS` defines
them; :func:`compare` computes the level of every comparison for every pair, vectorised with
numpy and rapidfuzz batch calls (``process.cpdist``), never a Python loop per pair.

Two choices worth knowing:

- Surnames are compared *crosswise*: usage and birth names of one record against both names of
  the other, because a married person appears under the usage name in one feed and the birth
  name in another.
- The mail local part (``nathalie.martin``) is derived from the names: when the names agree it
  says nothing more, and counting it would double the names' evidence for every homonym. It is
  compared only when the names do not agree (a renamed entry that kept its mail), and is null
  otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from .arrays import distinct_inverse
from .features import MISSING, RecordTable, Vocab
from .normalize import given_names_compatible, surname_parts

__all__ = [
    "COMPARISONS",
    "DEFAULT_NEIGHBOURS",
    "Comparison",
    "ComparisonVectors",
    "Level",
    "compare",
]


@dataclass(frozen=True, slots=True)
class Level:
    """One comparison level: its label, whether it is the null level, whether its weight is TF-adjusted."""

    label: str
    null: bool = False
    tf: bool = False


@dataclass(frozen=True, slots=True)
class Comparison:
    """A named comparison and its levels, strongest agreement first, the null level last if any."""

    name: str
    description: str
    levels: tuple[Level, ...]

    def level(self, label: str) -> int:
        """Index of the level with this label."""
        return next(i for i, lv in enumerate(self.levels) if lv.label == label)


_NULL = Level("missing on either side", null=True)

COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "surname",
        "usage and birth names, crosswise",
        (
            Level("usage names equal", tf=True),
            Level("usage and birth names equal crosswise", tf=True),
            Level("a part of a double name in common"),
            Level("sound alike"),
            Level("close spelling (Jaro-Winkler >= 0.92)"),
            Level("different"),
            _NULL,
        ),
    ),
    Comparison(
        "given_name",
        "first names, compound-aware",
        (
            Level("equal", tf=True),
            Level("compatible compound or initials"),
            Level("sound alike or close spelling"),
            Level("different"),
            _NULL,
        ),
    ),
    Comparison(
        "birth_date",
        "birth date (keyed hashes) and year",
        (
            Level("equal"),
            Level("day and month swapped"),
            Level("same year, date unknown"),
            Level("same year, different date"),
            Level("different year"),
            _NULL,
        ),
    ),
    Comparison("numen", "NUMEN (keyed hash)", (Level("equal"), Level("different"), _NULL)),
    Comparison("civility", "civility", (Level("same"), Level("different"), _NULL)),
    Comparison(
        "academy",
        "academy; whether one record has left its post (transfers are both at once); in one academy,"
        " whether two live accounts have different functions (a teaching and an administrative account)",
        (
            Level("same academy, both active, different functions"),
            Level("same academy, both active, same function"),
            Level("same academy, one has left its post"),
            Level("neighbouring academies, both active"),
            Level("neighbouring academies, one has left its post"),
            Level("other academies, both active"),
            Level("other academies, one has left its post"),
        ),
    ),
    Comparison(
        "establishment", "establishments of work", (Level("one in common"), Level("none in common"), _NULL)
    ),
    Comparison(
        "post",
        "function code and discipline together (only teachers have a discipline)",
        (
            Level("same function and discipline"),
            Level("same function, discipline missing on either side"),
            Level("same function, different discipline"),
            Level("different function, same discipline"),
            Level("different function"),
            Level("function missing on either side", null=True),
        ),
    ),
    Comparison(
        "mail",
        "mail local part, when the names do not already agree",
        (
            Level("same local part"),
            Level("same local part but its number"),
            Level("different"),
            Level("missing, or implied by agreeing names", null=True),
        ),
    ),
)
"""Every comparison, in the column order of :attr:`ComparisonVectors.levels`."""

DEFAULT_NEIGHBOURS: Mapping[str, frozenset[str]] = {
    code: frozenset(ns)
    for code, ns in {
        "01": ("24", "25"),
        "24": ("01", "25", "20", "19", "18", "03", "07"),
        "25": ("01", "24", "70", "18", "20"),
        "10": ("08", "06", "07", "11"),
        "08": ("10", "02", "07"),
        "02": ("23", "08", "11"),
        "23": ("02", "27"),
        "27": ("23",),
        "11": ("02", "16", "10", "06"),
        "16": ("11", "04", "22"),
        "04": ("16", "13", "22"),
        "13": ("04", "17", "22", "18"),
        "17": ("13", "14", "18", "70"),
        "14": ("17", "70"),
        "70": ("14", "17", "20", "25", "18"),
        "20": ("09", "70", "19", "24", "25"),
        "09": ("20",),
        "19": ("20", "12", "07", "24"),
        "12": ("19", "15", "03"),
        "15": ("12",),
        "03": ("12", "07"),
        "07": ("03", "19", "10", "08", "06", "18", "24"),
        "06": ("07", "10", "22", "11", "18"),
        "22": ("06", "13", "04", "16"),
        "18": ("17", "13", "70", "25", "24", "07", "06"),
        "28": (),
        "43": (),
        "31": ("32",),
        "32": ("31",),
        "33": (),
    }.items()
}
"""Academies sharing a border (two-digit codes), for the ``academy`` comparison's middle level."""

JW_CLOSE = 0.92
"""Jaro-Winkler similarity from which two spellings count as close."""


@dataclass(slots=True)
class ComparisonVectors:
    """The level of each comparison for each pair, and the values that TF adjustment needs."""

    levels: npt.NDArray[np.int8]
    """``(n_pairs, len(COMPARISONS))`` level indices."""
    tf_surname: npt.NDArray[np.int32]
    """Surname code agreed on (surname levels 0 and 1), else missing."""
    tf_given: npt.NDArray[np.int32]
    """Given-name code agreed on (given-name level 0), else missing."""
    cohort: npt.NDArray[np.int32]
    """First year of the five-year birth cohort both records fall in, else missing."""


def _jw(vocab: Vocab, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.float64]:
    """Jaro-Winkler similarity of vocab strings, pair by pair, in one rapidfuzz batch call.

    No de-duplication of the pairs first: rapidfuzz computes a similarity faster than numpy can
    find the distinct pairs.
    """
    if not len(a):
        return np.empty(0, dtype=np.float64)
    values = vocab.array()
    sims = process.cpdist(
        values[a].tolist(), values[b].tolist(), scorer=JaroWinkler.normalized_similarity, workers=-1
    )
    out: npt.NDArray[np.float64] = np.asarray(sims, dtype=np.float64)
    return out


def _pairwise_bool(
    vocab: Vocab, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32], fn: Callable[[str, str], bool]
) -> npt.NDArray[np.bool_]:
    """``fn`` on vocab strings, once per distinct code pair (for rules no batch call expresses)."""
    if not len(a):
        return np.empty(0, dtype=np.bool_)
    packed = (a.astype(np.int64) << 32) | b.astype(np.int64)
    uniq, inverse = distinct_inverse(packed)
    values = vocab.values
    res = np.fromiter(
        (fn(values[int(p >> 32)], values[int(p & 0xFFFFFFFF)]) for p in uniq.tolist()),
        dtype=np.bool_,
        count=len(uniq),
    )
    out: npt.NDArray[np.bool_] = res[inverse.ravel()]
    return out


def _eq(a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    """Equal and present."""
    out: npt.NDArray[np.bool_] = (a == b) & (a != MISSING)
    return out


def _simple(a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.int8]:
    """Levels same / different / null."""
    out = np.where(a == b, 0, 1).astype(np.int8)
    out[(a == MISSING) | (b == MISSING)] = 2
    return out


def _parts_share(x: str, y: str) -> bool:
    return bool(set(surname_parts(x)) & set(surname_parts(y)))


def _surname(
    t: RecordTable, li: npt.NDArray[np.intp], ri: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32]]:
    ua, ba, ub, bb = t.usage[li], t.birth[li], t.usage[ri], t.birth[ri]
    level = np.full(len(li), 5, dtype=np.int8)
    tf = np.full(len(li), MISSING, dtype=np.int32)
    # strongest level first; each later test only looks at the pairs still undecided, so that
    # Jaro-Winkler runs on the few pairs that agree on nothing better
    hit = _eq(ua, ub)
    level[hit] = 0
    tf[hit] = ua[hit]
    for x, y in ((ua, bb), (ba, ub), (ba, bb)):
        hit = _eq(x, y) & (level > 1)
        level[hit] = 1
        tf[hit] = x[hit]
    multi = t.surname_multi
    # only double names can share a part; checking the few pairs with one is cheap
    for x, y in ((ua, ub), (ua, bb), (ba, ub), (ba, bb)):
        todo = np.flatnonzero((x != MISSING) & (y != MISSING) & (multi[x] | multi[y]) & (level > 2))
        if len(todo):
            level[todo[_pairwise_bool(t.surnames, x[todo], y[todo], _parts_share)]] = 2
    pa, pb, qa, qb = t.usage_phon[li], t.birth_phon[li], t.usage_phon[ri], t.birth_phon[ri]
    level[(_eq(pa, qa) | _eq(pa, qb) | _eq(pb, qa) | _eq(pb, qb)) & (level > 3)] = 3
    for x, y in ((ua, ub), (ua, bb), (ba, ub), (ba, bb)):
        todo = np.flatnonzero((x != MISSING) & (y != MISSING) & (level == 5))
        if len(todo):
            level[todo[_jw(t.surnames, x[todo], y[todo]) >= JW_CLOSE]] = 4
    level[(ua == MISSING) | (ub == MISSING)] = 6
    return level, tf


def _given(
    t: RecordTable, li: npt.NDArray[np.intp], ri: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32]]:
    ga, gb = t.given[li], t.given[ri]
    level = np.full(len(li), 3, dtype=np.int8)
    present = (ga != MISSING) & (gb != MISSING)
    todo = np.flatnonzero(present & (ga != gb))
    if len(todo):
        x, y = ga[todo], gb[todo]
        fuzzy = (_jw(t.given_names, x, y) >= JW_CLOSE) | _eq(t.given_phon[li][todo], t.given_phon[ri][todo])
        level[todo[fuzzy]] = 2
        # every compatible form shares the first letter: check only those pairs
        same_initial = np.flatnonzero(t.given_initial[li][todo] == t.given_initial[ri][todo])
        if len(same_initial):
            idx = todo[same_initial]
            ok = _pairwise_bool(t.given_names, ga[idx], gb[idx], given_names_compatible)
            level[idx[ok]] = 1
    eq = present & (ga == gb)
    level[eq] = 0
    level[~present] = 4
    tf = np.where(eq, ga, MISSING).astype(np.int32)
    return level, tf


def _birth(t: RecordTable, li: npt.NDArray[np.intp], ri: npt.NDArray[np.intp]) -> npt.NDArray[np.int8]:
    da, db, sa, sb = t.birth_date[li], t.birth_date[ri], t.birth_swapped[li], t.birth_swapped[ri]
    ya, yb = t.birth_year[li], t.birth_year[ri]
    level = np.full(len(li), 5, dtype=np.int8)
    years = (ya != MISSING) & (yb != MISSING)
    level[years] = np.where(ya[years] == yb[years], 2, 4)
    dates = (da != MISSING) & (db != MISSING)
    level[dates & (ya == yb)] = 3
    level[dates & (ya != yb)] = 4
    level[dates & (_eq(sa, db) | _eq(da, sb))] = 1
    level[dates & (da == db)] = 0
    return level


def _establishment(
    t: RecordTable, li: npt.NDArray[np.intp], ri: npt.NDArray[np.intp]
) -> npt.NDArray[np.int8]:
    ea, eb = t.establishments[li], t.establishments[ri]
    common = np.zeros(len(li), dtype=np.bool_)
    for i in range(ea.shape[1]):
        col = ea[:, i]
        valid = col != MISSING
        for j in range(eb.shape[1]):
            common |= valid & (col == eb[:, j])
    level = np.where(common, 0, 1).astype(np.int8)
    level[(ea[:, 0] == MISSING) | (eb[:, 0] == MISSING)] = 2
    return level


def _academy(
    t: RecordTable,
    li: npt.NDArray[np.intp],
    ri: npt.NDArray[np.intp],
    neighbours: Mapping[str, frozenset[str]],
) -> npt.NDArray[np.int8]:
    vocab = t.other["academies"].values
    size = len(vocab) + 1  # the last row/column stands for a missing academy
    near = np.zeros((size, size), dtype=np.bool_)
    for i, x in enumerate(vocab):
        for j, y in enumerate(vocab):
            near[i, j] = y in neighbours.get(x, frozenset()) or x in neighbours.get(y, frozenset())
    aa, ab = t.academy[li], t.academy[ri]
    level = np.where(near[aa, ab], 3, 5).astype(np.int8)
    level[_eq(aa, ab)] = 1
    # one record left its post: the next level of the same academy relation
    level += ~(t.active[li] & t.active[ri])
    same_active = level == 1
    level[same_active & (t.role[li] != t.role[ri])] = 0
    return level


def _post(t: RecordTable, li: npt.NDArray[np.intp], ri: npt.NDArray[np.intp]) -> npt.NDArray[np.int8]:
    ra, rb, da, db = t.role[li], t.role[ri], t.discipline[li], t.discipline[ri]
    disc_known = (da != MISSING) & (db != MISSING)
    same_role = ra == rb
    same_function = np.where(disc_known, np.where(da == db, 0, 2), 1)
    level = np.where(same_role, same_function, np.where(_eq(da, db), 3, 4))
    level[(ra == MISSING) | (rb == MISSING)] = 5
    return level.astype(np.int8)


def _mail(
    t: RecordTable, li: npt.NDArray[np.intp], ri: npt.NDArray[np.intp], names_agree: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int8]:
    ma, mb, sa, sb = t.mail_local[li], t.mail_local[ri], t.mail_stem[li], t.mail_stem[ri]
    level = np.full(len(li), 2, dtype=np.int8)
    level[_eq(sa, sb)] = 1
    level[_eq(ma, mb)] = 0
    level[(ma == MISSING) | (mb == MISSING) | names_agree] = 3
    return level


def compare(
    table: RecordTable,
    left: npt.NDArray[np.int32],
    right: npt.NDArray[np.int32],
    *,
    neighbours: Mapping[str, frozenset[str]] = DEFAULT_NEIGHBOURS,
) -> ComparisonVectors:
    """Levels of every comparison for the pairs ``(left[k], right[k])`` of rows of ``table``."""
    li, ri = left.astype(np.intp), right.astype(np.intp)
    levels = np.empty((len(li), len(COMPARISONS)), dtype=np.int8)
    levels[:, 0], tf_surname = _surname(table, li, ri)
    levels[:, 1], tf_given = _given(table, li, ri)
    levels[:, 2] = _birth(table, li, ri)
    levels[:, 3] = _simple(table.numen[li], table.numen[ri])
    levels[:, 4] = _simple(table.civility[li], table.civility[ri])
    levels[:, 5] = _academy(table, li, ri, neighbours)
    levels[:, 6] = _establishment(table, li, ri)
    levels[:, 7] = _post(table, li, ri)
    names_agree = (levels[:, 0] <= 1) & (levels[:, 1] <= 1)
    levels[:, 8] = _mail(table, li, ri, names_agree)
    ya, yb = table.birth_year[li] // 5 * 5, table.birth_year[ri] // 5 * 5
    known = (table.birth_year[li] != MISSING) & (table.birth_year[ri] != MISSING) & (ya == yb)
    cohort = np.where(known, ya, MISSING).astype(np.int32)
    return ComparisonVectors(levels=levels, tf_surname=tf_surname, tf_given=tf_given, cohort=cohort)
