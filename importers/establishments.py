"""The establishment registry: ``directory import establishments FILE.csv``, and the UAIs it lacks.

The file is the one the generator writes, standing in for the national "Annuaire de l'éducation":
a header ``uai,name,type,town,academy`` then one row per establishment. Rows are checked in Python
(UAI format, upper-cased; academy code, two or three digits or a slug), streamed into a temporary
table with ``COPY`` and upserted in one statement that writes only the rows that differ. The
registry only grows or changes: an establishment missing from a new file is kept (a closed school
still explains old records).

A UAI seen in a feed but absent from the registry is not an error: the record keeps it, and
``unknown_uais`` reports them (``directory import status``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row

from directory.academies import by_code, by_slug
from directory.errors import InvalidInputError

__all__ = ["RegistryResult", "UnknownUais", "import_establishments", "unknown_uais"]

_UAI: Final = re.compile(r"^[0-9]{7}[A-Z]$")
_COLUMNS: Final = ("uai", "name", "type", "town", "academy")
MAX_REPORTED: Final = 20


@dataclass
class RegistryResult:
    """What one registry import did."""

    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    """``line N: why`` for the first ``MAX_REPORTED`` rows refused."""
    rejected_count: int = 0


@dataclass
class UnknownUais:
    """UAIs that records of a feed carry and the registry does not know."""

    feed: str
    count: int
    examples: list[str]


def _academy(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    academy = by_code(text.lstrip("0").zfill(2)) if text.isdigit() else by_slug(text)
    return academy.code if academy else None


def import_establishments(conn: psycopg.Connection[Any], path: Path) -> RegistryResult:
    """Upsert the registry from a CSV file; ``InvalidInputError`` when the file is not one.

    Runs in one transaction on ``conn`` (committed here).
    """
    result = RegistryResult()

    def reject(line: int, why: str) -> None:
        result.rejected_count += 1
        if len(result.rejected) < MAX_REPORTED:
            result.rejected.append(f"line {line}: {why}")

    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
    with handle, conn.transaction():
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in _COLUMNS if c not in header]
        if missing:
            raise InvalidInputError(
                f"{path}: not an establishment registry (missing columns {', '.join(missing)})"
            )
        index = [header.index(c) for c in _COLUMNS]
        conn.execute(
            "CREATE TEMP TABLE registry_stage (uai text PRIMARY KEY, name text, type text, town text, "
            "academy_code text) ON COMMIT DROP"
        )
        seen: set[str] = set()
        with conn.cursor() as cur, cur.copy("COPY registry_stage FROM STDIN") as copy:
            try:
                for line, row in enumerate(reader, start=2):
                    if not row or not any(cell.strip() for cell in row):
                        continue
                    result.read += 1
                    if len(row) < len(header):
                        reject(line, f"{len(row)} columns, expected {len(header)}")
                        continue
                    uai, name, kind, town, academy = (row[i].strip() for i in index)
                    uai = uai.upper()
                    if not _UAI.match(uai):
                        reject(line, f"invalid UAI {uai!r}")
                        continue
                    if not name:
                        reject(line, f"{uai}: no name")
                        continue
                    if uai in seen:
                        reject(line, f"{uai}: listed twice (the first row is kept)")
                        continue
                    seen.add(uai)
                    code = _academy(academy)
                    if academy and code is None:
                        reject(line, f"{uai}: unknown academy {academy!r}")
                        continue
                    copy.write_row((uai, name, kind or None, town or None, code))
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InvalidInputError(f"{path}: unreadable CSV: {exc}") from None
        with conn.cursor(row_factory=tuple_row) as cur:
            counts = cur.execute(
                """WITH up AS (
                   INSERT INTO establishments AS e (uai, name, type, town, academy_code)
                   SELECT uai, name, type, town, academy_code FROM registry_stage
                   ON CONFLICT (uai) DO UPDATE
                       SET name = EXCLUDED.name, type = EXCLUDED.type, town = EXCLUDED.town,
                           academy_code = EXCLUDED.academy_code, updated_at = now()
                       WHERE (e.name, e.type, e.town, e.academy_code) IS DISTINCT FROM
                             (EXCLUDED.name, EXCLUDED.type, EXCLUDED.town, EXCLUDED.academy_code)
                   RETURNING (xmax = 0) AS inserted)
               SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"""
            ).fetchone()
    added, updated = (
        int(v) for v in (tuple(counts.values()) if isinstance(counts, dict) else tuple(counts or (0, 0)))
    )
    result.added, result.updated = added, updated
    result.unchanged = len(seen) - added - updated
    return result


def unknown_uais(conn: psycopg.Connection[Any], *, examples: int = 5) -> list[UnknownUais]:
    """Per feed, the distinct UAIs of present records (main and other establishments) that the
    registry lacks, with a few examples. Empty when the registry is empty (nothing to compare)."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT EXISTS (SELECT 1 FROM establishments)").fetchone()
    if not row or not row[0]:
        return []
    rows = cur.execute(
        """WITH used AS (
               SELECT DISTINCT r.feed, e->>'uai' AS uai
               FROM source_records r, jsonb_array_elements(r.establishments) AS e
               WHERE r.removed_at IS NULL)
           SELECT feed, count(*) AS n, (array_agg(uai ORDER BY uai))[1:%s] AS some
           FROM used u
           WHERE NOT EXISTS (SELECT 1 FROM establishments x WHERE x.uai = u.uai)
           GROUP BY feed ORDER BY feed""",
        (examples,),
    ).fetchall()
    out = []
    for feed, n, some in rows:
        out.append(UnknownUais(feed, int(n), list(some)))
    return out
