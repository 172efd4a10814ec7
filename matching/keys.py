"""Blocking: the candidate pairs worth comparing, found by several keys with a bound on block size.

Each record emits a few keys per *family* (a key is two codes packed in one ``int64``); records
sharing a key form a block and every pair inside a block is a candidate. The families, chosen for
how duplicates really look in the academy feeds:

========== ============================================== =====================================
family     key                                            catches
========== ============================================== =====================================
name       surname (usage or birth) + first given word     most duplicates, crosswise name change
phonetic   phonetic surname + phonetic given name          spelling variants (DUPOND/DUPONT)
initial    surname (usage or birth) + given-name initial   ``J-Pierre``/``Jean-Pierre``, ``JP``
birth      birth-date hash (or swapped) + first given word name change with no birth name given
birthname  birth-date hash (or swapped) + surname          first-name variants
numen      NUMEN hash                                      anything with a NUMEN
mail       mail local part                                 renamed entries that kept their mail
========== ============================================== =====================================

A block larger than ``max_block_size`` (or its family's tighter bound, :data:`FAMILY_BOUNDS`) is
skipped (its key is reported): ``MARTIN`` + ``N`` would otherwise bring tens of thousands of
pairs, while the finer families still pair true duplicates inside it. Pair generation is numpy
throughout: one sort of all keys, then for each block size the upper-triangle offsets applied to
every block of that size at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .arrays import distinct, pairs_within_runs
from .features import MISSING, RecordTable, Vocab

__all__ = [
    "FAMILIES",
    "FAMILY_BOUNDS",
    "BlockIndex",
    "BlockingStats",
    "CandidatePairs",
    "block_index",
    "block_keys",
    "candidate_pairs",
    "key_name",
    "key_of_name",
    "pairs_of_blocks",
    "rows_in_blocks",
    "rows_sharing_blocks",
]

FAMILIES: tuple[str, ...] = ("name", "phonetic", "initial", "birth", "birthname", "numen", "mail")
"""Blocking key families, in the order of their family number."""

_SHIFT_A = np.int64(28)
_SHIFT_F = np.int64(56)
_MASK = (1 << 28) - 1


@dataclass(slots=True)
class BlockingStats:
    """What blocking did: per family the blocks paired, the blocks skipped as too large, the pairs."""

    blocks: dict[str, int] = field(default_factory=dict)
    oversize: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    """Pairs per family before de-duplication across families."""
    candidate_pairs: int = 0
    """Distinct pairs after de-duplication."""


@dataclass(slots=True)
class CandidatePairs:
    """Distinct candidate pairs as row numbers ``left < right``, sorted, with blocking statistics."""

    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    stats: BlockingStats
    oversize_keys: list[str]
    """Stable names of the skipped blocks (``name:martin|n``), kept for incremental runs."""

    def __len__(self) -> int:
        return len(self.left)


FAMILY_BOUNDS: dict[str, int] = {"initial": 10}
"""Tighter block bounds for some families. The ``initial`` family exists for first names written
as initials (``J-Pierre``, ``JP``), which the other families miss only when the birth date is
missing too; on the synthetic national dataset it added no true pair that the other families did
not already offer, at 7 million extra pairs for 1.2 million records with the general bound. Kept
for rare surnames only."""


def _bounds(families: npt.NDArray[np.int64], max_block_size: int) -> npt.NDArray[np.int64]:
    """The block bound of each block's family."""
    per_family = np.array(
        [min(max_block_size, FAMILY_BOUNDS.get(name, max_block_size)) for name in FAMILIES], dtype=np.int64
    )
    out: npt.NDArray[np.int64] = per_family[families]
    return out


