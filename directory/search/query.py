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

IntArray = npt.NDArray[np.int64]

__all__ = [
    "MAX_TOKENS",
    "ParsedQuery",
    "TokenRanges",
    "parse_query",
    "prefix_hashes",
    "prefix_upper",
    "typo_arrays",
    "typo_hashes",
    "typo_rows",
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
    typo: bool = False
    """Whether any range is a typo range (they come first)."""
    exact: int = -1
    """The token id of the first exact range, -1 when none."""
    plain: tuple[tuple[int, int, int], ...] = ()
    """The prefix and exact ranges as ``(lo, hi, level)`` (the last ones of the arrays), for the
    checks that are cheaper in Python than in numpy on two or three numbers."""


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


_LETTERS = np.frombuffer(_ALPHABET.encode(), dtype=np.uint8)


@lru_cache(maxsize=64)
def _multipliers(width: int) -> npt.NDArray[np.uint64]:
    """One fixed odd 64-bit multiplier per byte position (splitmix64 of the position: the same in
    every process and for every width, so that index and queries hash alike)."""
    z = (np.arange(1, width + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) | np.uint64(1)


def prefix_hashes(matrix: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Per row of zero-padded bytes, for every length ``k``: a 64-bit hash of the first ``k``
    bytes (column ``k - 1``). Linear (sum of byte times position multiplier, modulo 2**64), so
    zero padding adds nothing: a string's hash is the same at any width."""
    width = matrix.shape[1]
    weighted = matrix.astype(np.uint64) * _multipliers(width)
    out: npt.NDArray[np.uint64] = np.cumsum(weighted, axis=1, dtype=np.uint64)
    return out


@lru_cache(maxsize=4096)
def typo_hashes(token: str, width: int) -> tuple[npt.NDArray[np.uint64], IntArray] | None:
    """The hashes (:func:`prefix_hashes`, whole variant) of the typo variants of ``token`` no
    longer than ``width``, and which rows of the token length's template they are (for
    :func:`typo_rows`); ``None`` for a non-ASCII token (see :func:`typo_arrays`). Cached: the
    same tokens come back keystroke after keystroke.

    The index drops most variants by their hash before building any of them: for a new token
    (every full name brings some), building all of them was most of the cost of a typo search."""
    if not token.isascii() or not token:
        return None
    t = np.frombuffer(token.encode(), dtype=np.uint8)
    template = _typo_template(len(t), width)
    if not len(template.idx):
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    # Drop the rows that give the token back: a letter substituted by itself, twins swapped.
    letters = np.flatnonzero((t >= 97) & (t <= 122))  # digits have no substitution by themselves
    drop = np.concatenate(
        [template.sub_row[letters, t[letters] - 97], template.swap_row[np.flatnonzero(t[:-1] == t[1:])]]
    )
    keep = np.ones(len(template.idx), dtype=np.bool_)
    keep[drop[drop >= 0]] = False
    # A few variants come twice (inserting the letter before its twin or after it): harmless,
    # the ranges' postings are deduplicated with the others, and sorting them would cost more.
    # Hashes are linear in the bytes: one product with the template's weights gives them all.
    hashes = (template.weights @ _source(t).astype(np.uint64))[keep]
    return hashes, np.flatnonzero(keep)


def typo_rows(
    token: str, width: int, rows: IntArray
) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_]]:
    """The typo variants of ``token`` of these template rows (:func:`typo_hashes`) and their
    prefix upper bounds, as fixed-width byte arrays ready for ``searchsorted`` against the
    vocabulary."""
    template = _typo_template(len(token), width)
    # One gather builds the variants: column indexes into the token, the alphabet and a 0 pad.
    matrix = _source(np.frombuffer(token.encode(), dtype=np.uint8))[template.idx[rows]]
    uppers = matrix.copy()
    uppers[np.arange(len(matrix)), template.last[rows]] += 1
    return matrix.view(f"S{width}").ravel(), uppers.view(f"S{width}").ravel()


def _source(t: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.concatenate([t, _LETTERS, np.zeros(1, dtype=np.uint8)])


@lru_cache(maxsize=1024)
def typo_arrays(
    token: str, width: int
) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_], npt.NDArray[np.uint64] | None]:
    """All the typo variants of ``token`` no longer than ``width``, their prefix upper bounds,
    as fixed-width byte arrays, and their hashes (``None`` for a non-ASCII token).

    The same set as :func:`typo_variants`, built as byte matrices by numpy (:func:`typo_rows`):
    building a few hundred strings one by one in Python was the largest single cost of a typo
    search (measured: ~1 ms of a ~2 ms request). Non-ASCII tokens (which normalised queries do
    not have) are built in Python."""
    hashed = typo_hashes(token, width)
    if hashed is None:
        built = [v.encode() for v in typo_variants(token) if len(v) <= width]
        return (
            np.array(built, dtype=f"S{width}"),
            np.array([prefix_upper(v) for v in built], dtype=f"S{width}"),
            None,
        )
    hashes, rows = hashed
    variants, uppers = typo_rows(token, width, rows)
    return variants, uppers, hashes


