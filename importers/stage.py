"""Staging: the mapped entries of one feed run, streamed into session tables with ``COPY``.

The staging tables are ``TEMP`` (private to the session, never WAL-logged, dropped with the
session, so a killed importer leaves nothing behind). Entries are written as they are read, so
memory holds one entry plus ``COPY``'s buffer whatever the feed size. Quarantine items go to their
own table; since one connection runs one ``COPY`` at a time, they are buffered (a few hundred at
most) and flushed between two ``COPY`` statements.

``importers.apply`` diffs the staged entries against ``source_records``. The one exception is the
first load of a feed (``FirstLoad``: the feed has no record at all, so every entry is an addition):
the entries are then copied straight into ``source_records``, inside the run's transaction, which
spares the staging table, its index and the plan's join (about 12 µs of server time per entry).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import psycopg
from psycopg.copy import QueuedLibpqWriter

from importers.fredurne import Establishment
from importers.mapping import MappedEntry
from importers.validate import QuarantineItem

__all__ = [
    "QUARANTINE_TABLE",
    "STAGE_COLUMNS",
    "STAGE_TABLE",
    "FirstLoad",
    "StageResult",
    "create_stage",
    "stage_entries",
]

STAGE_TABLE: Final = "import_stage"
QUARANTINE_TABLE: Final = "import_stage_quarantine"

STAGE_COLUMNS: Final = (
    "source_id",
    "dn",
    "uid",
    "kind",
    "given_name",
    "usage_name",
    "birth_name",
    "display_name",
    "civility",
    "role",
    "admin_function",
    "discipline",
    "main_uai",
    "establishments",
    "responsible_uais",
    "academy_code",
    "mail",
    "mail_aliases",
    "numen_hash",
    "birth_hash",
    "birth_swapped_hash",
    "birth_year",
    "active",
    "left_on",
    "flags",
    "raw",
    "content_hash",
    "modify_timestamp",
)
"""Columns shared by the staging table and ``source_records``, in ``COPY`` order."""

_STAGE_DDL: Final = f"""
CREATE TEMP TABLE {STAGE_TABLE} (
    seq                 bigint NOT NULL,
    source_id           text NOT NULL,
    dn                  text NOT NULL,
    uid                 text,
    kind                text NOT NULL,
    given_name          text,
    usage_name          text,
    birth_name          text,
    display_name        text,
    civility            text,
    role                text,
    admin_function      text,
    discipline          text,
    main_uai            text,
    establishments      jsonb NOT NULL,
    responsible_uais    text[] NOT NULL,
    academy_code        text,
    mail                text,
    mail_aliases        text[] NOT NULL,
    numen_hash          text,
    birth_hash          text,
    birth_swapped_hash  text,
    birth_year          smallint,
    active              boolean NOT NULL,
    left_on             date,
    flags               text[] NOT NULL,
    raw                 json NOT NULL,
    content_hash        text NOT NULL,
    modify_timestamp    timestamptz
)"""

_QUARANTINE_DDL: Final = f"""
CREATE TEMP TABLE {QUARANTINE_TABLE} (
    dn      text,
    reason  text NOT NULL,
    detail  text,
    raw     jsonb NOT NULL
)"""

_COPY_STAGE: Final = f"COPY {STAGE_TABLE} (seq, {', '.join(STAGE_COLUMNS)}) FROM STDIN"
_COPY_QUARANTINE: Final = f"COPY {QUARANTINE_TABLE} (dn, reason, detail, raw) FROM STDIN"
QUARANTINE_BUFFER: Final = 500
"""Quarantine items held before the entries' ``COPY`` is paused to write them."""
_LINES_PER_WRITE: Final = 256
"""Rows joined into one ``Copy.write()``."""


@dataclass
class StageResult:
    """What went into the staging tables."""

    entries: int = 0
    quarantined: int = 0
    repeated_ids: bool = False
    """Whether two staged entries may share a stable id (``source_id``); when not, nothing needs
    dropping (``importers.apply.prepare_stage``)."""
    duplicates: int = 0
    """A first load only (``FirstLoad``): entries quarantined because an earlier entry of the run
    had the same stable id (staging leaves that to ``prepare_stage``)."""


