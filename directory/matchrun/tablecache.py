"""The prepared record table a run keeps for the next incremental run (``match-table.pickle``).

An incremental run that finds the table of the run just before it reads and prepares only the
records changed since; a table made by another run, by another database or by another version of
the columns is stale and ignored, and an unreadable one is rebuilt: never a reason to fail a run.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from directory.db import DictConnection
from matching.features import FEATURES_VERSION, RecordTable

__all__ = ["TABLE_CACHE_FILE", "cache_key", "load_table", "save_table"]

log = logging.getLogger(__name__)

TABLE_CACHE_FILE = "match-table.pickle"


def cache_key(conn: DictConnection, run_id: int) -> str:
    """What a kept table must have been made by: this database's run ``run_id`` (its start time
    tells a run from one of a re-created database), with this version of the columns."""
    row = conn.execute(
        "SELECT current_database() AS db, started_at FROM match_runs WHERE id = %s", (run_id,)
    ).fetchone()
    assert row is not None
    return f"{FEATURES_VERSION}|{row['db']}|{run_id}|{row['started_at'].isoformat()}"


def load_table(path: Path, key: str) -> tuple[RecordTable | None, str]:
    """The table kept by the run ``key`` names, or None and why not (``missing``, ``stale``)."""
    try:
        with path.open("rb") as fh:
            # our own file, written by save_table under the data directory
            doc = pickle.load(fh)  # noqa: S301
    except FileNotFoundError:
        return None, "missing"
    except Exception as exc:  # a truncated or foreign file: rebuild, never fail the run
        log.warning(
            "matching table cache %s unreadable (%s): preparing every record", path, type(exc).__name__
        )
        return None, "unreadable"
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("table"), RecordTable):
        return None, "stale"
    return doc["table"], "used"


def save_table(path: Path, key: str, table: RecordTable) -> None:
    """Keep the run's table for the next incremental run (written aside, then renamed over)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"key": key, "table": table}, fh, protocol=5)
        tmp.replace(path)
    except OSError as exc:
        log.warning("matching table cache %s not written: %s", path, exc)
