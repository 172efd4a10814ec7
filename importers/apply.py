"""The difference between a staged feed and ``source_records``, and applying it in one transaction.

Everything here is set-based SQL over the staging tables of ``importers.stage``: one statement per
kind of change, never one round trip per entry. The plan (``import_plan``, a temporary table)
classifies every staged entry by its stable id (``source_id``) against the feed's records:

=========  =====================================================================================
action     meaning
=========  =====================================================================================
add        a source id the feed never had: a new record
readd      a record removed earlier is back: it is cleared of its ``removed_at`` (counted added)
rename     same source id, new DN (modrdn): an update of the same record, which keeps its id
update     same source id and DN, different ``content_hash``
same       nothing changed: *nothing is written* (not even ``last_seen``, see below)
remove     (full scans only) a present record whose source id was not in the scan: ``removed_at``
           is set; the row is kept for ever
=========  =====================================================================================

Every added, updated or removed record gets ``last_run_id`` and its id in ``match_queue`` (what the
next matching run re-matches).

Unchanged records are not touched, so that a run with no change writes no record row at all (no
dead tuples, no WAL, no index churn on 1.2 million rows each night). ``last_seen`` therefore means
"last written"; a present record was also seen by every later ``ok`` full run of its feed
(``import_runs``), which is how "last seen" is answered for it.

Safety: before anything is written, a full scan's removals are compared with the feed's limit
(``FeedConfig.removal_limit``); above it the plan is refused unless forced. The caller runs
``build_plan`` and ``apply_plan`` inside one transaction, with the run's "ok" in it too.

The first load of a feed (no record at all, not even a removed one) has nothing to diff against:
every entry is an ``add``. ``importers.stage`` then copies the entries straight into
``source_records`` inside the run's transaction and ``apply_first_load`` completes it (queue,
quarantine, the plan's figures), with the same result as staging and ``apply_plan``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg

from importers.errors import DeletionLimitExceeded
from importers.feeds import FeedConfig
from importers.runs import Counts, Mode
from importers.stage import QUARANTINE_TABLE, STAGE_COLUMNS, STAGE_TABLE

__all__ = [
    "TEST_SLEEP_IN_APPLY",
    "Plan",
    "apply_first_load",
    "apply_plan",
    "build_plan",
    "check_limit",
    "is_first_load",
    "prepare_stage",
]

log = logging.getLogger(__name__)

TEST_SLEEP_IN_APPLY: Final = "DIRECTORY_TEST_SLEEP_IN_APPLY"
"""Tests only: seconds to sleep inside the apply transaction, after the writes and before the
commit, so that a test can SIGKILL the importer while the transaction is open. Never set it in
production; it is not a setting."""

PLAN_TABLE: Final = "import_plan"
EXAMPLES: Final = 5

Conn = psycopg.Connection[Any]


@dataclass
class Plan:
    """What applying a staged feed would do, with a few example DNs per action."""

    feed: str
    mode: Mode
    present: int
    """Records of the feed present (not removed) before this run."""
    added: int = 0
    readded: int = 0
    updated: int = 0
    renamed: int = 0
    removed: int = 0
    unchanged: int = 0
    duplicates: int = 0
    """Staged entries dropped because an earlier entry of the run had the same stable id."""
    limit: int | None = None
    """Removals allowed (full scans), from the feed's configuration."""
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def exceeds_limit(self) -> bool:
        """Whether the removals are above the feed's deletion limit."""
        return self.limit is not None and self.removed > self.limit

    def counts(self, *, read: int, quarantined: int) -> Counts:
        """The run's figures (renames and re-additions are updates and additions)."""
        return Counts(
            read=read,
            added=self.added + self.readded,
            updated=self.updated + self.renamed,
            removed=self.removed,
            unchanged=self.unchanged,
            quarantined=quarantined + self.duplicates,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the run's ``details``."""
        return {
            "present_before": self.present,
            "added": self.added,
            "readded": self.readded,
            "updated": self.updated,
            "renamed": self.renamed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "duplicate_ids": self.duplicates,
            "removal_limit": self.limit,
            "examples": self.examples,
        }


def prepare_stage(conn: Conn, feed: str, *, repeated_ids: bool = True) -> int:
    """Index and analyse the staged entries; drop (and quarantine) repeated stable ids.

    Returns how many entries were dropped. ``repeated_ids=False`` (staging saw every stable id
    once: ``StageResult.repeated_ids``) skips looking for them, a self-join of the whole feed.
    Temporary tables are never analysed by autovacuum; without statistics the planner would guess
    the join sizes badly.
    """
    conn.execute(f"CREATE INDEX ON {STAGE_TABLE} (source_id)")
    dropped = _drop_repeated_ids(conn, feed) if repeated_ids else 0
    # Only the columns the plan joins on: the statistics of the others (raw and establishments
    # are jsonb) were most of the cost of ANALYZE and never used.
    conn.execute(f"ANALYZE {STAGE_TABLE} (seq, source_id)")
    return dropped


def _drop_repeated_ids(conn: Conn, feed: str) -> int:
    cur = conn.execute(
        f"""WITH dup AS (
                DELETE FROM {STAGE_TABLE} s USING {STAGE_TABLE} t
                WHERE s.source_id = t.source_id AND s.seq > t.seq
                RETURNING s.dn, s.source_id, s.raw, t.dn AS first_dn)
            INSERT INTO {QUARANTINE_TABLE} (dn, reason, detail, raw)
            SELECT dn, 'duplicate_id', 'stable id ' || source_id || ' already used in this feed run by '
                   || first_dn, raw
            FROM dup"""
    )
    dropped = cur.rowcount
    if dropped:
        log.warning("feed %s: %d entries share a stable id with an earlier entry: quarantined", feed, dropped)
    return dropped


def build_plan(conn: Conn, feed: FeedConfig, mode: Mode, *, duplicates: int = 0) -> Plan:
    """Classify the staged entries (and, for a full scan, the records to remove) into ``import_plan``.

    Run it inside the transaction that will apply the plan: the temporary plan table is dropped at
    commit or rollback.
    """
    name = feed.name
    present_row = conn.execute(
        "SELECT count(*) FROM source_records WHERE feed = %s AND removed_at IS NULL", (name,)
    ).fetchone()
    present = int(present_row[0]) if present_row else 0
    conn.execute(
        f"""CREATE TEMP TABLE {PLAN_TABLE} ON COMMIT DROP AS
            SELECT s.seq, r.id AS record_id, s.dn, r.dn AS old_dn,
                   CASE WHEN r.id IS NULL THEN 'add'
                        WHEN r.removed_at IS NOT NULL THEN 'readd'
                        WHEN r.dn <> s.dn THEN 'rename'
                        WHEN r.content_hash <> s.content_hash THEN 'update'
                        ELSE 'same' END AS action
            FROM {STAGE_TABLE} s
            LEFT JOIN source_records r ON r.feed = %s AND r.source_id = s.source_id""".encode(),
        (name,),
    )
    if mode == "full":
        # Only a complete scan may say who left: an incremental one sees changes only.
        conn.execute(
            f"""INSERT INTO {PLAN_TABLE} (seq, record_id, dn, old_dn, action)
                SELECT NULL, r.id, r.dn, r.dn, 'remove'
                FROM source_records r
                WHERE r.feed = %s AND r.removed_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM {STAGE_TABLE} s WHERE s.source_id = r.source_id)""".encode(),
            (name,),
        )
    totals = dict(conn.execute(f"SELECT action, count(*) FROM {PLAN_TABLE} GROUP BY action").fetchall())
    examples: dict[str, list[str]] = {}
    for action, dn, old_dn in conn.execute(
        f"""SELECT action, dn, old_dn FROM (
                SELECT action, dn, old_dn, row_number() OVER (PARTITION BY action ORDER BY dn) AS n
                FROM {PLAN_TABLE} WHERE action <> 'same') ranked
            WHERE n <= %s ORDER BY action, dn""".encode(),
        (EXAMPLES,),
    ).fetchall():
        examples.setdefault(action, []).append(f"{old_dn} -> {dn}" if action == "rename" else dn)
    plan = Plan(
        feed=name,
        mode=mode,
        present=present,
        added=int(totals.get("add", 0)),
        readded=int(totals.get("readd", 0)),
        updated=int(totals.get("update", 0)),
        renamed=int(totals.get("rename", 0)),
        removed=int(totals.get("remove", 0)),
        unchanged=int(totals.get("same", 0)),
        duplicates=duplicates,
        limit=feed.removal_limit(present) if mode == "full" else None,
        examples=examples,
    )
    return plan


def check_limit(plan: Plan, *, force: bool) -> None:
    """Raise ``DeletionLimitExceeded`` when the plan removes too much and ``force`` is not given."""
    if plan.exceeds_limit:
        assert plan.limit is not None
        if force:
            log.warning(
                "feed %s: removing %d of %d records, above the limit of %d, because --force was given",
                plan.feed,
                plan.removed,
                plan.present,
                plan.limit,
            )
            return
        raise DeletionLimitExceeded(
            plan.feed, would_remove=plan.removed, active=plan.present, limit=plan.limit
        )


_SET_COLUMNS: Final = ", ".join(STAGE_COLUMNS)
_FROM_STAGE: Final = ", ".join(f"s.{c}" for c in STAGE_COLUMNS)
# Every record written goes into the matching queue in the same statement (and transaction).
# A record already queued gets a new ``seq``: a matching run that read the older one while this
# change was being made leaves it queued (see migration 0006).
_QUEUE_FROM: Final = """INSERT INTO match_queue (record_id) SELECT id FROM {}
    ON CONFLICT (record_id) DO UPDATE SET seq = EXCLUDED.seq"""


def apply_plan(conn: Conn, plan: Plan, *, run_id: int, mode: Mode) -> None:
    """Write the plan: additions, updates and renames, removals, and the quarantine.

    Call inside the transaction that ran ``build_plan``; nothing is committed here.
    """
    feed = plan.feed
    if plan.added:
        conn.execute(
            f"""WITH added AS (
                    INSERT INTO source_records (feed, {_SET_COLUMNS}, last_run_id)
                    SELECT %s, {_FROM_STAGE}, %s
                    FROM {PLAN_TABLE} p JOIN {STAGE_TABLE} s ON s.seq = p.seq
                    WHERE p.action = 'add'
                    RETURNING id)
                {_QUEUE_FROM.format("added")}""".encode(),
            (feed, run_id),
        )
    if plan.updated or plan.renamed or plan.readded:
        conn.execute(
            f"""WITH changed AS (
                    UPDATE source_records r
                    SET ({_SET_COLUMNS}) = ({_FROM_STAGE}),
                        removed_at = NULL, last_seen = now(), updated_at = now(), last_run_id = %s
                    FROM {PLAN_TABLE} p JOIN {STAGE_TABLE} s ON s.seq = p.seq
                    WHERE r.id = p.record_id AND p.action IN ('update', 'rename', 'readd')
                    RETURNING r.id)
                {_QUEUE_FROM.format("changed")}""".encode(),
            (run_id,),
        )
    if plan.removed:
        conn.execute(
            f"""WITH gone AS (
                    UPDATE source_records r
                    SET removed_at = now(), updated_at = now(), last_run_id = %s
                    FROM {PLAN_TABLE} p
                    WHERE r.id = p.record_id AND p.action = 'remove'
                    RETURNING r.id)
                {_QUEUE_FROM.format("gone")}""".encode(),
            (run_id,),
        )
    apply_quarantine(conn, feed, run_id=run_id, mode=mode)
    _test_hook()


def is_first_load(conn: Conn, feed: str) -> bool:
    """Whether the feed has no record at all (present or removed): its run can only add.

    Asked under the feed's lock, so no other run of the feed can add one meanwhile.
    """
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM source_records WHERE feed = %s)", (feed,)).fetchone()
    return not (row and row[0])


