"""The matching run over the store: records in, persons, links and review candidates out.

``matching`` is a pure library; this module is its only bridge to PostgreSQL. A run:

1. reads the current person records (``kind = 'person'``, not removed) and the records the importers
   queued in ``match_queue`` since the last run;
2. reads the human decisions (``match_decisions`` not revoked): hard constraints for the engine;
3. runs the engine: a full run fits the model (kept as JSON in ``match_runs.model``); an
   incremental run re-uses the last model and the previous clusters (derived from ``record_links``)
   and re-matches only what the changes touch, with the same result as a full run;
4. gives person ids (stable: a person keeps its id while its records stay together; a merge keeps
   one and marks the other ``merged`` into it);
5. writes, in ONE transaction, the links that changed, the new and merged persons, the persons'
   display fields and status, the review candidates, and takes what it matched out of the queue;
   then tells the search index (``directory.search.hooks``) and gives new persons a home instance.

Readers therefore see the previous resolution or the new one, never half of one.
"""

from __future__ import annotations

import csv
import json
import logging
import pickle
import resource
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psycopg import sql
from psycopg.rows import tuple_row

from directory.db import Database, DictConnection
from directory.errors import DirectoryError, InvalidInputError
from directory.names import display_name
from directory.review import DECISION_LOCK_KEY, new_person_id
from directory.search.hooks import bump_generation
from matching.cluster import REVIEW, Constraints
from matching.engine import (
    DEFAULT_SETTINGS,
    MatchResult,
    MatchSettings,
    MatchState,
    assign_person_ids,
    link_full,
    link_incremental,
)
from matching.errors import MatchingError
from matching.evaluate import Evaluation, evaluate
from matching.features import FEATURES_VERSION, RecordTable, build_table, update_table
from matching.keys import candidate_pairs
from matching.model import Model
from matching.records import Record

__all__ = [
    "MatchRunError",
    "MatchRunSummary",
    "evaluate_against_truth",
    "export_clusters",
    "load_records",
    "run_matching",
]

log = logging.getLogger(__name__)

TABLE_CACHE_FILE = "match-table.pickle"

# Session-level lock: one matching run at a time across every process.
MATCH_LOCK_KEY = 0x6D61746368000001


class MatchRunError(DirectoryError):
    """A matching run could not start or complete (another run holds the lock, bad state...)."""

    status = 409
    code = "match_run_error"


@dataclass(slots=True)
class MatchRunSummary:
    """What one run did, as recorded in ``match_runs.stats``."""

    run_id: int
    mode: str
    records: int = 0
    rematched: int = 0
    pairs_scored: int = 0
    linked_pairs: int = 0
    review_pairs: int = 0
    links_written: int = 0
    persons_created: int = 0
    persons_merged: int = 0
    persons_split: int = 0
    persons_retired: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: read, engine_* (the engine's own stages), write and write_* (its
    steps), total; ``cpu`` is this process's CPU seconds for the whole run (PostgreSQL's work is
    not in it)."""
    table_cache: str = "off"
    """Whether the previous run's prepared table was used: ``used``, ``missing``, ``stale``,
    ``unreadable``, ``full run`` (never used by a full run) or ``off`` (no cache directory)."""
    peak_rss_mb: int = 0
    """Peak resident memory of this process so far (MB)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (also what ``directory match`` prints)."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "records": self.records,
            "rematched": self.rematched,
            "pairs_scored": self.pairs_scored,
            "linked_pairs": self.linked_pairs,
            "review_pairs": self.review_pairs,
            "links_written": self.links_written,
            "persons_created": self.persons_created,
            "persons_merged": self.persons_merged,
            "persons_split": self.persons_split,
            "persons_retired": self.persons_retired,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "table_cache": self.table_cache,
            "peak_rss_mb": self.peak_rss_mb,
        }


# -- reading ---------------------------------------------------------------------------------------

