"""The queries of the search benchmark (``bench_search``): people sampled from the store (or from a
documents file), the realistic mix of what people type in a share dialog, and the findability
queries a colleague types to find someone."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass
class Person:
    id: str
    given: str
    surname: str
    mail: str
    uai: str | None
    colleague: str | None = None  # e-mail of another person of the same establishment


@dataclass
class Query:
    kind: str
    text: str
    context: str | None
    target: str


def strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def words(s: str) -> list[str]:
    return [w for w in re.split(r"[\s\-']+", strip_accents(s).lower()) if w]


def typo(word: str, rng: random.Random) -> str:
    """One edit in the middle of a word (people rarely miss the first letter)."""
    i = rng.randrange(1, max(2, len(word) - 1))
    kind = rng.choice(("swap", "drop", "sub", "add"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "sub":
        return word[:i] + rng.choice(letters.replace(word[i], "")) + word[i + 1 :]
    return word[:i] + rng.choice(letters) + word[i:]


def sample_people(conn: psycopg.Connection[dict[str, Any]], n: int, seed: int) -> list[Person]:
    """Offered people with their main record, and a colleague of the same establishment."""
    # Fresh statistics: right after an import the planner would pick nested loops over millions.
    for table in ("persons", "record_links", "source_records"):
        conn.execute(f"ANALYZE {table}")
    conn.execute("SELECT setseed(%s)", (seed / 1000,))
    rows = conn.execute(
        """WITH sample AS (
               SELECT p.id FROM persons p WHERE p.status = 'active' ORDER BY random() LIMIT %s)
           SELECT DISTINCT ON (s.id) s.id, r.given_name, r.usage_name, r.mail, r.main_uai
           FROM sample s JOIN record_links l ON l.person_id = s.id JOIN source_records r ON r.id = l.record_id
           WHERE r.active AND r.removed_at IS NULL AND r.kind = 'person' AND r.given_name IS NOT NULL
             AND r.usage_name IS NOT NULL AND r.mail IS NOT NULL
           ORDER BY s.id, r.updated_at DESC""",
        (n,),
    ).fetchall()
    people = [
        Person(r["id"], r["given_name"], r["usage_name"], r["mail"].lower(), r["main_uai"]) for r in rows
    ]
    uais = sorted({p.uai for p in people if p.uai})
    mates: dict[str, list[tuple[str, str]]] = {}
    for r in conn.execute(
        """SELECT DISTINCT ON (r.main_uai, l.person_id) r.main_uai, l.person_id, lower(r.mail) AS mail
           FROM source_records r JOIN record_links l ON l.record_id = r.id
           JOIN unnest(%s::text[]) AS u(uai) ON u.uai = r.main_uai
           WHERE r.active AND r.removed_at IS NULL AND r.mail IS NOT NULL""",
        (uais,),
    ).fetchall():
        mates.setdefault(r["main_uai"], []).append((r["person_id"], r["mail"]))
    rng = random.Random(seed)
    for p in people:
        others = [m for pid, m in mates.get(p.uai or "", []) if pid != p.id]
        p.colleague = rng.choice(others) if others else None
    return people


def people_from_docs(docs: list[Any], names: list[tuple[str, str]], n: int, seed: int) -> list[Person]:
    """A sample of documented people, each with a colleague of the same establishment."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(docs)), min(n, len(docs)))
    wanted = {docs[i].establishments[0] for i in picked if docs[i].establishments}
    mates: dict[str, list[tuple[str, str]]] = {}
    for d in docs:
        if d.establishments and d.establishments[0] in wanted and d.email:
            mates.setdefault(d.establishments[0], []).append((d.id, d.email))
    out = []
    for i in picked:
        d = docs[i]
        if not d.email:
            continue
        uai = d.establishments[0] if d.establishments else None
        others = [m for pid, m in mates.get(uai or "", []) if pid != d.id]
        out.append(
            Person(d.id, names[i][0], names[i][1], d.email, uai, rng.choice(others) if others else None)
        )
    return out


def query_mix(people: list[Person], n: int, seed: int) -> list[Query]:
    """The realistic mix: what people type in a share dialog, keystroke by keystroke."""
    rng = random.Random(seed)
    out: list[Query] = []
    kinds = (
        ["prefix"] * 6
        + ["full"] * 2
        + ["swapped", "no_accents", "typo", "two_prefixes", "two_prefixes", "email"]
    )
    while len(out) < n:
        p = rng.choice(people)
        g, s = words(p.given), words(p.surname)
        if not g or not s:
            continue
        ctx = p.colleague if rng.random() < 0.5 else None
        kind = rng.choice(kinds)
        if kind == "prefix":
            w = rng.choice(g + s)
            text = w[: rng.randint(2, 8)]
        elif kind == "full":
            text = f"{p.given} {p.surname.title()}"
        elif kind == "swapped":
            text = f"{p.surname} {p.given}"
        elif kind == "no_accents":
            text = strip_accents(f"{p.given} {p.surname}").lower()
        elif kind == "typo":
            long_words = [w for w in g + s if len(w) >= 6]
            if not long_words:
                continue
            w = rng.choice(long_words)
            text = " ".join(typo(x, rng) if x == w else x for x in [*g, *s])
        elif kind == "two_prefixes":
            text = f"{g[0][: rng.randint(2, 5)]} {s[0][: rng.randint(2, 5)]}"
        else:
            text = p.mail
        if len("".join(ch for ch in text if ch.isalnum())) < 2:
            continue
        out.append(Query(kind, text, ctx, p.id))
    return out


def findability_queries(people: list[Person], n: int, seed: int) -> list[Query]:
    """What a colleague types to find someone: first letters of given name and surname, with noise."""
    rng = random.Random(seed + 1)
    out: list[Query] = []
    for p in people:
        if len(out) >= n:
            break
        g, s = words(p.given), words(p.surname)
        if not g or not s or not p.colleague:
            continue
        first, last = g[0][: rng.randint(3, 5)], max(s, key=len)[: rng.randint(3, 6)]
        if rng.random() < 0.2 and len(max(s, key=len)) >= 6:
            last = typo(max(s, key=len), rng)
        parts = [last, first] if rng.random() < 0.3 else [first, last]
        out.append(Query("findability", " ".join(parts), p.colleague, p.id))
    return out


def repeated_share(mix: list[Query], n: int) -> float:
    """Share of the first ``n`` requests whose (query, context) pair came before: a lower bound of
    what the answer cache can serve (colleagues of one establishment share answers too)."""
    seen: set[tuple[str, str | None]] = set()
    again = 0
    for q in mix[:n]:
        key = (" ".join(q.text.lower().split()), q.context)
        again += key in seen
        seen.add(key)
    return again / max(1, min(n, len(mix)))
