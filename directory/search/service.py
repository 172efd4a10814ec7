"""The search service of one API worker: the current index, kept fresh, and the queries on it.

A *snapshot* (base index, the overlay of people changed since it was built, and the mask of base
people that the overlay supersedes) is replaced as a whole, so a request always reads one
consistent state without a lock. A background thread polls the store (``hooks.read_state``):

- a new *generation* (an import or matching run finished) → full rebuild in the background, then
  swap; requests go on being served from the previous snapshot meanwhile;
- new *changes* (admin decisions, account reports) → the changed people and their homonyms are
  reloaded into a small overlay index within one polling interval.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from directory.db import Database
from directory.errors import DatabaseError
from directory.search.documents import PersonDoc, load_documents, load_establishments
from directory.search.hooks import read_state
from directory.search.index import ACADEMY_BIT, IntArray, SearchIndex
from directory.search.query import ParsedQuery, parse_query
from directory.sublines import assign_sublines

__all__ = ["Found", "IndexLoadingError", "SearchService", "Snapshot", "ids_of"]

log = logging.getLogger(__name__)

# Beyond this many changed people, a full rebuild is cheaper than an overlay.
PATCH_LIMIT = 20_000
UID_SCORE = 10_000  # an exact uid or e-mail hit ranks above any name match


class IndexLoadingError(DatabaseError):
    """The worker has not loaded its first search index yet (503; ``/readyz`` says so too)."""

    code = "index_loading"


@dataclass(frozen=True, slots=True)
class Found:
    """One person found: which index holds it and where (read its fields through the index)."""

    index: SearchIndex
    idx: int
    score: int = 0

    @property
    def id(self) -> str:
        """The person id (``persons.id``)."""
        return self.index.pid(self.idx)

    @property
    def payload(self) -> bytes:
        """The public JSON object of the person, pre-serialised."""
        return self.index.payload_of(self.idx)

    def fields(self) -> dict[str, object]:
        """The public fields as a dict (``id``, ``display_name``, ``subline``, ``email``...)."""
        return self.index.person(self.idx)

    @property
    def instance(self) -> str | None:
        """The home instance name."""
        return self.index.instances[int(self.index.instance_code[self.idx])]

    @property
    def has_account(self) -> bool:
        """Whether an instance reported an account for the person."""
        return bool(self.index.has_account[self.idx])


@dataclass(slots=True)
class Snapshot:
    """One consistent state: the base index, an overlay, and which base people are superseded."""

    base: SearchIndex
    overlay: SearchIndex | None = None
    dead: npt.NDArray[np.bool_] | None = None
    overlay_ids: frozenset[str] = field(default_factory=frozenset)
    generation: int = 0
    seq: int = 0
    built_at: float = field(default_factory=time.time)
    cache: dict[tuple[object, ...], tuple[npt.NDArray[np.int8], IntArray, IntArray]] = field(
        default_factory=dict
    )
    """Answers given from this snapshot (``SearchService.search``): they die with it. Kept as
    arrays (which index, person number, score), not ``Found`` objects: arrays are not tracked by
    the garbage collector, and 10,000 answers of 25 objects made each full collection ~35 ms
    longer (measured), a p99 spike for whichever request triggered it."""

    def indexes(self) -> list[tuple[SearchIndex, npt.NDArray[np.bool_] | None]]:
        """The indexes to query, each with its exclusion mask."""
        out: list[tuple[SearchIndex, npt.NDArray[np.bool_] | None]] = [(self.base, self.dead)]
        if self.overlay is not None:
            out.append((self.overlay, None))
        return out

    @property
    def size(self) -> int:
        """People offered."""
        dead = int(self.dead.sum()) if self.dead is not None else 0
        return self.base.n - dead + (self.overlay.n if self.overlay else 0)


class SearchService:
    """Search and resolution over an in-process index loaded from ``db`` (a replica is fine)."""

    def __init__(self, db: Database, *, refresh_interval: float = 2.0, cache_size: int = 10_000) -> None:
        self.db = db
        self.refresh_interval = refresh_interval
        self.cache_size = cache_size
        self.follow_generations = True
        """False in a forked worker: its parent rebuilds on a new generation and replaces it."""
        self.cache_hits = 0
        self.cache_misses = 0
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()  # one refresh at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether an index is loaded."""
        return self._snapshot is not None

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot; ``IndexLoadingError`` (503) until the first one is loaded."""
        snap = self._snapshot
        if snap is None:
            raise IndexLoadingError("the search index is still loading; retry in a few seconds")
        return snap

    def install(self, docs: Sequence[PersonDoc], *, generation: int = 0, seq: int = 0) -> None:
        """Serve an index built from these documents (benchmarks and tests without a store)."""
        self._snapshot = Snapshot(SearchIndex(docs, generation=generation), generation=generation, seq=seq)
        _freeze()

    def rebuild(self) -> Snapshot:
        """Build a new base index from the store and swap it in."""
        with self._lock:
            started = time.perf_counter()
            generation, seq = read_state(self.db)
            docs = load_documents(self.db)
            index = SearchIndex(docs, generation=generation)
            del docs
            self._snapshot = Snapshot(index, generation=generation, seq=seq)
            _freeze()
            log.info(
                "search index generation %d built: %d people in %.1f s (%.0f MB of arrays)",
                generation, index.n, time.perf_counter() - started, index.memory_bytes() / 1e6,
            )  # fmt: skip
            return self._snapshot

    def refresh(self) -> str:
        """Poll the store once: rebuild, patch or nothing. Returns what it did."""
        current = self._snapshot
        if current is None:
            self.rebuild()
            return "rebuilt"
        generation, seq = read_state(self.db)
        if generation != current.generation:
            if not self.follow_generations:
                return "unchanged"  # the parent process builds it and replaces this worker
            self.rebuild()
            return "rebuilt"
        if seq > current.seq:
            return self.patch(seq)
        return "unchanged"

    def patch(self, seq: int) -> str:
        """Reload the people changed since the snapshot (and their homonyms) into the overlay."""
        with self._lock:
            snap = self._snapshot
            assert snap is not None
            rows = self.db.fetch_all(
                "SELECT DISTINCT person_id FROM search_changes WHERE seq > %s AND seq <= %s", (snap.seq, seq)
            )
            changed = {r["person_id"] for r in rows} | set(snap.overlay_ids)
            if len(changed) > PATCH_LIMIT:
                self._lock.release()
                try:
                    self.rebuild()
                finally:
                    self._lock.acquire()
                return "rebuilt"
            ests = load_establishments(self.db)
            docs = load_documents(
                self.db, person_ids=sorted(changed), establishments=ests, with_sublines=False
            )
            # Homonyms of the changed people (old and new names) may need another subline.
            keys = {d.group_key.encode() for d in docs}
            for pid in changed:
                pos = snap.base.position(pid)
                if pos is not None:
                    keys.add(bytes(snap.base.label_keys[pos]))
            mates = {snap.base.pid(i) for key in keys for i in _label_members(snap.base, key)}
            extra = sorted(mates - changed)
            if extra:
                docs += load_documents(self.db, person_ids=extra, establishments=ests, with_sublines=False)
            for doc, line in zip(
                docs, assign_sublines([d.group_key for d in docs], [d.facts for d in docs]), strict=True
            ):
                doc.subline = line
            overlay_ids = frozenset(changed | mates)
            dead = np.zeros(snap.base.n, dtype=np.bool_)
            found = (snap.base.position(p) for p in overlay_ids)
            positions = [i for i in found if i is not None]
            dead[positions] = True
            self._snapshot = Snapshot(
                snap.base,
                SearchIndex(docs, generation=snap.generation) if docs else None,
                dead,
                overlay_ids,
                snap.generation,
                seq,
            )
            log.info("search index patched: %d people reloaded", len(docs))
            return "patched"

    def start(self) -> None:
        """Poll the store in a background thread every ``refresh_interval`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="search-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
            except Exception:  # keep serving the last good index; say why once per failure
                log.exception("search index refresh failed; still serving the previous index")

    # -- queries ---------------------------------------------------------------------------------

    def _exact(self, snap: Snapshot, kind: str, key: str) -> list[Found]:
        out: list[Found] = []
        for ix, dead in snap.indexes():
            lookup = {
                "email": ix.by_email,
                "uid": ix.by_uid,
                "cloud_id": ix.by_cloud,
                "userid": ix.by_userid,
            }[kind]
            out += [Found(ix, i, UID_SCORE) for i in lookup.get(key) if dead is None or not dead[i]]
        return out

    def lookup(
        self,
        *,
        email: str | None = None,
        uid: str | None = None,
        cloud_id: str | None = None,
        userid: str | None = None,
    ) -> list[Found]:
        """Every person with this e-mail (or alias), uid, federated cloud id or cloud user id."""
        snap = self.snapshot
        found: list[Found] = []
        if userid:
            found += self._exact(snap, "userid", userid.strip())
        if email:
            found += self._exact(snap, "email", email.strip())
        if uid:
            found += self._exact(snap, "uid", uid.strip())
        if cloud_id:
            found += self._exact(snap, "cloud_id", cloud_id.strip())
        return _distinct(found)

    def get(self, person_id: str) -> Found | None:
        """The offered person with this id, or ``None``."""
        snap = self.snapshot
        for ix, dead in reversed(snap.indexes()):
            i = ix.position(person_id)
            if i is not None and (dead is None or not dead[i]):
                return Found(ix, i)
        return None

    def context_of(self, who: str | None) -> tuple[tuple[str, ...], int]:
        """The searcher's establishments and academy mask, from their e-mail or uid (empty if unknown)."""
        if not who:
            return (), 0
        found = self.lookup(email=who) if "@" in who else self.lookup(uid=who)
        if not found:
            return (), 0
        f = found[0]
        return f.index.establishments_of(f.idx), f.index.academy_mask_of(f.idx)

    def search(
        self, text: str, *, limit: int = 25, context: str | None = None, academy: str | None = None
    ) -> list[Found]:
        """The best ``limit`` people for a typed query (see the module docs of ``index`` for ranking)."""
        snap = self.snapshot
        query = parse_query(text)
        bit = ACADEMY_BIT.get(academy) if academy else None
        if academy and bit is None:
            return []
        exact: list[Found] = []
        if query.looks_like_email:
            exact = self._exact(snap, "email", text.strip()) or self._exact(snap, "cloud_id", text.strip())
        elif query.single_word:
            exact = self._exact(snap, "uid", query.single_word)
        if bit is not None:
            exact = [f for f in exact if f.index.academy_mask_of(f.idx) & (1 << bit)]
        if exact and query.looks_like_email:
            return _distinct(exact)[:limit]
        establishments, mask = self.context_of(context)
        # The answer depends on nothing else than this key and the snapshot, so it is remembered
        # on the snapshot: the first letters typed in share dialogs ("ma", "mar", "mart") come
        # back all day long, and they are the costliest queries (large candidate sets).
        cache_key = (
            ("@", text.strip().lower()) if query.looks_like_email else (query.tokens, query.single_word),
            limit, establishments, mask, bit,
        )  # fmt: skip
        if not self.cache_size:
            return self._search(snap, query, exact, limit, establishments, mask, bit)
        indexes = [ix for ix, _ in snap.indexes()]
        cached = snap.cache.get(cache_key)
        if cached is not None:
            self.cache_hits += 1
            which, idx, score = cached
            return [
                Found(indexes[w], i, sc)
                for w, i, sc in zip(which.tolist(), idx.tolist(), score.tolist(), strict=True)
            ]
        self.cache_misses += 1
        found = self._search(snap, query, exact, limit, establishments, mask, bit)
        if len(snap.cache) >= self.cache_size:
            # The oldest answer goes (another thread may have been faster: no harm).
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del snap.cache[next(iter(snap.cache))]
        position = {id(ix): n for n, ix in enumerate(indexes)}
        snap.cache[cache_key] = (
            np.array([position[id(f.index)] for f in found], dtype=np.int8),
            np.array([f.idx for f in found], dtype=np.int64),
            np.array([f.score for f in found], dtype=np.int64),
        )
        return found

    def _search(
        self,
        snap: Snapshot,
        query: ParsedQuery,
        exact: list[Found],
        limit: int,
        establishments: tuple[str, ...],
        mask: int,
        bit: int | None,
    ) -> list[Found]:
        indexes = snap.indexes()
        if len(indexes) == 1:
            # One index: its hits come out in the final order already (the static rank is the
            # merge order below), and a person is in it once.
            ix, dead = indexes[0]
            hits = ix.rank(
                query, establishments=establishments, academy_mask=mask, limit=limit, exclude=dead,
                academy_bit=bit,
            )  # fmt: skip
            found = [Found(ix, i, s) for i, s in zip(hits.idx, hits.score, strict=True)]
            return _distinct(exact + found)[:limit] if exact else found
        ranked: list[tuple[tuple[int, bool, bytes, str], Found]] = []
        for ix, dead in indexes:
            hits = ix.rank(
                query,
                establishments=establishments,
                academy_mask=mask,
                limit=limit,
                exclude=dead,
                academy_bit=bit,
            )
            ranked += [(_order(ix, i, s), Found(ix, i, s)) for i, s in zip(hits.idx, hits.score, strict=True)]
        ranked.sort(key=lambda item: item[0])
        return _distinct(exact + [f for _, f in ranked])[:limit]


def _order(ix: SearchIndex, idx: int, score: int) -> tuple[int, bool, bytes, str]:
    """The merge order across indexes: the same as the static rank inside one."""
    return (-score, not bool(ix.has_account[idx]), bytes(ix.label_keys[idx]), ix.pid(idx))


def _freeze() -> None:
    """Move what exists now (the new index's Python objects: the vocabulary list, dicts) out of
    the garbage collector's reach: a full collection traversing them took ~65 ms at 200,000
    people (measured), a CPU spike for whichever request triggered it. Frozen objects are still
    freed by reference counting when the index is replaced; only cycles among them would stay."""
    gc.collect()
    gc.freeze()


def ids_of(found: Sequence[Found]) -> list[str]:
    """The person ids of ``found``, decoded in one numpy gather when they share an index."""
    if not found:
        return []
    ix = found[0].index
    if all(f.index is ix for f in found):
        raw: list[bytes] = ix.pid_arr[[f.idx for f in found]].tolist()
        return [b.decode() for b in raw]
    return [f.id for f in found]


def _distinct(found: list[Found]) -> list[Found]:
    # A person is in one index of a snapshot only (the overlay's people are masked in the base),
    # so (index, number) identifies a person without decoding ids.
    seen: set[tuple[int, int]] = set()
    out: list[Found] = []
    for f in found:
        key = (id(f.index), f.idx)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _label_members(index: SearchIndex, key: bytes) -> list[int]:
    """People of ``index`` whose label key is ``key`` (a vectorised scan: only used when patching)."""
    return np.flatnonzero(index.label_keys == key).tolist()
