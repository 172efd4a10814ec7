"""The record of every import run (``import_runs``) and the per-feed lock.

A run row is inserted, in its own committed transaction, *before* anything is read, with status
``running``; it is finished (``ok``, ``failed``, ``refused``) at the end. An ``ok`` run is finished
inside the apply transaction itself, so that "the data changed" and "the run says ok" commit
together or not at all. A process killed mid-run leaves its row ``running``: the next run of the
feed, once it holds the feed's lock (so no live run can own that row), marks it ``failed``.

Two runs of one feed never interleave: each holds a session-level ``pg_try_advisory_lock`` keyed
on the feed name for its whole duration. The server releases it when the session ends, even when
the process was killed, so a dead run never blocks the next one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from importers.errors import FeedLockedError
from importers.feeds import FeedConfig

__all__ = [
    "RUN_FIELDS",
    "Counts",
    "FeedLock",
    "Mode",
    "RunRecord",
    "Status",
    "ensure_feed",
    "fail_stale_runs",
    "finish_run",
    "last_success",
    "latest_runs",
    "start_run",
]

Mode = Literal["full", "incremental"]
Status = Literal["running", "ok", "failed", "refused"]
Conn = psycopg.Connection[Any]

RUN_FIELDS: Final = (
    "feed",
    "mode",
    "start",
    "end",
    "read",
    "added",
    "updated",
    "removed",
    "unchanged",
    "quarantined",
    "status",
    "error",
)
"""The field names of ``directory import status --json``, in order: a monitoring contract."""

# First half of the two-int advisory lock key: a constant that keeps these locks apart from any
# other advisory lock of the database (the migration lock uses the one-bigint form).
_LOCK_CLASS: Final = 0x494D5054  # "IMPT"


@dataclass
class Counts:
    """What a run read and did."""

    read: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of ``import_runs``, under the names of the monitoring JSON."""

    id: int
    feed: str
    mode: str
    dry_run: bool
    start: datetime
    end: datetime | None
    read: int
    added: int
    updated: int
    removed: int
    unchanged: int
    quarantined: int
    status: str
    error: str | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Exactly ``RUN_FIELDS``, times as ISO 8601 strings."""
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat() if self.end else None
        return {name: data[name] for name in RUN_FIELDS}


def ensure_feed(conn: Conn, feed: FeedConfig) -> None:
    """Create or update the ``feeds`` row (written only when something differs)."""
    conn.execute(
        """INSERT INTO feeds (name, academy_code, kind) VALUES (%s, %s, %s)
           ON CONFLICT (name) DO UPDATE SET academy_code = EXCLUDED.academy_code, kind = EXCLUDED.kind
           WHERE (feeds.academy_code, feeds.kind) IS DISTINCT FROM (EXCLUDED.academy_code, EXCLUDED.kind)""",
        (feed.name, feed.academy_code, feed.kind),
    )


def start_run(conn: Conn, feed: str, mode: Mode, *, dry_run: bool) -> int:
    """Insert a ``running`` row and commit it at once; its id."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO import_runs (feed, mode, dry_run) VALUES (%s, %s, %s) RETURNING id",
            (feed, mode, dry_run),
        ).fetchone()
    assert row is not None
    return int(row[0] if isinstance(row, tuple) else row["id"])


def fail_stale_runs(conn: Conn, feed: str, *, current: int) -> int:
    """Mark ``failed`` the ``running`` rows of ``feed`` other than ``current``; how many.

    Only call it while holding the feed's lock: then no live process owns those rows.
    """
    cur = conn.execute(
        """UPDATE import_runs SET status = 'failed', ended_at = coalesce(ended_at, now()),
                  error = 'interrupted: the importer stopped before finishing (killed or crashed); '
                          'nothing of this run was applied'
           WHERE feed = %s AND status = 'running' AND id <> %s""",
        (feed, current),
    )
    return cur.rowcount


def finish_run(
    conn: Conn,
    run_id: int,
    *,
    status: Status,
    counts: Counts,
    mode: Mode | None = None,
    error: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Close a run with its figures (inside the caller's transaction, if any)."""
    conn.execute(
        """UPDATE import_runs SET status = %s, ended_at = clock_timestamp(), read = %s, added = %s,
                  updated = %s, removed = %s, unchanged = %s, quarantined = %s, error = %s,
                  details = %s, mode = coalesce(%s, mode)
           WHERE id = %s""",
        (
            status,
            counts.read,
            counts.added,
            counts.updated,
            counts.removed,
            counts.unchanged,
            counts.quarantined,
            error,
            Jsonb(details or {}, dumps=_dumps),
            mode,
            run_id,
        ),
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def last_success(conn: Conn, feed: str) -> RunRecord | None:
    """The feed's latest ``ok`` run that was applied (not a dry run), or ``None``."""
    rows = _select(
        conn, "WHERE feed = %s AND status = 'ok' AND NOT dry_run ORDER BY started_at DESC LIMIT 1", feed
    )
    return rows[0] if rows else None


def latest_runs(conn: Conn, *, include_dry_runs: bool = False) -> list[RunRecord]:
    """The latest run of each feed (dry runs left out unless asked), by feed name."""
    where = "" if include_dry_runs else "WHERE NOT dry_run"
    return _select(
        conn,
        f"""WHERE id IN (SELECT DISTINCT ON (feed) id FROM import_runs {where}
                         ORDER BY feed, started_at DESC, id DESC)
            ORDER BY feed""",
    )


def _select(conn: Conn, tail: str, *params: Any) -> list[RunRecord]:
    query = (
        "SELECT id, feed, mode, dry_run, started_at AS start, ended_at AS end, read, added, updated, "
        "removed, unchanged, quarantined, status, error, details FROM import_runs " + tail
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query.encode(), params).fetchall()
    return [RunRecord(**row) for row in rows]


class FeedLock:
    """The session-level advisory lock of one feed, held on ``conn`` for the whole run.

    ``acquire()`` raises ``FeedLockedError`` when another session holds it, or with ``wait``
    polls until it is free (``timeout`` seconds at most, ``None`` for ever).
    """

    def __init__(self, conn: Conn, feed: str) -> None:
        self.conn = conn
        self.feed = feed
        self.held = False

    def acquire(self, *, wait: bool = False, timeout: float | None = None, poll: float = 0.5) -> None:
        """Take the lock, or raise ``FeedLockedError``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, self.feed)
            ).fetchone()
            if row is not None and (row[0] if isinstance(row, tuple) else next(iter(row.values()))):
                self.held = True
                return
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                raise FeedLockedError(self.feed, "the second run refuses; use --wait to wait for it")
            time.sleep(poll)

    def release(self) -> None:
        """Let go of the lock (closing the session does it too)."""
        if self.held and not self.conn.closed:
            self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_CLASS, self.feed))
        self.held = False
