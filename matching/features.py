"""Records turned into columns of integer codes, computed once per run.

Every comparison and every blocking key works on these columns with numpy, never on the
``Record`` objects: a string feature becomes a code into a :class:`Vocab` (equal strings, equal
codes), so that equality over millions of pairs is one vectorised comparison. Normalisation runs
once per *distinct* raw value (1.2 million records carry a few hundred thousand distinct surnames
and a few thousand first names), which is what makes preparing a national run take seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from .normalize import given_name_key, surname_key, surname_parts
from .phonetic import phonetic_key
from .records import Record

__all__ = [
    "FEATURES_VERSION",
    "MAX_ESTABLISHMENTS",
    "MISSING",
    "PLACEHOLDER_BIRTH_YEAR",
    "RecordTable",
    "Vocab",
    "build_table",
    "build_table_in_parts",
    "take_rows",
    "update_table",
]

FEATURES_VERSION = "2"
"""Changes whenever the columns computed from a record change (normalisation, phonetic key, a new
column): a table kept from a run with another version must be rebuilt, never updated."""

MISSING = -1
"""The code of a missing value in every column."""

PLACEHOLDER_BIRTH_YEAR = 1920
"""Birth years up to this one are placeholders (test accounts carry ``19000101``): treated as missing."""

MAX_ESTABLISHMENTS = 4
"""Establishments kept per record for the overlap comparison (main one first)."""

IntArray = npt.NDArray[np.int32]


@dataclass(slots=True)
class Vocab:
    """Distinct strings of one kind and their codes (0, 1, 2... in order of first appearance)."""

    index: dict[str, int] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def code(self, value: str) -> int:
        """The code of ``value``, added when new; :data:`MISSING` for the empty string."""
        if not value:
            return MISSING
        c = self.index.get(value)
        if c is None:
            c = self.index[value] = len(self.values)
            self.values.append(value)
        return c

    def lookup(self, value: str) -> int:
        """The code of ``value`` without adding it; :data:`MISSING` when unknown or empty."""
        return self.index.get(value, MISSING) if value else MISSING

    def array(self) -> npt.NDArray[np.object_]:
        """The values as an object array, to index by a code array (codes must not be missing)."""
        out = np.empty(len(self.values), dtype=object)
        out[:] = self.values
        return out


@dataclass(slots=True)
class RecordTable:
    """Column view of a list of records; row ``i`` is ``records[i]``."""

    ids: npt.NDArray[np.int64]
    usage: IntArray
    """Surname key of the usage name (``surnames`` vocab)."""
    birth: IntArray
    """Surname key of the birth name (``surnames`` vocab), missing when absent."""
    usage_phon: IntArray
    birth_phon: IntArray
    """Phonetic keys of the two names (``phonetics`` vocab, shared with the first names)."""
    given: IntArray
    """Given-name key, ``jean pierre`` (``given_names`` vocab)."""
    given_first: IntArray
    """First word of the given name (``given_names`` vocab)."""
    given_initial: IntArray
    """Code point of the first letter of the given name, or missing."""
    given_phon: IntArray
    birth_date: IntArray
    """Birth-date hash (``birth_dates`` vocab)."""
    birth_swapped: IntArray
    """Hash of the day/month-swapped birth date, in the same vocab as ``birth_date``."""
    birth_year: IntArray
    numen: IntArray
    civility: IntArray
    """Men and women get two codes (``M.`` = ``MR``; ``MME`` = ``MLLE``), missing when unknown."""
    academy: IntArray
    role: IntArray
    discipline: IntArray
    establishments: IntArray
    """``(n, MAX_ESTABLISHMENTS)`` UAI codes, missing-padded."""
    mail_local: IntArray
    mail_stem: IntArray
    """Mail local part without its homonym number (``nathalie.martin2`` → ``nathalie.martin``)."""
    active: npt.NDArray[np.bool_]
    left_on: IntArray
    """Proleptic ordinal of ``dateff`` for an inactive record that carries one, else missing
    (read by ``matching.scoring.departing``)."""
    surname_multi: npt.NDArray[np.bool_]
    """Per surname code, plus one last entry for a missing name: whether it is a double name."""
    surnames: Vocab
    given_names: Vocab
    phonetics: Vocab
    other: dict[str, Vocab]
    """Vocabs of the hashed and coded columns: ``birth_dates``, ``numens``, ``academies``..."""

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self) -> dict[int, int]:
        """Record id → row number."""
        return {int(r): i for i, r in enumerate(self.ids.tolist())}


def _civility(value: str) -> str:
    v = value.strip().upper().rstrip(".")
    if v in {"M", "MR", "MONSIEUR"}:
        return "1"
    if v in {"MME", "MLLE", "MADAME", "MADEMOISELLE", "MLE"}:
        return "2"
    return ""


def _mail_local(value: str) -> str:
    return value.strip().lower().split("@", 1)[0]


def _encode(values: Sequence[str | None], transform: Callable[[str], str], vocab: Vocab) -> IntArray:
    """Codes of ``transform(v)`` for each value, computing ``transform`` once per distinct value."""
    codes = {v: vocab.code(transform(v)) if v else MISSING for v in dict.fromkeys(values)}
    return np.array(list(map(codes.__getitem__, values)), dtype=np.int32)


def _encode_exact(values: Sequence[str | None], vocab: Vocab) -> IntArray:
    """Codes of the values themselves (hashes): one dictionary operation per value, no call.

    Hash columns are almost all distinct, so the per-distinct-value path of :func:`_encode` would
    cost a Python call per record; ``setdefault`` numbers them in insertion order instead.
    """
    index = vocab.index
    codes = [index.setdefault(v, len(index)) if v else MISSING for v in values]
    vocab.values.extend(list(index)[len(vocab.values) :])
    return np.array(codes, dtype=np.int32)


def _derive(codes: IntArray, source: Vocab, transform: Callable[[str], str], target: Vocab) -> IntArray:
    """Codes in ``target`` of ``transform`` applied to the ``source`` values behind ``codes``.

    Computed once per distinct source code present in ``codes`` (a surname key, not each of its
    raw spellings; and only the values of the records at hand when a table is updated).
    """
    present = np.flatnonzero(np.bincount(codes[codes != MISSING], minlength=len(source.values)))
    values = source.values  # ``target`` may be ``source``: it only grows past the codes read here
    table = np.full(len(source.values) + 1, MISSING, dtype=np.int32)  # the last entry: missing
    table[present] = [target.code(transform(values[c])) for c in present.tolist()]
    out: IntArray = table[codes]  # a missing code (-1) picks the last entry: missing
    return out


def _first_word(key: str) -> str:
    return key.split(" ", 1)[0]


def _stem(local: str) -> str:
    return local.rstrip("0123456789")


_OTHER_VOCABS = ("birth_dates", "numens", "civilities", "academies", "roles", "disciplines", "uais", "mails")


def build_table(records: Sequence[Record], *, base: RecordTable | None = None) -> RecordTable:
    """Columns of codes for ``records``, in their order.

    With ``base``, values are coded with ``base``'s vocabularies, which grow in place with the
    values they lack (codes already given never change): the rows can then be put beside
    ``base``'s (:func:`update_table`).
    """
    if base is None:
        surnames, given_names, phonetics = Vocab(), Vocab(), Vocab()
        other = {k: Vocab() for k in _OTHER_VOCABS}
        initials = Vocab()
        known_multi = 0
        multi_prefix = np.zeros(0, dtype=np.bool_)
    else:
        surnames, given_names, phonetics, other = base.surnames, base.given_names, base.phonetics, base.other
        initials = Vocab()
        known_multi = len(base.surname_multi) - 1
        multi_prefix = base.surname_multi[:-1]
    n = len(records)
    usage = _encode([r.usage_name for r in records], surname_key, surnames)
    birth = _encode([r.birth_name for r in records], surname_key, surnames)
    given = _encode([r.given_name for r in records], given_name_key, given_names)
    given_initial_codes = _derive(given, given_names, lambda k: k[:1], initials)
    initial_points = np.array([ord(c) for c in initials.values] + [MISSING], dtype=np.int32)
    surname_phon = _derive(np.r_[usage, birth], surnames, phonetic_key, phonetics)

    # placeholder dates say nothing: drop them with their hashes
    dated = [r.birth_year is None or r.birth_year > PLACEHOLDER_BIRTH_YEAR for r in records]
    births = other["birth_dates"]

    uais = other["uais"]
    est_raw = [r.establishments for r in records]
    est_rows: dict[tuple[str, ...], tuple[int, ...]] = {}
    for tup in dict.fromkeys(est_raw):
        row = [uais.code(u.upper()) for u in dict.fromkeys(tup)][:MAX_ESTABLISHMENTS]
        est_rows[tup] = tuple(row + [MISSING] * (MAX_ESTABLISHMENTS - len(row)))
    estab = np.array(list(map(est_rows.__getitem__, est_raw)), dtype=np.int32).reshape(n, MAX_ESTABLISHMENTS)

    mails = other["mails"]
    # mails are almost all distinct: split them inline and number the parts in one pass
    mail_local = _encode_exact([_mail_local(r.mail) if r.mail else None for r in records], mails)
    multi = np.zeros(len(surnames.values) + 1, dtype=np.bool_)
    multi[:known_multi] = multi_prefix
    multi[known_multi:-1] = [len(surname_parts(v)) > 1 for v in surnames.values[known_multi:]]
    return RecordTable(
        ids=np.array([r.id for r in records], dtype=np.int64),
        usage=usage,
        birth=birth,
        usage_phon=surname_phon[:n],
        birth_phon=surname_phon[n:],
        given=given,
        given_first=_derive(given, given_names, _first_word, given_names),
        given_initial=initial_points[given_initial_codes],
        given_phon=_derive(given, given_names, phonetic_key, phonetics),
        birth_date=_encode_exact(
            [r.birth_hash if ok else None for r, ok in zip(records, dated, strict=True)], births
        ),
        birth_swapped=_encode_exact(
            [r.birth_swapped_hash if ok else None for r, ok in zip(records, dated, strict=True)], births
        ),
        birth_year=np.array(
            [
                r.birth_year if r.birth_year is not None and ok else MISSING
                for r, ok in zip(records, dated, strict=True)
            ],
            dtype=np.int32,
        ),
        numen=_encode_exact([r.numen_hash for r in records], other["numens"]),
        civility=_encode([r.civility for r in records], _civility, other["civilities"]),
        academy=_encode([r.academy for r in records], str.strip, other["academies"]),
        role=_encode([r.role for r in records], str.upper, other["roles"]),
        discipline=_encode([r.discipline for r in records], str.upper, other["disciplines"]),
        establishments=estab,
        mail_local=mail_local,
        mail_stem=_derive(mail_local, mails, _stem, mails),
        active=np.array([r.active for r in records], dtype=np.bool_),
        left_on=np.array(
            [r.left_on.toordinal() if r.left_on is not None and not r.active else MISSING for r in records],
            dtype=np.int32,
        ),
        surname_multi=multi,
        surnames=surnames,
        given_names=given_names,
        phonetics=phonetics,
        other=other,
    )


_ROW_COLUMNS = tuple(
    f.name
    for f in fields(RecordTable)
    if f.name not in {"surname_multi", "surnames", "given_names", "phonetics", "other"}
)
"""The per-row columns of a table (everything but the vocabularies)."""


def update_table(base: RecordTable, records: Sequence[Record], removed: Iterable[int] = ()) -> RecordTable:
    """``base`` with the rows of ``removed`` ids dropped and ``records`` put in (replacing the rows
    of their ids, or added), rows sorted by record id; only ``records`` are prepared.

    The result equals, comparison for comparison, ``build_table`` of the same records: the codes
    differ (new values are numbered after ``base``'s) but equal values have equal codes, and
    nothing in the engine depends on the numbering. ``base``'s vocabularies grow in place.
    """
    part = build_table(records, base=base)
    drop = np.fromiter(set(removed) | {r.id for r in records}, dtype=np.int64)
    keep = ~np.isin(base.ids, drop)
    ids = np.r_[base.ids[keep], part.ids]
    order = np.argsort(ids, kind="stable")
    columns = {
        name: np.concatenate([getattr(base, name)[keep], getattr(part, name)])[order] for name in _ROW_COLUMNS
    }
    return _with_vocabularies(part, columns)


def _with_vocabularies(source: RecordTable, columns: dict[str, npt.NDArray[Any]]) -> RecordTable:
    """A table of these row ``columns`` with ``source``'s vocabularies (the latest grown ones)."""
    return RecordTable(
        **columns,
        surname_multi=source.surname_multi,
        surnames=source.surnames,
        given_names=source.given_names,
        phonetics=source.phonetics,
        other=source.other,
    )


def take_rows(table: RecordTable, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> RecordTable:
    """The table of some of ``table``'s rows (a mask or row numbers), sharing its vocabularies."""
    return _with_vocabularies(table, {name: getattr(table, name)[rows] for name in _ROW_COLUMNS})


def build_table_in_parts(parts: Iterable[Sequence[Record]]) -> RecordTable:
    """:func:`build_table` of the records of ``parts`` one after the other (ids increasing across
    parts), holding one part's records at a time: each part is coded with the vocabularies of the
    parts before it (as :func:`update_table` does), then the columns are put end to end. Equal,
    comparison for comparison, to ``build_table`` of all the records at once."""
    built: list[RecordTable] = []
    for records in parts:
        if len(records):
            built.append(build_table(records, base=built[-1] if built else None))
    if not built:
        return build_table([])
    last = built[-1]
    if len(built) == 1:
        return last
    return _with_vocabularies(
        last, {name: np.concatenate([getattr(p, name) for p in built]) for name in _ROW_COLUMNS}
    )