_RECORD_COLUMNS = """r.id, r.feed, coalesce(r.academy_code, f.academy_code), coalesce(r.uid, ''),
    coalesce(r.given_name, ''), coalesce(r.usage_name, ''), r.birth_name, r.civility, r.role,
    r.discipline,
    ARRAY(SELECT e->>'uai' FROM jsonb_array_elements(r.establishments) e WHERE e->>'uai' IS NOT NULL),
    r.main_uai, r.mail, r.numen_hash, r.birth_hash, r.birth_swapped_hash, r.birth_year, r.active,
    r.left_on"""


def _record(row: tuple[Any, ...]) -> Record:
    (
        rid,
        feed,
        academy,
        uid,
        given,
        usage,
        birth,
        civ,
        role,
        disc,
        uais,
        main,
        mail,
        numen,
        bh,
        bsh,
        by,
        act,
        left_on,
    ) = row
    establishments = tuple(dict.fromkeys(([main] if main else []) + list(uais or ())))
    return Record(
        id=rid,
        feed=feed,
        academy=academy or "",
        uid=uid,
        given_name=given,
        usage_name=usage,
        birth_name=birth,
        civility=civ,
        role=role,
        discipline=disc,
        establishments=establishments,
        mail=mail,
        numen_hash=numen,
        birth_hash=bh,
        birth_swapped_hash=bsh,
        birth_year=by,
        active=act,
        left_on=left_on,
    )


def load_records(conn: DictConnection, ids: Collection[int] | None = None) -> list[Record]:
    """Every current person record (not removed, not functional), as the engine's ``Record``;
    only those of ``ids`` when given."""
    only = "AND r.id = ANY(%s)" if ids is not None else ""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"""SELECT {_RECORD_COLUMNS}
                FROM source_records r JOIN feeds f ON f.name = r.feed
                WHERE r.kind = 'person' AND r.removed_at IS NULL {only}
                ORDER BY r.id""",
            (sorted(ids),) if ids is not None else None,
        )
        return [_record(row) for row in cur]


def _constraints(conn: DictConnection) -> Constraints:
    rows = conn.execute(
        "SELECT kind, record_a, record_b FROM match_decisions WHERE revoked_at IS NULL ORDER BY id"
    ).fetchall()
    must = tuple((r["record_a"], r["record_b"]) for r in rows if r["kind"] == "must_link")
    cannot = tuple((r["record_a"], r["record_b"]) for r in rows if r["kind"] == "cannot_link")
    return Constraints(must_link=must, cannot_link=cannot)


def _previous_links(conn: DictConnection) -> dict[int, str]:
    """Record → person for the records the previous run knew: current ones and those removed since."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            """SELECT l.record_id, l.person_id FROM record_links l
               JOIN source_records r ON r.id = l.record_id
               WHERE r.kind = 'person' AND (r.removed_at IS NULL
                     OR EXISTS (SELECT 1 FROM match_queue q WHERE q.record_id = r.id))"""
        )
        return dict(cur.fetchall())


def _previous_links_of(
    conn: DictConnection, known: Collection[int], pending: Collection[int]
) -> dict[int, str]:
    """:func:`_previous_links` when the previous run's records are ``known`` (its kept table).

    The same set without joining every link to its record: a known record that is not pending is
    a current person record the previous run saw, unchanged; a pending one (changed, removed or
    new, queued: only a matching run, which holds the lock, takes ids out of the queue) is checked
    against ``source_records`` as :func:`_previous_links` does.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT record_id, person_id FROM record_links")
        links: dict[int, str] = dict(cur.fetchall())
        keep = set(known) - set(pending)
        out = {rid: pid for rid, pid in links.items() if rid in keep}
        cur.execute(
            """SELECT l.record_id, l.person_id FROM record_links l
               JOIN source_records r ON r.id = l.record_id
               WHERE r.id = ANY(%s) AND r.kind = 'person'""",
            (sorted(pending),),
        )
        out.update(cur.fetchall())
    return out


