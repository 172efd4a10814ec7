"""The calls that keep every API worker's index fresh: for importers, matching and the admin UI.

Two signals, both plain rows that replicate to read replicas (where NOTIFY does not reach), polled
by each worker every ``DIRECTORY_SEARCH_REFRESH_INTERVAL`` seconds:

- :func:`bump_generation` after a bulk change (an import run, a matching run): every worker
  rebuilds its index from the store in the background and swaps it in when ready.
- :func:`mark_changed` after a change to a few people (an admin merge, split or distinct
  decision, an instance move, an account report): workers patch those people (and their
  homonyms, whose sublines may change) into an overlay within one polling interval.

Both take a ``Database`` or a connection: inside the caller's transaction the signal is only seen
once that transaction commits, together with the change it announces. Both also send
``NOTIFY directory_search`` for listeners on the primary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from directory.db import Database

__all__ = ["CHANNEL", "bump_generation", "mark_changed", "read_state"]

CHANNEL = "directory_search"

Conn = psycopg.Connection[Any]


def _run(target: Database | Conn, query: bytes, params: tuple[Any, ...] = ()) -> None:
    # Two statements: a parameterised statement cannot carry a second command.
    if isinstance(target, Database):
        with target.connection() as conn:
            conn.execute(query, params)
            conn.execute(b"NOTIFY directory_search")
    else:
        target.execute(query, params)
        target.execute(b"NOTIFY directory_search")


def bump_generation(target: Database | Conn) -> None:
    """Announce a bulk change: every worker rebuilds its search index. Call after import or match."""
    _run(
        target,
        b"UPDATE search_state SET generation = generation + 1, changed_at = now()",
    )


def mark_changed(target: Database | Conn, person_ids: Iterable[str]) -> None:
    """Announce that these people changed (merged, split, moved, left, got an account...)."""
    ids = sorted({p for p in person_ids if p})
    if not ids:
        return
    _run(
        target,
        b"INSERT INTO search_changes (person_id) SELECT unnest(%s::text[])",
        (ids,),
    )


def read_state(db: Database) -> tuple[int, int]:
    """``(generation, last change sequence)`` as the store has them now."""
    row = db.fetch_one(
        "SELECT (SELECT generation FROM search_state) AS generation, "
        "(SELECT coalesce(max(seq), 0) FROM search_changes) AS seq"
    )
    assert row is not None
    return int(row["generation"] or 0), int(row["seq"])
