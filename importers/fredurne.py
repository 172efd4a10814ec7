"""The establishments of an agent: tolerant ``FrEduRne`` / ``FrEduRneResp`` parsers, and their merge.

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
    "Establishment",
    "RneValue",
    "establishments_of",
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


@dataclass(frozen=True, slots=True)
class Establishment:
    """One establishment of a person: the main one (``rne``) first, then the ``FrEduRne`` ones."""

    uai: str
    """Normalised UAI (upper case); see ``valid``."""
    valid: bool
    function: str | None = None
    type: str | None = None
    nature: str | None = None

    def as_dict(self) -> dict[str, str | bool | None]:
        """JSON-able form for staging."""
        return {
            "uai": self.uai,
            "valid": self.valid,
            "function": self.function,
            "type": self.type,
            "nature": self.nature,
        }


@lru_cache(maxsize=1 << 18)
def _establishment(value: RneValue) -> Establishment:
    return Establishment(value.uai, value.valid, value.function, value.type, value.nature)


@lru_cache(maxsize=1 << 16)
def establishments_of(
    rne_values: tuple[str, ...], rne_list: tuple[str, ...], resp_list: tuple[str, ...]
) -> tuple[str | None, bool, tuple[Establishment, ...], tuple[str, ...], tuple[str, ...]]:
    """The establishments of one entry from its ``rne``, ``FrEduRne`` and ``FrEduRneResp`` values.

    Returns (main UAI, its validity, establishments, responsible UAIs, flags): the main one
    (``rne``, else the first ``FrEduRne``) first, merged with its ``FrEduRne`` details, then the
    others in UAI order, each UAI once. The flags are ``invalid_uai``, ``uai_lowercase``,
    ``rne_missing``, ``rne_not_in_freduRne`` and ``fredurne_malformed``. Cached on the raw values:
    people of one school with one function share them exactly.
    """
    invalid = lowercase = malformed = False
    main: RneValue | None = None
    if rne_values and rne_values[0].strip():
        checked = check_uai(rne_values[0])
        main = RneValue(checked.uai, checked.valid, checked.lowercase, bare=True)
    others: dict[str, RneValue] = {}
    for value in rne_list:
        parsed = parse_fredurne(value)
        if parsed is None:
            malformed = True
        elif parsed.uai not in others:
            others[parsed.uai] = parsed
    for value in rne_values[1:]:
        # A second rne value is rare; keep it as an establishment rather than lose it.
        if value.strip():
            checked = check_uai(value)
            others.setdefault(checked.uai, RneValue(checked.uai, checked.valid, checked.lowercase, bare=True))
    responsible: list[str] = []
    for value in resp_list:
        parsed = parse_fredurne_resp(value)
        if parsed is None:
            if value.strip().upper() not in NO_RESPONSIBILITY:
                malformed = True
            continue
        invalid |= not parsed.valid
        lowercase |= parsed.lowercase
        if parsed.uai not in responsible:
            responsible.append(parsed.uai)

    flags: list[str] = []
    if main is None:
        if others:
            flags.append("rne_missing")
            main = next(iter(others.values()))
    elif others and main.uai not in others:
        flags.append("rne_not_in_freduRne")
    ordered: list[Establishment] = []
    if main is not None:
        invalid |= not main.valid
        lowercase |= main.lowercase
        detailed = others.pop(main.uai, None)
        ordered.append(_establishment(detailed if detailed is not None else main))
        if detailed is not None:
            lowercase |= detailed.lowercase
    for uai in sorted(others):
        other = others[uai]
        invalid |= not other.valid
        lowercase |= other.lowercase
        ordered.append(_establishment(other))
    if invalid:
        flags.append("invalid_uai")
    if lowercase:
        flags.append("uai_lowercase")
    if malformed:
        flags.append("fredurne_malformed")
    return (
        main.uai if main is not None else None,
        main.valid if main is not None else False,
        tuple(ordered),
        tuple(responsible),
        tuple(flags),
    )
