"""A compact French phonetic key for surnames and first names.

No well-kept library offers a French phonetic algorithm (the package lists hold Soundex and
Metaphone for other languages, and an unmaintained NLP toolkit), so this is a small rule set in the
spirit of Phonex and "Soundex FR": spellings that a French speaker pronounces alike get one key
(``DUPONT``/``DUPOND``, ``RENAUD``/``RENAULT``/``RENO``, ``PHILIPPE``/``FILIPE``,
``LEFEBVRE``/``LEFEVRE``, ``CHEVALIER``/``CHEVALLIER``, ``GAUTHIER``/``GAUTIER``,
``CARON``/``KARON``, ``ROUSSEAU``/``ROUSSO``).

The rules rewrite lower-case letters into upper-case sound classes, in order; a class once written
is never rewritten, which keeps the rules independent of one another. The key is meant for blocking
and for a "sounds alike" comparison level, not for display.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .normalize import surname_key

__all__ = ["phonetic_key"]

_V = "aeiouy"

# (pattern, replacement). Upper-case letters and digits in replacements are sound classes:
# K (k), S (s), J (ʒ), G (g), X (ʃ), F (f), V (v), N (ɲ), O (o), U (u), E (e/ɛ), A (a), I (i),
# Y (y), 1 (ɛ̃), 2 (ɑ̃), 3 (ɔ̃).
_RULES: tuple[tuple[str, str], ...] = (
    (r"y", "i"),
    (r"ph", "F"),
    (r"ch(?=[rl])", "K"),
    (r"sch|ch|sh", "X"),
    (r"gn", "NI"),
    (r"h", ""),
    (r"cqu|ck|qu|q|k", "K"),
    (r"c(?=[eiy])", "S"),
    (r"c", "K"),
    (r"gu(?=[ei])", "G"),
    (r"ge(?=[aou])", "J"),
    (r"g(?=[eiy])", "J"),
    (r"g", "G"),
    (r"j", "J"),
    (r"x$", ""),
    (r"x", "KS"),
    (r"w", "V"),
    (r"bv", "V"),
    (r"z", "S"),
    (r"(?<=[" + _V + r"])s(?=[" + _V + r"])", "S"),
    (r"s", "S"),
    # a final ``ez``/``er``/``et`` sounds é: CHEVALIER, BOUCHET (after ``z`` became ``S``)
    (r"e(?:r|t|S)$", "E"),
    # nasal vowels: before a consonant or at the end, not before a vowel or a doubled n/m
    (r"(?:ain|ein|aim|eim)(?![" + _V + r"nm])", "1"),
    (r"(?:in|im|un|um)(?![" + _V + r"nm])", "1"),
    (r"(?:an|am|en|em)(?![" + _V + r"nm])", "2"),
    (r"(?:on|om)(?![" + _V + r"nm])", "3"),
    (r"eau|au", "O"),
    (r"oi", "OA"),
    (r"ou", "U"),
    (r"ai|ei", "E"),
    (r"e$", ""),
    (r"u", "Y"),
    (r"o", "O"),
    (r"i", "I"),
    (r"a", "A"),
    (r"e", "E"),
)
_COMPILED = tuple((re.compile(p), r) for p, r in _RULES)
# GAULTIER/GAUTIER: an ``l`` between a back vowel and ``t`` is silent in such names
_SILENT_L = re.compile(r"(?<=[OA])l(?=t)")
# silent final consonants: DUPONT/DUPOND, RENAUD/RENAULT, PETIT/PETI, DUBOIS/DUBOI
_FINAL = re.compile(r"(?:[tdSpK]|lt|ld)+$")
_REPEAT = re.compile(r"(.)\1+")


@lru_cache(maxsize=1 << 18)
def phonetic_key(s: str | None) -> str:
    """The French phonetic key of a name: ``DUPONT`` → ``DYP3``; ``Philippe`` → ``FILIP``.

    Spaces, particles' spacing and accents do not matter (the name goes through
    :func:`~matching.normalize.surname_key` first). Empty for an empty name.
    """
    word = re.sub(r"[^a-z]", "", surname_key(s))
    if not word:
        return ""
    for pattern, repl in _COMPILED:
        word = pattern.sub(repl, word)
    word = _SILENT_L.sub("", word)
    # doubled sounds collapse before the final rule so that ``tt`` at the end goes at once
    word = _REPEAT.sub(r"\1", word)
    stripped = _FINAL.sub("", word)
    # never reduce a name to nothing (``T``): keep the unstripped form then
    word = stripped or word
    return word.upper()
