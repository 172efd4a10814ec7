"""Tolerant parsers for ``FrEduRne`` and ``FrEduRneResp``, the establishments of an agent.

``FrEduRne`` (where the agent works) is ``$``-separated::

    uai $ UAJ $ sector $ function $ uaj $ T3 $ type $ nature
    0291101P$UAJ$PU$ENS$0291101P$T3$CLG$340

``FrEduRneResp`` (what the agent is responsible for) has the same shape without the legal-unit
UAI (``0921042H$UAJ$PU$N$T3$LYC$300``), and ``X`` when there is none.

Feeds drift from both shapes: a four-digit nature (``$LYC$3000``), a bare UAI, parts missing or
empty, stray spaces, lower-case check letters. So the parser does not trust positions; it reads the
first part as the UAI and classifies the others by their look:

* ``UAJ``, and ``T`` followed by a digit, are markers and carry nothing;
* ``PU`` / ``PR`` is the sector (public / private);
* a part shaped like a UAI (seven digits and a letter) after the first is the legal unit;
* a part of three or four digits is the nature, kept as written (``3000`` stays ``3000``);
* a word is the establishment *type* when it comes after the legal unit or the ``T`` marker (the
  type's place in both shapes) or is a known type (``LYC``, ``CLG``, ``LP``, ``EREA``, ``1ORD``...),
  which covers the short dirty forms (``uai$LYC$3000``); any other word is the *function*.

The parsers never raise: whatever cannot be read is left ``None``; whether the UAI is valid is
carried on the result. Results are cached, because a few hundred thousand distinct values serve the
whole country.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from importers.uai import check_uai

__all__ = [
    "ESTABLISHMENT_TYPES",
    "NO_RESPONSIBILITY",
    "RneValue",
    "parse_fredurne",
    "parse_fredurne_resp",
]

ESTABLISHMENT_TYPES = frozenset(
    {
        "LYC",
        "CLG",
        "LP",
        "LPO",
        "LGT",
        "EREA",
        "1ORD",
        "ECOL",
        "EMPU",
        "ELE",
        "MAT",
        "SEP",
        "SES",
        "CIO",
        "DSDEN",
        "RECT",
        "GRETA",
        "CFA",
        "INSPE",
        "CNED",
        "ERPD",
        "EEA",
        "EXP",
        "SGT",
        "SPEC",
    }
)
"""Establishment types known to appear in the type slot; used only when positions are ambiguous."""

NO_RESPONSIBILITY = frozenset({"", "X", "-", "NEANT", "AUCUN", "NONE"})
"""``FrEduRneResp`` values that mean "responsible for nothing"."""

_SECTORS = frozenset({"PU", "PR"})


@dataclass(frozen=True, slots=True)
class RneValue:
    """One parsed ``FrEduRne`` / ``FrEduRneResp`` value."""

    uai: str
    """Normalised UAI (upper case, stripped); may be invalid, see ``valid``."""
    valid: bool
    """Seven digits and the right check letter."""
    lowercase: bool
    """The feed wrote the UAI's letter in lower case."""
    function: str | None = None
    """The agent's function there (``ENS``, ``DIR``; ``N`` in ``FrEduRneResp``)."""
    type: str | None = None
    """Establishment type (``CLG``, ``LYC``, ``1ORD``)."""
    nature: str | None = None
    """Nature code as written: ``340``, sometimes four digits (``3000``)."""
    sector: str | None = None
    """``PU`` public or ``PR`` private."""
    legal_unit: str | None = None
    """UAI of the legal unit (the ``uaj`` part), normalised."""
    bare: bool = False
    """The value was a UAI alone, without the ``$`` parts."""


def _is_uai_shaped(part: str) -> bool:
    return len(part) == 8 and part[:7].isdigit() and part[7].isalpha()


@lru_cache(maxsize=1 << 18)
def parse_fredurne(value: str) -> RneValue | None:
    """Parse one ``FrEduRne`` value; ``None`` when it holds no UAI at all (empty, ``$$$``)."""
    parts = [p.strip() for p in value.split("$")]
    head = parts[0]
    if not head:
        return None
    checked = check_uai(head)
    if len(parts) == 1:
        return RneValue(checked.uai, checked.valid, checked.lowercase, bare=True)

    function: str | None = None
    type_: str | None = None
    nature: str | None = None
    sector: str | None = None
    legal_unit: str | None = None
    # "after" turns true at the legal-unit UAI or the T marker: words before are the function,
    # words after the establishment type (see the module docstring).
    after = False
    for raw in parts[1:]:
        if not raw:
            continue
        part = raw.upper()
        if part == "UAJ":
            continue
        if len(part) == 2 and part[0] == "T" and part[1].isdigit():
            after = True
        elif part in _SECTORS and sector is None:
            sector = part
        elif _is_uai_shaped(part):
            legal_unit = part
            after = True
        elif part.isdigit() and len(part) in (3, 4):
            nature = part
        elif after or part in ESTABLISHMENT_TYPES:
            type_ = type_ or part
        else:
            function = function or part
    return RneValue(
        checked.uai, checked.valid, checked.lowercase, function, type_, nature, sector, legal_unit
    )


def parse_fredurne_resp(value: str) -> RneValue | None:
    """Parse one ``FrEduRneResp`` value; ``None`` for ``X`` (none) or a value without a UAI."""
    if value.strip().upper() in NO_RESPONSIBILITY:
        return None
    return parse_fredurne(value)
