"""Scraping must be slow and visible: query checks, a result cap, a rate limit, an exposure counter.

- :func:`check_query`: a query is refused (422) when empty, too short to mean a name (fewer than
  ``DIRECTORY_SEARCH_MIN_QUERY_LENGTH`` letters or digits), too long, holding control
  characters, or not valid UTF-8 (decoded into U+FFFD by the HTTP layer).
- :func:`cap_limit`: at most ``DIRECTORY_SEARCH_MAX_RESULTS`` (25) results, whatever is asked;
  :func:`check_limit` reads a ``limit`` parameter (422 unless a positive integer), then caps it.
- :class:`RateLimiter`: a token bucket per key, per worker process or, with forked workers, per
  host (:class:`SharedBuckets`); an empty bucket raises ``RateLimitedError`` with the seconds
  until the next token (sent as ``Retry-After``).
- :class:`ExposureCounter`: the distinct people returned per key and day, buffered in memory
  and written to ``api_key_exposure`` every few seconds: a key walking the directory shows up
  there (``directory keys list``) and in the ``directory_api_people_returned_total`` metric. Its
  memory is bounded (``DIRECTORY_EXPOSURE_MEMORY_IDS``): past the bound the store does the counting.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

from directory.db import Database
from directory.errors import InvalidInputError, RateLimitedError

__all__ = [
    "ExposureCounter",
    "RateLimiter",
    "SharedBuckets",
    "cap_limit",
    "check_limit",
    "check_query",
    "share_between_processes",
]

log = logging.getLogger(__name__)

_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co"})


def check_query(text: str | None, *, min_length: int, max_length: int, name: str = "q") -> str:
    """The query stripped, or ``InvalidInputError`` saying what is wrong with it."""
    if text is None or not text.strip():
        raise InvalidInputError(f"{name} must not be empty")
    if len(text) > max_length:
        raise InvalidInputError(f"{name} must be at most {max_length} characters")
    if "\ufffd" in text:
        raise InvalidInputError(f"{name} is not valid UTF-8")
    # isprintable() (C speed) is false for every control, format, surrogate and private-use
    # character, and for some spaces: only then look at each character.
    if not text.isprintable() and any(unicodedata.category(c) in _REFUSED for c in text):
        raise InvalidInputError(f"{name} must not contain control characters")
    if sum(map(str.isalnum, text)) < min_length:
        raise InvalidInputError(f"{name} must hold at least {min_length} letters or digits")
    return text.strip()


def cap_limit(limit: int | None, cap: int) -> int:
    """The number of results to return: ``limit`` within ``1..cap`` (``cap`` when not given)."""
    if limit is None:
        return cap
    return max(1, min(limit, cap))


def check_limit(text: str | None, cap: int, *, name: str = "limit") -> int:
    """The number of results a ``limit`` parameter asks for, capped at ``cap`` (``cap`` when not
    given); ``InvalidInputError`` unless it is a positive integer in ASCII digits."""
    if text is None:
        return cap
    # str.isdigit() alone admits digits int() refuses ("²") or reads from other scripts ("٣").
    if not (text.isascii() and text.isdigit()):
        raise InvalidInputError(f"{name} must be a positive integer")
    try:
        number = int(text)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits(): 4,300)
        raise InvalidInputError(f"{name} has too many digits") from None
    if number < 1:
        raise InvalidInputError(f"{name} must be a positive integer")
    return cap_limit(number, cap)


class SharedBuckets:
    """Token buckets in memory shared by the processes forked after it was made (``prefork.py``).

    An anonymous shared mapping of ``slots`` (key id, tokens, last refill) records and a process-
    shared lock: every worker of a host takes from the same bucket, so a key's rate is per host,
    not per worker. ``time.monotonic()`` is one clock for all processes of a host. Keys are found
    by open addressing from ``key_id % slots``; should the table ever fill, the key falls back to
    a bucket of its worker (and a warning says so once).
    """

    def __init__(self, slots: int = 8192) -> None:
        import mmap
        import multiprocessing

        import numpy as np

        self.slots = slots
        self._memory = mmap.mmap(-1, slots * 24)  # MAP_SHARED | MAP_ANONYMOUS: inherited by fork
        self.table = np.frombuffer(self._memory, dtype=[("key", "<i8"), ("tokens", "<f8"), ("last", "<f8")])
        self.table["key"] = -1
        self.lock = multiprocessing.get_context("fork").Lock()

    def slot(self, key_id: int) -> int | None:
        """The slot of ``key_id`` (claimed if new), or ``None`` when the table is full. Under ``lock``."""
        keys = self.table["key"]
        for probe in range(64):
            i = (key_id + probe) % self.slots
            if keys[i] == key_id:
                return i
            if keys[i] == -1:
                keys[i] = key_id
                self.table["tokens"][i] = math.nan  # a new bucket: full
                return i
        return None


_shared: SharedBuckets | None = None


def share_between_processes() -> None:
    """From now on, new ``RateLimiter``s of this process and of its forked children share buckets."""
    global _shared
    if _shared is None:
        _shared = SharedBuckets()


class RateLimiter:
    """Token buckets per key: ``rate`` requests per minute sustained, ``burst`` at once.

    Per worker process, unless :func:`share_between_processes` was called before the workers were
    forked (``directory serve --workers N``): then per host.
    """

    def __init__(self, *, default_rate: int, burst: int) -> None:
        self.default_rate = default_rate
        self.burst = burst
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._shared = _shared

    def hit(self, key_id: int, rate_per_minute: int | None = None) -> None:
        """Take one token for this key, or raise ``RateLimitedError`` with a ``retry_after``."""
        rate = (rate_per_minute or self.default_rate) / 60.0
        capacity = float(self.burst + max(1, int(rate)))
        now = time.monotonic()
        with self._lock:
            shared = self._shared
            if shared is not None:
                with shared.lock:
                    i = shared.slot(key_id)
                    if i is not None:
                        row = shared.table[i]
                        tokens = float(row["tokens"])
                        tokens = capacity if math.isnan(tokens) else tokens
                        tokens = min(capacity, tokens + max(0.0, now - float(row["last"])) * rate)
                        row["last"] = now
                        row["tokens"] = tokens if tokens < 1.0 else tokens - 1.0
                        _refuse(tokens, rate)
                        return
                    log.warning("shared rate-limit table full; key %d limited per worker", key_id)
            tokens, last = self._buckets.get(key_id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            self._buckets[key_id] = (tokens if tokens < 1.0 else tokens - 1.0, now)
            _refuse(tokens, rate)


def _refuse(tokens: float, rate: float) -> None:
    """``RateLimitedError`` when less than one token was left."""
    if tokens < 1.0:
        retry = max(1, math.ceil((1.0 - tokens) / rate))
        raise RateLimitedError(f"rate limit exceeded; retry in {retry} s", retry_after=retry)


class ExposureCounter:
    """Distinct people returned per key and day (UTC), written in batches to ``api_key_exposure``.

    Why bounded, and how. Each worker remembers the ids it has shown each key today, so that a
    person shown again costs nothing and a new one is counted at once. Unbounded, one key walking
    the directory would have a worker hold up to 1.2 million ids (~100 bytes each in a set: 120 MB
    per key, per worker, per day). So at most ``memory_ids`` ids are remembered in all, and at most
    a quarter of them for one key, so that one scraping key cannot take the others' room. Past
    its share, a key's ids not remembered are queued as they come (deduplicated until the next
    flush) and the store tells which are new: the flush inserts with ``ON CONFLICT DO NOTHING
    RETURNING``, and the rows it really inserted are that key's new people, counted then (exact
    across workers, too). The counts stay exact; past the bound each new id costs a row in the
    flush instead of a set lookup. A fixed-size sketch (Bloom filter, HyperLogLog) would bound
    memory too, but only approximately: it would undercount people, the one thing this counter
    must not do. The write queue is bounded the same way: beyond ``memory_ids`` queued rows
    (the store unreachable for long) new rows are dropped and counted in ``dropped``; from a
    quarter of that, ``due`` asks the flushing thread not to wait for its next interval.

    ``on_new(label, n)``, when given, is told of each key's new people as they are known: at
    ``record`` for remembered ids, at ``flush`` for those the store counted (the metric).
    """

    def __init__(
        self,
        db: Database | None,
        *,
        memory_ids: int = 100_000,
        on_new: Callable[[str, int], None] | None = None,
    ) -> None:
        self.db = db
        self.memory_ids = max(4, memory_ids)
        self.per_key = self.memory_ids // 4
        self.on_new = on_new
        self.dropped = 0
        self.due = threading.Event()
        self._day: date | None = None
        self._seen: dict[int, set[str]] = {}
        self._held = 0
        # Rows to write; the value tells whether the row was counted already (remembered) or is
        # left for the store to count.
        self._pending: dict[tuple[int, date, str], bool] = {}
        self._labels: dict[int, str] = {}
        self._lock = threading.Lock()
        # One flush at a time: whoever flushes knows, on return, that what was recorded before
        # is written and counted (the app's thread and a final flush at shutdown may overlap).
        self._flushing = threading.Lock()

    @property
    def held(self) -> int:
        """Ids in memory now: remembered ones plus rows waiting for the next flush."""
        with self._lock:
            return self._held + len(self._pending)

    def record(self, key_id: int, person_ids: Iterable[str], *, label: str | None = None) -> int:
        """Note that these people were shown to this key; returns how many are known new today
        (those left for the store to count are told to ``on_new`` at the next flush)."""
        today = datetime.now(UTC).date()
        new = 0
        name = label or str(key_id)
        with self._lock:
            if self._day != today:
                self._seen.clear()  # a new day: yesterday's ids are in the store already
                self._held = 0
                self._day = today
            self._labels[key_id] = name
            seen = self._seen.setdefault(key_id, set())
            for pid in person_ids:
                if pid in seen:
                    continue
                item = (key_id, today, pid)
                if len(seen) < self.per_key and self._held < self.memory_ids:
                    seen.add(pid)
                    self._held += 1
                    new += 1
                    self._queue(item, counted=True)
                elif item not in self._pending:
                    self._queue(item, counted=False)
            if len(self._pending) >= self.memory_ids // 4:
                self.due.set()
        if new and self.on_new is not None:
            self.on_new(name, new)
        return new

    def _queue(self, item: tuple[int, date, str], *, counted: bool) -> None:
        """Queue a row for the store, unless the queue is full (under ``_lock``)."""
        if len(self._pending) >= self.memory_ids:
            self.dropped += 1
            return
        self._pending[item] = counted

    def flush(self) -> int:
        """Write what was recorded since the last flush; returns the rows offered to the store."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, {}
            self.due.clear()
            dropped, self.dropped = self.dropped, 0
        if dropped:
            log.warning("exposure counter: %d rows dropped while the store could not be written", dropped)
        if not batch or self.db is None:
            return 0
        rows = sorted(batch)  # one order for every worker: concurrent inserts do not deadlock
        try:
            with self.db.connection() as conn:
                inserted = conn.execute(
                    """INSERT INTO api_key_exposure (key_id, day, person_id)
                       SELECT * FROM unnest(%s::bigint[], %s::date[], %s::text[])
                       ON CONFLICT DO NOTHING RETURNING key_id, day, person_id""",
                    ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
                ).fetchall()
        except Exception:
            with self._lock:
                for item, counted in batch.items():  # try again at the next flush
                    if item not in self._pending:
                        self._queue(item, counted=counted)
            raise
        if self.on_new is not None:
            new: dict[int, int] = {}
            for row in inserted:
                if not batch[(row["key_id"], row["day"], row["person_id"])]:
                    new[row["key_id"]] = new.get(row["key_id"], 0) + 1
            for key_id, n in sorted(new.items()):
                self.on_new(self._labels.get(key_id, str(key_id)), n)
        return len(batch)
