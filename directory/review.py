"""Human review of the matching engine's doubtful pairs: the decisions and their effect on the store.

An administrator's decision is written three ways at once, in one transaction:

- a **hard constraint** in ``match_decisions`` that every later matching run honours: ``must_link``
  (these two records are one person) or ``cannot_link`` (never the same person). A split writes
  must-links within each chosen group (a chain is enough: must-link is transitive) and cannot-links
  across groups;
- the **effect** on ``record_links`` and ``persons``, so that search and resolution see it at once:
  a merge moves every record of one person onto the other and marks the former ``merged`` with
  ``merged_into`` (its id keeps resolving); a split moves the chosen records to new persons;
- an **audit entry** in ``audit_log`` with who, when, what, and the state before and after as JSON
  (:mod:`directory.snapshots`). ``undo`` (:mod:`directory.undo`) restores the "before" of an entry,
  provided nothing has changed those records since (otherwise the later decision has to be undone
  first), and is itself audited (and undoable).

Pending candidates that a decision settles leave the queue (``merged``/``distinct``). Every
function checks the administrator's scope: an academy administrator only decides cases that
involve a record of their academy, and anything else is reported as not found.

The constraints and queue rows a decision writes, its lock and scope check live in
:mod:`directory.decisionstore`. The read side (the queue and the case page) lives in
:mod:`directory.casework`. ``queue``, ``case``, ``undo`` and what they share are re-exported here:
``directory.review`` is the one name the admin UI needs.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from directory.accounts import follow_merges, follow_splits
from directory.admins import Admin
from directory.casework import Case, Queue, case, queue
from directory.db import Database, DictConnection
from directory.decisionstore import (
    DECISION_LOCK_KEY,
    DecisionConflictError,
    Outcome,
    add_decision,
    check_scope,
    live_decisions,
    lock,
    ordered_pair,
    pending_between,
    refresh_search_index,
    revoke,
    set_candidates,
)
from directory.errors import InvalidInputError, NotFoundError
from directory.snapshots import State, person_records, snapshot, write_audit
from directory.undo import UNDOABLE, undo

__all__ = [
    "DECISION_LOCK_KEY",
    "UNDOABLE",
    "Case",
    "DecisionConflictError",
    "Outcome",
    "Queue",
    "case",
    "mark_distinct",
    "merge",
    "new_person_id",
    "queue",
    "split_person",
    "survivor_of",
    "undo",
]

# -- helpers --------------------------------------------------------------------------------------


def new_person_id() -> str:
    """A fresh person id for a split-off person (random, never reused)."""
    return "p" + secrets.token_hex(8)


def _records(conn: DictConnection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(
        """SELECT r.id, r.academy_code, r.active, r.removed_at, r.given_name, r.usage_name,
                  r.updated_at, l.person_id
           FROM source_records r LEFT JOIN record_links l ON l.record_id = r.id
           WHERE r.id = ANY(%s)""",
        (sorted(set(ids)),),
    ).fetchall()
    return {row["id"]: row for row in rows}


@dataclass(frozen=True, slots=True)
class _Pair:
    """The two records a merge or a distinct decision is about: both found, in the admin's scope."""

    candidate_id: int | None
    a: int
    b: int
    records: dict[int, dict[str, Any]]

    @property
    def target(self) -> str:
        """The audit entry's target."""
        return f"candidate:{self.candidate_id}" if self.candidate_id else f"records:{self.a},{self.b}"

    @property
    def academies(self) -> list[str | None]:
        return [r["academy_code"] for r in self.records.values()]


