"""Where the tests find PostgreSQL: a configured server, the machine's own, or an embedded one.

Each test session creates a migrated template database with a unique name; each test that asks for
``db_url`` gets a fresh copy of it (``CREATE DATABASE ... TEMPLATE``, a file copy: fast), dropped at
the end. Several sessions (developers, CI) can share one server without seeing each other.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from directory.db import Database, EmbeddedPostgres, create_database, drop_database
from directory.migrate import apply_migrations

__all__ = ["LOCAL_SERVER", "TestServer", "find_admin_url"]

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def find_admin_url() -> tuple[str, EmbeddedPostgres | None]:
    """The server to create test databases on, and the embedded server if one had to be started."""
    configured = os.environ.get("DIRECTORY_TEST_DATABASE_URL")
    if configured:
        return configured, None
    if _answers(LOCAL_SERVER):
        return LOCAL_SERVER, None
    embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="directory-test-pg-")))
    url = embedded.start()
    return url, embedded


def _with_dbname(url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


class TestServer:
    """A server plus this session's migrated template; ``fresh()`` hands out throw-away databases."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.admin_url, self.embedded = find_admin_url()
        self.prefix = f"dirtest_{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_tmpl"
        self._count = 0
        create_database(self.admin_url, self.template)
        with Database(_with_dbname(self.admin_url, self.template), max_size=1) as db:
            apply_migrations(db)

    def fresh(self, template: str | None = None) -> Iterator[str]:
        """Yield the URL of a new database copied from ``template`` (default: the migrated one);
        drop it afterwards."""
        name = self.new_name()
        create_database(self.admin_url, name, template=template or self.template)
        try:
            yield self.url_of(name)
        finally:
            drop_database(self.admin_url, name)

    def new_name(self) -> str:
        """A database name unique to this session."""
        self._count += 1
        return f"{self.prefix}_{self._count}"

    def url_of(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return _with_dbname(self.admin_url, name)

    def derived_template(self) -> str:
        """A new database copied from the migrated template, for a module to fill once (say, with an
        imported dataset) and then hand out copies of with ``fresh(template=name)``."""
        name = self.new_name()
        create_database(self.admin_url, name, template=self.template)
        return name

    def drop(self, name: str) -> None:
        """Drop a database made by ``derived_template``."""
        drop_database(self.admin_url, name)

    def close(self) -> None:
        """Drop the template and stop the embedded server if this session started one."""
        drop_database(self.admin_url, self.template)
        if self.embedded is not None:
            self.embedded.stop()
