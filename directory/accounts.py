"""Accounts the instances report, and what they settle: ``has_account`` and the home instance.

- an account an instance reports (:func:`report_accounts`, ``POST /gs/users``) is linked to its
  person (by e-mail, else uid), fixes the home instance where the account is, and counts in the
  ranking (``persons.has_account``); an account it reports deleted (:func:`remove_accounts`,
  ``DELETE /gs/users``) no longer does. With accounts on several instances the home stays put
  while it has one of them (see :func:`_settle`), so reports in any order never make it flip back
  and forth; a home an administrator chose (``person.move``) is never undone by a report;
- accounts follow identity decisions: a merge gives them to the survivor (:func:`follow_merges`),
  a split to the part whose records they match (:func:`follow_splits`).

Home instances themselves (configuration, assignment, admin moves): :mod:`directory.instances`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from directory.db import Database, DictConnection
from directory.errors import InvalidInputError, NotFoundError
from directory.search.hooks import mark_changed

__all__ = [
    "PEOPLE_BY_EMAIL",
    "PEOPLE_BY_USERID",
    "Account",
    "follow_merges",
    "follow_splits",
    "remove_accounts",
    "report_accounts",
    "settle_accounts",
]


def _json(value: Any) -> str:
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class Account:
    """One account an instance reports: its user id there, and what identifies the person."""

    userid: str
    email: str | None = None
    display_name: str | None = None
    cloud_id: str | None = None


# Each is an index lookup: records' mails and aliases are stored lower-cased, and the alias
# condition repeats the partial index's predicate (migration 0008) so that the planner may use it.
# A report of 10,000 accounts must not scan the national table 10,000 times.
PEOPLE_BY_EMAIL: Final = """SELECT DISTINCT l.person_id FROM source_records s
    JOIN record_links l ON l.record_id = s.id JOIN persons p ON p.id = l.person_id
    WHERE (s.mail = lower(%(email)s)
           OR (s.mail_aliases <> '{}' AND s.mail_aliases @> ARRAY[lower(%(email)s)]))
      AND s.removed_at IS NULL AND p.status = 'active'"""
PEOPLE_BY_USERID: Final = """SELECT DISTINCT l.person_id FROM source_records s
    JOIN record_links l ON l.record_id = s.id JOIN persons p ON p.id = l.person_id
    WHERE lower(s.uid) = lower(%(userid)s) AND s.removed_at IS NULL AND p.status = 'active'
    UNION SELECT c.person_id FROM cloud_userids c WHERE c.userid = lower(%(userid)s)"""


def _find_person(conn: DictConnection, acc: Account) -> list[str]:
    """The active people an account may belong to: by e-mail (mail or alias), else by uid."""
    people: list[str] = []
    if acc.email:
        people = [r["person_id"] for r in conn.execute(PEOPLE_BY_EMAIL, {"email": acc.email}).fetchall()]
    if not people:
        people = [r["person_id"] for r in conn.execute(PEOPLE_BY_USERID, {"userid": acc.userid}).fetchall()]
    return sorted(set(people))


def report_accounts(db: Database, instance: str, accounts: Sequence[Account]) -> dict[str, int]:
    """Record the accounts an instance has; link each to its person when exactly one matches.

    A person is found by the account's e-mail (any live record's mail or alias), else by its uid.
    A linked account marks the person ``has_account`` and may fix their home instance there
    (:func:`_settle`; a change is recorded in ``audit_log``). An account re-reported for another
    person (or for nobody) no longer counts for the one it was linked to. Returns counts:
    ``received``, ``linked``, ``unknown``, ``ambiguous``.
    """
    counts = {"received": len(accounts), "linked": 0, "unknown": 0, "ambiguous": 0}
    touched: set[str] = set()
    with db.connection() as conn:
        if not conn.execute("SELECT 1 FROM instances WHERE name = %s", (instance,)).fetchone():
            raise NotFoundError(f"no instance {instance!r}")
        for acc in accounts:
            people = _find_person(conn, acc)
            person = people[0] if len(people) == 1 else None
            if len(people) > 1:
                counts["ambiguous"] += 1
            elif person is None:
                counts["unknown"] += 1
            else:
                counts["linked"] += 1
            previous = conn.execute(
                "SELECT person_id FROM instance_accounts WHERE instance = %s AND userid = %s",
                (instance, acc.userid),
            ).fetchone()
            conn.execute(
                """INSERT INTO instance_accounts (instance, userid, person_id, email, display_name)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (instance, userid) DO UPDATE SET person_id = EXCLUDED.person_id,
                       email = EXCLUDED.email, display_name = EXCLUDED.display_name, reported_at = now()""",
                (instance, acc.userid, person, acc.email, acc.display_name),
            )
            if previous is not None and previous["person_id"] not in (None, person):
                touched.add(previous["person_id"])
            if person is not None:
                touched.add(person)
        actor = f"instance:{instance}"
        changed = [p for p in sorted(touched) if _settle(conn, p, prefer=instance, actor=actor)]
        mark_changed(conn, changed)
    return counts


def remove_accounts(db: Database, instance: str, accounts: Sequence[Account]) -> dict[str, int]:
    """Forget the accounts an instance reports deleted; idempotent.

    An account is named by its user id on the instance; a cloud id given with it must be on this
    instance's host (``InvalidInputError`` otherwise: a client mixing up instances is told so).
    The people they were linked to are settled again (:func:`_settle`): ``has_account`` clears
    when no account is left, and a home that lost its account moves to an instance where the
    person still has one. Returns counts: ``received``, ``removed``, ``absent`` (not recorded:
    never reported, or removed already).
    """
    with db.connection() as conn:
        row = conn.execute("SELECT host FROM instances WHERE name = %s", (instance,)).fetchone()
        if row is None:
            raise NotFoundError(f"no instance {instance!r}")
        for acc in accounts:
            host = acc.cloud_id.rpartition("@")[2] if acc.cloud_id else None
            if host is not None and host.lower() != row["host"].lower():
                raise InvalidInputError(
                    f"cloud id {acc.cloud_id!r} is not on this instance's host {row['host']!r}"
                )
        userids = sorted({acc.userid for acc in accounts})
        removed = conn.execute(
            "DELETE FROM instance_accounts WHERE instance = %s AND userid = ANY(%s) RETURNING person_id",
            (instance, userids),
        ).fetchall()
        people = {r["person_id"] for r in removed if r["person_id"] is not None}
        mark_changed(conn, settle_accounts(conn, people, actor=f"instance:{instance}"))
    return {"received": len(accounts), "removed": len(removed), "absent": len(userids) - len(removed)}


def follow_merges(conn: DictConnection, merged: Mapping[str, str], *, actor: str = "matching") -> int:
    """Inside a matching run's transaction: the accounts of persons merged into others now belong
    to the survivors, whose ``has_account`` and home follow (as after a report); the number of
    accounts moved.

    Without this the survivor would look account-less (ranking) and keep a home where it has no
    account until every instance reports again.
    """
    if not merged:
        return 0
    rows = conn.execute(
        """UPDATE instance_accounts a SET person_id = m.survivor
           FROM unnest(%s::text[], %s::text[]) AS m(old, survivor)
           WHERE a.person_id = m.old
           RETURNING a.person_id""",
        (list(merged), list(merged.values())),
    ).fetchall()
    settle_accounts(conn, (r["person_id"] for r in rows), actor=actor)
    return len(rows)


def follow_splits(conn: DictConnection, splits: Mapping[str, Sequence[str]], *, actor: str) -> int:
    """After persons were split (``splits``: each split person -> the persons now holding records
    taken off it, their links written): each account of a split person goes to the one of them
    (itself included) whose live records it matches, by e-mail (mail or alias) else by uid, as a
    report is matched; the number of accounts moved.

    An account that matches no part, or several, stays: nothing moves on a guess. The persons
    that gained or lost an account are settled (``has_account``, home). Two queries whatever the
    number of splits, so that a matching run that splits many persons pays once.
    """
    accounts = conn.execute(
        """SELECT person_id, instance, userid, email FROM instance_accounts WHERE person_id = ANY(%s)
           ORDER BY person_id, instance, userid""",
        (sorted(splits),),
    ).fetchall()
    if not accounts:
        return 0
    # The parts of each split person that has accounts, and their records' keys under it.
    part_of = {p: old for old in {a["person_id"] for a in accounts} for p in (old, *splits[old])}
    by_mail: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    by_uid: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for r in conn.execute(
        """SELECT l.person_id, r.mail, r.mail_aliases, r.uid FROM record_links l
           JOIN source_records r ON r.id = l.record_id
           WHERE l.person_id = ANY(%s) AND r.removed_at IS NULL""",
        (sorted(part_of),),
    ).fetchall():
        old = part_of[r["person_id"]]
        for mail in (r["mail"], *r["mail_aliases"]):
            if mail:
                by_mail[old, mail.lower()].add(r["person_id"])
        if r["uid"]:
            by_uid[old, r["uid"].lower()].add(r["person_id"])
    touched: set[str] = set()
    moved = 0
    for acc in accounts:
        old = acc["person_id"]
        owners = (
            by_mail.get((old, (acc["email"] or "").lower()))
            or by_uid.get((old, acc["userid"].lower()))
            or set()
        )
        if len(owners) != 1 or (new := next(iter(owners))) == old:
            continue
        conn.execute(
            "UPDATE instance_accounts SET person_id = %s WHERE instance = %s AND userid = %s",
            (new, acc["instance"], acc["userid"]),
        )
        touched.update((old, new))
        moved += 1
    settle_accounts(conn, touched, actor=actor)
    return moved


def settle_accounts(conn: DictConnection, person_ids: Iterable[str], *, actor: str) -> list[str]:
    """Bring these persons' ``has_account`` and home in line with their accounts (after accounts
    were moved between them); the persons that changed."""
    return [p for p in sorted(set(person_ids)) if _settle(conn, p, prefer=None, actor=actor)]


def _settle(conn: DictConnection, person_id: str, *, prefer: str | None, actor: str) -> bool:
    """Bring a person's ``has_account`` and home in line with their recorded accounts; whether
    anything changed.

    The home stays where it is when the person has an account there, or when an administrator
    put it there (``person.move``: an admin act is undone only by another). Otherwise, when the
    person has accounts, the home goes to ``prefer`` (the reporting instance) if one of them is
    there, else to the first by name: accounts on two instances, reported in any order, fix the
    home once and leave it. With no account anywhere the home stays (nothing moves by accident).
    """
    row = conn.execute(
        "SELECT home_instance, has_account FROM persons WHERE id = %s FOR UPDATE", (person_id,)
    ).fetchone()
    if row is None:
        return False
    where = [
        r["instance"]
        for r in conn.execute(
            "SELECT DISTINCT instance FROM instance_accounts WHERE person_id = %s ORDER BY instance",
            (person_id,),
        ).fetchall()
    ]
    home: str | None = row["home_instance"]
    new_home = home
    if where and home not in where and not _placed_by_admin(conn, person_id, home):
        new_home = prefer if prefer in where else where[0]
    has_account = bool(where)
    if new_home == home and has_account == row["has_account"]:
        return False
    conn.execute(
        "UPDATE persons SET home_instance = %s, has_account = %s, updated_at = now() WHERE id = %s",
        (new_home, has_account, person_id),
    )
    if home is not None and new_home != home:
        conn.execute(
            """INSERT INTO audit_log (actor, action, target, before, after)
               VALUES (%s, 'person.home_fixed_by_account', %s, %s, %s)""",
            (
                actor,
                person_id,
                _json({"home_instance": home}),
                _json(
                    {
                        "home_instance": new_home,
                        "summary": f"home instance {home} → {new_home}: where the accounts are",
                    }
                ),
            ),
        )
    return True


def _placed_by_admin(conn: DictConnection, person_id: str, home: str | None) -> bool:
    """Whether an administrator moved this person to ``home`` (indexed on ``audit_log.target``)."""
    if home is None:
        return False
    return (
        conn.execute(
            """SELECT 1 FROM audit_log WHERE target = %s AND action = 'person.move'
               AND after->>'home_instance' = %s LIMIT 1""",
            (person_id, home),
        ).fetchone()
        is not None
    )