def _read_queue(conn: DictConnection) -> dict[int, int]:
    """The queued records (``match_queue``): record id → the ``seq`` of its queueing."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT record_id, seq FROM match_queue")
        return dict(cur.fetchall())


def _state_from_links(links: Mapping[int, str], oversize: list[str]) -> MatchState:
    smallest: dict[str, int] = {}
    for rid, pid in links.items():
        smallest[pid] = min(smallest.get(pid, rid), rid)
    return MatchState(clusters={rid: smallest[pid] for rid, pid in links.items()}, oversize_keys=oversize)


# -- the run ---------------------------------------------------------------------------------------


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


class _Laps:
    """Wall seconds of consecutive steps, into ``timings`` under ``prefix + name``."""

    def __init__(self, timings: dict[str, float], prefix: str) -> None:
        self.timings, self.prefix, self.last = timings, prefix, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[self.prefix + name] = now - self.last
        self.last = now


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _run_key(conn: DictConnection, run_id: int) -> str:
    """What a kept table must have been made by: this database's run ``run_id`` (its start time
    tells a run from one of a re-created database), with this version of the columns."""
    row = conn.execute(
        "SELECT current_database() AS db, started_at FROM match_runs WHERE id = %s", (run_id,)
    ).fetchone()
    assert row is not None
    return f"{FEATURES_VERSION}|{row['db']}|{run_id}|{row['started_at'].isoformat()}"


def _load_table(path: Path, key: str) -> tuple[RecordTable | None, str]:
    """The table kept by the run ``key`` names, or None and why not (``missing``, ``stale``)."""
    try:
        with path.open("rb") as fh:
            # our own file, written by _save_table under the data directory
            doc = pickle.load(fh)  # noqa: S301
    except FileNotFoundError:
        return None, "missing"
    except Exception as exc:  # a truncated or foreign file: rebuild, never fail the run
        log.warning(
            "matching table cache %s unreadable (%s): preparing every record", path, type(exc).__name__
        )
        return None, "unreadable"
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("table"), RecordTable):
        return None, "stale"
    return doc["table"], "used"


def _save_table(path: Path, key: str, table: RecordTable) -> None:
    """Keep the run's table for the next incremental run (written aside, then renamed over)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"key": key, "table": table}, fh, protocol=5)
        tmp.replace(path)
    except OSError as exc:
        log.warning("matching table cache %s not written: %s", path, exc)


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
        latest = conn.execute("SELECT max(id) AS id FROM match_runs WHERE status = 'ok'").fetchone()
        mode = "full" if full or last is None else "incremental"
        run_id = conn.execute("INSERT INTO match_runs (mode) VALUES (%s) RETURNING id", (mode,)).fetchone()[
            "id"
        ]  # type: ignore[index]
        conn.commit()
        run_key = _run_key(conn, run_id)
        previous_key = _run_key(conn, latest["id"]) if latest and latest["id"] is not None else None
    summary = MatchRunSummary(run_id=run_id, mode=mode)
    cache = cache_dir / TABLE_CACHE_FILE if cache_dir is not None else None
    try:
        with db.connection() as conn:
            t0 = time.perf_counter()
            queued = _read_queue(conn)
            pending = set(queued)
            base, summary.table_cache = None, "off" if cache is None else "full run"
            if mode == "incremental" and cache is not None:
                if previous_key is None:
                    summary.table_cache = "missing"
                else:
                    base, summary.table_cache = _load_table(cache, previous_key)
            records: list[Record] | RecordTable
            if base is not None:
                # Only the records changed since the kept table's run are read and prepared: every
                # import queues what it adds, changes or removes (``match_queue``).
                changed = load_records(conn, pending)
                summary.timings["read_records"] = time.perf_counter() - t0
                t1 = time.perf_counter()
                records = update_table(base, changed, removed=pending)
                summary.timings["update_table"] = time.perf_counter() - t1
            else:
                records = load_records(conn)
                summary.timings["read_records"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if base is not None:
                previous = _previous_links_of(conn, base.ids.tolist(), pending)
            else:
                previous = _previous_links(conn)
            constraints = _constraints(conn)
            summary.timings["read_links"] = time.perf_counter() - t1
            summary.timings["read"] = time.perf_counter() - t0
            result = _link(records, previous, pending, constraints, last, mode, settings, refit=refit)
            summary.timings.update({f"engine_{k}": v for k, v in result.timings.items()})
            summary.timings.update({f"engine_cpu_{k}": v for k, v in result.cpu_timings.items()})
            t0 = time.perf_counter()
            _write(conn, result, previous, pending, queued, constraints, summary)
            summary.timings["write"] = time.perf_counter() - t0
            summary.timings["total"] = time.perf_counter() - started
            summary.timings["cpu"] = time.process_time() - cpu_started
            summary.peak_rss_mb = _peak_rss_mb()
            model_json = json.loads(result.model.to_json()) if mode == "full" else None
            stats = summary.as_dict() | {"oversize_keys": result.state.oversize_keys}
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
            _save_table(cache, run_key, result.table)
            summary.timings["cache_write"] = time.perf_counter() - t0
        summary.timings["total"] = time.perf_counter() - started
        summary.timings["cpu"] = time.process_time() - cpu_started
        summary.peak_rss_mb = _peak_rss_mb()
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
    records: list[Record] | RecordTable,
    previous: dict[int, str],
    pending: set[int],
    constraints: Constraints,
    last: dict[str, Any] | None,
    mode: str,
    settings: MatchSettings,
    *,
    refit: bool,
) -> MatchResult:
    if last is None:
        return link_full(records, constraints=constraints, settings=settings)
    model = Model.from_json(json.dumps(last["model"]))
    if mode == "full":
        return link_full(records, model=None if refit else model, constraints=constraints, settings=settings)
    oversize = list((last["stats"] or {}).get("oversize_keys", []))
    # The previous clusters are those of the records the previous run saw: every linked one.
    state = _state_from_links(previous, oversize)
    current = set(records.ids.tolist()) if isinstance(records, RecordTable) else {r.id for r in records}
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
    )


