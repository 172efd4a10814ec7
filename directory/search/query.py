"""What a typed query means: name tokens (normalised like the index), or an e-mail, uid or cloud id.

The same :func:`matching.normalize.normalize_text` as indexing, so ``Céline``, ``CELINE`` and
``celine`` are one token; apostrophes and hyphens separate words (``d'alembert`` → ``d``,
``alembert``; the glued ``dalembert`` is an index token too). ``St``/``Ste`` also match
``saint``/``sainte`` exactly, as the index expands them.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from matching.normalize import normalize_text

__all__ = [
    "MAX_TOKENS",
    "ParsedQuery",
    "TokenRanges",
    "parse_query",
    "prefix_upper",
    "typo_arrays",
    "typo_variants",
]

MAX_TOKENS = 8
"""Tokens beyond this are ignored: nobody types nine names, and each token costs a pass."""

_SAINTS = {"st": ("saint",), "ste": ("sainte",)}
_ALPHABET = string.ascii_lowercase


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query as the index reads it."""

    raw: str
    tokens: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...] = field(default=())
    """Per token, other spellings matched at the same levels (``st`` → ``saint``)."""

    @property
    def looks_like_email(self) -> bool:
        """A single word with an ``@``: try it as an e-mail (or cloud id) first."""
        text = self.raw.strip()
        return "@" in text and " " not in text

    @property
    def single_word(self) -> str | None:
        """The query lower-cased when it is one word (a candidate uid), else ``None``."""
        text = self.raw.strip().lower()
        return text if text and " " not in text else None


@dataclass(frozen=True, slots=True)
class TokenRanges:
    """The vocabulary ranges ``[lo, hi)`` one query token matches, their levels (ascending: a later
    range's level wins over an earlier one's), and how many postings they hold in all."""

    lo: npt.NDArray[np.int64]
    hi: npt.NDArray[np.int64]
    level: npt.NDArray[np.int8]
    postings: int


def parse_query(text: str) -> ParsedQuery:
    """Normalise a query into at most :data:`MAX_TOKENS` distinct tokens, in typed order."""
    source = text.split("@", 1)[0] if "@" in text and " " not in text.strip() else text
    tokens = tuple(dict.fromkeys(normalize_text(source).split()))[:MAX_TOKENS]
    return ParsedQuery(text, tokens, tuple(_SAINTS.get(t, ()) for t in tokens))


@lru_cache(maxsize=4096)
def typo_variants(token: str) -> tuple[str, ...]:
    """Every string at edit distance one (Damerau: with transpositions) usable as a prefix.

    Deleting the *last* letter and appending one are left out: those are prefixes of the token or
    extensions of it, which the prefix match already covers at a better level.
    """
    out: set[str] = set()
    n = len(token)
    for i in range(n - 1):
        out.add(token[:i] + token[i + 1 :])  # deletion
    for i in range(n):
        for c in _ALPHABET:
            if c != token[i]:
                out.add(token[:i] + c + token[i + 1 :])  # substitution
    for i in range(n):
        for c in _ALPHABET:
            out.add(token[:i] + c + token[i:])  # insertion
    for i in range(n - 1):
        if token[i] != token[i + 1]:
            out.add(token[:i] + token[i + 1] + token[i] + token[i + 2 :])  # transposition
    out.discard(token)
    return tuple(sorted(out))


def prefix_upper(prefix: bytes) -> bytes:
    """The smallest string greater than every string starting with ``prefix`` (ASCII tokens)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


@lru_cache(maxsize=4096)
def typo_arrays(token: str, width: int) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_]]:
    """The typo variants of ``token`` no longer than ``width``, and their prefix upper bounds,
    as fixed-width byte arrays ready for ``searchsorted`` against the vocabulary (cached: the
    same tokens come back keystroke after keystroke)."""
    variants = [v.encode() for v in typo_variants(token) if len(v) <= width]
    return (
        np.array(variants, dtype=f"S{width}"),
        np.array([prefix_upper(v) for v in variants], dtype=f"S{width}"),
    )
