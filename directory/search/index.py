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
  deletion-neighbourhood without storing one. A bit set of the hashes of every vocabulary
  prefix (~1 MB at 200,000 people) drops first the variants that start no token.
- a query token's ranges are remembered per index (``TOKEN_CACHE_SIZE`` tokens): tokens come
  back keystroke after keystroke and across users.
- people are numbered in *static rank* order (with a cloud account first, then by label, then
  id), so that among equal scores the lowest number wins and every candidate array, built sorted,
  is already in tie-break order.
- ranking: per query token a match level (exact 3, prefix 2, typo 1); quality sorts typo-free
  matches first, then by the number of exact tokens; then proximity to the searcher (same
  establishment 2, same academy 1) from a bit mask of academies and the establishment postings.

Results carry a pre-serialised JSON fragment per person, so that answering is joining bytes.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from directory.academies import ACADEMIES
from directory.search.documents import PersonDoc
from directory.search.query import (
    ParsedQuery,
    TokenRanges,
    prefix_hashes,
    typo_arrays,
    typo_hashes,
    typo_rows,
)

__all__ = ["Ranked", "SearchIndex", "key_hash"]

IntArray = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

EXACT, PREFIX, TYPO = 3, 2, 1
# What one token's level adds to the quality: 16 when matched without typo, 1 more when exactly.
_QUALITY = np.array([0, 0, 16, 17], dtype=np.int16)
ACADEMY_BIT = {a.code: i for i, a in enumerate(ACADEMIES)}
# Below this many postings a driver token is deduplicated by sorting; above, with a dense mask.
_SORT_LIMIT = 30_000
# Typo tolerance only for tokens at least this long: shorter ones have too many neighbours.
TYPO_MIN_LENGTH = 5
# Query tokens whose vocabulary ranges an index remembers (a few kB each at most).
TOKEN_CACHE_SIZE = 8192


def _expand(starts: IntArray, lens: IntArray) -> IntArray:
    """The concatenation of ``arange(s, s + n)`` for each start and length, without a Python loop."""
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    bounds = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=bounds[1:])
    return np.arange(total, dtype=np.int64) + np.repeat(starts - bounds, lens)


def key_hash(key: str) -> int:
    """64-bit hash of a lower-cased e-mail, uid or cloud id (collisions: ~1e-7 at 3 million keys).

    Python's own string hash (SipHash): randomised per process, which is fine for an index that
    lives and dies in one process, and an order of magnitude faster than hashlib per key.
    """
    return hash(key.lower())


@dataclass(frozen=True, slots=True)
class Ranked:
    """The ranked results of one index, best first: person numbers and their scores."""

    idx: list[int]
    score: list[int]
    """quality * 4 + proximity: higher is better."""


