"""Records turned into columns of integer codes, computed once per run.

Every comparison and every blocking key works on these columns with numpy, never on the
``Record`` objects: a string feature becomes a code into a :class:`Vocab` (equal strings, equal
codes), so that equality over millions of pairs is one vectorised comparison. Normalisation runs
once per *distinct* raw value (1.2 million records carry a few hundred thousand distinct surnames
and a few thousand first names), which is what makes preparing a national run take seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .normalize import given_name_key, given_name_tokens, surname_key
from .phonetic import phonetic_key
from .records import Record

__all__ = ["MAX_ESTABLISHMENTS", "MISSING", "RecordTable", "Vocab", "build_table"]

MISSING = -1
"""The code of a missing value in every column."""

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


_TRAILING_DIGITS = re.compile(r"\d+$")


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
    distinct = dict.fromkeys(values)
    codes = {v: vocab.code(transform(v)) if v else MISSING for v in distinct}
    return np.fromiter((codes[v] for v in values), dtype=np.int32, count=len(values))


def _identity(value: str) -> str:
    return value


def build_table(records: Sequence[Record]) -> RecordTable:
    """Columns of codes for ``records``, in their order."""
    surnames, given_names, phonetics = Vocab(), Vocab(), Vocab()
    other = {
        k: Vocab()
        for k in ("birth_dates", "numens", "civilities", "academies", "roles", "disciplines", "uais", "mails")
    }
    n = len(records)
    usage_raw = [r.usage_name for r in records]
    birth_raw = [r.birth_name for r in records]
    given_raw = [r.given_name for r in records]

    def given_first(v: str) -> str:
        tokens = given_name_tokens(v)
        return tokens[0] if tokens else ""

    def initial(v: str) -> str:
        key = given_name_key(v)
        return key[:1]

    initials = Vocab()
    given_initial_codes = _encode(given_raw, initial, initials)
    initial_points = np.array([ord(c) for c in initials.values] + [MISSING], dtype=np.int32)

    births = other["birth_dates"]
    estab = np.full((n, MAX_ESTABLISHMENTS), MISSING, dtype=np.int32)
    uais = other["uais"]
    for i, r in enumerate(records):
        if r.establishments:
            for j, uai in enumerate(dict.fromkeys(r.establishments)):
                if j >= MAX_ESTABLISHMENTS:
                    break
                estab[i, j] = uais.code(uai.upper())
    mails = [r.mail for r in records]
    return RecordTable(
        ids=np.fromiter((r.id for r in records), dtype=np.int64, count=n),
        usage=_encode(usage_raw, surname_key, surnames),
        birth=_encode(birth_raw, surname_key, surnames),
        usage_phon=_encode(usage_raw, phonetic_key, phonetics),
        birth_phon=_encode(birth_raw, phonetic_key, phonetics),
        given=_encode(given_raw, given_name_key, given_names),
        given_first=_encode(given_raw, given_first, given_names),
        given_initial=initial_points[given_initial_codes],
        given_phon=_encode(given_raw, phonetic_key, phonetics),
        birth_date=_encode([r.birth_hash for r in records], _identity, births),
        birth_swapped=_encode([r.birth_swapped_hash for r in records], _identity, births),
        birth_year=np.fromiter(
            (r.birth_year if r.birth_year is not None else MISSING for r in records), dtype=np.int32, count=n
        ),
        numen=_encode([r.numen_hash for r in records], _identity, other["numens"]),
        civility=_encode([r.civility for r in records], _civility, other["civilities"]),
        academy=_encode([r.academy for r in records], str.strip, other["academies"]),
        role=_encode([r.role for r in records], str.upper, other["roles"]),
        discipline=_encode([r.discipline for r in records], str.upper, other["disciplines"]),
        establishments=estab,
        mail_local=_encode(mails, _mail_local, other["mails"]),
        mail_stem=_encode(mails, lambda m: _TRAILING_DIGITS.sub("", _mail_local(m)), other["mails"]),
        active=np.fromiter((r.active for r in records), dtype=np.bool_, count=n),
        surnames=surnames,
        given_names=given_names,
        phonetics=phonetics,
        other=other,
    )
