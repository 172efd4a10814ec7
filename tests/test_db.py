"""The store: embedded PostgreSQL, migrations, the thin SQL helpers."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from directory.config import Settings
from directory.db import Database, EmbeddedPostgres, redact_url, resolve_database_url
from directory.errors import DatabaseError, MigrationError
from directory.migrate import Migration, apply_migrations, available_migrations

EXPECTED_TABLES = {
    "academies",
    "establishments",
    "feeds",
    "import_runs",
    "source_records",
    "quarantine",
    "instances",
    "persons",
    "record_links",
    "instance_accounts",
    "match_runs",
    "match_candidates",
    "match_decisions",
    "match_queue",
    "api_keys",
    "api_key_exposure",
    "admins",
    "audit_log",
    "schema_migrations",
}


def _tables(db: Database) -> set[str]:
    rows = db.fetch_all("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


def test_migrations_create_the_whole_schema(db: Database) -> None:
    assert _tables(db) >= EXPECTED_TABLES
    versions = [r["version"] for r in db.fetch_all("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in available_migrations()]
    assert db.fetch_value("SELECT count(*) FROM academies") == 30


def test_migrations_are_idempotent(db: Database) -> None:
    assert apply_migrations(db) == []
    assert apply_migrations(db) == []
    assert db.fetch_value("SELECT count(*) FROM schema_migrations") == len(available_migrations())
    assert db.fetch_value("SELECT count(*) FROM academies") == 30


def test_edited_migration_is_refused(db: Database) -> None:
    db.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        apply_migrations(db)


def test_unknown_migration_in_database_is_refused(db: Database) -> None:
    db.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')")
    with pytest.raises(MigrationError, match="does not know"):
        apply_migrations(db)


def test_migration_files_are_numbered_and_checksummed() -> None:
    migrations = available_migrations()
    assert migrations[0] == Migration(1, "initial", migrations[0].sql)
    assert len({m.checksum for m in migrations}) == len(migrations)


def test_no_extension_is_required() -> None:
    for migration in available_migrations():
        assert "CREATE EXTENSION" not in migration.sql.upper()


def test_confidential_values_have_no_clear_column(db: Database) -> None:
    columns = {
        r["column_name"]
        for r in db.fetch_all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
    }
    assert not {"numen", "employee_number", "birth_date", "datenaissance"} & columns
    assert {"numen_hash", "birth_hash", "birth_year"} <= columns


def test_embedded_server_starts_migrates_and_stops(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    url = resolve_database_url(settings)
    with Database(url, max_size=2) as db:
        apply_migrations(db)
        assert _tables(db) >= EXPECTED_TABLES
        assert db.fetch_value("SHOW server_version_num") >= "150000"
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    server = EmbeddedPostgres(tmp_path / "pgdata")
    url2 = server.start()  # joins or restarts the same cluster: data survives
    with psycopg.connect(url2) as conn:
        assert conn.execute("SELECT count(*) FROM academies").fetchone() == (30,)
    server.stop()


def test_unreachable_server_is_a_clear_error() -> None:
    db = Database("postgresql://nobody:pw@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(DatabaseError, match="cannot reach PostgreSQL") as info:
        db.open(timeout=2)
    assert "pw" not in str(info.value)


def test_redact_url_hides_password() -> None:
    assert "s3cret" not in redact_url("postgresql://u:s3cret@h:5432/d")
    assert "***" in redact_url("postgresql://u:s3cret@h:5432/d")
