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
- an account an instance reports fixes the home instance where the account is, and counts in
  the ranking (``persons.has_account``): :mod:`directory.accounts`;
- the cloud user id is assigned once, nationally unique (the uid of the person's main record,
  suffixed on a clash), so the federated cloud id ``userid@host`` follows the home instance.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from directory.academies import by_code
from directory.apikeys import resolve_academy
from directory.db import Database
from directory.errors import ConfigurationError, InvalidInputError, NotFoundError, PermissionDeniedError
from directory.search.hooks import bump_generation, mark_changed

__all__ = [
    "Instance",
    "Move",
    "assign_home_instances",
    "list_instances",
    "load_instances",
    "move_person",
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
