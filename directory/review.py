"""Human review of the matching engine's doubtful pairs: the decisions and their effect on the store.

An administrator's decision is written three ways at once, in one transaction:

- a **hard constraint** in ``match_decisions`` that every later matching run honours: ``must_link``
  (these two records are one person) or ``cannot_link`` (never the same person). A split writes
  must-links within each chosen group (a chain is enough: must-link is transitive) and cannot-links
  across groups;
- the **effect** on ``record_links`` and ``persons``, so that search and resolution see it at once:
  a merge moves every record of one person onto the other and marks the former ``merged`` with
  ``merged_into`` (its id keeps resolving); a split moves the chosen records to new persons;
- an **audit entry** in ``audit_log`` with who, when, what, and the state before and after as JSON.
  ``undo`` restores the "before" of an entry, provided nothing has changed those records since
  (otherwise the later decision has to be undone first), and is itself audited (and undoable).

Pending candidates that a decision settles leave the queue (``merged``/``distinct``). Every
function checks the administrator's scope: an academy administrator only decides cases that
involve a record of their academy, and anything else is reported as not found.

The read side (the queue and the case page) lives in :mod:`directory.casework`; ``queue`` and
``case`` are re-exported here.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from directory.admins import Admin
from directory.casework import Case, Queue, case, queue
from directory.db import Database, DictConnection
from directory.errors import DirectoryError, InvalidInputError, NotFoundError
from directory.search.hooks import mark_changed

__all__ = [
    "DECISION_LOCK_KEY",
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
    "undo",
]

log = logging.getLogger(__name__)

# Taken (transaction-scoped) by every decision, so two administrators deciding on overlapping
# records one after the other see each other's effect. A matching run that writes persons may take
# the same lock to avoid interleaving with a decision.
DECISION_LOCK_KEY = 0x7265766965770001

UNDOABLE = frozenset({"merge", "distinct", "split", "undo"})


class DecisionConflictError(DirectoryError):
    """The decision contradicts an earlier one (e.g. a merge across a cannot-link), or the state
    changed since the entry to undo; the message says which and what to do first."""

    status = 409
    code = "decision_conflict"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decision did: its audit entry, a one-line summary, and the persons it touched."""

    audit_id: int
    action: str
    summary: str
    person_ids: tuple[str, ...]
    decision_ids: tuple[int, ...] = ()


# -- search freshness ----------------------------------------------------------------------------


def _refresh_search_index(conn: DictConnection, person_ids: Iterable[str]) -> None:
    """Tell every API worker's search index that these persons changed. Inside the decision's
    transaction: the signal becomes visible together with the change it announces."""
    mark_changed(conn, person_ids)