@dataclass(frozen=True, slots=True)
class _Template:
    """How to build every edit-distance-1 variant of any token of one length (``_typo_template``)."""

    idx: IntArray
    """Per variant, per column: an index into token + alphabet + a zero byte."""
    weights: npt.NDArray[np.uint64]
    """Per variant, per source byte: its hash multiplier (a variant's hash is ``weights @ source``)."""
    sub_row: IntArray
    """``[position, letter]``: the row substituting that letter there (-1: none)."""
    swap_row: IntArray
    """``[position]``: the row swapping that position with the next (-1: none)."""
    last: IntArray
    """Per variant: its last column."""


@lru_cache(maxsize=256)
def _typo_template(n: int, width: int) -> _Template:
    """For tokens of ``n`` letters: how to build every edit-distance-1 variant no longer than
    ``width`` (see ``_Template``)."""
    pad = n + 26  # the zero byte
    rows: list[list[int]] = []
    sub_pos: list[int] = []
    sub_letter: list[int] = []
    swap_pos: list[int] = []

    def add(cols: list[int], sp: int = -1, sl: int = -1, wp: int = -1) -> None:
        if len(cols) <= width:
            rows.append(cols + [pad] * (width - len(cols)))
            sub_pos.append(sp)
            sub_letter.append(sl)
            swap_pos.append(wp)

    tok = list(range(n))
    for i in range(n - 1):  # deletions, but not of the last letter (a prefix of the token)
        add(tok[:i] + tok[i + 1 :])
    for i in range(n):  # substitutions
        for c in range(26):
            add([*tok[:i], n + c, *tok[i + 1 :]], i, int(_LETTERS[c]))
    for i in range(n):  # insertions, but not at the end (an extension: a prefix match already)
        for c in range(26):
            add([*tok[:i], n + c, *tok[i:]])
    for i in range(n - 1):  # transpositions
        add([*tok[:i], i + 1, i, *tok[i + 2 :]], wp=i)
    lengths = [sum(1 for x in r if x != pad) for r in rows]
    matrix = np.array(rows, dtype=np.int64).reshape(len(rows), width)
    weights = np.zeros((len(rows), pad + 1), dtype=np.uint64)
    multipliers = _multipliers(width)
    everyone = np.arange(len(rows))
    for j in range(width):  # column j adds its source byte times the multiplier of position j
        weights[everyone, matrix[:, j]] += multipliers[j]
    weights[:, pad] = 0  # the zero byte adds nothing anyway
    sub_row = np.full((n, 26), -1, dtype=np.int64)
    swap_row = np.full(max(n - 1, 0), -1, dtype=np.int64)
    for r, (sp, sl, wp) in enumerate(zip(sub_pos, sub_letter, swap_pos, strict=True)):
        if sp >= 0:
            sub_row[sp, sl - 97] = r
        if wp >= 0:
            swap_row[wp] = r
    return _Template(matrix, weights, sub_row, swap_row, _ints(lengths) - 1)


def _ints(values: list[int]) -> IntArray:
    return np.array(values, dtype=np.int64).reshape(-1)
