"""Numbered plain-SQL migrations (``migrations/0001_initial.sql``...), applied once and recorded.

Each file runs in its own transaction under an advisory lock, so two processes starting at once do
not both apply it. A landed migration is never edited: its checksum is recorded and checked, and a
mismatch stops the service rather than leaving code and schema silently out of step.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from directory.academies import ACADEMIES
from directory.config import Settings
from directory.db import Database
from directory.errors import MigrationError

__all__ = [
    "Migration",
    "apply_migrations",
    "available_migrations",
    "open_database",
    "seed_reference_data",
]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every process of this service.
_LOCK_KEY = 0x6469726563746F72


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its number, name, SQL text and checksum."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, recorded when applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with this code, in order."""
    found = []
    for entry in resources.files("directory.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number: {versions}")
    return found


def apply_migrations(db: Database) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied now. Idempotent."""
    applied_now: list[Migration] = []
    with db.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            conn.commit()
            recorded = {
                row["version"]: row
                for row in conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
            }
            known = {m.version: m for m in available_migrations()}
            unknown = sorted(set(recorded) - set(known))
            if unknown:
                raise MigrationError(
                    f"the database has migrations this code does not know: {unknown}; upgrade the code"
                )
            for migration in known.values():
                row = recorded.get(migration.version)
                if row is not None:
                    if row["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} was edited after it "
                            "was applied; write a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                    ) from exc
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration)
            seed_reference_data(conn)
            conn.commit()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            conn.commit()
    return applied_now


def seed_reference_data(conn: psycopg.Connection[dict[str, object]]) -> None:
    """Upsert the 30 academies (reference data that lives in code, not in a migration)."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO academies (code, slug, name, mail_domain, legacy_domains, departements)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (code) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name,
                   mail_domain = EXCLUDED.mail_domain, legacy_domains = EXCLUDED.legacy_domains,
                   departements = EXCLUDED.departements""",
            [
                (a.code, a.slug, a.name, a.mail_domain, list(a.legacy_domains), list(a.departements))
                for a in ACADEMIES
            ],
        )


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the primary store for a command or the service, applying pending migrations first."""
    db = Database.from_settings(settings).open()
    if migrate:
        try:
            apply_migrations(db)
        except BaseException:
            db.close()
            raise
    return db
