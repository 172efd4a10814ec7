"""Test data written straight into the store with SQL: establishments, records, persons, links.

Until the importers and the matching runner fill the tables, tests of search, resolution and the
API build their world here; the helpers stay useful afterwards for small, exact scenarios. Every
helper takes keyword arguments with sensible defaults so that a test names only what it is about.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from directory.academies import by_code
from directory.db import Database

__all__ = ["World", "add_establishment", "add_person", "add_record", "ensure_feed", "make_uai"]

INSTANCES = """
[instances.cloud07]
host = "cloud07.example.fr"
capacity = 1000
academies = ["versailles"]

[instances.cloud01]
host = "cloud01.example.fr"
capacity = 1000
"""
"""Two cloud instances (``DIRECTORY_INSTANCES``): one for Versailles, one for every academy."""

_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_counter = itertools.count(1)


def make_uai(prefix: str, number: int) -> str:
    """A valid UAI: three-character département prefix, four digits, the check letter."""
    seven = f"{prefix.zfill(3)}{number:04d}"
    return seven + _LETTERS[int(seven) % 23]


def ensure_feed(db: Database, academy_code: str) -> str:
    """The default feed of an academy (``ac-<slug>``), created if missing; its name."""
    name = by_code(academy_code).feed_name
    db.execute(
        "INSERT INTO feeds (name, academy_code, kind) VALUES (%s, %s, 'ldif') ON CONFLICT DO NOTHING",
        (name, academy_code),
    )
    return name


def add_establishment(
    db: Database, uai: str, *, name: str, town: str, academy_code: str, type_: str = "CLG"
) -> str:
    """One establishment of the registry; returns its UAI."""
    db.execute(
        """INSERT INTO establishments (uai, name, type, town, academy_code) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (uai) DO UPDATE SET name = EXCLUDED.name, town = EXCLUDED.town""",
        (uai, name, type_, town, academy_code),
    )
    return uai


def add_record(
    db: Database,
    *,
    academy_code: str = "25",
    uid: str | None = None,
    given_name: str | None = "Marie",
    usage_name: str | None = "MARTIN",
    birth_name: str | None = None,
    display_name: str | None = None,
    civility: str | None = "MME",
    role: str | None = "ENS",
    discipline: str | None = None,
    main_uai: str | None = None,
    uais: tuple[str, ...] = (),
    mail: str | None = None,
    mail_aliases: tuple[str, ...] = (),
    active: bool = True,
    removed: bool = False,
    kind: str = "person",
    birth_year: int | None = 1980,
) -> int:
    """One source record of the academy's default feed; returns ``source_records.id``."""
    feed = ensure_feed(db, academy_code)
    n = next(_counter)
    uid = uid or f"u{n}"
    domain = by_code(academy_code).mail_domain
    mail = mail if mail is not None else f"{uid}@{domain}"
    all_uais = tuple(dict.fromkeys(((main_uai,) if main_uai else ()) + uais))
    establishments = [
        {"uai": u, "valid": True, "function": role, "type": None, "nature": None} for u in all_uais
    ]
    raw = {"uid": [uid]}
    row = db.fetch_one(
        """WITH r AS (
           INSERT INTO source_records (feed, source_id, dn, uid, kind, given_name, usage_name, birth_name,
               display_name, civility, role, discipline, main_uai, establishments, academy_code, mail,
               mail_aliases, birth_year, active, raw, content_hash, removed_at, numen_hash, birth_hash)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                   CASE WHEN %s THEN now() END, %s, %s)
           RETURNING id),
           -- queued for matching, as the importer does (match_queue)
           q AS (INSERT INTO match_queue (record_id) SELECT id FROM r)
           SELECT id FROM r""",
        (
            feed,
            f"src-{n}",
            f"uid={uid},ou=personnels EN,ou={feed},ou=education,o=gouv,c=fr",
            uid,
            kind,
            given_name,
            usage_name,
            birth_name,
            display_name or f"{usage_name or ''} {given_name or ''}".strip(),
            civility,
            role,
            discipline,
            main_uai,
            json.dumps(establishments),
            academy_code,
            mail,
            list(mail_aliases),
            birth_year,
            active,
            json.dumps(raw),
            hashlib.sha256(f"{n}".encode()).hexdigest(),
            removed,
            # Values that must never leave the store: tests grep API answers for them.
            f"numenhash{n:06d}",
            f"birthhash{n:06d}",
        ),
    )
    assert row is not None
    return int(row["id"])


def add_person(
    db: Database,
    record_ids: list[int],
    *,
    person_id: str | None = None,
    status: str = "active",
    has_account: bool = False,
    home_instance: str | None = None,
    display_name: str = "",
) -> str:
    """One person linked to the given records; returns ``persons.id``."""
    pid = person_id or f"p{next(_counter):07d}"
    db.execute(
        """INSERT INTO persons (id, status, display_name, has_account, home_instance)
           VALUES (%s, %s, %s, %s, %s)""",
        (pid, status, display_name, has_account, home_instance),
    )
    for rid in record_ids:
        db.execute(
            "INSERT INTO record_links (record_id, person_id, method) VALUES (%s, %s, 'singleton')",
            (rid, pid),
        )
    return pid


@dataclass
class World:
    """A handle to build a small directory in a test: ``world.person(given_name=..., ...)``."""

    db: Database

    def person(self, *, person_id: str | None = None, has_account: bool = False, **record: Any) -> str:
        """A person with one record (``record`` goes to :func:`add_record`); returns the person id."""
        rid = add_record(self.db, **record)
        return add_person(self.db, [rid], person_id=person_id, has_account=has_account)

    def establishment(
        self, prefix: str, number: int, *, name: str, town: str, academy_code: str, type_: str = "CLG"
    ) -> str:
        """An establishment with a valid UAI built from a département prefix and a number."""
        return add_establishment(
            self.db, make_uai(prefix, number), name=name, town=town, academy_code=academy_code, type_=type_
        )
