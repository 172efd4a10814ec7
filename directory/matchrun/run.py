"""One matching run over the store, start to end: the lock, the read, the engine, the write.

A full run fits the model (kept as JSON in ``match_runs.model``); an incremental run re-uses the
last model and the previous clusters (derived from ``record_links``) and re-matches only what the
changes touch, with the same result as a full run. Afterwards new persons get a home instance.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from directory.db import Database
from directory.matchrun.read import (
    iter_record_batches,
    load_records,
    previous_links,
    previous_links_of,
    read_constraints,
    read_queue,
    state_from_links,
)
from directory.matchrun.summary import MatchRunError, MatchRunSummary, peak_rss_mb
from directory.matchrun.tablecache import TABLE_CACHE_FILE, cache_key, load_table, save_table
from directory.matchrun.write import write_result
from matching.cluster import Constraints
from matching.engine import DEFAULT_SETTINGS, MatchResult, MatchSettings, link_full, link_incremental
from matching.errors import MatchingError
from matching.features import RecordTable, build_table_in_parts, take_rows, update_table
from matching.keys import block_keys
from matching.model import Model

__all__ = ["MATCH_LOCK_KEY", "paused_gc", "run_matching"]

log = logging.getLogger(__name__)

# Session-level lock: one matching run at a time across every process.
MATCH_LOCK_KEY = 0x6D61746368000001


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for the block, as it was after.

    A run holds millions of small objects until it ends (the records as read, dicts and sets of
    record and person ids), and allocating them keeps triggering the collector's full passes, each
    of which walks every one of them again: 7 of the 64 s of a full run at 1.2 million records
    (``docs/benchmarks.md``), for nothing, since what a run builds is not reference cycles but
    containers freed by reference counting when it ends. Memory is unchanged (peak RSS measured
    equal with and without).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_matching(
    db: Database,
    *,
    full: bool = False,
    refit: bool = True,
    settings: MatchSettings = DEFAULT_SETTINGS,
    instances_file: Path | None = None,
    cache_dir: Path | None = None,
) -> MatchRunSummary:
    """Resolve identities: incremental by default (full when asked or when no model exists yet).

    A full run fits a new model unless ``refit`` is false and one exists (then its clusters equal
    those of an incremental run with that model: how the equality is tested).

    With ``cache_dir``, the run keeps its prepared table there (``match-table.pickle``) and an
    incremental run that finds the one of the run just before it reads and prepares only the
    records changed since (``match_queue``); a missing or stale table means reading and
    preparing every record, with the same result.

    Afterwards new persons get a home instance; ``instances_file`` (``DIRECTORY_INSTANCES``) is
    synced first when given, else the instances the store already knows are used.
    """
    with db.connection() as lock_conn:
        got = lock_conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (MATCH_LOCK_KEY,)).fetchone()
        lock_conn.commit()
        if not got or not got["ok"]:
            raise MatchRunError("another matching run is in progress")
        try:
            with paused_gc():
                summary = _run_locked(db, full=full, refit=refit, settings=settings, cache_dir=cache_dir)
        except MatchingError as exc:
            # The engine's own errors (too little data to fit a model, conflicting constraints)
            # are facts about the data for the operator, not crashes.
            raise MatchRunError(f"matching could not run: {exc}") from exc
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (MATCH_LOCK_KEY,))
            lock_conn.commit()
    _assign_instances(db, instances_file)
    return summary


def _run_locked(
    db: Database, *, full: bool, refit: bool, settings: MatchSettings, cache_dir: Path | None
) -> MatchRunSummary:
    started = time.perf_counter()
    cpu_started = time.process_time()
    with db.connection() as conn:
        last = conn.execute(
            """SELECT id, model, stats FROM match_runs
               WHERE status = 'ok' AND model IS NOT NULL ORDER BY id DESC LIMIT 1"""
        ).fetchone()
        latest = conn.execute(
            "SELECT id, stats FROM match_runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        mode = "full" if full or last is None else "incremental"
        run_id = conn.execute("INSERT INTO match_runs (mode) VALUES (%s) RETURNING id", (mode,)).fetchone()[
            "id"
        ]  # type: ignore[index]
        conn.commit()
        run_key = cache_key(conn, run_id)
        previous_key = cache_key(conn, latest["id"]) if latest and latest["id"] is not None else None
    summary = MatchRunSummary(run_id=run_id, mode=mode)
    cache = cache_dir / TABLE_CACHE_FILE if cache_dir is not None else None
    try:
        with db.connection() as conn:
            t0 = time.perf_counter()
            queued = read_queue(conn)
            pending = set(queued)
            base, summary.table_cache = None, "off" if cache is None else "full run"
            previous_keys = None
            if mode == "incremental" and cache is not None:
                if previous_key is None:
                    summary.table_cache = "missing"
                else:
                    base, summary.table_cache = load_table(cache, previous_key)
            records: RecordTable
            if base is not None:
                # Only the records changed since the kept table's run are read and prepared: every
                # import queues what it adds, changes or removes (``match_queue``).
                changed = load_records(conn, pending)
                summary.timings["read_records"] = time.perf_counter() - t0
                t1 = time.perf_counter()
                # the blocks the queued records were in before: a recent departure that shared one
                # with them may have lost or changed a rival (``matching.engine.link_incremental``)
                old_rows = take_rows(base, np.isin(base.ids, np.fromiter(pending, np.int64, len(pending))))
                records = update_table(base, changed, removed=pending)
                previous_keys = block_keys(old_rows)[0]
                summary.timings["update_table"] = time.perf_counter() - t1
            else:
                # read and prepared a batch at a time: the records of one batch in memory at once
                records = build_table_in_parts(iter_record_batches(conn))
                summary.timings["read_records"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if base is not None:
                previous = previous_links_of(conn, base.ids.tolist(), pending)
            else:
                previous = previous_links(conn)
            constraints = read_constraints(conn)
            summary.timings["read_links"] = time.perf_counter() - t1
            summary.timings["read"] = time.perf_counter() - t0
            latest_stats = (latest or {}).get("stats") or {}
            anchor = latest_stats.get("departure_anchor")
            result = _link(
                records, previous, pending, constraints, last, mode, settings, refit=refit,
                anchor=anchor, previous_keys=previous_keys,
                previous_oversize=latest_stats.get("oversize_keys"),
            )  # fmt: skip
            summary.timings.update({f"engine_{k}": v for k, v in result.timings.items()})
            summary.timings.update({f"engine_cpu_{k}": v for k, v in result.cpu_timings.items()})
            t0 = time.perf_counter()
            write_result(conn, result, previous, pending, queued, constraints, summary)
            summary.timings["write"] = time.perf_counter() - t0
            summary.timings["total"] = time.perf_counter() - started
            summary.timings["cpu"] = time.process_time() - cpu_started
            summary.peak_rss_mb = peak_rss_mb()
            model_json = json.loads(result.model.to_json()) if mode == "full" else None
            stats = summary.as_dict() | {
                "oversize_keys": result.state.oversize_keys,
                "departure_anchor": result.state.departure_anchor,
            }
            conn.execute(
                """UPDATE match_runs SET status = 'ok', ended_at = now(), stats = %s, model = %s
                   WHERE id = %s""",
                (json.dumps(stats), json.dumps(model_json) if model_json else None, run_id),
            )
            t0 = time.perf_counter()
            conn.commit()
        # the commit (WAL flush of everything written) is after the stats stored in ``match_runs``
        summary.timings["commit"] = time.perf_counter() - t0
        if cache is not None:
            t0 = time.perf_counter()
            save_table(cache, run_key, result.table)
            summary.timings["cache_write"] = time.perf_counter() - t0
        summary.timings["total"] = time.perf_counter() - started
        summary.timings["cpu"] = time.process_time() - cpu_started
        summary.peak_rss_mb = peak_rss_mb()
    except BaseException as exc:
        # The error text may name records by id, never personal data.
        with db.connection() as conn:
            conn.execute(
                "UPDATE match_runs SET status = 'failed', ended_at = now(), error = %s WHERE id = %s",
                (f"{type(exc).__name__}: {exc}"[:2000], run_id),
            )
        raise
    log.info(
        "matching run %d (%s): %d records, %d re-matched, %d links written, %d persons created, "
        "%d merged, %d review pairs in %.1fs",
        run_id, mode, summary.records, summary.rematched, summary.links_written,
        summary.persons_created, summary.persons_merged, summary.review_pairs, summary.timings["total"],
    )  # fmt: skip
    return summary


def _link(
    records: RecordTable,
    previous: dict[int, str],
    pending: set[int],
    constraints: Constraints,
    last: dict[str, Any] | None,
    mode: str,
    settings: MatchSettings,
    *,
    refit: bool,
    anchor: int | None,
    previous_keys: npt.NDArray[np.int64] | None,
    previous_oversize: list[str] | None = None,
) -> MatchResult:
    if last is None:
        return link_full(records, constraints=constraints, settings=settings)
    model = Model.from_json(json.dumps(last["model"]))
    if mode == "full":
        return link_full(records, model=None if refit else model, constraints=constraints, settings=settings)
    # The previous clusters are those of the records the previous run saw: every linked one; and
    # the blocks it skipped as too large are those of that run (an incremental one keeps its own
    # list), not of the last full run: a block may have crossed the bound since.
    oversize = list(
        previous_oversize if previous_oversize is not None else (last["stats"] or {}).get("oversize_keys", [])
    )
    state = state_from_links(previous, oversize, anchor)
    current = set(records.ids.tolist())
    changed = [rid for rid in pending if rid in current]
    removed = [rid for rid in pending if rid not in current and rid in previous]
    return link_incremental(
        records,
        state,
        changed=changed,
        removed=removed,
        model=model,
        constraints=constraints,
        settings=settings,
        previous_keys=previous_keys,
    )


def _assign_instances(db: Database, instances_file: Path | None) -> None:
    """Home instances for new persons (when instances are configured)."""
    from directory.instances import assign_home_instances, load_instances, sync_instances

    if instances_file is not None:
        sync_instances(db, load_instances(instances_file))
    if db.fetch_value("SELECT count(*) FROM instances"):
        assign_home_instances(db)
