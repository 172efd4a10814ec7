"""Normalisation of French person names, shared by matching and by search indexing and queries.

One function for each use, all pure and idempotent, all insensitive to case, accents, ligatures,
apostrophes, hyphens (single or the ``--`` of 2005-2011 double names) and repeated spaces:

- :func:`normalize_text`: the base form, lower-case ASCII words separated by single spaces.
- :func:`name_tokens`: search tokens; particles stay tokens and glued forms are added
  (``LE GALL`` → ``le``, ``gall``, ``legall``) so that a query typed either way finds the entry.
- :func:`surname_key`: one comparable string for a surname, insensitive to particle spacing,
  Saint/St/Ste forms and double-name separators (``DURAND--DUPONT`` = ``Durand Dupont``).
- :func:`surname_parts`: the parts of a double name, particles glued to the part they introduce.
- :func:`given_name_key` and :func:`given_names_compatible`: compound-aware first names
  (``Jean-Pierre`` = ``JEAN PIERRE``; ``J-Pierre`` and ``JP`` compatible with it).
- :func:`split_display_name` and :func:`full_name_key`: ``cn``-style strings in either order.
"""

from __future__ import annotations

import re
from functools import lru_cache

from unidecode import unidecode

__all__ = [
    "PARTICLES",
    "full_name_key",
    "given_name_initials",
    "given_name_key",
    "given_name_tokens",
    "given_names_compatible",
    "name_tokens",
    "normalize_text",
    "split_display_name",
    "surname_key",
    "surname_parts",
]

PARTICLES: frozenset[str] = frozenset(
    {"d", "de", "des", "du", "l", "la", "le", "les", "van", "von", "der", "den", "di", "da", "dos", "del"}
)
"""Surname particles (after normalisation): kept as tokens, glued to the word they introduce."""

# ``St``/``Ste`` are abbreviations, never names of their own in a surname: expand them so that
# ``ST ANDRE``, ``ST-ANDRE`` and ``SAINT-ANDRE`` meet.
_SAINTS = {"st": "saint", "ste": "sainte", "saint": "saint", "sainte": "sainte"}
_GLUE = PARTICLES | {"saint", "sainte"}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=1 << 16)
def normalize_text(s: str | None) -> str:
    """Lower-case ASCII words separated by single spaces: ``Lœtitia D'ALEMBERT`` → ``loetitia d alembert``.

    Accents and ligatures go through unidecode (``Œ`` → ``OE``, ``Æ`` → ``AE``, ``ß`` → ``ss``);
    apostrophes, hyphens, dots and every other non-alphanumeric character become a separator.
    """
    if not s:
        return ""
    # unidecode first: it maps letters to ASCII (sometimes to several letters, ``Œ`` → ``OE``),
    # lower() afterwards sees only ASCII, which makes case-folding trivially idempotent.
    return _NON_ALNUM.sub(" ", unidecode(s).lower()).strip()


def _expand_saints(tokens: list[str]) -> list[str]:
    return [_SAINTS.get(t, t) for t in tokens]


def name_tokens(s: str | None) -> list[str]:
    """Search tokens of a name: words, Saint forms expanded, plus glued particle forms.

    ``LE GALL`` → ``["le", "gall", "legall"]``; ``D'ALEMBERT`` → ``["d", "alembert", "dalembert"]``;
    ``ST ANDRE`` → ``["saint", "andre", "saintandre"]``; ``de la Fontaine`` adds ``delafontaine``
    and ``lafontaine``. Order is stable, duplicates removed.
    """
    tokens = _expand_saints(normalize_text(s).split())
    out = list(tokens)
    for i, tok in enumerate(tokens):
        if tok not in _GLUE:
            continue
        j = i
        while j < len(tokens) and tokens[j] in _GLUE:
            j += 1
        if j < len(tokens):
            out.append("".join(tokens[i : j + 1]))
    return list(dict.fromkeys(out))


@lru_cache(maxsize=1 << 18)
def surname_key(s: str | None) -> str:
    """One comparable form of a surname: its normalised words, Saint forms expanded, glued together.

    ``LE GALL``, ``LEGALL`` and ``Le-Gall`` → ``legall``; ``DURAND--DUPONT`` → ``duranddupont``;
    ``ST ANDRE`` and ``SAINT-ANDRÉ`` → ``saintandre``. Empty for a missing name.
    """
    return "".join(_expand_saints(normalize_text(s).split()))