def _pack(family: int, a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    return (np.int64(family) << _SHIFT_F) | (a.astype(np.int64) << _SHIFT_A) | b.astype(np.int64)


def _sources(table: RecordTable) -> list[tuple[int, npt.NDArray[np.int32], npt.NDArray[np.int32]]]:
    """(family, a codes, b codes) column pairs; a record yields one key per valid pair of columns."""
    zeros = np.zeros(len(table), dtype=np.int32)
    initial = table.given_initial
    return [
        (0, table.usage, table.given_first),
        (0, table.birth, table.given_first),
        (1, table.usage_phon, table.given_phon),
        (1, table.birth_phon, table.given_phon),
        (2, table.usage, initial),
        (2, table.birth, initial),
        (3, table.birth_date, table.given_first),
        (3, table.birth_swapped, table.given_first),
        (4, table.birth_date, table.usage),
        (4, table.birth_date, table.birth),
        (4, table.birth_swapped, table.usage),
        (4, table.birth_swapped, table.birth),
        (5, table.numen, zeros),
        (6, table.mail_local, zeros),
    ]


def block_keys(table: RecordTable) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """All (key, row) of the table, sorted by key, without repeated (key, row).

    Rows inside a block are not sorted (pair generation orders each pair itself): a stable radix
    sort on the key alone costs a third of a two-key lexsort. A repeated (key, row) can only come
    from two sources of one family giving the same two codes (usage name equal to birth name), so
    those are dropped at the source.
    """
    keys: list[npt.NDArray[np.int64]] = []
    rows: list[npt.NDArray[np.int32]] = []
    all_rows = np.arange(len(table), dtype=np.int32)
    seen: dict[int, list[tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]]] = {}
    for family, a, b in _sources(table):
        ok = (a != MISSING) & (b != MISSING)
        for pa, pb in seen.get(family, []):
            ok &= (a != pa) | (b != pb)
        seen.setdefault(family, []).append((a, b))
        keys.append(_pack(family, a[ok], b[ok]))
        rows.append(all_rows[ok])
    k = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
    r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int32)
    order = np.argsort(k, kind="stable")
    return k[order], r[order]


