"""The index against a plain-Python statement of its contract, on a synthetic population.

The index's matching and ranking are vectorised and take shortcuts (typo variants filtered by a
prefix hash set, precomputed short prefixes, a typo pass only when needed, cached token ranges...).
Here every answer of a realistic query mix (prefixes, full names, swapped order, typos, two
prefixes; with and without a searcher as context; with and without an academy restriction) must
be exactly the one the contract gives, computed the slow way: each token's best level over each
person's tokens, quality, proximity, static rank.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.ldif_people import load_people
from bench.search_mix import people_from_docs, query_mix
from directory.academies import ACADEMIES
from directory.search.documents import PersonDoc
from directory.search.index import ACADEMY_BIT, EXACT, PREFIX, TYPO, TYPO_MIN_LENGTH
from directory.search.query import parse_query, typo_variants
from directory.search.service import SearchService
from importers.synth import generate


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[PersonDoc], list[tuple[str, str]]]:
    out: Path = tmp_path_factory.mktemp("synth")
    generate(out, people=1500, seed=5)
    return load_people(out)


def _level(word: str, token: str, alternatives: Sequence[str], typos: frozenset[str]) -> int:
    if word == token or word in alternatives:
        return EXACT
    if word.startswith(token) or any(word.startswith(a) for a in alternatives):
        return PREFIX
    if any(word[:k] in typos for k in range(1, len(word) + 1)):
        return TYPO
    return 0


def qualities(docs: list[PersonDoc], text: str) -> dict[str, int]:
    """Person id → quality, for the people matching every token of the query (with typos)."""
    query = parse_query(text)
    out: dict[str, int] = {}
    if not query.tokens:
        return out
    for d in docs:
        quality = 0
        for token, alts in zip(query.tokens, query.alternatives, strict=True):
            typos = frozenset(typo_variants(token)) if len(token) >= TYPO_MIN_LENGTH else frozenset()
            level = max((_level(w, token, alts, typos) for w in d.tokens), default=0)
            if level == 0:
                break
            quality += 16 * (level > TYPO) + (level == EXACT)
        else:
            out[d.id] = quality
    return out


def reference(
    docs: list[PersonDoc],
    text: str,
    quality: dict[str, int],
    *,
    limit: int,
    context: str | None,
    academy: str | None,
) -> list[str]:
    """The answer the contract gives (``docs`` in static rank order; name and uid queries)."""
    query = parse_query(text)
    bit = 1 << ACADEMY_BIT[academy] if academy else None

    def mask_of(d: PersonDoc) -> int:
        return sum(1 << ACADEMY_BIT[a] for a in set(d.academies) if a in ACADEMY_BIT)

    allowed = [d for d in docs if bit is None or mask_of(d) & bit]
    exact = [d.id for d in allowed if query.single_word in d.uids] if query.single_word else []
    ests: tuple[str, ...] = ()
    mask = 0
    if context:
        who = [d for d in docs if context.lower() in (d.emails if "@" in context else d.uids)]
        if who:
            ests, mask = who[0].establishments, mask_of(who[0])
    scored: list[tuple[int, int, str]] = []
    for rank, d in enumerate(allowed):
        if d.id in quality:
            prox = 2 if set(ests) & set(d.establishments) else 1 if mask & mask_of(d) else 0
            scored.append((-(quality[d.id] * 4 + prox), rank, d.id))
    names = [pid for _, _, pid in sorted(scored)]
    return list(dict.fromkeys(exact + names))[:limit]


def test_answers_are_the_contracts_on_a_query_mix(
    population: tuple[list[PersonDoc], list[tuple[str, str]]],
) -> None:
    docs, names = population
    service = SearchService(None, refresh_interval=3600, cache_size=0)  # type: ignore[arg-type]
    service.install(docs)
    index = service.snapshot.base
    ordered = sorted(docs, key=lambda d: index.position(d.id) or 0)
    people = people_from_docs(docs, names, 400, 5)
    rng = random.Random(5)
    queries = [q for q in query_mix(people, 260, 5) if q.kind != "email"]
    kinds = {q.kind for q in queries}
    assert {"prefix", "full", "swapped", "typo", "two_prefixes"} <= kinds
    uids = [d.uids[0] for d in rng.sample(docs, 10) if d.uids]  # a uid finds its person first
    academy = ACADEMIES[0].code
    checked = with_typos = 0
    for text, context in [(q.text, q.context) for q in queries] + [(u, None) for u in uids]:
        quality = qualities(ordered, text)
        for ctx in {context, None}:
            for acad in (None, academy):
                for limit in (25, 3):
                    got = [f.id for f in service.search(text, limit=limit, context=ctx, academy=acad)]
                    want = reference(ordered, text, quality, limit=limit, context=ctx, academy=acad)
                    assert got == want, (text, ctx, acad, limit)
                    checked += 1
        tokens = len(parse_query(text).tokens)
        with_typos += any(q < 16 * tokens for q in quality.values())  # the typo pass had work
    assert checked > 1000 and with_typos > 20