@lru_cache(maxsize=1 << 18)
def surname_parts(s: str | None) -> tuple[str, ...]:
    """The parts of a (double) surname, particles glued to the part they introduce.

    ``DURAND--DUPONT`` → ``("durand", "dupont")``; ``LE GALL`` → ``("legall",)``;
    ``DE LA FONTAINE MARTIN`` → ``("delafontaine", "martin")``.
    """
    parts: list[str] = []
    pending = ""
    for tok in _expand_saints(normalize_text(s).split()):
        if tok in _GLUE:
            pending += tok
            continue
        parts.append(pending + tok)
        pending = ""
    if pending:
        parts.append(pending)
    return tuple(parts)


@lru_cache(maxsize=1 << 16)
def given_name_tokens(s: str | None) -> tuple[str, ...]:
    """The words of a first name: ``Jean-Pierre`` → ``("jean", "pierre")``; ``J.-P.`` → ``("j", "p")``."""
    return tuple(normalize_text(s).split())


def given_name_key(s: str | None) -> str:
    """Comparable form of a first name, compound forms meeting: ``Jean-Pierre`` → ``jean pierre``.

    ``JEAN PIERRE`` and ``jean--pierre`` give the same; the words are joined by a single space.
    """
    return " ".join(given_name_tokens(s))


def given_name_initials(s: str | None) -> str:
    """Initials of each word of a first name: ``Jean-Pierre`` → ``jp``; ``Nathalie`` → ``n``."""
    return "".join(t[0] for t in given_name_tokens(s))


@lru_cache(maxsize=1 << 18)
def given_names_compatible(a: str | None, b: str | None) -> bool:
    """Whether two first names can be written forms of one person's first name.

    True when the keys are equal; when one is the first part of the other (``Jean`` /
    ``Jean-Pierre``); when word by word each is equal or an initial of the other (``J-Pierre`` /
    ``Jean-Pierre``); when one is the run of initials of the other (``JP`` / ``Jean Pierre``); or
    when only the separators differ (``Jeanpierre`` / ``Jean Pierre``). Empty names are never compatible.
    """
    ta, tb = given_name_tokens(a), given_name_tokens(b)
    if not ta or not tb:
        return False
    if ta == tb or "".join(ta) == "".join(tb):
        return True
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if len(short) == 1 and len(long_) > 1:
        word = short[0]
        if word == long_[0]:
            return True
        # ``JP`` for ``Jean Pierre`` (and ``J`` alone for ``Jean Pierre``)
        initials = "".join(t[0] for t in long_)
        if word == initials or word == long_[0][0]:
            return True
    if len(ta) == len(tb):
        return all(
            x == y or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y))
            for x, y in zip(ta, tb, strict=True)
        )
    # a shorter compound that is a prefix of the longer one (``Jean Pierre`` / ``Jean Pierre Marie``)
    return long_[: len(short)] == short


def _is_upper_word(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def split_display_name(cn: str | None, *, surname_first: bool = True) -> tuple[str, str]:
    """Split a ``cn``/``displayName`` into ``(given_name, surname)``, raw (not normalised).

    Case tells the order when it can: the run of all-capital words is the surname
    (``MARTIN Nathalie``, ``Nathalie MARTIN``, ``LE GALL Jean-Pierre``). When case says nothing
    (all capitals or all lower case), ``surname_first`` decides: the directories mostly write the
    surname first. A single word is taken as a surname.
    """
    words = (cn or "").split()
    if not words:
        return "", ""
    if len(words) == 1:
        return "", words[0]
    upper = [_is_upper_word(w) for w in words]
    if any(upper) and not all(upper):
        if upper[0]:
            n = next(i for i, u in enumerate(upper) if not u)
            return " ".join(words[n:]), " ".join(words[:n])
        if upper[-1]:
            n = next(i for i in range(len(words) - 1, -1, -1) if not upper[i]) + 1
            return " ".join(words[:n]), " ".join(words[n:])
    if surname_first:
        return " ".join(words[1:]), words[0]
    return " ".join(words[:-1]), words[-1]


def full_name_key(s: str | None) -> str:
    """Order-insensitive key of a full name: ``Nathalie MARTIN``, ``MARTIN Nathalie`` → ``martin nathalie``.

    The sorted set of words (Saint forms expanded): fit for "did someone type the same name",
    not for telling the given name from the surname.
    """
    return " ".join(sorted(set(_expand_saints(normalize_text(s).split()))))