@dataclass(frozen=True)
class FirstLoad:
    """Copy the entries straight into ``source_records``: the feed has no record yet.

    Only inside the transaction that also records the run ``ok`` (``importers.apply.apply_first_load``),
    so that a failed read or a killed process leaves nothing, as with staging. Stable ids are
    checked here, exactly (the unique key would abort the whole ``COPY``): a repeated one is
    quarantined as ``duplicate_id``, the first entry with it kept, as ``prepare_stage`` does.
    """

    feed: str
    run_id: int

    @property
    def copy_sql(self) -> str:
        return f"COPY source_records (feed, {', '.join(STAGE_COLUMNS)}, last_run_id) FROM STDIN"


def create_stage(conn: psycopg.Connection[Any]) -> None:
    """(Re)create the session's empty staging tables."""
    conn.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}, {QUARANTINE_TABLE}")
    conn.execute(_STAGE_DDL)
    conn.execute(_QUARANTINE_DDL)


_ESTABLISHMENTS_CACHE: Final = 1 << 16
"""As many tuples as ``establishments_of`` keeps: a smaller cache is emptied over and over by a
large academy (about 18,000 distinct tuples in Versailles), and each miss costs a JSON encoding."""


class _EstablishmentsJson:
    """The JSON of an entry's establishments, remembered per tuple *object*.

    ``establishments_of`` is cached, so the people of one school share one tuple: looking it up by
    identity costs an ``id()``, where a cache keyed by value would hash every ``Establishment`` (a
    dataclass: a Python ``__hash__`` each) on every entry. Each tuple is kept alive next to its
    JSON, so its ``id`` cannot be reused while the entry is here.
    """

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[tuple[Establishment, ...], str]] = {}

    def __call__(self, establishments: tuple[Establishment, ...]) -> str:
        known = self._by_id.get(id(establishments))
        if known is not None and known[0] is establishments:
            return known[1]
        text = "[" + ",".join([_establishment_json(x) for x in establishments]) + "]"
        if len(self._by_id) >= _ESTABLISHMENTS_CACHE:
            self._by_id.clear()
        self._by_id[id(establishments)] = (establishments, text)
        return text


_establishments_json: Final = _EstablishmentsJson()


@lru_cache(maxsize=1 << 16)
def _establishment_json(establishment: Establishment) -> str:
    """One establishment's JSON object: the same few thousand recur in every combination."""
    return json.dumps(establishment.as_dict(), ensure_ascii=False)


@lru_cache(maxsize=1 << 12)
def _array(values: tuple[str, ...]) -> str:
    """A ``text[]`` literal; every element quoted (a UAI, a mail, a flag: no quoting rule to guess).

    Cached: flag sets and empty arrays repeat on most entries.
    """
    if not values:
        return "{}"
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


_COPY_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL: Final = "\\N"
_COLUMNS: Final = len(STAGE_COLUMNS)


def _line(prefix: str, e: MappedEntry, suffix: str = "\n") -> str:
    """One row of ``COPY ... FROM STDIN`` text format: ``prefix`` (the staging ``seq``, or the
    feed's name), a tab, the entry's ``STAGE_COLUMNS``, then ``suffix`` (newline included).

    Written by hand rather than through ``Copy.write_row``: one join per entry instead of a
    type dispatch per field (30 fields, 1.2 million rows), and values that need no escaping (nearly
    all) are not scanned one by one: the joined line is checked once, and only a line holding a
    backslash, tab, newline or carriage return is rebuilt with every field escaped.
    """
    fields = (
        e.source_id,
        e.dn,
        e.uid,
        e.kind,
        e.given_name,
        e.usage_name,
        e.birth_name,
        e.display_name,
        e.civility,
        e.role,
        e.admin_function,
        e.discipline,
        e.main_uai,
        # JSON text written by us: cheaper than psycopg's generic dumper on 1.2 million rows.
        _establishments_json(e.establishments),
        _array(e.responsible_uais),
        e.academy_code,
        e.mail,
        _array(e.mail_aliases),
        e.numen_hash,
        e.birth_hash,
        e.birth_swapped_hash,
        None if e.birth_year is None else str(e.birth_year),
        "t" if e.active else "f",
        None if e.left_on is None else e.left_on.isoformat(),
        _array(e.flags),
        e.raw_json,
        e.content_hash,
        None if e.modify_timestamp is None else e.modify_timestamp.isoformat(),
    )
    # A list comprehension, not a generator: str.join builds a list from a generator anyway.
    line = "\t".join([_NULL if f is None else f for f in fields])
    # Every NULL is one backslash ("\N"); any other backslash, a newline or an extra tab is data.
    if (
        line.count("\\") != fields.count(None)
        or "\n" in line
        or "\r" in line
        or line.count("\t") != _COLUMNS - 1
    ):
        line = "\t".join(_NULL if f is None else _pg_text(f).translate(_COPY_ESCAPES) for f in fields)
    return prefix + "\t" + line + suffix


