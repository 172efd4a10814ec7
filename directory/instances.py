"""Home instances: which cloud instance each person lives on, and their federated cloud id.

The instances come from the ``DIRECTORY_INSTANCES`` TOML file::

    [instances.cloud07]
    host = "cloud07.education.fr"
    capacity = 30000
    academies = ["versailles", "paris"]    # slugs or codes; empty or absent: any academy

Rules (issue 5):

- a person is assigned a home instance once, and keeps it: nothing moves a person by accident,
  not a new instance, not a changed capacity; :func:`move_person` is the only way, an admin act
  recorded in ``audit_log``;
- a new person goes to the least loaded instance (assigned people / capacity) among those that
  name their academy (else, or when those are full, among those that serve any academy);
- an account an instance reports (:func:`report_accounts`, ``POST /gs/users``) fixes the home
  instance where the account is, and counts in the ranking (``persons.has_account``); an account
  it reports deleted (:func:`remove_accounts`, ``DELETE /gs/users``) no longer does. With accounts
  on several instances the home stays put while it has one of them (see :func:`_settle`), so
  reports in any order never make it flip back and forth;
- the cloud user id is assigned once, nationally unique (the uid of the person's main record,
  suffixed on a clash), so the federated cloud id ``userid@host`` follows the home instance.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from directory.academies import by_code
from directory.apikeys import resolve_academy
from directory.db import Database, DictConnection
from directory.errors import ConfigurationError, InvalidInputError, NotFoundError, PermissionDeniedError
from directory.search.hooks import bump_generation, mark_changed

__all__ = [
    "PEOPLE_BY_EMAIL",
    "PEOPLE_BY_USERID",
    "Account",
    "Instance",
    "Move",
    "assign_home_instances",
    "follow_merges",
    "follow_splits",
    "list_instances",
    "load_instances",
    "move_person",
    "remove_accounts",
    "report_accounts",
    "settle_accounts",
    "sync_instances",
]

log = logging.getLogger(__name__)

_ASSIGN_LOCK = 0x696E7374616E6365  # any constant shared by every process of this service


@dataclass(frozen=True, slots=True)
class Instance:
    """One cloud instance: its name, host, capacity and the academy codes it serves (empty: any)."""

    name: str
    host: str
    capacity: int
    academies: tuple[str, ...] = ()

    def serves(self, academy_code: str | None) -> bool:
        """Whether this instance takes people of this academy."""
        return not self.academies or academy_code in self.academies


def load_instances(path: Path) -> list[Instance]:
    """Read the instances file; every problem is reported at once (``ConfigurationError``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the instances file {path}: {exc}") from exc
    problems: list[str] = []
    out: list[Instance] = []
    hosts: set[str] = set()
    for name, table in (data.get("instances") or {}).items():
        if not isinstance(table, dict):
            problems.append(f"instances.{name} must be a table")
            continue
        host = table.get("host")
        capacity = table.get("capacity")
        if not isinstance(host, str) or not host or "/" in host or "@" in host:
            problems.append(f"instances.{name}.host must be a host name")
            continue
        if not isinstance(capacity, int) or capacity <= 0:
            problems.append(f"instances.{name}.capacity must be a positive integer")
            continue
        if host in hosts:
            problems.append(f"instances.{name}.host {host!r} is used twice")
        hosts.add(host)
        codes: list[str] = []
        for value in table.get("academies") or []:
            try:
                code = resolve_academy(str(value))
            except InvalidInputError:
                problems.append(f"instances.{name}.academies: unknown academy {value!r}")
                continue
            if code:
                codes.append(code)
        out.append(Instance(name, host, capacity, tuple(codes)))
    if not out and not problems:
        problems.append(f"{path} defines no [instances.NAME] table")
    if problems:
        raise ConfigurationError(problems)
    return out


def sync_instances(db: Database, instances: Sequence[Instance]) -> None:
    """Upsert the configured instances (an instance missing from the file is kept: people live there)."""
    with db.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO instances (name, host, capacity, academies) VALUES (%s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, capacity = EXCLUDED.capacity,
                   academies = EXCLUDED.academies, updated_at = now()""",
            [(i.name, i.host, i.capacity, list(i.academies)) for i in instances],
        )


def list_instances(db: Database) -> list[dict[str, Any]]:
    """Every instance with its load: active people living there, and accounts it reported."""
    return db.fetch_all(
        """SELECT i.name, i.host, i.capacity, i.academies,
                  (SELECT count(*) FROM persons p
                   WHERE p.home_instance = i.name AND p.status = 'active') AS people,
                  (SELECT count(*) FROM instance_accounts a
                   WHERE a.instance = i.name AND a.person_id IS NOT NULL) AS accounts
           FROM instances i ORDER BY i.name"""
    )


def _userid_base(uid: str | None, person_id: str) -> str:
    base = "".join(c for c in (uid or "").lower() if c.isalnum() or c in "._-")
    return base or f"p{person_id.lower()}"


_REBUILD_ABOVE = 10_000
"""Past this many people given a home at once, the search index is rebuilt instead of patched."""


def assign_home_instances(db: Database, *, actor: str = "directory") -> int:
    """Give every active person without one a home instance and a cloud user id; returns how many.

    Idempotent and stable: people who have an instance keep it. Call after each matching run.

    The search index is told in the same transaction: the matching run's own signal comes when it
    commits, before this runs, so an index rebuilt on that signal may lack the new homes and cloud
    ids (a person shown without where to share with) until something else changes.
    """
    instances = [
        Instance(r["name"], r["host"], r["capacity"], tuple(r["academies"]))
        for r in db.fetch_all("SELECT name, host, capacity, academies FROM instances ORDER BY name")
    ]
    with db.connection() as conn:
        # Workers starting together (and a matching run) must not assign the same people twice.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ASSIGN_LOCK,))
        load: dict[str, int] = defaultdict(int)
        for row in conn.execute(
            "SELECT home_instance, count(*) AS n FROM persons WHERE status = 'active' "
            "AND home_instance IS NOT NULL GROUP BY home_instance"
        ).fetchall():
            load[row["home_instance"]] = int(row["n"])
        # Each unassigned person's academy and uid come from its most recent live record.
        todo = conn.execute(
            """SELECT p.id, p.home_instance, c.userid AS has_userid, r.academy_code, r.uid
               FROM persons p
               LEFT JOIN cloud_userids c ON c.person_id = p.id
               LEFT JOIN LATERAL (
                   SELECT s.academy_code, s.uid FROM record_links l
                   JOIN source_records s ON s.id = l.record_id
                   WHERE l.person_id = p.id AND s.removed_at IS NULL AND s.kind = 'person'
                   ORDER BY s.active DESC, s.updated_at DESC, s.id DESC LIMIT 1) r ON true
               WHERE p.status = 'active' AND (p.home_instance IS NULL OR c.userid IS NULL)
               ORDER BY p.created_at, p.id"""
        ).fetchall()
        if not todo:
            return 0
        taken = {r["userid"] for r in conn.execute("SELECT userid FROM cloud_userids").fetchall()}
        homes: list[tuple[str, str]] = []
        userids: list[tuple[str, str]] = []
        for row in todo:
            if row["home_instance"] is None and instances:
                candidates = _candidates(instances, row["academy_code"], load)
                if candidates:
                    best = min(candidates, key=lambda i: (load[i.name] / i.capacity, i.name))
                    load[best.name] += 1
                    homes.append((best.name, row["id"]))
            if row["has_userid"] is None:
                base = _userid_base(row["uid"], row["id"])
                userid = base
                if userid in taken:
                    academy = by_code(row["academy_code"] or "")
                    userid = f"{base}.{academy.slug}" if academy else f"{base}.{row['id'].lower()}"
                    if userid in taken:
                        userid = f"{base}.{row['id'].lower()}"
                taken.add(userid)
                userids.append((row["id"], userid))
        # COPY into a temporary table, then two set-based statements: the first assignment of a
        # national dataset is a million rows, far too many for one statement per row.
        conn.execute("CREATE TEMP TABLE _homes (person_id text, instance text) ON COMMIT DROP")
        conn.execute("CREATE TEMP TABLE _userids (person_id text, userid text) ON COMMIT DROP")
        with conn.cursor() as cur:
            with cur.copy("COPY _homes (instance, person_id) FROM STDIN") as copy:
                for home in homes:
                    copy.write_row(home)
            with cur.copy("COPY _userids (person_id, userid) FROM STDIN") as copy:
                for pair in userids:
                    copy.write_row(pair)
        conn.execute(
            """UPDATE persons p SET home_instance = h.instance, updated_at = now()
               FROM _homes h WHERE p.id = h.person_id AND p.home_instance IS NULL"""
        )
        conn.execute(
            "INSERT INTO cloud_userids (person_id, userid) SELECT person_id, userid FROM _userids "
            "ON CONFLICT DO NOTHING"
        )
        if homes:
            conn.execute(
                "INSERT INTO audit_log (actor, action, target, after) "
                "VALUES (%s, 'instances.assign', NULL, %s)",
                (actor, _json({"assigned": len(homes)})),
            )
        changed = {pid for _, pid in homes} | {pid for pid, _ in userids}
        if len(changed) > _REBUILD_ABOVE:
            bump_generation(conn)  # a first assignment: the workers rebuild rather than patch
        else:
            mark_changed(conn, changed)
    log.info("home instances assigned to %d people, cloud user ids to %d", len(homes), len(userids))
    return max(len(homes), len(userids))


def _candidates(instances: Sequence[Instance], academy: str | None, load: dict[str, int]) -> list[Instance]:
    """Where a new person may go: instances naming their academy, those serving any academy only
    when none names it or all that do are full; full instances only when every one is."""
    named = [i for i in instances if academy is not None and academy in i.academies]
    anywhere = [i for i in instances if not i.academies]
    for group in (named, anywhere):
        room = [i for i in group if load[i.name] < i.capacity]
        if room:
            return room
    return named or anywhere


def _json(value: Any) -> str:
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class Move:
    """What :func:`move_person` did: the home before and after (equal when nothing changed)."""

    person_id: str
    before: str | None
    after: str
    cloud_id: str | None
    audit_id: int | None = None
    """The ``audit_log`` entry of the move (``None`` when nothing changed)."""

    @property
    def moved(self) -> bool:
        """Whether the home instance changed."""
        return self.before != self.after


def move_person(
    db: Database,
    person_id: str,
    instance: str,
    *,
    actor: str,
    reason: str | None = None,
    academy_code: str | None = None,
) -> Move:
    """Move a person to another home instance: an admin act, recorded in ``audit_log``.

    ``academy_code`` restricts the act to people with a live record in that academy (an academy
    administrator's scope). The audit row names the person's academies, so that academy
    administrators see it in the admin UI. Account reports never undo a move (:func:`_settle`).
    """
    with db.connection() as conn:
        row = conn.execute(
            "SELECT home_instance, status, merged_into FROM persons WHERE id = %s FOR UPDATE", (person_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no person {person_id!r}")
        if row["status"] == "merged":
            raise InvalidInputError(
                f"person {person_id!r} was merged into {row['merged_into']!r}: move that person instead"
            )
        target = conn.execute("SELECT host FROM instances WHERE name = %s", (instance,)).fetchone()
        if target is None:
            names = [r["name"] for r in conn.execute("SELECT name FROM instances ORDER BY name").fetchall()]
            known = ", ".join(names) if names else "none: is DIRECTORY_INSTANCES set?"
            raise NotFoundError(f"no instance {instance!r} (known instances: {known})")
        academies = [
            r["academy_code"]
            for r in conn.execute(
                """SELECT DISTINCT s.academy_code FROM record_links l
                   JOIN source_records s ON s.id = l.record_id
                   WHERE l.person_id = %s AND s.removed_at IS NULL AND s.academy_code IS NOT NULL
                   ORDER BY 1""",
                (person_id,),
            ).fetchall()
        ]
        if academy_code is not None and academy_code not in academies:
            raise PermissionDeniedError(f"person {person_id!r} has no record in academy {academy_code}")
        # The cloud id as search will show it: the account on the new instance, else the assigned id.
        userid = conn.execute(
            """SELECT coalesce(
                   (SELECT min(userid) FROM instance_accounts WHERE person_id = %s AND instance = %s),
                   (SELECT userid FROM cloud_userids WHERE person_id = %s)) AS userid""",
            (person_id, instance, person_id),
        ).fetchone()
        cloud_id = f"{userid['userid']}@{target['host']}" if userid and userid["userid"] else None
        move = Move(person_id, row["home_instance"], instance, cloud_id)
        if not move.moved:
            return move
        conn.execute(
            "UPDATE persons SET home_instance = %s, updated_at = now() WHERE id = %s", (instance, person_id)
        )
        audit = conn.execute(
            "INSERT INTO audit_log (actor, action, target, before, after, academies) "
            "VALUES (%s, 'person.move', %s, %s, %s, %s) RETURNING id",
            (
                actor,
                person_id,
                _json({"home_instance": row["home_instance"]}),
                _json(
                    {
                        "home_instance": instance,
                        "reason": reason,
                        # What the admin UI's audit page shows on the entry's line.
                        "summary": f"home instance {row['home_instance'] or '-'} → {instance}"
                        + (f": {reason}" if reason else ""),
                    }
                ),
                academies,
            ),
        ).fetchone()
        mark_changed(conn, [person_id])
    return replace(move, audit_id=audit["id"] if audit else None)


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
        people = sorted({r["person_id"] for r in removed if r["person_id"] is not None})
        changed = [p for p in people if _settle(conn, p, prefer=None, actor=f"instance:{instance}")]
        mark_changed(conn, changed)
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
    for survivor in sorted({r["person_id"] for r in rows}):
        _settle(conn, survivor, prefer=None, actor=actor)
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