# -- snapshots ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """The part of the store a decision touches, as stored in ``audit_log.before``/``after``."""

    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    persons: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    candidates: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, bool] = field(default_factory=dict)  # id -> live
    members: dict[str, list[int]] = field(default_factory=dict)  # person -> its records

    def as_json(self) -> dict[str, Any]:
        return {
            "links": self.links,
            "persons": self.persons,
            "candidates": self.candidates,
            "decisions": self.decisions,
            "members": self.members,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> _State:
        data = data or {}
        return cls(
            links=dict(data.get("links", {})),
            persons=dict(data.get("persons", {})),
            candidates=dict(data.get("candidates", {})),
            decisions={k: bool(v) for k, v in data.get("decisions", {}).items()},
            members={k: sorted(v) for k, v in data.get("members", {}).items()},
        )


_PERSON_FIELDS = ("status", "merged_into", "display_name", "given_name", "family_name", "academy_code")


def _snapshot(
    conn: DictConnection,
    *,
    records: Iterable[int],
    persons: Iterable[str],
    candidates: Iterable[int] = (),
    decisions: Iterable[int] = (),
) -> _State:
    state = _State()
    for row in conn.execute(
        "SELECT record_id, person_id, method, score, decided_by FROM record_links WHERE record_id = ANY(%s)",
        (sorted(set(records)),),
    ):
        state.links[str(row["record_id"])] = {
            k: row[k] for k in ("person_id", "method", "score", "decided_by")
        }
    wanted = sorted(set(persons))
    state.persons = dict.fromkeys(wanted)
    for row in conn.execute(
        f"SELECT id, {', '.join(_PERSON_FIELDS)} FROM persons WHERE id = ANY(%s)", (wanted,)
    ):
        state.persons[row["id"]] = {k: row[k] for k in _PERSON_FIELDS}
    state.members = {p: [] for p in wanted}
    for row in conn.execute(
        "SELECT person_id, record_id FROM record_links WHERE person_id = ANY(%s) ORDER BY record_id",
        (wanted,),
    ):
        state.members[row["person_id"]].append(row["record_id"])
    for row in conn.execute(
        "SELECT id, status FROM match_candidates WHERE id = ANY(%s)", (sorted(set(candidates)),)
    ):
        state.candidates[str(row["id"])] = row["status"]
    for row in conn.execute(
        "SELECT id, revoked_at IS NULL AS live FROM match_decisions WHERE id = ANY(%s)",
        (sorted(set(decisions)),),
    ):
        state.decisions[str(row["id"])] = row["live"]
    return state


def _recapture(conn: DictConnection, like: _State) -> _State:
    """The current state of exactly what ``like`` describes."""
    return _snapshot(
        conn,
        records=[int(r) for r in like.links],
        persons=like.persons,
        candidates=[int(c) for c in like.candidates],
        decisions=[int(d) for d in like.decisions],
    )


def _audit(
    conn: DictConnection,
    *,
    admin: Admin,
    action: str,
    target: str,
    summary: str,
    before: _State,
    after: _State,
    academies: Iterable[str | None],
    extra: dict[str, Any] | None = None,
) -> int:
    after_json = {**after.as_json(), "summary": summary, **(extra or {})}
    row = conn.execute(
        """INSERT INTO audit_log (actor, action, target, before, after, academies)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (
            admin.username,
            action,
            target,
            json.dumps(before.as_json(), default=str),
            json.dumps(after_json, default=str),
            sorted({a for a in academies if a}),
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


# -- helpers --------------------------------------------------------------------------------------


def new_person_id() -> str:
    """A fresh person id for a split-off person (random, never reused)."""
    return "p" + secrets.token_hex(8)


def _lock(conn: DictConnection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DECISION_LOCK_KEY,))


def _pair(a: int, b: int) -> tuple[int, int]:
    if a == b:
        raise InvalidInputError("a decision needs two different records")
    return (a, b) if a < b else (b, a)


def _records(conn: DictConnection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(
        """SELECT r.id, r.academy_code, r.active, r.removed_at, r.given_name, r.usage_name,
                  r.updated_at, l.person_id
           FROM source_records r LEFT JOIN record_links l ON l.record_id = r.id
           WHERE r.id = ANY(%s)""",
        (sorted(set(ids)),),
    ).fetchall()
    return {row["id"]: row for row in rows}


def _person_records(conn: DictConnection, person_ids: Iterable[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {p: [] for p in person_ids}
    for row in conn.execute(
        "SELECT person_id, record_id FROM record_links WHERE person_id = ANY(%s) ORDER BY record_id",
        (sorted(out),),
    ):
        out[row["person_id"]].append(row["record_id"])
    return out


def _check_scope(admin: Admin, academies: Iterable[str | None], what: str) -> None:
    if not admin.may_see(set(academies)):
        # Not found rather than forbidden: an academy administrator need not learn that it exists.
        raise NotFoundError(f"no {what} visible to you")


def _resolve_pair(
    conn: DictConnection, candidate_id: int | None, record_a: int | None, record_b: int | None
) -> tuple[int | None, int, int]:
    if candidate_id is not None:
        row = conn.execute(
            "SELECT record_a, record_b FROM match_candidates WHERE id = %s FOR UPDATE", (candidate_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no case {candidate_id}")
        return candidate_id, row["record_a"], row["record_b"]
    if record_a is None or record_b is None:
        raise InvalidInputError("give a candidate_id, or both record ids")
    a, b = _pair(record_a, record_b)
    row = conn.execute(
        "SELECT id FROM match_candidates WHERE record_a = %s AND record_b = %s FOR UPDATE", (a, b)
    ).fetchone()
    return (row["id"] if row else None), a, b


def _add_decision(
    conn: DictConnection, kind: str, a: int, b: int, admin: Admin, candidate_id: int | None = None
) -> int | None:
    """Insert a live decision unless the same one is already live; its id, or None."""
    a, b = _pair(a, b)
    live = conn.execute(
        """SELECT id FROM match_decisions
           WHERE kind = %s AND record_a = %s AND record_b = %s AND revoked_at IS NULL""",
        (kind, a, b),
    ).fetchone()
    if live:
        return None
    row = conn.execute(
        """INSERT INTO match_decisions (kind, record_a, record_b, decided_by, candidate_id)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (kind, a, b, admin.username, candidate_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _live_decisions(
    conn: DictConnection, kind: str, left: Iterable[int], right: Iterable[int]
) -> list[dict[str, Any]]:
    """Live decisions of ``kind`` joining a record of ``left`` to a record of ``right``."""
    left_ids, right_ids = sorted(set(left)), sorted(set(right))
    return conn.execute(
        """SELECT id, record_a, record_b, decided_by, created_at FROM match_decisions
           WHERE kind = %s AND revoked_at IS NULL
             AND ((record_a = ANY(%s) AND record_b = ANY(%s))
                  OR (record_a = ANY(%s) AND record_b = ANY(%s)))
           ORDER BY id""",
        (kind, left_ids, right_ids, right_ids, left_ids),
    ).fetchall()


def _revoke(conn: DictConnection, ids: Iterable[int], admin: Admin) -> list[int]:
    ids = sorted(set(ids))
    conn.execute(
        """UPDATE match_decisions SET revoked_at = now(), revoked_by = %s
           WHERE id = ANY(%s) AND revoked_at IS NULL""",
        (admin.username, ids),
    )
    return ids


def _pending_between(conn: DictConnection, left: Iterable[int], right: Iterable[int]) -> list[int]:
    left_ids, right_ids = sorted(set(left)), sorted(set(right))
    rows = conn.execute(
        """SELECT id FROM match_candidates WHERE status = 'pending'
             AND ((record_a = ANY(%s) AND record_b = ANY(%s))
                  OR (record_a = ANY(%s) AND record_b = ANY(%s)))""",
        (left_ids, right_ids, right_ids, left_ids),
    ).fetchall()
    return [r["id"] for r in rows]


def _set_candidates(conn: DictConnection, ids: Iterable[int], status: str) -> None:
    conn.execute(
        "UPDATE match_candidates SET status = %s, updated_at = now() WHERE id = ANY(%s)",
        (status, sorted(set(ids))),
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
        _lock(conn)
        cid, a, b = _resolve_pair(conn, candidate_id, record_a, record_b)
        recs = _records(conn, [a, b])
        if len(recs) != 2:
            raise NotFoundError("no such records")
        _check_scope(admin, [r["academy_code"] for r in recs.values()], "case")
        pa = recs[a]["person_id"] or _ensure_person(conn, a, admin)
        pb = recs[b]["person_id"] or _ensure_person(conn, b, admin)
        members = _person_records(conn, {pa, pb})
        left, right = members[pa], members[pb] if pb != pa else []
        contradicting = [
            d
            for d in _live_decisions(conn, "cannot_link", left, right)
            if (d["record_a"], d["record_b"]) != (a, b)
        ]
        if contradicting:
            pairs = ", ".join(
                f"{d['record_a']}/{d['record_b']} (by {d['decided_by']})" for d in contradicting
            )
            raise DecisionConflictError(
                f"records of these two persons were marked distinct: {pairs}; undo that decision first"
            )
        superseded = [d["id"] for d in _live_decisions(conn, "cannot_link", [a], [b])]
        settled = _pending_between(conn, left + right, left + right)
        all_records = left + right
        kept, gone = (pa, None) if pa == pb else _survivor(conn, pa, pb)
        # Persons merged earlier into the absorbed one are re-pointed too: snapshot them for undo.
        chained = [r["id"] for r in conn.execute("SELECT id FROM persons WHERE merged_into = %s", (gone,))]
        persons = {pa, pb, *chained}
        candidates = settled + ([cid] if cid else [])
        before = _snapshot(
            conn, records=all_records, persons=persons, candidates=candidates, decisions=superseded
        )
        new_ids: list[int] = []
        decision = _add_decision(conn, "must_link", a, b, admin, cid)
        if decision:
            new_ids.append(decision)
        _revoke(conn, superseded, admin)
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
                """UPDATE persons SET has_account = has_account OR
                       (SELECT has_account FROM persons WHERE id = %s), updated_at = now() WHERE id = %s""",
                (gone, kept),
            )
            conn.execute(
                "UPDATE persons SET status = 'merged', merged_into = %s, updated_at = now() WHERE id = %s",
                (kept, gone),
            )
            summary = f"merged person {gone} into {kept} (records {a} and {b})"
        _set_candidates(conn, candidates, "merged")
        after = _snapshot(
            conn, records=all_records, persons=persons, candidates=candidates, decisions=superseded + new_ids
        )
        audit_id = _audit(
            conn,
            admin=admin,
            action="merge",
            target=f"candidate:{cid}" if cid else f"records:{a},{b}",
            summary=summary,
            before=before,
            after=after,
            academies=[r["academy_code"] for r in recs.values()],
        )
        touched = tuple(p for p in (kept, gone) if p)
        _refresh_search_index(conn, persons)
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
        _lock(conn)
        cid, a, b = _resolve_pair(conn, candidate_id, record_a, record_b)
        recs = _records(conn, [a, b])
        if len(recs) != 2:
            raise NotFoundError("no such records")
        _check_scope(admin, [r["academy_code"] for r in recs.values()], "case")
        pa, pb = recs[a]["person_id"], recs[b]["person_id"]
        if pa is not None and pa == pb:
            raise DecisionConflictError(
                f"records {a} and {b} are both in person {pa}: split that person to choose which records go"
            )
        superseded = [d["id"] for d in _live_decisions(conn, "must_link", [a], [b])]
        persons = {p for p in (pa, pb) if p}
        before = _snapshot(
            conn, records=[a, b], persons=persons, candidates=[cid] if cid else [], decisions=superseded
        )
        decision = _add_decision(conn, "cannot_link", a, b, admin, cid)
        _revoke(conn, superseded, admin)
        if cid:
            _set_candidates(conn, [cid], "distinct")
        new_ids = [decision] if decision else []
        after = _snapshot(
            conn,
            records=[a, b],
            persons=persons,
            candidates=[cid] if cid else [],
            decisions=superseded + new_ids,
        )
        summary = f"marked records {a} and {b} as different people"
        audit_id = _audit(
            conn,
            admin=admin,
            action="distinct",
            target=f"candidate:{cid}" if cid else f"records:{a},{b}",
            summary=summary,
            before=before,
            after=after,
            academies=[r["academy_code"] for r in recs.values()],
        )
        _refresh_search_index(conn, persons)
    return Outcome(audit_id, "distinct", summary, tuple(sorted(persons)), tuple(new_ids))


def split_person(db: Database, *, person_id: str, groups: Sequence[Sequence[int]], admin: Admin) -> Outcome:
    """Split a person: ``groups`` partitions its records; the first group keeps the person's id,
    each other group becomes a new person. Must-links join each group, cannot-links separate
    every pair across groups; live decisions that contradict the split are revoked (superseded)."""
    parts = [sorted(set(g)) for g in groups if g]
    with db.connection() as conn:
        _lock(conn)
        person = conn.execute(
            "SELECT id, status FROM persons WHERE id = %s FOR UPDATE", (person_id,)
        ).fetchone()
        if person is None:
            raise NotFoundError(f"no person {person_id}")
        members = _person_records(conn, [person_id])[person_id]
        recs = _records(conn, members)
        _check_scope(admin, [r["academy_code"] for r in recs.values()], "person")
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
            for d in _live_decisions(conn, "must_link", g, h)
        ]
        within_cannot = [d["id"] for g in parts for d in _live_decisions(conn, "cannot_link", g, g)]
        pending_within = [c for g in parts for c in _pending_between(conn, g, g)]
        pending_across = [
            c for i, g in enumerate(parts) for h in parts[i + 1 :] for c in _pending_between(conn, g, h)
        ]
        new_persons = [new_person_id() for _ in parts[1:]]
        before = _snapshot(
            conn,
            records=members,
            persons=[person_id, *new_persons],
            candidates=pending_within + pending_across,
            decisions=across_must + within_cannot,
        )
        new_ids: list[int] = []
        for g in parts:
            for x, y in itertools.pairwise(g):
                if (d := _add_decision(conn, "must_link", x, y, admin)) is not None:
                    new_ids.append(d)
        for i, g in enumerate(parts):
            for h in parts[i + 1 :]:
                for x in g:
                    for y in h:
                        if (d := _add_decision(conn, "cannot_link", x, y, admin)) is not None:
                            new_ids.append(d)
        _revoke(conn, across_must + within_cannot, admin)
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
        _set_candidates(conn, pending_within, "merged")
        _set_candidates(conn, pending_across, "distinct")
        after = _snapshot(
            conn,
            records=members,
            persons=[person_id, *new_persons],
            candidates=pending_within + pending_across,
            decisions=across_must + within_cannot + new_ids,
        )
        summary = f"split person {person_id} into {', '.join([person_id, *new_persons])}"
        audit_id = _audit(
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
        _refresh_search_index(conn, touched)
    return Outcome(audit_id, "split", summary, touched, tuple(new_ids))


def undo(db: Database, *, audit_id: int, admin: Admin) -> Outcome:
    """Restore the state before a decision (merge, distinct, split, or an undo: that is a redo).

    Refused when the records have changed since (a later decision, or a matching run moved them):
    undo the later decision first. Persons created by a split are not deleted (their ids may have
    been handed out): they are marked merged into the person their records return to.
    """
    with db.connection() as conn:
        _lock(conn)
        row = conn.execute(
            "SELECT id, action, target, before, after, academies FROM audit_log WHERE id = %s FOR UPDATE",
            (audit_id,),
        ).fetchone()
        if row is None or row["action"] not in UNDOABLE:
            raise NotFoundError(f"no decision #{audit_id} to undo")
        _check_scope(admin, row["academies"] or [None], "decision")
        target, expected = _State.from_json(row["before"]), _State.from_json(row["after"])
        current = _recapture(conn, expected)
        if not _same(current, expected):
            later = conn.execute(
                """SELECT id FROM audit_log WHERE id > %s AND action = ANY(%s) ORDER BY id DESC LIMIT 5""",
                (audit_id, sorted(UNDOABLE)),
            ).fetchall()
            hint = f" (later decisions: {', '.join('#' + str(r['id']) for r in later)})" if later else ""
            raise DecisionConflictError(
                f"the records of decision #{audit_id} have changed since; "
                f"undo the later decisions first{hint}"
            )
        _restore(conn, target, expected, admin)
        after = _recapture(conn, expected)
        summary = f"undid #{audit_id} ({row['action']}: {(row['after'] or {}).get('summary', '')})"
        new_id = _audit(
            conn,
            admin=admin,
            action="undo",
            target=f"audit:{audit_id}",
            summary=summary,
            before=current,
            after=after,
            academies=row["academies"] or [],
        )
        persons = tuple(sorted(p for p in expected.persons))
        _refresh_search_index(conn, persons)
    return Outcome(new_id, "undo", summary, persons)


def _same(current: _State, expected: _State) -> bool:
    """Whether the store still holds what a decision left (ignoring scores' float noise)."""
    if current.candidates != expected.candidates or current.decisions != expected.decisions:
        return False
    if set(current.links) != set(expected.links) or current.members != expected.members:
        return False
    for rid, link in expected.links.items():
        if current.links[rid]["person_id"] != link["person_id"]:
            return False
    for pid, person in expected.persons.items():
        now = current.persons.get(pid)
        if (person is None) != (now is None):
            return False
        if (
            person
            and now
            and (person["status"], person["merged_into"]) != (now["status"], now["merged_into"])
        ):
            return False
    return True


def _restore(conn: DictConnection, target: _State, expected: _State, admin: Admin) -> None:
    """Bring the store from ``expected`` back to ``target`` (links, persons, candidates, decisions)."""
    for rid, link in target.links.items():
        conn.execute(
            """UPDATE record_links SET person_id = %s, method = %s, score = %s, decided_by = %s,
                   linked_at = now()
               WHERE record_id = %s""",
            (link["person_id"], link["method"], link["score"], link["decided_by"], int(rid)),
        )
    for pid, person in target.persons.items():
        if person is None:
            # Created by the decision being undone. Not deleted (its id may have been handed out):
            # marked merged into the person its records went back to, so the id keeps resolving.
            back = [
                target.links[r]["person_id"] for r, link in expected.links.items() if link["person_id"] == pid
            ]
            conn.execute(
                "UPDATE persons SET status = 'merged', merged_into = %s, updated_at = now() WHERE id = %s",
                (back[0] if back else None, pid),
            )
            continue
        conn.execute(
            f"""UPDATE persons SET {", ".join(f"{k} = %s" for k in _PERSON_FIELDS)}, updated_at = now()
                WHERE id = %s""",
            (*(person[k] for k in _PERSON_FIELDS), pid),
        )
    for cid, status in target.candidates.items():
        _set_candidates(conn, [int(cid)], status)
    # Decisions the undone action created did not exist before it: revoke them.
    created = [int(d) for d in expected.decisions if d not in target.decisions]
    _revoke(conn, created, admin)
    for did, live in target.decisions.items():
        if live:
            conn.execute(
                "UPDATE match_decisions SET revoked_at = NULL, revoked_by = NULL WHERE id = %s", (int(did),)
            )
        else:
            _revoke(conn, [int(did)], admin)