def _write(
    conn: DictConnection,
    result: MatchResult,
    previous: dict[int, str],
    pending: set[int],
    queued: Mapping[int, int],
    constraints: Constraints,
    summary: MatchRunSummary,
) -> None:
    lap = _Laps(summary.timings, "write_")
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DECISION_LOCK_KEY,))
    change = assign_person_ids(result, previous, new_person_id)
    lap("identities")
    assignment = change.assignment
    summary.records = len(result.table)
    summary.rematched = len(result.rematched) if result.rematched is not None else len(result.table)
    summary.pairs_scored = len(result.scored)
    decisions = result.clustering.decisions
    summary.linked_pairs = int((decisions == 2).sum())
    summary.review_pairs = int((decisions == REVIEW).sum())
    summary.persons_created = len(change.created)
    summary.persons_merged = len(change.merged)
    summary.persons_split = len(change.split)
    summary.persons_retired = len(change.retired)

    sizes = Counter(assignment.values())
    human = constraints.record_ids()
    changed_links = [
        (rid, pid, "human" if rid in human else ("singleton" if sizes[pid] == 1 else "model"))
        for rid, pid in assignment.items()
        if previous.get(rid) != pid
    ]
    summary.links_written = len(changed_links)
    touched_persons = {pid for _, pid, _ in changed_links} | {
        previous[rid] for rid, _, _ in changed_links if rid in previous
    }
    touched_persons |= set(change.retired) | set(change.merged)
    # Persons of records removed or changed since the last run: their status or name may change.
    touched_persons |= {assignment.get(rid) or previous.get(rid, "") for rid in pending} - {""}

    lap("diff")
    created = set(change.created)
    refreshed = touched_persons - set(change.merged)
    if changed_links:
        conn.execute(
            """CREATE TEMP TABLE match_new_links (record_id bigint, person_id text, method text,
                   new_person boolean) ON COMMIT DROP"""
        )
        with conn.cursor().copy("COPY match_new_links FROM STDIN") as copy:
            for rid, pid, method in changed_links:
                copy.write_row((rid, pid, method, pid in created))
    lap("links_copy")
    if created:
        fields = _new_person_fields(conn, created & refreshed)
        lap("persons_fields")
        _insert_persons(conn, change.created, created & refreshed, fields)
    lap("persons")
    if changed_links:
        _write_links(conn)
    lap("links")
    if change.merged:
        conn.execute(
            """UPDATE persons p SET status = 'merged', merged_into = m.survivor, updated_at = now()
               FROM unnest(%s::text[], %s::text[]) AS m(old, survivor) WHERE p.id = m.old""",
            (list(change.merged), list(change.merged.values())),
        )
    _refresh_persons(conn, refreshed - created)
    lap("person_fields")
    _write_candidates(conn, result, summary.run_id)
    lap("candidates")
    if queued:
        # Only the queueings this run read: a record queued again meanwhile stays for the next run.
        conn.execute(
            """DELETE FROM match_queue q USING unnest(%s::bigint[], %s::bigint[]) AS m(id, seq)
               WHERE q.record_id = m.id AND q.seq = m.seq""",
            (list(queued), list(queued.values())),
        )
    bump_generation(conn)
    lap("pending")


