"""What a matching run writes, in its one transaction: person ids, links, persons, candidates.

Person ids stay stable (:func:`matching.engine.assign_person_ids`); only the links that changed are
written (``COPY`` into a temporary table, then one set-based statement), new persons with their
display fields in the same ``COPY``, the fields and status of every person touched, the review
candidates (pending pairs no longer proposed become ``obsolete``), and the queue entries the run
read are taken out. The search index is told last (``directory.search.hooks``), in the same
transaction: readers see the previous resolution or the new one, never half of one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
from psycopg import sql
from psycopg.rows import tuple_row

from directory.accounts import follow_merges, follow_splits
from directory.db import DictConnection
from directory.decisionstore import DECISION_LOCK_KEY
from directory.matchrun.summary import Laps, MatchRunSummary
from directory.names import display_name
from directory.review import new_person_id
from directory.search.hooks import bump_generation
from matching.cluster import REVIEW, Constraints
from matching.engine import MatchResult, assign_person_ids

__all__ = ["WRITE_WORK_MEM", "refresh_persons", "write_candidates", "write_result"]

WRITE_WORK_MEM = "256MB"
"""``work_mem`` of the run's transaction: the sorts by person of a first run (1.2 million links)
then stay in memory instead of spilling to disk (measured in ``docs/benchmarks.md``)."""


def write_result(
    conn: DictConnection,
    result: MatchResult,
    previous: dict[int, str],
    pending: set[int],
    queued: Mapping[int, int],
    constraints: Constraints,
    summary: MatchRunSummary,
) -> None:
    """Write a run's result, inside the run's transaction (committed by the caller); fills the
    counts of ``summary`` and times each step into ``summary.timings`` (``write_*``)."""
    lap = Laps(summary.timings, "write_")
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DECISION_LOCK_KEY,))
    conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WRITE_WORK_MEM)))
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

    # After an incremental run only re-matched records can have changed person, and a person of
    # the region has all of its records in it (the region holds whole clusters).
    scope = assignment if result.rematched is None else {r: assignment[r] for r in result.rematched}
    sizes = Counter(scope.values())
    human = constraints.record_ids()
    changed_links = [
        (rid, pid, "human" if rid in human else ("singleton" if sizes[pid] == 1 else "model"))
        for rid, pid in scope.items()
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
        # a temporary table has no statistics: without them the joins below are planned blind
        conn.execute("ANALYZE match_new_links")
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
        # the merged persons' reported accounts go with their records
        follow_merges(conn, change.merged)
    # and a split person's accounts go to the part whose records they match
    if change.split:
        follow_splits(conn, change.split, actor="matching")
    refresh_persons(conn, refreshed - created)
    lap("person_fields")
    # records gone since the last run (removed, or out of the read): their pairs are not proposed
    gone = {rid for rid in pending if rid not in result.clusters}
    write_candidates(conn, result, summary.run_id, gone)
    lap("candidates")
    if queued:
        # Only the queueings this run read: a record queued again meanwhile stays for the next run.
        # Through COPY, not two array parameters: 0.35 against 1.7 s of the client's time for the
        # 1.26 million entries of a first run.
        conn.execute("CREATE TEMP TABLE match_read_queue (record_id bigint, seq bigint) ON COMMIT DROP")
        with conn.cursor().copy("COPY match_read_queue FROM STDIN") as copy:
            for entry in queued.items():
                copy.write_row(entry)
        conn.execute("ANALYZE match_read_queue")
        conn.execute(
            """DELETE FROM match_queue q USING match_read_queue m
               WHERE q.record_id = m.record_id AND q.seq = m.seq"""
        )
    bump_generation(conn)
    lap("pending")


# The person's fields come from its records: an active one first, then the latest updated. The
# first row of a person is then alive exactly when one of its records is. Person ids sort in the
# "C" collation: the same groups, without the cost of the database's linguistic collation.
_ALIVE = "(r.active AND r.removed_at IS NULL)"
_FIELDS_ORDER = f'l.person_id COLLATE "C", {_ALIVE} DESC, r.updated_at DESC, r.id'


def _fields(
    person_id: str, given: str | None, usage: str | None, academy: str | None, alive: bool
) -> tuple[Any, ...]:
    """A person's ``persons`` columns from its first record."""
    return (person_id, display_name(given, usage), given, usage, academy, "active" if alive else "left")


def _fields_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return _fields(row["person_id"], row["given_name"], row["usage_name"], row["academy_code"], row["alive"])


def _new_person_fields(conn: DictConnection, person_ids: set[str]) -> dict[str, tuple[Any, ...]]:
    """The display fields and status of these new persons, as ``persons`` columns.

    Their records are all among this run's new links (``match_new_links``: a new person has no
    stored link yet), so the fields are those :func:`refresh_persons` would give them once the
    links are written.
    """
    fields: dict[str, tuple[Any, ...]] = {}
    if not person_ids:
        return fields
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            f"""SELECT DISTINCT ON (l.person_id COLLATE "C") l.person_id, r.given_name, r.usage_name,
                      r.academy_code, {_ALIVE}
               FROM match_new_links l JOIN source_records r ON r.id = l.record_id
               WHERE l.new_person
               ORDER BY {_FIELDS_ORDER}""".encode()
        )
        for row in cur:
            if row[0] in person_ids:
                fields[row[0]] = _fields(*row)
    return fields


