"""The in-process people index: sorted token arrays, CSR postings, vectorised ranking (numpy).

Why in-process and not SQL (measured at 1.2 million people, see ``docs/benchmarks.md``): a btree
prefix index answers one prefix fast but no typo and no proximity; edge n-grams, tsvector and
pg_trgm cost 30-400 ms at p99. A people picker needs *all* of prefix-any-part, any order, one
typo, proximity ranking, under 10 ms. Kept in memory as a few numpy arrays, that is cheap:

- ``vocab``: every distinct name token, sorted (fixed-width bytes). A query token's prefix
  matches are one contiguous range ``[lo, hi)`` found by two binary searches.
- postings in CSR form, in vocabulary order: ``tok_off``/``tok_post``. Because tokens are sorted,
  the postings of *all* tokens of a prefix range are one contiguous slice: no union to compute.
- the forward index ``per_off``/``per_tok`` (person → token ids), to check the other query
  tokens against a small candidate set without touching their (maybe huge) postings.
- one typo: the query token's edit-distance-1 variants (deletions, substitutions, insertions,
  transpositions; a few hundred strings) each become a prefix range by binary search: a
  deletion-neighbourhood without storing one, so typos cost microseconds and no memory.
- people are numbered in *static rank* order (with a cloud account first, then by label, then
  id), so that among equal scores the lowest number wins and every candidate array, built sorted,
  is already in tie-break order.
- ranking: per query token a match level (exact 3, prefix 2, typo 1); quality sorts typo-free
  matches first, then by the number of exact tokens; then proximity to the searcher (same
  establishment 2, same academy 1) from a bit mask of academies and the establishment postings.

Results carry a pre-serialised JSON fragment per person, so that answering is joining bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from directory.academies import ACADEMIES
from directory.search.documents import PersonDoc
from directory.search.query import ParsedQuery, TokenRanges, typo_variants

__all__ = ["Hit", "SearchIndex", "key_hash"]

IntArray = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

EXACT, PREFIX, TYPO = 3, 2, 1
ACADEMY_BIT = {a.code: i for i, a in enumerate(ACADEMIES)}
# Below this many postings a driver token is deduplicated by sorting; above, with a dense mask.
_SORT_LIMIT = 30_000
# Typo tolerance only for tokens at least this long: shorter ones have too many neighbours.
TYPO_MIN_LENGTH = 5


def key_hash(key: str) -> int:
    """64-bit hash of a lower-cased e-mail, uid or cloud id (collisions: ~1e-7 at 3 million keys)."""
    return int.from_bytes(hashlib.blake2b(key.lower().encode(), digest_size=8).digest(), "little") >> 1


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked result of one index: the person number and the sort key that ranked it."""

    idx: int
    score: int
    """quality * 4 + proximity: higher is better."""
    has_account: bool
    label_key: bytes


class _Lookup:
    """Exact lookups (e-mail, uid, cloud id) as sorted 64-bit hashes → person numbers."""

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        items = sorted((key_hash(k), i) for k, i in pairs)
        self.keys = np.fromiter((h for h, _ in items), dtype=np.int64, count=len(items))
        self.idx = np.fromiter((i for _, i in items), dtype=np.int32, count=len(items))

    def get(self, key: str) -> list[int]:
        h = key_hash(key)
        lo = int(np.searchsorted(self.keys, h, "left"))
        hi = int(np.searchsorted(self.keys, h, "right"))
        return sorted({int(i) for i in self.idx[lo:hi]})


