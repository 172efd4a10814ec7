"""Helpers shared by the importer tests: generated feeds, LDIF rewriting, the CLI, table snapshots."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ldif
import psycopg

from directory.config import Settings
from directory.secrets import Hasher

__all__ = [
    "SECRET",
    "Entry",
    "cli",
    "cli_env",
    "dataset",
    "hasher",
    "read_entries",
    "records",
    "rewrite_ldif",
    "snapshot",
    "write_ldif",
]

SECRET = "test-secret-key-that-is-long-enough-0123456789"  # the `settings` fixture's
Entry = tuple[str, dict[str, list[Any]]]


def hasher(settings: Settings) -> Hasher:
    """The hasher an import under ``settings`` uses."""
    return Hasher(settings.hashing_secret())


def read_entries(path: Path) -> list[Entry]:
    """Every record of an LDIF file, containers included, as ``(dn, {attr: [str values]})``."""
    with path.open("rb") as handle:
        return [(dn, dict(entry)) for dn, entry in ldif.LDIFParser(handle).parse()]


def write_ldif(path: Path, entries: Iterable[Entry], *, raw_tail: bytes = b"") -> Path:
    """Write entries as LDIF (values that are ``bytes`` are written as base64), then ``raw_tail``."""
    with path.open("wb") as handle:
        handle.write(b"version: 1\n\n")
        writer = ldif.LDIFWriter(handle)
        for dn, entry in entries:
            writer.unparse(dn, entry)
        handle.write(raw_tail)
    return path


def rewrite_ldif(src: Path, dst: Path, edit: Callable[[str, dict[str, list[Any]]], Iterable[Entry]]) -> Path:
    """Copy ``src`` to ``dst`` passing every record through ``edit`` (which may drop or add some)."""
    out: list[Entry] = []
    for dn, entry in read_entries(src):
        out.extend(edit(dn, entry))
    return write_ldif(dst, out)


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``directory`` child process working on the test's database."""
    assert settings.database_url is not None
    env = {
        **os.environ,
        "DIRECTORY_DATABASE_URL": settings.database_url,
        "DIRECTORY_DATA_DIR": str(settings.data_dir),
        "DIRECTORY_SECRET_KEY": SECRET,
    }
    env.pop("DIRECTORY_FEEDS", None)
    env.update(extra)
    return env


def cli(settings: Settings, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``directory ARGS`` in a child process, as cron would (no terminal)."""
    return subprocess.run(
        [sys.executable, "-c", "from directory.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=cli_env(settings, **env),
        timeout=timeout,
        check=False,
    )


def records(url: str, feed: str | None = None) -> dict[str, dict[str, Any]]:
    """``source_records`` by uid (of one feed, or all), with ``xmin`` to see whether a row was written
    and ``match_pending``: whether the record is in ``match_queue``."""
    query = """SELECT r.*, r.xmin::text::bigint AS xmin,
                      EXISTS (SELECT 1 FROM match_queue q WHERE q.record_id = r.id) AS match_pending
               FROM source_records r"""
    params: tuple[Any, ...] = ()
    if feed is not None:
        query += " WHERE r.feed = %s"
        params = (feed,)
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return {f"{r['feed']}/{r['uid']}": r for r in conn.execute(query.encode(), params).fetchall()}


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row (with ``xmin``) of the tables an import writes, for "nothing changed" checks."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(url) as conn:
        for table in ("source_records", "match_queue", "quarantine", "feeds", "establishments"):
            out[table] = conn.execute(f"SELECT xmin::text, * FROM {table} ORDER BY 2".encode()).fetchall()
    return out


_DATASETS: dict[tuple[int, int], Path] = {}


def dataset(base: Path, *, people: int = 3000, seed: int = 7) -> Path:
    """A generated national dataset (``directory synth``), made once per test session and size."""
    from importers.synth import generate

    key = (people, seed)
    if key not in _DATASETS:
        out = base / f"synth-{people}-{seed}"
        generate(out, people=people, seed=seed)
        _DATASETS[key] = out
    return _DATASETS[key]
