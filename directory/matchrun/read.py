"""What a matching run reads from the store: the person records (as the engine's ``Record``), the
human decisions (hard constraints), the previous run's links and the queue of changed records."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from psycopg.rows import tuple_row

from directory.db import DictConnection
from matching.cluster import Constraints
from matching.engine import MatchState
from matching.records import Record

__all__ = [
    "iter_record_batches",
    "load_records",
    "previous_links",
    "previous_links_of",
    "read_constraints",
    "read_queue",
    "state_from_links",
]


LOAD_BATCH = 100_000
"""Records per batch when reading them all (:func:`iter_record_batches`)."""
STREAM_CHUNK = 5_000
"""Rows per chunk the server sends while streaming."""

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


def iter_record_batches(conn: DictConnection, size: int = LOAD_BATCH) -> Iterator[list[Record]]:
    """Every current person record, as :func:`load_records` gives them, ``size`` at a time.

    Streamed (``Cursor.stream``, rows in chunks as the server sends them): the whole result (1.2
    million rows) is never held by the client library, nor all the ``Record`` objects at once
    (``matching.features.build_table_in_parts``), and the server's work overlaps ours. Half the
    time of a plain fetch at 1.2 million; a server-side cursor would lose the parallel plan.
    """
    batch: list[Record] = []
    with conn.cursor(row_factory=tuple_row) as cur:
        query = f"""SELECT {_RECORD_COLUMNS}
                    FROM source_records r JOIN feeds f ON f.name = r.feed
                    WHERE r.kind = 'person' AND r.removed_at IS NULL
                    ORDER BY r.id"""
        for row in cur.stream(query.encode(), size=STREAM_CHUNK):
            batch.append(_record(row))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def read_constraints(conn: DictConnection) -> Constraints:
    """The live human decisions (``match_decisions`` not revoked): the engine's hard constraints."""
    rows = conn.execute(
        "SELECT kind, record_a, record_b FROM match_decisions WHERE revoked_at IS NULL ORDER BY id"
    ).fetchall()
    must = tuple((r["record_a"], r["record_b"]) for r in rows if r["kind"] == "must_link")
    cannot = tuple((r["record_a"], r["record_b"]) for r in rows if r["kind"] == "cannot_link")
    return Constraints(must_link=must, cannot_link=cannot)


def previous_links(conn: DictConnection) -> dict[int, str]:
    """Record → person for the records the previous run knew: current ones and those removed since."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            """SELECT l.record_id, l.person_id FROM record_links l
               JOIN source_records r ON r.id = l.record_id
               WHERE r.kind = 'person' AND (r.removed_at IS NULL
                     OR EXISTS (SELECT 1 FROM match_queue q WHERE q.record_id = r.id))"""
        )
        return dict(cur.fetchall())


def previous_links_of(
    conn: DictConnection, known: Collection[int], pending: Collection[int]
) -> dict[int, str]:
    """:func:`previous_links` when the previous run's records are ``known`` (its kept table).

    The same set without joining every link to its record: a known record that is not pending is
    a current person record the previous run saw, unchanged; a pending one (changed, removed or
    new, queued: only a matching run, which holds the lock, takes ids out of the queue) is checked
    against ``source_records`` as :func:`previous_links` does.
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


def read_queue(conn: DictConnection) -> dict[int, int]:
    """The queued records (``match_queue``): record id → the ``seq`` of its queueing."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT record_id, seq FROM match_queue")
        return dict(cur.fetchall())


def state_from_links(links: Mapping[int, str], oversize: list[str], anchor: int | None = None) -> MatchState:
    """The engine's previous state from stored links: each record labelled by the smallest record
    id of its person; ``anchor`` is the previous run's departure anchor."""
    smallest: dict[str, int] = {}
    get = smallest.get
    for rid, pid in links.items():
        m = get(pid)
        if m is None or rid < m:
            smallest[pid] = rid
    return MatchState(
        clusters={rid: smallest[pid] for rid, pid in links.items()},
        oversize_keys=oversize,
        departure_anchor=anchor,
    )
