"""Connections to PostgreSQL: the configured server, or an embedded one; and the thin SQL layer.

Production names a server with ``DIRECTORY_DATABASE_URL``. When none is set, an embedded PostgreSQL
(the ``pgserver`` wheel ships the binaries) is started with its data under ``DIRECTORY_DATA_DIR``, so
the demo runs on a bare machine. pgserver shares one postmaster between the processes that use the
same data directory and stops it when the last of them exits.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from directory.config import Settings
from directory.errors import DatabaseError

__all__ = [
    "EMBEDDED_DATABASE",
    "Database",
    "EmbeddedPostgres",
    "create_database",
    "drop_database",
    "redact_url",
    "resolve_database_url",
]

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "directory"
Query = LiteralString | sql.SQL | sql.Composed
DictConnection = psycopg.Connection[dict[str, Any]]


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for a log line."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    if info.get("password"):
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


class EmbeddedPostgres:
    """An embedded PostgreSQL server in ``data_dir`` (started on first use, shared across processes)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server and return the URL of the ``directory`` database on it."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); the fallback is fine.
            warnings.simplefilter("ignore")
            import pgserver  # imported here: production never pays for it

        # pgserver logs every pg_ctl invocation with its full output at INFO.
        logging.getLogger("pgserver").setLevel(logging.WARNING)

        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                get_server = pgserver.get_server  # type: ignore[attr-defined]
                self._server = get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare exceptions with the server log
            raise DatabaseError(f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}") from exc
        admin_url: str = self._server.get_uri()
        create_database(admin_url, EMBEDDED_DATABASE, exist_ok=True)
        log.info("embedded PostgreSQL running with its data in %s", self.data_dir)
        return str(self._server.get_uri(EMBEDDED_DATABASE))

    def stop(self) -> None:
        """Let go of the server (it stops when no other process uses it)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


_embedded: dict[Path, EmbeddedPostgres] = {}


def resolve_database_url(settings: Settings) -> str:
    """The URL to use: ``DIRECTORY_DATABASE_URL``, or the embedded server's (started on demand)."""
    if settings.database_url:
        return settings.database_url
    pg_dir = settings.data_dir / "pgdata"
    server = _embedded.get(pg_dir)
    if server is None:
        server = _embedded[pg_dir] = EmbeddedPostgres(pg_dir)
    return server.start()


def create_database(
    admin_url: str, name: str, *, template: str | None = None, exist_ok: bool = False
) -> None:
    """``CREATE DATABASE name`` on the server of ``admin_url`` (optionally from a template)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            if exist_ok:
                return
            raise DatabaseError(f"database {name!r} already exists")
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        conn.execute(stmt)


def drop_database(admin_url: str, name: str) -> None:
    """``DROP DATABASE IF EXISTS name WITH (FORCE)``."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Database:
    """A connection pool and the few helpers every store module uses.

    Store functions take a ``Database`` (or a connection, inside a transaction they do not own) and
    run raw SQL; rows come back as dicts unless a ``row_factory`` is given.
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, name: str = "directory") -> None:
        self.url = url
        self.pool: ConnectionPool[DictConnection] = ConnectionPool(
            url,
            connection_class=DictConnection,
            min_size=min_size,
            max_size=max_size,
            kwargs={"row_factory": dict_row},
            name=name,
            open=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False) -> Database:
        """The primary (or, with ``read_only`` and a replica configured, the replica)."""
        url = settings.read_database_url if read_only and settings.read_database_url else None
        return cls(
            url or resolve_database_url(settings),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
        )

    def open(self, *, timeout: float = 15.0) -> Database:
        """Open the pool, failing fast with a clear error when the server cannot be reached."""
        # One direct connection first: the pool would retry until its timeout and then report only
        # "PoolTimeout", hiding the server's own reason (refused, unknown database, auth).
        try:
            psycopg.connect(self.url, connect_timeout=max(1, int(timeout))).close()
            self.pool.open(wait=True, timeout=timeout)
        except Exception as exc:  # psycopg.Error, or psycopg_pool.PoolTimeout
            raise DatabaseError(f"cannot reach PostgreSQL at {redact_url(self.url)}: {exc}") from exc
        return self

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    def __enter__(self) -> Database:
        # ``open_database()`` hands out an open pool; entering it again must not reconnect.
        return self.open() if self.pool.closed else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[DictConnection]:
        """A pooled connection; the block is one transaction (committed on success)."""
        with self.pool.connection() as conn:
            yield conn

    def execute(self, query: Query, params: Sequence[Any] | dict[str, Any] | None = None) -> int:
        """Run one statement in its own transaction; the number of rows it touched."""
        with self.connection() as conn:
            return conn.execute(query, params).rowcount

    def fetch_all(
        self, query: Query, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """All rows of a query, as dicts."""
        with self.connection() as conn:
            return conn.execute(query, params).fetchall()

    def fetch_one(
        self, query: Query, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first row of a query, or ``None``."""
        with self.connection() as conn:
            return conn.execute(query, params).fetchone()

    def fetch_value(self, query: Query, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or ``None``."""
        row = self.fetch_one(query, params)
        return None if row is None else next(iter(row.values()))
