"""The hashing key a store was built with, and the guard that refuses an import made with another.

Every NUMEN and birth date is stored as a keyed hash (``directory.secrets``). Imported with a
different key, every record of a feed would look changed (its hashes differ), be rewritten, and no
longer compare with the records of the feeds not yet re-imported: a silent, store-wide loss of the
strongest matching evidence. It happens by accident: a development data directory that held the
generated key is lost, or ``DIRECTORY_SECRET_KEY`` is mistyped on one host. So the store keeps a
fingerprint of its key (``store_meta``), the first import records it, and every import compares it
before reading anything; a deliberate rotation is acknowledged with ``directory db accept-hash-key``
(then ``directory import all --full`` rewrites every hash).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from directory.secrets import Hasher
from importers.errors import HashKeyMismatch

__all__ = ["FINGERPRINT_KEY", "accept_hash_key", "check_hash_key", "key_fingerprint"]

FINGERPRINT_KEY = "hash_key_fingerprint"


def key_fingerprint(hasher: Hasher) -> str:
    """A keyed hash of a constant: equal for equal keys, and no help to anyone guessing the key."""
    return hasher.hash("fingerprint", "directory store hashing key")


def check_hash_key(conn: psycopg.Connection[Any], hasher: Hasher) -> None:
    """Record the key's fingerprint on first use; raise :class:`HashKeyMismatch` when the store's
    hashes were made with another key."""
    mine = key_fingerprint(hasher)
    conn.execute(
        "INSERT INTO store_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
        (FINGERPRINT_KEY, mine),
    )
    stored = _stored(conn)
    if stored is not None and stored != mine:
        raise HashKeyMismatch(stored=stored, current=mine)


def accept_hash_key(conn: psycopg.Connection[Any], hasher: Hasher, actor: str) -> str | None:
    """Make this key the store's (after a deliberate rotation), recorded in ``audit_log``; returns
    the previous fingerprint (None when there was none)."""
    mine = key_fingerprint(hasher)
    with conn.transaction():
        previous = _stored(conn, lock=True)
        conn.execute(
            """INSERT INTO store_meta (key, value) VALUES (%s, %s)
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
            (FINGERPRINT_KEY, mine),
        )
        if previous != mine:
            conn.execute(
                """INSERT INTO audit_log (actor, action, target, before, after)
                   VALUES (%s, 'accept_hash_key', 'store', %s::jsonb, %s::jsonb)""",
                (actor, json.dumps({"fingerprint": previous}), json.dumps({"fingerprint": mine})),
            )
    return previous


def _stored(conn: psycopg.Connection[Any], *, lock: bool = False) -> str | None:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT value FROM store_meta WHERE key = %s" + (" FOR UPDATE" if lock else ""),
            (FINGERPRINT_KEY,),
        )
        row = cur.fetchone()
    return None if row is None else str(row[0])