# The person's fields come from its records: an active one first, then the latest updated.
_FIELDS_ORDER = "(r.active AND r.removed_at IS NULL) DESC, r.updated_at DESC, r.id"


def _fields_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        row["person_id"],
        display_name(row["given_name"], row["usage_name"]),
        row["given_name"],
        row["usage_name"],
        row["academy_code"],
        "active" if row["alive"] else "left",
    )


def _new_person_fields(conn: DictConnection, person_ids: set[str]) -> dict[str, tuple[Any, ...]]:
    """The display fields and status of these new persons, as ``persons`` columns.

    Their records are all among this run's new links (``match_new_links``: a new person has no
    stored link yet), so the fields are those :func:`_refresh_persons` would give them once the
    links are written.
    """
    fields: dict[str, tuple[Any, ...]] = {}
    if not person_ids:
        return fields
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"""SELECT DISTINCT ON (l.person_id) l.person_id, r.given_name, r.usage_name, r.academy_code,
                      bool_or(r.active AND r.removed_at IS NULL) OVER (PARTITION BY l.person_id)
               FROM match_new_links l JOIN source_records r ON r.id = l.record_id
               WHERE l.new_person
               ORDER BY l.person_id, {_FIELDS_ORDER}""".encode()
        )
        for pid, given, usage, academy, alive in cur:
            if pid in person_ids:
                fields[pid] = _fields_row(
                    {
                        "person_id": pid,
                        "given_name": given,
                        "usage_name": usage,
                        "academy_code": academy,
                        "alive": alive,
                    }
                )
    return fields


def _insert_persons(
    conn: DictConnection, created: list[str], with_fields: set[str], fields: Mapping[str, tuple[Any, ...]]
) -> None:
    """The new persons, with their display fields and status in the same COPY (not a second
    version of every new row afterwards). A new person in ``with_fields`` without any record is
    ``left``; one outside ``with_fields`` keeps the defaults, as before."""
    with (
        _keys_checked_once(conn, "persons"),
        conn.cursor().copy(
            "COPY persons (id, display_name, given_name, family_name, academy_code, status) FROM STDIN"
        ) as copy,
    ):
        for pid in created:
            if pid in fields:
                copy.write_row(fields[pid])
            elif pid in with_fields:  # no record at all
                copy.write_row((pid, "", None, None, None, "left"))
            else:
                copy.write_row((pid, "", None, None, None, "active"))


@contextmanager
def _keys_checked_once(conn: DictConnection, table: str) -> Iterator[None]:
    """Around a bulk write into ``table`` (``persons`` or ``record_links``): when the table is
    empty (a first run), its foreign keys are checked once for the whole table instead of row by
    row.

    A foreign key is checked row by row, each check locking the referenced row (1.2 million row
    locks on the wide ``source_records`` and on ``persons``: most of the 211 s the links took at
    1.2 million). Into an empty table the keys are dropped and added back in this transaction:
    adding a key validates every row in one join, and a violation fails the statement, hence the
    whole run, which rolls back (keys included). The definitions are read from the catalogue, so
    the keys come back exactly as declared. Dropping a key locks the table and the one it
    references exclusively until the run commits (readers wait): acceptable on a first run, when
    there is no resolution to serve yet; later runs take the row-by-row path.
    """
    ident = sql.Identifier(table)
    empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {}) AS empty").format(ident)).fetchone()
    if empty is None or not empty["empty"]:
        yield
        return
    keys = conn.execute(
        """SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname""",
        (table,),
    ).fetchall()
    for key in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(key["conname"]))
        )
    yield
    for key in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                ident, sql.Identifier(key["conname"]), sql.SQL(key["definition"])
            )
        )