class SearchIndex:
    """An immutable index over a list of ``PersonDoc`` (built once, then only read: thread-safe)."""

    def __init__(self, docs: Sequence[PersonDoc], *, generation: int = 0) -> None:
        self.generation = generation
        order = sorted(
            range(len(docs)), key=lambda i: (not docs[i].has_account, docs[i].group_key, docs[i].id)
        )
        docs = [docs[i] for i in order]
        self.n = n = len(docs)
        self.pids: list[str] = [d.id for d in docs]
        self.pos: dict[str, int] = {pid: i for i, pid in enumerate(self.pids)}

        # Payloads: the public JSON of each person, one blob and offsets (no object per person).
        frags = [
            json.dumps(
                {
                    "id": d.id,
                    "display_name": d.label,
                    "subline": d.subline,
                    "email": d.email,
                    "instance": d.instance,
                    "cloud_id": d.cloud_id,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            for d in docs
        ]
        self.payload_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(f) for f in frags], out=self.payload_off[1:])
        self.payload = b"".join(frags)
        del frags
        self.label_keys = np.array([d.group_key.encode() for d in docs] or [b""], dtype=bytes)[:n]
        self.has_account = np.fromiter((d.has_account for d in docs), dtype=np.bool_, count=n)

        # Instances: a small code per person; hosts and user ids for the federation endpoints.
        self.instances: list[str | None] = [*sorted({d.instance for d in docs if d.instance}), None]
        code = {name: i for i, name in enumerate(self.instances)}
        self.instance_code = np.fromiter((code[d.instance] for d in docs), dtype=np.int16, count=n)

        # Vocabulary and postings.
        vocab = sorted({t for d in docs for t in d.tokens})
        width = max((len(t) for t in vocab), default=1)
        self.vocab = np.array([t.encode() for t in vocab], dtype=f"S{width}")
        self.width = width
        tid = {t: i for i, t in enumerate(vocab)}
        per_counts = np.fromiter((len(d.tokens) for d in docs), dtype=np.int64, count=n)
        self.per_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(per_counts, out=self.per_off[1:])
        self.per_tok = np.fromiter(
            (tid[t] for d in docs for t in d.tokens), dtype=np.int32, count=int(self.per_off[-1])
        )
        owners = np.repeat(np.arange(n, dtype=np.int32), per_counts)
        by_token = np.lexsort((owners, self.per_tok))  # token, then person: postings come out sorted
        self.tok_post = owners[by_token]
        self.tok_off = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.per_tok, minlength=len(vocab)), out=self.tok_off[1:])

        # Proximity: academies as a bit mask; establishments as postings (UAI → people).
        self.academy_mask = np.fromiter(
            (sum(1 << ACADEMY_BIT[a] for a in set(d.academies) if a in ACADEMY_BIT) for d in docs),
            dtype=np.int64,
            count=n,
        )
        est_people: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            for uai in d.establishments:
                est_people.setdefault(uai, []).append(i)
        self.est_people = {u: np.array(v, dtype=np.int32) for u, v in est_people.items()}
        self.person_est: list[tuple[str, ...]] = [d.establishments for d in docs]

        # Exact lookups.
        self.by_email = _Lookup((e, i) for i, d in enumerate(docs) for e in d.emails)
        self.by_uid = _Lookup((u, i) for i, d in enumerate(docs) for u in d.uids)
        self.by_cloud = _Lookup((d.cloud_id, i) for i, d in enumerate(docs) if d.cloud_id)
        self.by_userid = _Lookup((d.userid, i) for i, d in enumerate(docs) if d.userid)

    # -- reading ---------------------------------------------------------------------------------

    def payload_of(self, idx: int) -> bytes:
        """The public JSON object of person ``idx``."""
        return self.payload[int(self.payload_off[idx]) : int(self.payload_off[idx + 1])]

    def person(self, idx: int) -> dict[str, object]:
        """The public fields of person ``idx`` as a dict."""
        out: dict[str, object] = json.loads(self.payload_of(idx))
        return out

    def memory_bytes(self) -> int:
        """Approximate memory held by the arrays (the pids list and dicts not included)."""
        arrays = [
            self.payload_off, self.label_keys, self.has_account, self.instance_code, self.vocab,
            self.per_off, self.per_tok, self.tok_post, self.tok_off, self.academy_mask,
            self.by_email.keys, self.by_email.idx, self.by_uid.keys, self.by_uid.idx,
        ]  # fmt: skip
        return len(self.payload) + sum(a.nbytes for a in arrays)

    # -- query tokens → vocabulary ranges ------------------------------------------------------

    def _prefix_range(self, token: str) -> tuple[int, int]:
        if len(token) > self.width:
            return 0, 0
        b = token.encode()
        lo = int(np.searchsorted(self.vocab, b, "left"))
        upper = b[:-1] + bytes([b[-1] + 1])
        hi = int(np.searchsorted(self.vocab, upper, "left"))
        return lo, hi

    def _exact_id(self, token: str) -> int | None:
        lo, hi = self._prefix_range(token)
        if lo < hi and self.vocab[lo] == token.encode():
            return lo
        return None

    def token_ranges(
        self, token: str, alternatives: Sequence[str] = (), *, typos: bool = True
    ) -> TokenRanges:
        """The vocabulary ranges a query token matches, with their levels (ascending)."""
        ranges: list[tuple[int, int, int]] = []
        if typos and len(token) >= TYPO_MIN_LENGTH:
            variants = typo_variants(token)
            arr = np.array([v.encode() for v in variants if len(v) <= self.width], dtype=f"S{self.width}")
            if len(arr):
                uppers = np.array([v[:-1] + bytes([v[-1] + 1]) for v in arr.tolist()], dtype=f"S{self.width}")
                los = np.searchsorted(self.vocab, arr, "left")
                his = np.searchsorted(self.vocab, uppers, "left")
                for lo, hi in zip(los.tolist(), his.tolist(), strict=True):
                    if lo < hi:
                        ranges.append((lo, hi, TYPO))
        for t in (token, *alternatives):
            lo, hi = self._prefix_range(t)
            if lo < hi:
                ranges.append((lo, hi, PREFIX))
        for t in (token, *alternatives):
            e = self._exact_id(t)
            if e is not None:
                ranges.append((e, e + 1, EXACT))
        return TokenRanges(ranges, sum(int(self.tok_off[hi] - self.tok_off[lo]) for lo, hi, _ in ranges))

    # -- candidates ------------------------------------------------------------------------------

    def _driver(self, tr: TokenRanges) -> tuple[I32, npt.NDArray[np.int8]]:
        """Candidates (sorted person numbers) and their levels for the rarest query token."""
        if tr.postings <= _SORT_LIMIT:
            parts = [self.tok_post[self.tok_off[lo] : self.tok_off[hi]] for lo, hi, _ in tr.ranges]
            levels = [
                np.full(len(p), lvl, dtype=np.int64) for p, (_, _, lvl) in zip(parts, tr.ranges, strict=True)
            ]
            if not parts:
                return np.zeros(0, np.int32), np.zeros(0, np.int8)
            key = np.concatenate(parts).astype(np.int64) * 4 + (3 - np.concatenate(levels))
            key.sort()
            people = key >> 2
            first = np.ones(len(key), dtype=bool)
            first[1:] = people[1:] != people[:-1]
            return people[first].astype(np.int32), (3 - (key[first] & 3)).astype(np.int8)
        dense = np.zeros(self.n, dtype=np.int8)
        for lo, hi, lvl in tr.ranges:  # ascending levels: a better level overwrites a worse one
            dense[self.tok_post[self.tok_off[lo] : self.tok_off[hi]]] = lvl
        cand = np.flatnonzero(dense).astype(np.int32)
        return cand, dense[cand]

    def _levels_for(self, cand: I32, tr: TokenRanges) -> npt.NDArray[np.int8]:
        """The level of one query token for each candidate (0: no match)."""
        if len(cand) == 0:
            return np.zeros(0, np.int8)
        starts = self.per_off[cand]
        lens = self.per_off[cand + 1] - starts
        total = int(lens.sum())
        if total <= tr.postings or total < 50_000:
            # Forward index: look the candidates' own tokens up in a per-token level table.
            table = np.zeros(len(self.vocab), dtype=np.int8)
            for lo, hi, lvl in tr.ranges:
                np.maximum(table[lo:hi], lvl, out=table[lo:hi])
            bounds = np.zeros(len(cand) + 1, dtype=np.int64)
            np.cumsum(lens, out=bounds[1:])
            flat = np.arange(total, dtype=np.int64) + np.repeat(starts - bounds[:-1], lens)
            lv = table[self.per_tok[flat]]
            return np.maximum.reduceat(lv, bounds[:-1]).astype(np.int8)
        dense = np.zeros(self.n, dtype=np.int8)
        for lo, hi, lvl in tr.ranges:
            dense[self.tok_post[self.tok_off[lo] : self.tok_off[hi]]] = lvl
        return dense[cand]

    def match(self, query: ParsedQuery, *, typos: bool = True) -> tuple[I32, npt.NDArray[np.int16]]:
        """People matching every token of the query, and their quality (higher is better).

        Quality = (tokens matched without typo) * 16 + (tokens matched exactly): any typo ranks
        below every typo-free match, exact tokens before prefixes.
        """
        if not query.tokens:
            return np.zeros(0, np.int32), np.zeros(0, np.int16)
        trs = [
            self.token_ranges(t, alts, typos=typos)
            for t, alts in zip(query.tokens, query.alternatives, strict=True)
        ]
        trs.sort(key=lambda tr: tr.postings)
        cand, lv = self._driver(trs[0])
        no_typo = (lv > TYPO).astype(np.int16)
        exact = (lv == EXACT).astype(np.int16)
        for tr in trs[1:]:
            if len(cand) == 0:
                break
            lv = self._levels_for(cand, tr)
            keep = lv > 0
            cand, lv, no_typo, exact = cand[keep], lv[keep], no_typo[keep], exact[keep]
            no_typo += lv > TYPO
            exact += lv == EXACT
        return cand, no_typo * 16 + exact

    # -- ranking ---------------------------------------------------------------------------------

    def proximity(self, cand: I32, establishments: Sequence[str], academy_mask: int) -> npt.NDArray[np.int16]:
        """2 for people sharing an establishment with the searcher, 1 for the same academy, else 0."""
        prox = np.zeros(len(cand), dtype=np.int16)
        if academy_mask and len(cand):
            prox[(self.academy_mask[cand] & academy_mask) != 0] = 1
        colleagues = [self.est_people[u] for u in establishments if u in self.est_people]
        if colleagues and len(cand):
            mates = np.unique(np.concatenate(colleagues))
            pos = np.minimum(np.searchsorted(mates, cand), len(mates) - 1)
            prox[mates[pos] == cand] = 2
        return prox

    def top(
        self,
        cand: I32,
        score: npt.NDArray[np.int16],
        limit: int,
        *,
        exclude: npt.NDArray[np.bool_] | None = None,
        academy_bit: int | None = None,
    ) -> list[Hit]:
        """The ``limit`` best candidates: score descending, then person number (static rank)."""
        if exclude is not None and len(cand):
            keep = ~exclude[cand]
            cand, score = cand[keep], score[keep]
        if academy_bit is not None and len(cand):
            keep = (self.academy_mask[cand] & (1 << academy_bit)) != 0
            cand, score = cand[keep], score[keep]
        chosen: list[int] = []
        chosen_scores: list[int] = []
        if len(cand) <= limit:
            order = np.argsort(-score, kind="stable")
            chosen = cand[order].tolist()
            chosen_scores = score[order].tolist()
        else:
            # Few distinct scores: take each score level in turn, candidates already in rank order.
            for value in np.unique(score)[::-1].tolist():
                need = limit - len(chosen)
                picked = cand[np.flatnonzero(score == value)[:need]].tolist()
                chosen += picked
                chosen_scores += [value] * len(picked)
                if len(chosen) >= limit:
                    break
        return [
            Hit(i, s, bool(self.has_account[i]), bytes(self.label_keys[i]))
            for i, s in zip(chosen, chosen_scores, strict=True)
        ]

    def academy_mask_of(self, idx: int) -> int:
        """The academy bit mask of person ``idx``."""
        return int(self.academy_mask[idx])