def _blocks(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start offsets and sizes of the runs of equal keys in a sorted key array."""
    if not len(keys):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).astype(np.int64)
    sizes = np.diff(np.r_[starts, len(keys)]).astype(np.int64)
    return starts, sizes


@dataclass(slots=True)
class BlockIndex:
    """Every block of a table: sorted (key, row) pairs and the start and size of each block.

    Built once per run and shared by the calls that need it (an incremental run asks for pairs
    several times while it closes its region).
    """

    keys: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]


def block_index(table: RecordTable) -> BlockIndex:
    """The blocks of ``table``."""
    keys, rows = block_keys(table)
    starts, sizes = _blocks(keys)
    return BlockIndex(keys=keys, rows=rows, starts=starts, sizes=sizes)


def _vocabs(table: RecordTable, family: int) -> tuple[Vocab | None, Vocab | None]:
    initials = None  # initials are code points, rendered with chr()
    births, surnames = table.other["birth_dates"], table.surnames
    return {
        0: (surnames, table.given_names),
        1: (table.phonetics, table.phonetics),
        2: (surnames, initials),
        3: (births, table.given_names),
        4: (births, surnames),
        5: (table.other["numens"], None),
        6: (table.other["mails"], None),
    }[family]


def key_name(table: RecordTable, key: int) -> str:
    """Stable name of a packed key, independent of the run's codes: ``name:martin|nathalie``."""
    family = key >> 56
    a, b = (key >> 28) & _MASK, key & _MASK
    va, vb = _vocabs(table, family)
    sa = va.values[a] if va is not None else chr(a)
    sb = vb.values[b] if vb is not None else (chr(b) if family == 2 else "")
    return f"{FAMILIES[family]}:{sa}|{sb}"


def key_of_name(table: RecordTable, name: str) -> int | None:
    """The packed key of a stable name in this run, or None when one of its values is absent."""
    fam_name, _, rest = name.partition(":")
    if fam_name not in FAMILIES:
        return None
    family = FAMILIES.index(fam_name)
    sa, _, sb = rest.partition("|")
    va, vb = _vocabs(table, family)
    a = va.lookup(sa) if va is not None else (ord(sa) if len(sa) == 1 else MISSING)
    if vb is not None:
        b = vb.lookup(sb)
    elif family == 2:
        b = ord(sb) if len(sb) == 1 else MISSING
    else:
        b = 0
    if a == MISSING or b == MISSING:
        return None
    return (family << 56) | (a << 28) | b


def rows_in_blocks(
    table: RecordTable,
    keys: npt.NDArray[np.int64],
    *,
    max_block_size: int,
    previous_oversize: Iterable[str] = (),
    index: BlockIndex | None = None,
) -> npt.NDArray[np.bool_]:
    """Rows of the blocks named by packed ``keys`` (in this table's codes) that had pairs before or
    have them now: a block over the bound both in the previous run (``previous_oversize``) and now
    gave no pair either time and is left out."""
    index = index or block_index(table)
    out = np.zeros(len(table), dtype=np.bool_)
    if not len(index.starts) or not len(keys):
        return out
    block_keys_ = index.keys[index.starts]
    named = np.isin(block_keys_, keys)
    big = index.sizes > _bounds(block_keys_ >> _SHIFT_F, max_block_size)
    wanted = {k for k in (key_of_name(table, name) for name in previous_oversize) if k is not None}
    if wanted:
        was_big = np.isin(block_keys_, np.fromiter(wanted, dtype=np.int64, count=len(wanted)))
        named &= ~(big & was_big)
    out[index.rows[np.repeat(named, index.sizes)]] = True
    return out


def pairs_of_blocks(
    rows: npt.NDArray[np.int32], starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """All pairs inside the given blocks, as ``lo << 32 | hi`` codes."""
    out: list[npt.NDArray[np.int64]] = []
    for first, second in pairs_within_runs(rows, starts, sizes):
        x, y = first.astype(np.int64), second.astype(np.int64)
        out.append((np.minimum(x, y) << 32) | np.maximum(x, y))
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def candidate_pairs(
    table: RecordTable,
    *,
    max_block_size: int,
    focus: npt.NDArray[np.bool_] | None = None,
    index: BlockIndex | None = None,
) -> CandidatePairs:
    """Distinct candidate pairs of ``table`` from every key family, blocks above the bound skipped.

    With ``focus`` (a boolean mask over rows), only blocks holding a focused row are expanded and
    only pairs with at least one focused row are returned: the pairs an incremental run must redo.
    ``index`` is the table's :func:`block_index` when the caller already has it.
    """
    index = index or block_index(table)
    keys, rows, starts, sizes = index.keys, index.rows, index.starts, index.sizes
    stats = BlockingStats()
    families = keys[starts] >> _SHIFT_F if len(starts) else np.empty(0, dtype=np.int64)
    big = sizes > _bounds(families, max_block_size)
    oversize_keys = [key_name(table, int(k)) for k in keys[starts[big]].tolist()]
    usable = (sizes >= 2) & ~big
    if focus is not None:
        has_focus = np.add.reduceat(focus[rows].astype(np.int64), starts) > 0 if len(starts) else usable
        usable &= has_focus
    codes: list[npt.NDArray[np.int64]] = []
    for f, fam_name in enumerate(FAMILIES):
        in_family = families == f
        sel = usable & in_family
        fam_codes = pairs_of_blocks(rows, starts[sel], sizes[sel])
        stats.blocks[fam_name] = int(sel.sum())
        stats.oversize[fam_name] = int((big & in_family).sum())
        stats.pairs[fam_name] = len(fam_codes)
        codes.append(fam_codes)
    all_codes = distinct(np.concatenate(codes))
    left = (all_codes >> 32).astype(np.int32)
    right = (all_codes & 0xFFFFFFFF).astype(np.int32)
    if focus is not None:
        keep = focus[left] | focus[right]
        left, right = left[keep], right[keep]
    stats.candidate_pairs = len(left)
    return CandidatePairs(left=left, right=right, stats=stats, oversize_keys=oversize_keys)


def rows_sharing_blocks(
    table: RecordTable,
    rows_of_interest: npt.NDArray[np.bool_],
    *,
    max_block_size: int,
    previous_oversize: Iterable[str] = (),
    index: BlockIndex | None = None,
) -> npt.NDArray[np.bool_]:
    """Rows of the blocks whose pairs may differ from the previous run, plus the rows of interest.

    A block counts when it holds a row of interest and is within the bound now or was within it
    before (its pairs changed or vanished), or when it was over the bound before and is within it
    now (its pairs appeared although none of its rows changed). ``previous_oversize`` names the
    blocks the previous run skipped (:attr:`CandidatePairs.oversize_keys`).
    """
    index = index or block_index(table)
    keys, rows, starts, sizes = index.keys, index.rows, index.starts, index.sizes
    out = rows_of_interest.copy()
    if not len(starts):
        return out
    block_keys_ = keys[starts]
    was_big = np.zeros(len(starts), dtype=np.bool_)
    wanted = {k for k in (key_of_name(table, name) for name in previous_oversize) if k is not None}
    if wanted:
        was_big = np.isin(block_keys_, np.fromiter(wanted, dtype=np.int64, count=len(wanted)))
    touched = np.add.reduceat(rows_of_interest[rows].astype(np.int64), starts) > 0
    small = sizes <= _bounds(block_keys_ >> _SHIFT_F, max_block_size)
    hit = (touched & (small | ~was_big)) | (was_big & small)
    member = np.repeat(hit, sizes)
    out[rows[member]] = True
    return out