def _write_links(conn: DictConnection) -> None:
    """``match_new_links`` into ``record_links``: one insert into an empty table (a first run, keys
    checked once: :func:`_keys_checked_once`), else one upsert."""
    empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM record_links) AS empty").fetchone()
    if empty is not None and empty["empty"]:
        with _keys_checked_once(conn, "record_links"):
            conn.execute(
                """INSERT INTO record_links (record_id, person_id, method, decided_by)
                   SELECT record_id, person_id, method, 'engine' FROM match_new_links"""
            )
        return
    conn.execute(
        """INSERT INTO record_links (record_id, person_id, method, decided_by)
           SELECT record_id, person_id, method, 'engine' FROM match_new_links
           ON CONFLICT (record_id) DO UPDATE
           SET person_id = EXCLUDED.person_id, linked_at = now(),
               method = CASE WHEN record_links.method = 'human' THEN 'human' ELSE EXCLUDED.method END,
               decided_by = CASE WHEN record_links.method = 'human' THEN record_links.decided_by
                                 ELSE 'engine' END"""
    )


def _refresh_persons(conn: DictConnection, person_ids: set[str]) -> None:
    """Status and display fields of these persons, from their records (active ones first)."""
    if not person_ids:
        return
    rows = conn.execute(
        f"""SELECT DISTINCT ON (l.person_id) l.person_id, r.given_name, r.usage_name, r.academy_code,
                  bool_or(r.active AND r.removed_at IS NULL) OVER (PARTITION BY l.person_id) AS alive
           FROM record_links l JOIN source_records r ON r.id = l.record_id
           WHERE l.person_id = ANY(%s)
           ORDER BY l.person_id, {_FIELDS_ORDER}""".encode(),
        (sorted(person_ids),),
    ).fetchall()
    conn.execute(
        """CREATE TEMP TABLE match_person_fields (id text, display_name text, given_name text,
               family_name text, academy_code text, status text) ON COMMIT DROP"""
    )
    seen = set()
    with conn.cursor().copy("COPY match_person_fields FROM STDIN") as copy:
        for row in rows:
            seen.add(row["person_id"])
            copy.write_row(_fields_row(row))
        # Persons left with no record at all (every record moved elsewhere or retired).
        for pid in person_ids - seen:
            copy.write_row((pid, None, None, None, None, "left"))
    conn.execute(
        """UPDATE persons p SET
               display_name = coalesce(f.display_name, p.display_name),
               given_name = coalesce(f.given_name, p.given_name),
               family_name = coalesce(f.family_name, p.family_name),
               academy_code = coalesce(f.academy_code, p.academy_code),
               status = CASE WHEN p.status = 'merged' THEN 'merged' ELSE f.status END,
               updated_at = now()
           FROM match_person_fields f WHERE p.id = f.id"""
    )


