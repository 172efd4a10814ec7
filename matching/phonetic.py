"""A compact French phonetic key for surnames and first names.

No well-kept library offers a French phonetic algorithm (the package lists hold Soundex and
Metaphone for other languages, and an unmaintained NLP toolkit), so this is a small rule set in the
spirit of Phonex and "Soundex FR": spellings that a French speaker pronounces alike get one key
(``DUPONT``/``DUPOND``, ``RENAUD``/``RENAULT``/``RENO``, ``PHILIPPE``/``FILIPE``,
``LEFEBVRE``/``LEFEVRE``, ``CHEVALIER``/``CHEVALLIER``, ``GAUTHIER``/``GAUTIER``,
``CARON``/``KARON``, ``ROUSSEAU``/``ROUSSO``).

The rules rewrite letters into sound classes in one left-to-right pass (at each position the
longest spelling whose condition holds wins), looked up by spelling: a regular-expression pass
per rule, or one large alternation, costs 50-100 µs a name, too slow for the few hundred thousand
distinct surnames of a national run; this pass costs about 10 µs. The key is meant for blocking and
for a "sounds alike" comparison level, not for display.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .normalize import surname_key

__all__ = ["phonetic_key"]

_VOWELS = frozenset("aeiouy")
_NASAL_BREAKERS = _VOWELS | {"n", "m"}  # a nasal vowel is followed by a consonant or nothing
_ANY, _END, _BEFORE, _NOT_BEFORE = range(4)

# (spelling, condition, letters of the condition, sound), tried in this order at each position.
# Upper-case letters and digits are sound classes: K (k), S (s), J (ʒ), G (g), X (ʃ), F (f),
# V (v), N (ɲ), O (o), U (u), E (e/ɛ), A (a), I (i), Y (y), 1 (ɛ̃), 2 (ɑ̃), 3 (ɔ̃); other
# letters (b, d, f, l, m, n, p, r, t, v) stand for themselves.
_RULES: tuple[tuple[str, int, frozenset[str], str], ...] = (
    ("ph", _ANY, frozenset(), "F"),
    ("ch", _BEFORE, frozenset("rl"), "K"),  # CHRISTOPHE
    ("cqu", _ANY, frozenset(), "K"),
    ("ck", _ANY, frozenset(), "K"),
    ("ch", _ANY, frozenset(), "X"),
    ("c", _BEFORE, frozenset("eiy"), "S"),
    ("c", _ANY, frozenset(), "K"),
    ("sch", _ANY, frozenset(), "X"),
    ("sh", _ANY, frozenset(), "X"),
    ("s", _ANY, frozenset(), "S"),
    ("gn", _ANY, frozenset(), "NI"),
    ("gu", _BEFORE, frozenset("eiy"), "G"),
    ("ge", _BEFORE, frozenset("aou"), "J"),
    ("g", _BEFORE, frozenset("eiy"), "J"),
    ("g", _ANY, frozenset(), "G"),
    ("h", _ANY, frozenset(), ""),
    ("qu", _ANY, frozenset(), "K"),
    ("q", _ANY, frozenset(), "K"),
    ("k", _ANY, frozenset(), "K"),
    ("j", _ANY, frozenset(), "J"),
    ("x", _END, frozenset(), ""),  # ROUX, DESCAUX
    ("x", _ANY, frozenset(), "KS"),
    ("w", _ANY, frozenset(), "V"),
    ("bv", _ANY, frozenset(), "V"),  # LEFEBVRE
    ("z", _ANY, frozenset(), "S"),
    # a final er/et/ez/es sounds é: CHEVALIER, BOUCHET
    *((s, _END, frozenset(), "E") for s in ("er", "et", "ez", "es")),
    *((s, _NOT_BEFORE, _NASAL_BREAKERS, "1") for s in ("ein", "eim")),
    *((s, _NOT_BEFORE, _NASAL_BREAKERS, "2") for s in ("en", "em")),
    ("eau", _ANY, frozenset(), "O"),
    ("ei", _ANY, frozenset(), "E"),
    ("ey", _ANY, frozenset(), "E"),
    ("e", _END, frozenset(), ""),
    ("e", _ANY, frozenset(), "E"),
    ("aul", _BEFORE, frozenset("t"), "O"),  # GAULTIER / GAUTIER
    *((s, _NOT_BEFORE, _NASAL_BREAKERS, "1") for s in ("ain", "aim", "ayn")),
    *((s, _NOT_BEFORE, _NASAL_BREAKERS, "2") for s in ("an", "am")),
    ("au", _ANY, frozenset(), "O"),
    ("ai", _ANY, frozenset(), "E"),
    ("ay", _ANY, frozenset(), "E"),
    ("a", _ANY, frozenset(), "A"),
    *((s, _NOT_BEFORE, _NASAL_BREAKERS, "1") for s in ("in", "im", "yn", "ym", "un", "um")),
    ("i", _ANY, frozenset(), "I"),
    ("y", _ANY, frozenset(), "I"),
    ("u", _ANY, frozenset(), "Y"),
    *((s, _NOT_BEFORE, _NASAL_BREAKERS, "3") for s in ("on", "om")),
    ("oi", _ANY, frozenset(), "OA"),
    ("oy", _ANY, frozenset(), "OA"),
    ("ou", _ANY, frozenset(), "U"),
    ("o", _ANY, frozenset(), "O"),
)
# Rules by spelling; at a position the longest spelling is tried first. No two spellings of
# different lengths can both match at one position with a different outcome in ``_RULES``' order
# (checked on the surnames of the synthetic national dataset), so this is the same as trying
# ``_RULES`` in order, with three dictionary look-ups a letter instead of a dozen comparisons.
_BY_SPELLING: dict[str, list[tuple[int, frozenset[str], str]]] = {}
for _spelling, _cond, _letters, _sound in _RULES:
    _BY_SPELLING.setdefault(_spelling, []).append((_cond, _letters, _sound))

# silent final consonants: DUPONT/DUPOND, RENAUD/RENAULT, PETIT/PETI, DUBOIS/DUBOI
_SILENT_FINAL = frozenset("TDSPK")
_NOT_LETTER = re.compile(r"[^a-z]")


def _sounds(word: str) -> str:
    """One left-to-right pass: at each position the longest spelling whose condition holds."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        for length in (3, 2, 1):
            if i + length > n:
                continue
            rules = _BY_SPELLING.get(word[i : i + length])
            if rules is None:
                continue
            j = i + length
            sound = None
            for cond, letters, candidate in rules:
                if cond == _END and j != n:
                    continue
                if cond == _BEFORE and (j >= n or word[j] not in letters):
                    continue
                if cond == _NOT_BEFORE and j < n and word[j] in letters:
                    continue
                sound = candidate
                break
            if sound is not None:
                out.append(sound)
                i = j
                break
        else:
            out.append(word[i].upper())
            i += 1
    return "".join(out)


@lru_cache(maxsize=1 << 18)
def phonetic_key(s: str | None) -> str:
    """The French phonetic key of a name: ``DUPONT`` → ``DYP3``; ``Philippe`` → ``FILIP``.

    Spaces, particles' spacing and accents do not matter (the name goes through
    :func:`~matching.normalize.surname_key` first). Empty for an empty name.
    """
    word = _NOT_LETTER.sub("", surname_key(s))
    if not word:
        return ""
    sounds = _sounds(word)
    # doubled sounds collapse before the final rule so that ``TT`` at the end goes at once
    chars: list[str] = []
    for c in sounds:
        if not chars or chars[-1] != c:
            chars.append(c)
    collapsed = "".join(chars)
    # silent final consonants; never reduce a name to nothing (``T``): keep it whole then
    end = len(collapsed)
    while end > 0:
        if collapsed[end - 1] in _SILENT_FINAL:
            end -= 1
        elif end > 1 and collapsed[end - 2 : end] in ("LT", "LD"):
            end -= 2
        else:
            break
    return collapsed[:end] or collapsed
