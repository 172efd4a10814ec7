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
  there (``directory keys list``) and in the ``directory_api_people_returned_total`` metric.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import unicodedata
from collections.abc import Iterable
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
    """Distinct people returned per key and day (UTC), written in batches to ``api_key_exposure``."""

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self._pending: set[tuple[int, date, str]] = set()
        self._seen: set[tuple[int, date, str]] = set()
        self._lock = threading.Lock()

    def record(self, key_id: int, person_ids: Iterable[str]) -> int:
        """Note that these people were shown to this key; returns how many were new today."""
        today = datetime.now(UTC).date()
        new = 0
        with self._lock:
            if self._seen and next(iter(self._seen))[1] != today:
                self._seen.clear()  # a new day: yesterday's set is in the store already
            for pid in person_ids:
                item = (key_id, today, pid)
                if item not in self._seen:
                    self._seen.add(item)
                    self._pending.add(item)
                    new += 1
        return new

    def flush(self) -> int:
        """Write what was recorded since the last flush; returns the rows offered to the store."""
        with self._lock:
            batch, self._pending = self._pending, set()
        if not batch or self.db is None:
            return 0
        try:
            with self.db.connection() as conn, conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO api_key_exposure (key_id, day, person_id) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    sorted(batch),
                )
        except Exception:
            with self._lock:
                self._pending |= batch  # try again at the next flush
            raise
        return len(batch)