def _insert_persons(
    conn: DictConnection, created: list[str], with_fields: set[str], fields: Mapping[str, tuple[Any, ...]]
) -> None:
    """The new persons, with their display fields and status in the same COPY (not a second
    version of every new row afterwards). A new person in ``with_fields`` without any record is
    ``left``; one outside ``with_fields`` keeps the defaults, as before."""
    with (
        _bulk_into_empty(conn, "persons"),
        conn.cursor().copy(
            "COPY persons (id, display_name, given_name, family_name, academy_code, status) FROM STDIN"
        ) as copy,
    ):
        # in key order: the primary key is then appended to, not updated at random places
        # (1.8 against 4.1 s for 1.2 million new persons)
        for pid in sorted(created):
            if pid in fields:
                copy.write_row(fields[pid])
            elif pid in with_fields:  # no record at all
                copy.write_row((pid, "", None, None, None, "left"))
            else:
                copy.write_row((pid, "", None, None, None, "active"))


@contextmanager
def _bulk_into_empty(conn: DictConnection, table: str) -> Iterator[None]:
    """Around a bulk write into ``table`` (``persons`` or ``record_links``): when the table is
    empty (a first run), its foreign keys are checked once for the whole table instead of row by
    row, and its plain indexes (those that back no constraint) are built once after the load
    instead of row by row.

    A foreign key is checked row by row, each check locking the referenced row (1.2 million row
    locks on the wide ``source_records`` and on ``persons``: most of the 211 s the links took at
    1.2 million). An index updated row by row in random order (``record_links`` by person id, a
    random text) costs three times what building it after the load costs (5.2 against 2.3 s for
    1.26 million links). Into an empty table the keys and those indexes are dropped and added back
    in this transaction: adding a key validates every row in one join, and a violation fails the
    statement, hence the whole run, which rolls back (keys and indexes included). The definitions
    are read from the catalogue, so they come back exactly as declared. Dropping them locks the
    table and the one it references exclusively until the run commits (readers wait): acceptable
    on a first run, when there is no resolution to serve yet; later runs take the row-by-row path.
    Primary keys stay (other tables' keys depend on them): the rows are written in key order.
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
    indexes = conn.execute(
        """SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = %s::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           ORDER BY c.relname""",
        (table,),
    ).fetchall()
    for key in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(key["conname"]))
        )
    for index in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index["name"])))
    yield
    for index in indexes:
        conn.execute(sql.SQL(index["definition"]))
    for key in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                ident, sql.Identifier(key["conname"]), sql.SQL(key["definition"])
            )
        )


def _write_links(conn: DictConnection) -> None:
    """``match_new_links`` into ``record_links``: one insert into an empty table (a first run, keys
    checked once: :func:`_bulk_into_empty`), else one upsert."""
    empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM record_links) AS empty").fetchone()
    if empty is not None and empty["empty"]:
        with _bulk_into_empty(conn, "record_links"):
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


def refresh_persons(conn: DictConnection, person_ids: set[str]) -> None:
    """Status and display fields of these persons, from their records (active ones first)."""
    if not person_ids:
        return
    rows = conn.execute(
        f"""SELECT DISTINCT ON (l.person_id COLLATE "C") l.person_id, r.given_name, r.usage_name,
                  r.academy_code, {_ALIVE} AS alive
           FROM record_links l JOIN source_records r ON r.id = l.record_id
           WHERE l.person_id = ANY(%s)
           ORDER BY {_FIELDS_ORDER}""".encode(),
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


def write_candidates(
    conn: DictConnection, result: MatchResult, run_id: int, gone: Collection[int] = ()
) -> None:
    """Upsert the pairs to review; pending pairs this run no longer proposes become obsolete (after
    an incremental run: those of the re-matched records and of the ``gone`` ones, records that have
    left the data since the previous run)."""
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
    # Only pairs of what this run re-matched, or of a record that is gone, can have become obsolete.
    rematched = sorted(result.rematched | set(gone)) if result.rematched is not None else None
    conn.execute(
        """UPDATE match_candidates c SET status = 'obsolete', updated_at = now()
           WHERE c.status = 'pending'
             AND (%(all)s OR c.record_a IN (SELECT unnest(%(ids)s::bigint[]))
                  OR c.record_b IN (SELECT unnest(%(ids)s::bigint[])))
             AND NOT EXISTS (SELECT 1 FROM match_new_candidates n
                             WHERE n.record_a = c.record_a AND n.record_b = c.record_b)""",
        {"all": rematched is None, "ids": rematched or []},
    )
