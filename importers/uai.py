"""UAI, the national establishment identifier: normalisation and check letter.

A UAI is seven digits then a check letter: ``0291101P``. The first three characters are the
département (``075`` Paris, ``620``/``720`` Corsica, ``971``-``976`` overseas). The letter is
``CHECK_LETTERS[int(uai[:7]) % 23]``; the alphabet leaves out I, O and Q, which read like digits.

Feeds write the letter in lower case now and then (``0590121l``): that is the same UAI, so it is
normalised (upper case, stripped) before checking. A wrong letter makes the UAI invalid; the
importers flag it and keep the person.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from directory.academies import ACADEMIES, Academy

__all__ = [
    "CHECK_LETTERS",
    "UaiCheck",
    "academy_of_uai",
    "check_letter",
    "check_uai",
    "departement",
    "is_valid_uai",
    "make_uai",
    "normalize_uai",
]

CHECK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

_ACADEMY_BY_PREFIX: dict[str, Academy] = {p: a for a in ACADEMIES for p in a.uai_prefixes}


class UaiCheck(NamedTuple):
    """A UAI as read from a feed: the normalised value and what was wrong with the original."""

    uai: str
    """Upper-cased, stripped value (``0590121L``)."""
    valid: bool
    """Seven digits then the right check letter."""
    lowercase: bool
    """The feed wrote some letter in lower case (``0590121l``)."""


def normalize_uai(value: str) -> str:
    """Upper-case and strip a UAI as found in a feed: ``' 0590121l '`` → ``'0590121L'``."""
    return value.strip().upper()


def check_letter(digits: str) -> str:
    """The check letter of the seven-digit prefix ``digits`` (``'0291101'`` → ``'P'``)."""
    if len(digits) != 7 or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"a UAI prefix is seven digits, not {digits!r}")
    return CHECK_LETTERS[int(digits) % 23]


def make_uai(digits: str) -> str:
    """A valid UAI from its seven-digit prefix (``'0291101'`` → ``'0291101P'``)."""
    return digits + check_letter(digits)


def is_valid_uai(uai: str) -> bool:
    """Whether an already normalised UAI is seven ASCII digits and the right check letter."""
    if len(uai) != 8:
        return False
    digits = uai[:7]
    # isascii() first: str.isdigit() also accepts "²" or Arabic-Indic digits, which int() rejects
    # or reads differently.
    if not (digits.isascii() and digits.isdigit()):
        return False
    return CHECK_LETTERS[int(digits) % 23] == uai[7]


@lru_cache(maxsize=1 << 17)
def check_uai(value: str) -> UaiCheck:
    """Normalise and verify a UAI from a feed in one step.

    Cached: about 60,000 establishments serve 1.2 million entries, so nearly every call is a hit.
    """
    uai = value.strip().upper()
    return UaiCheck(uai, is_valid_uai(uai), uai != value.strip())


def departement(uai: str) -> str | None:
    """The three-character département prefix of a UAI (``'075'``, ``'620'``, ``'974'``), if digits."""
    prefix = uai.strip()[:3]
    return prefix if len(prefix) == 3 and prefix.isascii() and prefix.isdigit() else None


def academy_of_uai(uai: str) -> Academy | None:
    """The academy whose départements include this UAI's prefix, or ``None``."""
    prefix = departement(uai)
    return _ACADEMY_BY_PREFIX.get(prefix) if prefix is not None else None