class _Lookup:
    """Exact lookups (e-mail, uid, cloud id) as sorted 64-bit hashes → person numbers."""

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        hashes: list[int] = []
        people: list[int] = []
        for k, i in pairs:
            hashes.append(key_hash(k))
            people.append(i)
        keys = np.array(hashes, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.idx = np.array(people, dtype=np.int32)[order]

    def get(self, key: str) -> list[int]:
        h = key_hash(key)
        # One binary search (the method, not np.searchsorted's wrapper), then the equal keys by
        # walking: most keys are found once or not at all.
        keys = self.keys
        lo = hi = int(keys.searchsorted(h))
        while hi < len(keys) and keys[hi] == h:
            hi += 1
        if lo == hi:
            return []
        return sorted({int(i) for i in self.idx[lo:hi]})


class SearchIndex:
    """An immutable index over a list of ``PersonDoc`` (built once, then only read: thread-safe)."""

    def __init__(self, docs: Sequence[PersonDoc], *, generation: int = 0) -> None:
        self.generation = generation
        # Static rank: people with a cloud account first, then by label, then by id.
        group_keys = np.array([d.group_key.encode() for d in docs] or [b""], dtype=np.bytes_)[: len(docs)]
        pids = np.array([d.id.encode() for d in docs] or [b""], dtype=np.bytes_)[: len(docs)]
        no_account = np.fromiter((not d.has_account for d in docs), dtype=np.bool_, count=len(docs))
        order = np.lexsort((pids, group_keys, no_account)).tolist()
        docs = [docs[i] for i in order]
        self.label_keys = group_keys[order]
        del group_keys, pids
        self.n = n = len(docs)
        # Person ids as one fixed-width array (not 1.2 million str objects) and a sorted copy for
        # id → number lookups by binary search.
        self.pid_arr = np.array([d.id.encode() for d in docs] or [b""], dtype=np.bytes_)[:n]
        self.pid_order = np.argsort(self.pid_arr, kind="stable").astype(np.int32)
        self.pid_sorted = self.pid_arr[self.pid_order]

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
        self.has_account = np.fromiter((d.has_account for d in docs), dtype=np.bool_, count=n)

        # Instances: a small code per person; hosts and user ids for the federation endpoints.
        self.instances: list[str | None] = [*sorted({d.instance for d in docs if d.instance}), None]
        code = {name: i for i, name in enumerate(self.instances)}
        self.instance_code = np.fromiter((code[d.instance] for d in docs), dtype=np.int16, count=n)

        # Vocabulary and postings.
        vocab = sorted({t for d in docs for t in d.tokens})
        width = max((len(t) for t in vocab), default=1)
        self.vocab = np.array([t.encode() for t in vocab], dtype=f"S{width}")
        # The same, as a Python list: one token's range is two ``bisect`` calls (~1 µs) where
        # numpy's searchsorted on a scalar costs tens of µs of call overhead.
        self.vocab_list = vocab
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
        post_tok, post = self.per_tok[by_token], owners[by_token]
        # A person is listed once per token (a document repeating a token would otherwise be
        # listed twice): one token's postings are then distinct and sorted, a candidate set as is.
        again = np.zeros(len(post), dtype=np.bool_)
        again[1:] = (post_tok[1:] == post_tok[:-1]) & (post[1:] == post[:-1])
        if again.any():
            post_tok, post = post_tok[~again], post[~again]
        self.tok_post = post
        self.tok_off = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(post_tok, minlength=len(vocab)), out=self.tok_off[1:])
        del post_tok, again

        self.short_prefixes = self._short_prefix_postings(vocab, owners)
        self.prefix_bits, self.prefix_shift = self._prefix_bits()
        self._ranges: dict[tuple[str, tuple[str, ...], bool], TokenRanges] = {}

        # Proximity: academies as a bit mask; establishments as postings (UAI → people).
        self.academy_mask = np.fromiter(
            (sum(1 << ACADEMY_BIT[a] for a in set(d.academies) if a in ACADEMY_BIT) for d in docs),
            dtype=np.int32,
            count=n,
        )
        # Establishments in CSR form both ways (arrays, not a Python object per person).
        self.est_names: list[str] = sorted({u for d in docs for u in d.establishments})
        self.est_code = {u: i for i, u in enumerate(self.est_names)}
        est_counts = np.fromiter((len(d.establishments) for d in docs), dtype=np.int64, count=n)
        self.person_est_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(est_counts, out=self.person_est_off[1:])
        self.person_est = np.fromiter(
            (self.est_code[u] for d in docs for u in d.establishments),
            dtype=np.int32,
            count=int(self.person_est_off[-1]),
        )
        est_owner = np.repeat(np.arange(n, dtype=np.int32), est_counts)
        by_est = np.lexsort((est_owner, self.person_est))
        self.est_post = est_owner[by_est]
        self.est_off = np.zeros(len(self.est_names) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.person_est, minlength=len(self.est_names)), out=self.est_off[1:])

        # Exact lookups.
        self.by_email = _Lookup((e, i) for i, d in enumerate(docs) for e in d.emails)
        self.by_uid = _Lookup((u, i) for i, d in enumerate(docs) for u in d.uids)
        self.by_cloud = _Lookup((d.cloud_id, i) for i, d in enumerate(docs) if d.cloud_id)
        self.by_userid = _Lookup((d.userid, i) for i, d in enumerate(docs) if d.userid)

    def _short_prefix_postings(self, vocab: list[str], owners: I32) -> dict[str, I32]:
        """For every prefix of one to three letters: the people with a token starting so, sorted.

        Such prefixes match up to a tenth of the country; deduplicating their postings per query
        would cost milliseconds, and there are only some thousands of them (about 5 per person
        and length: ~25 MB per length at 1.2 million people): precompute.
        """
        out: dict[str, I32] = {}
        for length in (1, 2, 3):
            keys = sorted({t[:length] for t in vocab if len(t) >= length})
            code = {k: i for i, k in enumerate(keys)}
            tok_code = np.array([code.get(t[:length], -1) for t in vocab], dtype=np.int64)
            pairs = tok_code[self.per_tok] * self.n + owners
            pairs = np.unique(pairs[pairs >= 0])
            prefix_of = pairs // self.n
            bounds = np.searchsorted(prefix_of, np.arange(len(keys) + 1))
            people = (pairs % self.n).astype(np.int32)
            for k, i in code.items():
                out[k] = people[bounds[i] : bounds[i + 1]]
        return out

    def _prefix_bits(self) -> tuple[npt.NDArray[np.uint8], int]:
        """A bit set of the hashes (``query.prefix_hashes``) of every prefix of every vocabulary
        token, and the shift that turns a hash into its bit number.

        A typo variant that starts no token has an empty range: this filter drops most of a
        token's few hundred variants with one gather, before the string comparisons of
        ``searchsorted`` on the vocabulary (~0.1 ms for 500 variants at 200,000 people, measured).
        About 32 bits per prefix: ~3 % of the variants that start no token get through (a hash
        collision), and the exact search then finds their range empty: no result changes.
        """
        chunks: list[npt.NDArray[np.uint64]] = []
        matrix = self.vocab.view(np.uint8).reshape(len(self.vocab), self.width)
        for start in range(0, len(matrix), 65_536):  # bounded temporary memory
            part = matrix[start : start + 65_536]
            chunks.append(prefix_hashes(part)[part != 0])  # one per prefix length each token has
        hashes = np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, np.uint64)
        log_bits = max(13, int(len(hashes) * 32).bit_length())
        shift = 64 - log_bits
        present = np.zeros(1 << log_bits, dtype=np.bool_)
        present[(hashes >> np.uint64(shift)).astype(np.int64)] = True
        return np.packbits(present, bitorder="little"), shift

    # -- reading ---------------------------------------------------------------------------------

    def pid(self, idx: int) -> str:
        """The person id of person number ``idx``."""
        return bytes(self.pid_arr[idx]).decode()

    def position(self, person_id: str) -> int | None:
        """The person number of a person id, or ``None``."""
        key = person_id.encode()
        i = int(np.searchsorted(self.pid_sorted, key))
        if i < self.n and self.pid_sorted[i] == key:
            return int(self.pid_order[i])
        return None

    def establishments_of(self, idx: int) -> tuple[str, ...]:
        """The UAIs of person ``idx``."""
        codes = self.person_est[self.person_est_off[idx] : self.person_est_off[idx + 1]]
        return tuple(self.est_names[c] for c in codes.tolist())

    def payload_of(self, idx: int) -> bytes:
        """The public JSON object of person ``idx``."""
        return self.payload[int(self.payload_off[idx]) : int(self.payload_off[idx + 1])]

    def payloads_of(self, idxs: list[int]) -> list[bytes]:
        """The public JSON objects of several people (their offsets read in one gather)."""
        pairs = np.array(idxs, dtype=np.int64)[:, None] + (0, 1)  # (start, end) offsets per person
        bounds: list[int] = self.payload_off[pairs].ravel().tolist()
        payload = self.payload
        return [payload[bounds[k] : bounds[k + 1]] for k in range(0, len(bounds), 2)]

    def person(self, idx: int) -> dict[str, object]:
        """The public fields of person ``idx`` as a dict."""
        out: dict[str, object] = json.loads(self.payload_of(idx))
        return out

    def memory_bytes(self) -> int:
        """Approximate memory held by the arrays (the small dicts and lists not included)."""
        arrays = [
            self.payload_off, self.label_keys, self.has_account, self.instance_code, self.vocab,
            self.per_off, self.per_tok, self.tok_post, self.tok_off, self.academy_mask,
            self.pid_arr, self.pid_order, self.pid_sorted, self.person_est_off, self.person_est,
            self.est_post, self.est_off, self.prefix_bits, *self.short_prefixes.values(),
            self.by_email.keys, self.by_email.idx, self.by_uid.keys, self.by_uid.idx,
            self.by_cloud.keys, self.by_cloud.idx, self.by_userid.keys, self.by_userid.idx,
        ]  # fmt: skip
        return len(self.payload) + sum(int(a.nbytes) for a in arrays)

    # -- query tokens → vocabulary ranges ------------------------------------------------------

    def _prefix_range(self, token: str) -> tuple[int, int]:
        if len(token) > self.width or not token:
            return 0, 0
        lo = bisect.bisect_left(self.vocab_list, token)
        hi = bisect.bisect_left(self.vocab_list, token[:-1] + chr(ord(token[-1]) + 1), lo)
        return lo, hi

    def token_ranges(
        self, token: str, alternatives: Sequence[str] = (), *, typos: bool = True
    ) -> TokenRanges:
        """The vocabulary ranges a query token matches, typo ranges first, then prefix, then exact.

        Remembered per index (the index never changes): the same tokens come back keystroke after
        keystroke (``nathalie m``, ``nathalie ma``...) and across users (common given names), and
        a token's typo ranges cost ~0.1-0.2 ms of numpy calls (measured at 200,000 people).
        """
        key = (token, tuple(alternatives), typos)
        found = self._ranges.get(key)
        if found is None:
            found = self._token_ranges(token, alternatives, typos=typos)
            if len(self._ranges) >= TOKEN_CACHE_SIZE:
                # The oldest entry goes (another thread may have been faster: no harm).
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                    del self._ranges[next(iter(self._ranges))]
            self._ranges[key] = found
        return found

    def forget_tokens(self) -> None:
        """Empty the token cache of :meth:`token_ranges` (benchmarks start each pass cold)."""
        self._ranges.clear()

    def _token_ranges(self, token: str, alternatives: Sequence[str], *, typos: bool) -> TokenRanges:
        prefixes: list[tuple[int, int, int]] = []
        exacts: list[tuple[int, int, int]] = []
        for t in (token, *alternatives):
            first, end = self._prefix_range(t)
            # The exact token, when it exists, is the first of its prefix range: split it off so
            # that no posting is counted twice.
            if first < end and self.vocab_list[first] == t:
                exacts.append((first, first + 1, EXACT))
                first += 1
            if first < end:
                prefixes.append((first, end, PREFIX))
        plain = (*prefixes, *exacts)
        off = self.tok_off
        postings = sum(int(off[hi]) - int(off[lo]) for lo, hi, _ in plain)
        exact = exacts[0][0] if exacts else -1
        if typos and len(token) >= TYPO_MIN_LENGTH:
            hashed = typo_hashes(token, self.width)
            if hashed is None:
                variants, uppers, _ = typo_arrays(token, self.width)
            else:
                # Only the variants that start some token can have a non-empty range: build those.
                hashes, rows = hashed
                bit = (hashes >> np.uint64(self.prefix_shift)).astype(np.int64)
                known = (self.prefix_bits[bit >> 3] >> (bit & 7).astype(np.uint8)) & 1
                variants, uppers = typo_rows(token, self.width, rows[known.view(np.bool_)])
            if len(variants):
                lo = self.vocab.searchsorted(variants, "left")
                hi = self.vocab.searchsorted(uppers, "left")
                keep = lo < hi
                if keep.any():
                    t_lo, t_hi = lo[keep], hi[keep]
                    p_lo = np.array([r[0] for r in plain], dtype=np.int64)
                    p_hi = np.array([r[1] for r in plain], dtype=np.int64)
                    p_level = np.array([r[2] for r in plain], dtype=np.int8)
                    postings += int((off[t_hi] - off[t_lo]).sum())
                    return TokenRanges(
                        np.concatenate([t_lo, p_lo]),
                        np.concatenate([t_hi, p_hi]),
                        np.concatenate([np.full(len(t_lo), TYPO, dtype=np.int8), p_level]),
                        postings,
                        typo=True,
                        exact=exact,
                        plain=plain,
                    )
        return TokenRanges(
            np.array([r[0] for r in plain], dtype=np.int64),
            np.array([r[1] for r in plain], dtype=np.int64),
            np.array([r[2] for r in plain], dtype=np.int8),
            postings,
            exact=exact,
            plain=plain,
        )

    # -- candidates ------------------------------------------------------------------------------

    def _postings(self, tr: TokenRanges) -> tuple[I32, npt.NDArray[np.int8]]:
        """Every posting of the ranges (people, with repeats) and the level each comes with."""
        starts = self.tok_off[tr.lo]
        lens = self.tok_off[tr.hi] - starts
        if len(starts) == 1:
            people = self.tok_post[int(starts[0]) : int(starts[0] + lens[0])]
            return people, np.full(len(people), tr.level[0], dtype=np.int8)
        return self.tok_post[_expand(starts, lens)], np.repeat(tr.level, lens)

    def _driver(self, tr: TokenRanges, token: str) -> tuple[I32, npt.NDArray[np.int8]]:
        """Candidates (sorted person numbers) and their levels for the rarest query token."""
        if tr.postings == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.int8)
        short = self.short_prefixes.get(token) if tr.postings > _SORT_LIMIT else None
        if short is not None and not tr.typo and len(tr.plain) <= 2:
            # One or two typed letters: the people are precomputed, deduplicated and sorted.
            levels = np.full(len(short), PREFIX, dtype=np.int8)
            if tr.exact >= 0:
                e = tr.exact
                exact_people = self.tok_post[self.tok_off[e] : self.tok_off[e + 1]]
                levels[np.searchsorted(short, exact_people)] = EXACT
            return short, levels
        people, levels = self._postings(tr)
        if tr.postings <= _SORT_LIMIT:
            if not tr.typo and len(tr.plain) == 1 and tr.plain[0][1] - tr.plain[0][0] == 1:
                # One token (a full name's tokens often are): its postings are sorted and
                # distinct already (the postings of a range of several tokens are not).
                return people, levels
            key = people.astype(np.int64) * 4 + (3 - levels)
            key.sort()
            persons = key >> 2
            first = np.ones(len(key), dtype=bool)
            first[1:] = persons[1:] != persons[:-1]
            return persons[first].astype(np.int32), (3 - (key[first] & 3)).astype(np.int8)
        # Many postings: a dense array over all people (levels ascending, so the best one is
        # written last and wins), then its non-zero entries come out sorted by person number.
        dense = np.zeros(self.n, dtype=np.int8)
        dense[people] = levels
        # nonzero on a bool view of the same bytes is ~3x faster than on int8.
        cand = np.flatnonzero(dense.view(np.bool_)).astype(np.int32)
        return cand, dense[cand]

    def _levels_for(self, cand: I32, tr: TokenRanges) -> npt.NDArray[np.int8]:
        """The level of one query token for each candidate (0: no match)."""
        if len(cand) == 0 or tr.postings == 0:
            return np.zeros(len(cand), np.int8)
        starts = self.per_off[cand]
        lens = self.per_off[cand + 1] - starts
        total = int(lens.sum())
        if total <= tr.postings or total < 50_000:
            # Forward index: the level of each of the candidates' own tokens, then the best per
            # candidate.
            toks = self.per_tok[_expand(starts, lens)]
            if tr.typo:
                # Many ranges: a per-token level table (later ranges have higher levels and win).
                table = np.zeros(len(self.vocab), dtype=np.int8)
                table[_expand(tr.lo, tr.hi - tr.lo)] = np.repeat(tr.level, tr.hi - tr.lo)
                lv = table[toks]
            else:
                # A prefix range and an exact token (two or three more for ``st``): compare.
                lv = np.zeros(len(toks), dtype=np.int8)
                for lo, hi, level in tr.plain:
                    if hi - lo == 1:
                        lv[toks == lo] = level
                    else:
                        lv[(toks >= lo) & (toks < hi)] = level
            bounds = np.zeros(len(cand), dtype=np.int64)
            np.cumsum(lens[:-1], out=bounds[1:])
            return np.maximum.reduceat(lv, bounds).astype(np.int8)
        dense = np.zeros(self.n, dtype=np.int8)
        people, levels = self._postings(tr)
        dense[people] = levels
        return dense[cand]

    def match(self, query: ParsedQuery, *, typos: bool = True) -> tuple[I32, npt.NDArray[np.int16]]:
        """People matching every token of the query, and their quality (higher is better).

        Quality = (tokens matched without typo) * 16 + (tokens matched exactly): any typo ranks
        below every typo-free match, exact tokens before prefixes.
        """
        if not query.tokens:
            return np.zeros(0, np.int32), np.zeros(0, np.int16)
        trs = [
            (self.token_ranges(t, alts, typos=typos), t if not alts else "")
            for t, alts in zip(query.tokens, query.alternatives, strict=True)
        ]
        trs.sort(key=lambda item: item[0].postings)
        cand, lv = self._driver(*trs[0])
        quality = _QUALITY[lv]
        for tr, _ in trs[1:]:
            if len(cand) == 0:
                break
            lv = self._levels_for(cand, tr)
            keep = lv > 0
            cand, quality = cand[keep], quality[keep] + _QUALITY[lv[keep]]
        return cand, quality

    # -- ranking ---------------------------------------------------------------------------------

    def proximity(self, cand: I32, establishments: Sequence[str], academy_mask: int) -> npt.NDArray[np.int16]:
        """2 for people sharing an establishment with the searcher, 1 for the same academy, else 0."""
        prox = np.zeros(len(cand), dtype=np.int16)
        if academy_mask and len(cand):
            prox[(self.academy_mask[cand] & academy_mask) != 0] = 1
        codes = [self.est_code[u] for u in establishments if u in self.est_code]
        if codes and len(cand):
            # Candidates and an establishment's people are both sorted: look the (few) people up
            # among the (maybe many) candidates, with no mark array over the whole country.
            for c in codes:
                post = self.est_post[self.est_off[c] : self.est_off[c + 1]]
                pos = cand.searchsorted(post)
                inside = pos < len(cand)
                pos = pos[inside]
                prox[pos[cand[pos] == post[inside]]] = 2
        return prox

    def top(
        self,
        cand: I32,
        score: npt.NDArray[np.int16],
        limit: int,
        *,
        exclude: npt.NDArray[np.bool_] | None = None,
        academy_bit: int | None = None,
    ) -> Ranked:
        """The ``limit`` best candidates: score descending, then person number (static rank)."""
        if exclude is not None and len(cand):
            keep = ~exclude[cand]
            cand, score = cand[keep], score[keep]
        if academy_bit is not None and len(cand):
            keep = (self.academy_mask[cand] & (1 << academy_bit)) != 0
            cand, score = cand[keep], score[keep]
        if len(cand) > limit:
            # Scores are small integers: find the lowest score that still makes the cut with a
            # histogram (linear, no sort), keep everything above it and the first ones at it
            # (candidates are in static-rank order already).
            counts = np.bincount(score)
            above = np.cumsum(counts[::-1])[::-1]  # above[v]: candidates scoring v or more
            cut = int(np.flatnonzero(above >= limit)[-1])
            better = np.flatnonzero(score > cut)
            at_cut = np.flatnonzero(score == cut)[: limit - len(better)]
            picked = np.concatenate([better, at_cut])
            cand, score = cand[picked], score[picked]
        order = np.lexsort((cand, -score.astype(np.int32)))
        return Ranked(cand[order].tolist(), score[order].tolist())

    def rank(
        self,
        query: ParsedQuery,
        *,
        establishments: Sequence[str] = (),
        academy_mask: int = 0,
        limit: int = 25,
        exclude: npt.NDArray[np.bool_] | None = None,
        academy_bit: int | None = None,
    ) -> Ranked:
        """The best ``limit`` people for a query, typos included only when they can make the cut.

        Every typo match ranks below every typo-free one, so when the typo-free pass already
        fills ``limit`` places the typo pass cannot change the answer and is skipped: typing a
        real name costs no typo work; a misspelt one (few typo-free matches) gets it.
        """

        def ranked(typos: bool) -> Ranked:
            cand, quality = self.match(query, typos=typos)
            score = quality * 4 + self.proximity(cand, establishments, academy_mask)
            return self.top(cand, score, limit, exclude=exclude, academy_bit=academy_bit)

        hits = ranked(False)
        if len(hits.idx) < limit and any(len(t) >= TYPO_MIN_LENGTH for t in query.tokens):
            hits = ranked(True)
        return hits

    def academy_mask_of(self, idx: int) -> int:
        """The academy bit mask of person ``idx``."""
        return int(self.academy_mask[idx])