def _write_quarantine(conn: psycopg.Connection[Any], items: list[QuarantineItem]) -> None:
    if not items:
        return
    with conn.cursor() as cur, cur.copy(_COPY_QUARANTINE) as copy:
        copy.set_types(["text", "text", "text", "text"])
        for item in items:
            copy.write_row(
                (
                    _pg_text(item.dn),
                    item.reason,
                    _pg_text(item.message),
                    json.dumps(item.raw, ensure_ascii=False),
                )
            )
    items.clear()


def _pg_text(text: str) -> str:
    # PostgreSQL text cannot hold NUL; the validator already escapes the rest.
    return text.replace("\x00", "\\x00")


def stage_entries(
    conn: psycopg.Connection[Any],
    items: Iterable[MappedEntry | QuarantineItem],
    *,
    on_progress: Callable[[int], None] | None = None,
    every: int = 1000,
    into: FirstLoad | None = None,
) -> StageResult:
    """Stream ``items`` into the staging tables (created by ``create_stage``), or with ``into``
    straight into ``source_records`` (the quarantine still goes to its staging table).

    ``on_progress(n)`` is called every ``every`` items with the number taken so far. An exception
    from ``items`` (a ``FeedReadError`` from a reader) propagates after the ``COPY`` is aborted:
    the staging tables are then incomplete and must not be applied (with ``into``, the caller's
    transaction must be rolled back).
    """
    result = StageResult()
    pending: list[QuarantineItem] = []
    # The stable ids' hashes, not the ids: a few MB for the largest academy instead of 15. Two
    # ids with one hash only cost the exact check in SQL, which finds nothing to drop.
    ids: set[int] = set()
    # A first load checks exactly, and remembers the first DN for the quarantine's message.
    first_dn: dict[str, str] = {}
    if into is None:
        copy_sql, prefix, suffix = _COPY_STAGE, "", "\n"
    else:
        copy_sql, prefix, suffix = into.copy_sql, into.feed, f"\t{into.run_id}\n"
    iterator: Iterator[MappedEntry | QuarantineItem] = iter(items)
    seen = 0
    exhausted = False
    while not exhausted:
        with conn.cursor() as cur, cur.copy(copy_sql, writer=QueuedLibpqWriter(cur)) as copy:
            # The queued writer sends from a thread of its own: the socket waits (the server busy
            # parsing the previous rows) overlap with reading and mapping the next entries here.
            lines: list[str] = []
            for item in iterator:
                seen += 1
                if isinstance(item, MappedEntry):
                    if into is None:
                        result.entries += 1
                        ids.add(hash(item.source_id))
                        lines.append(_line(str(result.entries), item))
                    elif item.source_id not in first_dn:
                        result.entries += 1
                        first_dn[item.source_id] = item.dn
                        lines.append(_line(prefix, item, suffix))
                    else:
                        result.duplicates += 1
                        pending.append(_repeated_id(into.feed, item, first_dn[item.source_id]))
                        if len(pending) >= QUARANTINE_BUFFER:
                            break
                    if len(lines) >= _LINES_PER_WRITE:
                        copy.write("".join(lines))
                        lines.clear()
                else:
                    result.quarantined += 1
                    pending.append(item)
                    if len(pending) >= QUARANTINE_BUFFER:
                        break
                if on_progress is not None and seen % every == 0:
                    on_progress(seen)
            else:
                exhausted = True
            if lines:
                copy.write("".join(lines))
        _write_quarantine(conn, pending)
    if on_progress is not None:
        on_progress(seen)
    result.repeated_ids = into is None and len(ids) < result.entries
    return result


def _repeated_id(feed: str, entry: MappedEntry, first_dn: str) -> QuarantineItem:
    # The message ``prepare_stage`` writes for the same case.
    return QuarantineItem(
        feed=feed,
        dn=entry.dn,
        reason="duplicate_id",
        message=f"stable id {entry.source_id} already used in this feed run by {first_dn}",
        raw=json.loads(entry.raw_json),
    )