def _write_candidates(conn: DictConnection, result: MatchResult, run_id: int) -> None:
    """Upsert the pairs to review; pending pairs this run no longer proposes become obsolete."""
    scored = result.scored
    review = np.flatnonzero(result.clustering.decisions == REVIEW).tolist()
    conn.execute(
        """CREATE TEMP TABLE match_new_candidates (record_a bigint, record_b bigint,
               probability double precision, weight double precision, explanation jsonb)
           ON COMMIT DROP"""
    )
    with conn.cursor().copy("COPY match_new_candidates FROM STDIN") as copy:
        for k in review:
            exp = scored.explain(k)
            a, b = sorted((exp.left_id, exp.right_id))
            copy.write_row((a, b, exp.match_probability, exp.match_weight, json.dumps(exp.as_dict())))
    conn.execute(
        """INSERT INTO match_candidates (record_a, record_b, probability, weight, explanation, run_id)
           SELECT record_a, record_b, probability, weight, explanation, %s FROM match_new_candidates
           ON CONFLICT (record_a, record_b) DO UPDATE
           SET probability = EXCLUDED.probability, weight = EXCLUDED.weight,
               explanation = EXCLUDED.explanation, run_id = EXCLUDED.run_id, updated_at = now(),
               status = CASE WHEN match_candidates.status = 'obsolete' THEN 'pending'
                             ELSE match_candidates.status END""",
        (run_id,),
    )
    # Only pairs inside what this run re-matched can have become obsolete.
    rematched = sorted(result.rematched) if result.rematched is not None else None
    conn.execute(
        """UPDATE match_candidates c SET status = 'obsolete', updated_at = now()
           WHERE c.status = 'pending'
             AND (%(all)s OR c.record_a = ANY(%(ids)s) OR c.record_b = ANY(%(ids)s))
             AND NOT EXISTS (SELECT 1 FROM match_new_candidates n
                             WHERE n.record_a = c.record_a AND n.record_b = c.record_b)""",
        {"all": rematched is None, "ids": rematched or []},
    )


def _assign_instances(db: Database, instances_file: Path | None) -> None:
    """Home instances for new persons (when instances are configured)."""
    from directory.instances import assign_home_instances, load_instances, sync_instances

    if instances_file is not None:
        sync_instances(db, load_instances(instances_file))
    if db.fetch_value("SELECT count(*) FROM instances"):
        assign_home_instances(db)


# -- evaluation and export -------------------------------------------------------------------------


def _read_truth(path: Path) -> Iterator[tuple[str, str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"feed", "uid", "person"} - set(reader.fieldnames or ())
            if missing:
                raise InvalidInputError(f"{path}: truth file lacks columns {sorted(missing)}")
            for row in reader:
                yield row["feed"], row["uid"], row["person"]
    except OSError as exc:
        raise InvalidInputError(f"cannot read truth file {path}: {exc}") from exc


def evaluate_against_truth(
    db: Database, truth_path: Path, *, settings: MatchSettings = DEFAULT_SETTINGS
) -> Evaluation:
    """Pairwise precision, recall, F1 and blocking recall of the stored resolution against a truth
    file (``feed,uid,person``; functional accounts have person ``-`` and are left out)."""
    with db.connection() as conn:
        records = load_records(conn)
        links = {
            r["record_id"]: r["person_id"]
            for r in conn.execute("SELECT record_id, person_id FROM record_links").fetchall()
        }
    ids = {(r.feed, r.uid): r.id for r in records}  # the records just read carry feed and uid
    truth = {
        ids[(feed, uid)]: person
        for feed, uid, person in _read_truth(truth_path)
        if person != "-" and (feed, uid) in ids
    }
    clusters = {rid: links[rid] for rid in truth if rid in links}
    table = build_table(records)
    pairs = candidate_pairs(table, max_block_size=settings.max_block_size)
    candidates = (table.ids[pairs.left].astype(np.int64), table.ids[pairs.right].astype(np.int64))
    return evaluate(clusters, truth, candidate_pairs=candidates, records={r.id: r for r in records})


def export_clusters(db: Database, out: Path) -> int:
    """Write ``feed,uid,person_id`` for every imported record (functional accounts and records not
    yet matched have an empty ``person_id``); the number of rows written."""
    count = 0
    with db.connection() as conn, out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["feed", "uid", "person_id"])
        cur = conn.cursor(name="export_clusters")  # server-side: bounded memory at 1.2 million
        cur.itersize = 50_000
        cur.execute(
            """SELECT r.feed, r.uid, l.person_id FROM source_records r
               LEFT JOIN record_links l ON l.record_id = r.id AND r.kind = 'person'
               ORDER BY r.feed, r.uid, r.id"""
        )
        for row in cur:
            writer.writerow([row["feed"], row["uid"] or "", row["person_id"] or ""])
            count += 1
        cur.close()
    return count