def _checked_pair(
    conn: DictConnection, admin: Admin, candidate_id: int | None, record_a: int | None, record_b: int | None
) -> _Pair:
    """The pair a decision names (a candidate, or two record ids), locked, found and in scope."""
    cid: int | None
    if candidate_id is not None:
        row = conn.execute(
            "SELECT record_a, record_b FROM match_candidates WHERE id = %s FOR UPDATE", (candidate_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no case {candidate_id}")
        cid, a, b = candidate_id, row["record_a"], row["record_b"]
    else:
        if record_a is None or record_b is None:
            raise InvalidInputError("give a candidate_id, or both record ids")
        a, b = ordered_pair(record_a, record_b)
        row = conn.execute(
            "SELECT id FROM match_candidates WHERE record_a = %s AND record_b = %s FOR UPDATE", (a, b)
        ).fetchone()
        cid = row["id"] if row else None
    recs = _records(conn, [a, b])
    if len(recs) != 2:
        raise NotFoundError("no such records")
    pair = _Pair(cid, a, b, recs)
    check_scope(admin, pair.academies, "case")
    return pair


def _audit_pair(
    conn: DictConnection, pair: _Pair, *, admin: Admin, action: str, summary: str, before: State, after: State
) -> int:
    """The audit entry of a merge or distinct decision on ``pair``."""
    return write_audit(
        conn,
        admin=admin,
        action=action,
        target=pair.target,
        summary=summary,
        before=before,
        after=after,
        academies=pair.academies,
    )


def _title(name: str | None) -> str:
    """``MARTIN-DUPONT`` -> ``Martin-Dupont``; ``D'ARTAGNAN`` -> ``D'Artagnan``; mixed case kept."""
    if not name:
        return ""
    if name != name.upper():
        return name
    out, up = [], True
    for ch in name.lower():
        out.append(ch.upper() if up else ch)
        up = ch in " -'’"
    return "".join(out)


def _refresh_person(conn: DictConnection, person_id: str) -> None:
    """Derive a person's display fields and status from its records (after records moved)."""
    rows = conn.execute(
        """SELECT r.given_name, r.usage_name, r.academy_code, r.active AND r.removed_at IS NULL AS live
           FROM record_links l JOIN source_records r ON r.id = l.record_id
           WHERE l.person_id = %s
           ORDER BY (r.active AND r.removed_at IS NULL) DESC, r.updated_at DESC, r.id""",
        (person_id,),
    ).fetchall()
    if not rows:
        return
    best = rows[0]
    given, family = _title(best["given_name"]), _title(best["usage_name"])
    conn.execute(
        """UPDATE persons SET given_name = %s, family_name = %s, display_name = %s, academy_code = %s,
               status = CASE WHEN %s THEN 'active' ELSE 'left' END, merged_into = NULL, updated_at = now()
           WHERE id = %s""",
        (
            given,
            family,
            f"{given} {family}".strip(),
            best["academy_code"],
            any(r["live"] for r in rows),
            person_id,
        ),
    )


def _survivor(conn: DictConnection, p: str, q: str) -> tuple[str, str]:
    """(kept, merged): the person with a cloud account, else more records, else the older, keeps its id
    (so that federated ids already handed out stay valid as often as possible)."""
    rows = conn.execute(
        """SELECT p.id, p.has_account, p.created_at, count(l.record_id) AS n
           FROM persons p LEFT JOIN record_links l ON l.person_id = p.id
           WHERE p.id = ANY(%s) GROUP BY p.id
           ORDER BY p.has_account DESC, count(l.record_id) DESC, p.created_at, p.id""",
        ([p, q],),
    ).fetchall()
    return rows[0]["id"], rows[1]["id"]


def survivor_of(db: Database, p: str, q: str) -> tuple[str, str]:
    """Which of two persons a merge keeps, and which it marks merged (for previews)."""
    with db.connection() as conn:
        return _survivor(conn, p, q)


def _ensure_person(conn: DictConnection, record_id: int, admin: Admin) -> str:
    """The person of a record, creating a singleton person for a record the engine has not linked."""
    pid = new_person_id()
    conn.execute("INSERT INTO persons (id) VALUES (%s)", (pid,))
    conn.execute(
        "INSERT INTO record_links (record_id, person_id, method, decided_by) VALUES (%s, %s, 'human', %s)",
        (record_id, pid, admin.username),
    )
    _refresh_person(conn, pid)
    return pid


# -- decisions ------------------------------------------------------------------------------------


def merge(
    db: Database,
    *,
    admin: Admin,
    candidate_id: int | None = None,
    record_a: int | None = None,
    record_b: int | None = None,
) -> Outcome:
    """The two records are one person: must-link them and merge their persons now.

    The person kept is chosen by :func:`survivor_of`; the other is marked ``merged`` into it and
    every record moves across (method ``human``). A live cannot-link between the two persons'
    other records blocks the merge (undo that decision first); one on this very pair is superseded.
    """
    with db.connection() as conn:
        lock(conn)
        pair = _checked_pair(conn, admin, candidate_id, record_a, record_b)
        cid, a, b, recs = pair.candidate_id, pair.a, pair.b, pair.records
        pa = recs[a]["person_id"] or _ensure_person(conn, a, admin)
        pb = recs[b]["person_id"] or _ensure_person(conn, b, admin)
        members = person_records(conn, {pa, pb})
        left, right = members[pa], members[pb] if pb != pa else []
        contradicting = [
            d
            for d in live_decisions(conn, "cannot_link", left, right)
            if (d["record_a"], d["record_b"]) != (a, b)
        ]
        if contradicting:
            pairs = ", ".join(
                f"{d['record_a']}/{d['record_b']} (by {d['decided_by']})" for d in contradicting
            )
            raise DecisionConflictError(
                f"records of these two persons were marked distinct: {pairs}; undo that decision first"
            )
        superseded = [d["id"] for d in live_decisions(conn, "cannot_link", [a], [b])]
        settled = pending_between(conn, left + right, left + right)
        all_records = left + right
        kept, gone = (pa, None) if pa == pb else _survivor(conn, pa, pb)
        # Persons merged earlier into the absorbed one are re-pointed too: snapshot them for undo.
        chained = [r["id"] for r in conn.execute("SELECT id FROM persons WHERE merged_into = %s", (gone,))]
        persons = {pa, pb, *chained}
        candidates = settled + ([cid] if cid else [])
        before = snapshot(
            conn, records=all_records, persons=persons, candidates=candidates, decisions=superseded
        )
        new_ids: list[int] = []
        decision = add_decision(conn, "must_link", a, b, admin, cid)
        if decision:
            new_ids.append(decision)
        revoke(conn, superseded, admin)
        if gone is None:
            summary = f"confirmed records {a} and {b} as one person {kept}"
        else:
            conn.execute(
                """UPDATE record_links SET person_id = %s, method = 'human', decided_by = %s,
                       linked_at = now()
                   WHERE person_id = %s""",
                (kept, admin.username, gone),
            )
            conn.execute(
                "UPDATE record_links SET method = 'human', decided_by = %s WHERE record_id = ANY(%s)",
                (admin.username, [a, b]),
            )
            conn.execute("UPDATE persons SET merged_into = %s WHERE merged_into = %s", (kept, gone))
            conn.execute(
                "UPDATE persons SET status = 'merged', merged_into = %s, updated_at = now() WHERE id = %s",
                (kept, gone),
            )
            # Their instance accounts are the survivor's now, as after a matching run's merge: the
            # survivor's has_account and home follow (the snapshots hold them, for the undo).
            follow_merges(conn, dict.fromkeys([gone, *chained], kept), actor=admin.username)
            summary = f"merged person {gone} into {kept} (records {a} and {b})"
        set_candidates(conn, candidates, "merged")
        after = snapshot(
            conn, records=all_records, persons=persons, candidates=candidates, decisions=superseded + new_ids
        )
        audit_id = _audit_pair(
            conn, pair, admin=admin, action="merge", summary=summary, before=before, after=after
        )
        touched = tuple(p for p in (kept, gone) if p)
        refresh_search_index(conn, persons)
    return Outcome(audit_id, "merge", summary, touched, tuple(new_ids))


def mark_distinct(
    db: Database,
    *,
    admin: Admin,
    candidate_id: int | None = None,
    record_a: int | None = None,
    record_b: int | None = None,
) -> Outcome:
    """The two records are different people: cannot-link them; every later run keeps them apart.

    When the engine has already put both records in one person, this is a split, and the
    administrator has to say which records go where: :func:`split_person`.
    """
    with db.connection() as conn:
        lock(conn)
        pair = _checked_pair(conn, admin, candidate_id, record_a, record_b)
        cid, a, b, recs = pair.candidate_id, pair.a, pair.b, pair.records
        pa, pb = recs[a]["person_id"], recs[b]["person_id"]
        if pa is not None and pa == pb:
            raise DecisionConflictError(
                f"records {a} and {b} are both in person {pa}: split that person to choose which records go"
            )
        superseded = [d["id"] for d in live_decisions(conn, "must_link", [a], [b])]
        persons = {p for p in (pa, pb) if p}
        before = snapshot(
            conn, records=[a, b], persons=persons, candidates=[cid] if cid else [], decisions=superseded
        )
        decision = add_decision(conn, "cannot_link", a, b, admin, cid)
        revoke(conn, superseded, admin)
        if cid:
            set_candidates(conn, [cid], "distinct")
        new_ids = [decision] if decision else []
        after = snapshot(
            conn,
            records=[a, b],
            persons=persons,
            candidates=[cid] if cid else [],
            decisions=superseded + new_ids,
        )
        summary = f"marked records {a} and {b} as different people"
        audit_id = _audit_pair(
            conn, pair, admin=admin, action="distinct", summary=summary, before=before, after=after
        )
        refresh_search_index(conn, persons)
    return Outcome(audit_id, "distinct", summary, tuple(sorted(persons)), tuple(new_ids))


def split_person(db: Database, *, person_id: str, groups: Sequence[Sequence[int]], admin: Admin) -> Outcome:
    """Split a person: ``groups`` partitions its records; the first group keeps the person's id,
    each other group becomes a new person. Must-links join each group, cannot-links separate
    every pair across groups; live decisions that contradict the split are revoked (superseded)."""
    parts = [sorted(set(g)) for g in groups if g]
    with db.connection() as conn:
        lock(conn)
        person = conn.execute(
            "SELECT id, status FROM persons WHERE id = %s FOR UPDATE", (person_id,)
        ).fetchone()
        if person is None:
            raise NotFoundError(f"no person {person_id}")
        members = person_records(conn, [person_id])[person_id]
        recs = _records(conn, members)
        check_scope(admin, [r["academy_code"] for r in recs.values()], "person")
        flat = [r for g in parts for r in g]
        if len(parts) < 2 or not groups or not groups[0]:
            raise InvalidInputError("a split needs at least two non-empty groups, the first one staying")
        if len(flat) != len(set(flat)) or set(flat) != set(members):
            raise InvalidInputError(
                f"the groups must share out exactly the records of person {person_id}: {members}"
            )
        across_must = [
            d["id"]
            for i, g in enumerate(parts)
            for h in parts[i + 1 :]
            for d in live_decisions(conn, "must_link", g, h)
        ]
        within_cannot = [d["id"] for g in parts for d in live_decisions(conn, "cannot_link", g, g)]
        pending_within = [c for g in parts for c in pending_between(conn, g, g)]
        pending_across = [
            c for i, g in enumerate(parts) for h in parts[i + 1 :] for c in pending_between(conn, g, h)
        ]
        new_persons = [new_person_id() for _ in parts[1:]]
        before = snapshot(
            conn,
            records=members,
            persons=[person_id, *new_persons],
            candidates=pending_within + pending_across,
            decisions=across_must + within_cannot,
        )
        new_ids: list[int] = []
        for g in parts:
            for x, y in itertools.pairwise(g):
                if (d := add_decision(conn, "must_link", x, y, admin)) is not None:
                    new_ids.append(d)
        for i, g in enumerate(parts):
            for h in parts[i + 1 :]:
                for x in g:
                    for y in h:
                        if (d := add_decision(conn, "cannot_link", x, y, admin)) is not None:
                            new_ids.append(d)
        revoke(conn, across_must + within_cannot, admin)
        for pid, g in zip(new_persons, parts[1:], strict=True):
            conn.execute("INSERT INTO persons (id) VALUES (%s)", (pid,))
            conn.execute(
                """UPDATE record_links SET person_id = %s, method = 'human', decided_by = %s,
                       linked_at = now()
                   WHERE record_id = ANY(%s)""",
                (pid, admin.username, g),
            )
            _refresh_person(conn, pid)
        conn.execute(
            "UPDATE record_links SET method = 'human', decided_by = %s WHERE record_id = ANY(%s)",
            (admin.username, parts[0]),
        )
        _refresh_person(conn, person_id)
        # Each instance account follows the records it belongs to (the snapshots hold them).
        follow_splits(conn, {person_id: new_persons}, actor=admin.username)
        set_candidates(conn, pending_within, "merged")
        set_candidates(conn, pending_across, "distinct")
        after = snapshot(
            conn,
            records=members,
            persons=[person_id, *new_persons],
            candidates=pending_within + pending_across,
            decisions=across_must + within_cannot + new_ids,
        )
        summary = f"split person {person_id} into {', '.join([person_id, *new_persons])}"
        audit_id = write_audit(
            conn,
            admin=admin,
            action="split",
            target=f"person:{person_id}",
            summary=summary,
            before=before,
            after=after,
            academies=[r["academy_code"] for r in recs.values()],
            extra={"groups": parts},
        )
        touched = (person_id, *new_persons)
        refresh_search_index(conn, touched)
    return Outcome(audit_id, "split", summary, touched, tuple(new_ids))
