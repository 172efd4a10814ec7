"""Clean display names: ``MARTIN Nathalie`` in a feed becomes ``Nathalie Martin`` in a share dialog.

Feeds write surnames in capitals (``LE GALL``, ``DURAND--DUPONT``, ``D'ALEMBERT``) and first names
in any case (``JEAN-PIERRE``, ``jean pierre``). People expect the form they would write themselves:
given name then surname, each word capitalised, French particles in lower case where French
writes them so (``Anne de La Fontaine``, ``Jean d'Alembert``), hyphens and apostrophes kept.
Accents the feed dropped cannot be restored; those it kept are kept.

Pure functions (no database): the search index and the matching runner can both use them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from matching.normalize import normalize_text, split_display_name

__all__ = ["LOWER_PARTICLES", "display_name", "format_given_name", "format_surname", "sort_key"]

LOWER_PARTICLES: frozenset[str] = frozenset(
    {"de", "du", "des", "d", "van", "von", "der", "den", "dos", "del"}
)
"""Particles French writes in lower case inside a name (``Jean de La Fontaine``). ``Le``/``La``
(Breton ``Le Gall``) and ``Di``/``Da`` (``Da Silva``) are capitalised as in common use."""

# A word is a run of letters (and digits); separators (space, hyphen, apostrophe) are kept as typed.
_PIECES = re.compile(r"([^\W_]+)|([\s\-'’]+)|(.)", re.UNICODE)
_SPACES = re.compile(r"\s+")


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


@lru_cache(maxsize=1 << 16)
def format_given_name(given: str | None) -> str:
    """``JEAN-PIERRE`` → ``Jean-Pierre``; ``marie  claire`` → ``Marie Claire``; ``J.-P.`` → ``J.-P.``."""
    text = _SPACES.sub(" ", (given or "").strip())
    return "".join(_capitalise(m[0]) if m[1] else m[0] for m in _PIECES.finditer(text))


@lru_cache(maxsize=1 << 18)
def format_surname(surname: str | None, *, leading: bool = False) -> str:
    """``LE GALL`` → ``Le Gall``; ``DE LA FONTAINE`` → ``de La Fontaine``; ``D'ALEMBERT`` → ``d'Alembert``.

    Particles stay in lower case only after a given name: with ``leading`` (the surname starts the
    display) the first word is capitalised whatever it is (``De La Fontaine``). Double hyphens of
    2005-2011 double names are kept (``Durand--Dupont``), apostrophes typed as ``’`` too.
    """
    text = _SPACES.sub(" ", (surname or "").strip())
    out: list[str] = []
    pieces = list(_PIECES.finditer(text))
    for i, m in enumerate(pieces):
        word = m[1]
        if not word:
            out.append(m[0])
            continue
        lower = word.lower()
        nxt = pieces[i + 1][0] if i + 1 < len(pieces) else ""
        is_particle = lower in LOWER_PARTICLES and (lower != "d" or nxt[:1] in "'’")
        # A particle is only a particle when a name follows it: ``DE`` alone is the surname De.
        has_following_word = any(p[1] for p in pieces[i + 1 :])
        if is_particle and has_following_word and not (leading and not out):
            out.append(lower)
        else:
            out.append(_capitalise(word))
    return "".join(out)


def display_name(given_name: str | None, usage_name: str | None, fallback: str | None = None) -> str:
    """The clean label of a person: given name(s) then usage name, ``Marie Martin``.

    When the record has no separate names, ``fallback`` (a ``cn``/``displayName`` such as
    ``MARTIN Marie``) is split with :func:`matching.normalize.split_display_name` and formatted the
    same way. Empty when nothing is known.
    """
    given, surname = (given_name or "").strip(), (usage_name or "").strip()
    if not surname and fallback:
        given_fb, surname = split_display_name(fallback)
        given = given or given_fb
    if not given:
        return format_surname(surname, leading=True)
    if not surname:
        return format_given_name(given)
    return f"{format_given_name(given)} {format_surname(surname)}"


def sort_key(label: str) -> str:
    """The key that orders equal-scoring results: the normalised label (accents and case ignored)."""
    return normalize_text(label)
