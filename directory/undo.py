"""Undoing a review decision: the store brought back to the entry's "before".

``undo`` restores what an audit entry of a decision (:mod:`directory.review`) recorded before it,
provided nothing has changed those records since (otherwise the later decision has to be undone
first). It is itself audited, and undoable: undoing an undo is a redo. Persons a split created are
not deleted (their ids may have been handed out): they are marked merged into the person their
records return to, so that the id keeps resolving.
"""

from __future__ import annotations

from directory.accounts import settle_accounts
from directory.admins import Admin
from directory.db import Database, DictConnection
from directory.decisionstore import (
    DecisionConflictError,
    Outcome,
    check_scope,
    lock,
    refresh_search_index,
    revoke,
    set_candidates,
)
from directory.errors import NotFoundError
from directory.snapshots import ACCOUNT_FIELDS, PERSON_FIELDS, State, recapture, write_audit

__all__ = ["UNDOABLE", "undo"]

# The audit actions that are decisions (and so can be undone); other entries (instances) cannot.
UNDOABLE = frozenset({"merge", "distinct", "split", "undo"})


def undo(db: Database, *, audit_id: int, admin: Admin) -> Outcome:
    """Restore the state before a decision (merge, distinct, split, or an undo: that is a redo).

    Refused when the records have changed since (a later decision, or a matching run moved them):
    undo the later decision first. Persons created by a split are not deleted (their ids may have
    been handed out): they are marked merged into the person their records return to.
    """
    with db.connection() as conn:
        lock(conn)
        row = conn.execute(
            "SELECT id, action, target, before, after, academies FROM audit_log WHERE id = %s FOR UPDATE",
            (audit_id,),
        ).fetchone()
        if row is None or row["action"] not in UNDOABLE:
            raise NotFoundError(f"no decision #{audit_id} to undo")
        check_scope(admin, row["academies"] or [None], "decision")
        target, expected = State.from_json(row["before"]), State.from_json(row["after"])
        current = recapture(conn, expected)
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
        after = recapture(conn, expected)
        summary = f"undid #{audit_id} ({row['action']}: {(row['after'] or {}).get('summary', '')})"
        new_id = write_audit(
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
        refresh_search_index(conn, persons)
    return Outcome(new_id, "undo", summary, persons)


def _same(current: State, expected: State) -> bool:
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


def _restore(conn: DictConnection, target: State, expected: State, admin: Admin) -> None:
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
        # Home and has_account only where the entry has them (older entries do not).
        fields = [k for k in PERSON_FIELDS + ACCOUNT_FIELDS if k in person]
        conn.execute(
            f"""UPDATE persons SET {", ".join(f"{k} = %s" for k in fields)}, updated_at = now()
                WHERE id = %s""",
            (*(person[k] for k in fields), pid),
        )
    _restore_accounts(conn, target, expected, admin)
    for cid, status in target.candidates.items():
        set_candidates(conn, [int(cid)], status)
    # Decisions the undone action created did not exist before it: revoke them.
    created = [int(d) for d in expected.decisions if d not in target.decisions]
    revoke(conn, created, admin)
    for did, live in target.decisions.items():
        if live:
            conn.execute(
                "UPDATE match_decisions SET revoked_at = NULL, revoked_by = NULL WHERE id = %s", (int(did),)
            )
        else:
            revoke(conn, [int(did)], admin)


def _restore_accounts(conn: DictConnection, target: State, expected: State, admin: Admin) -> None:
    """Give the instance accounts a decision moved (a merge) back to their owner in ``target``.

    Only an account still where the decision put it moves back: one an instance has reported
    again since belongs where that report put it. The persons concerned are then settled, so that
    ``has_account`` and the home agree with the accounts whatever happened in between.
    """
    owner_after = {(i, u): p for p, accounts in expected.accounts.items() for i, u in accounts}
    touched: set[str] = set()
    for person, accounts in target.accounts.items():
        for instance, userid in accounts:
            now = owner_after.get((instance, userid))
            if now is None or now == person:
                continue
            moved = conn.execute(
                """UPDATE instance_accounts SET person_id = %s
                   WHERE instance = %s AND userid = %s AND person_id = %s""",
                (person, instance, userid, now),
            ).rowcount
            if moved:
                touched.update((person, now))
    settle_accounts(conn, touched, actor=admin.username)