def apply_first_load(
    conn: Conn, feed: FeedConfig, *, run_id: int, mode: Mode, added: int, duplicates: int
) -> Plan:
    """Complete a first load whose entries ``importers.stage`` copied into ``source_records``.

    Call inside the transaction of that ``COPY``: queues every record of the feed for matching,
    writes the quarantine, and returns the plan the staged path would have built (all additions).
    """
    name = feed.name
    # By the (feed, source_id) key: only this feed's pages are read, whatever the table's size.
    conn.execute(
        """INSERT INTO match_queue (record_id)
           SELECT id FROM source_records WHERE feed = %s
           ON CONFLICT (record_id) DO UPDATE SET seq = EXCLUDED.seq""",
        (name,),
    )
    examples = [
        dn
        for (dn,) in conn.execute(
            "SELECT dn FROM source_records WHERE feed = %s ORDER BY dn LIMIT %s", (name, EXAMPLES)
        ).fetchall()
    ]
    apply_quarantine(conn, name, run_id=run_id, mode=mode)
    _test_hook()
    return Plan(
        feed=name,
        mode=mode,
        present=0,
        added=added,
        duplicates=duplicates,
        limit=feed.removal_limit(0) if mode == "full" else None,
        examples={"add": examples} if examples else {},
    )


def apply_quarantine(conn: Conn, feed: str, *, run_id: int, mode: Mode) -> None:
    """Make the feed's quarantine reflect this run, writing only what changed.

    A full scan replaces the feed's quarantine with what it rejected (an entry fixed at the source
    leaves the quarantine); an incremental one only adds. An entry rejected again in the same way
    keeps its row (and the id of the run that first rejected it).
    """
    if mode == "full":
        conn.execute(
            f"""DELETE FROM quarantine q WHERE q.feed = %s AND NOT EXISTS (
                    SELECT 1 FROM {QUARANTINE_TABLE} s
                    WHERE s.dn IS NOT DISTINCT FROM q.dn AND s.reason = q.reason
                      AND s.raw = q.raw)""".encode(),
            (feed,),
        )
    conn.execute(
        f"""INSERT INTO quarantine (feed, run_id, dn, reason, detail, raw)
            SELECT %s, %s, s.dn, s.reason, s.detail, s.raw FROM {QUARANTINE_TABLE} s
            WHERE NOT EXISTS (
                SELECT 1 FROM quarantine q
                WHERE q.feed = %s AND q.dn IS NOT DISTINCT FROM s.dn AND q.reason = s.reason
                  AND q.raw = s.raw)""".encode(),
        (feed, run_id, feed),
    )


def _test_hook() -> None:
    seconds = os.environ.get(TEST_SLEEP_IN_APPLY)
    if seconds:
        # Tests only (see TEST_SLEEP_IN_APPLY): announce, then hold the transaction open.
        print(f"test hook: sleeping {seconds} s inside the apply transaction", file=sys.stderr, flush=True)
        time.sleep(float(seconds))
