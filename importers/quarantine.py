"""What is in quarantine: counts by feed and the commonest reasons, for ``directory import status``.

The rows themselves are written by ``importers.apply.apply_quarantine``: a feed's quarantine holds
the entries its latest full scan rejected (plus those rejected by incremental runs since), each with
its DN, reason code (``importers.validate.QUARANTINE_REASONS``), a message and the raw entry with
the confidential values redacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from importers.validate import QUARANTINE_REASONS

__all__ = ["REASON_DESCRIPTIONS", "QuarantineSummary", "describe_reason", "quarantine_summary"]

REASON_DESCRIPTIONS: dict[str, str] = {
    **QUARANTINE_REASONS,
    "duplicate_id": "the stable id (entryUUID/nsUniqueId) was already seen in this feed run",
}
"""Every reason code the importers write, with its description."""


def describe_reason(reason: str) -> str:
    """The one-line description of a reason code (the code itself when unknown)."""
    return REASON_DESCRIPTIONS.get(reason, reason)


@dataclass
class QuarantineSummary:
    """Quarantined entries of one feed, by reason (commonest first)."""

    feed: str
    total: int
    reasons: list[tuple[str, int]] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)
    """(reason, DN) of a few rows."""


def quarantine_summary(conn: psycopg.Connection[Any], *, top: int = 5) -> list[QuarantineSummary]:
    """Per feed with quarantined entries: the total and the ``top`` commonest reasons."""
    summaries: dict[str, QuarantineSummary] = {}
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        """SELECT feed, reason, count(*) FROM quarantine
           GROUP BY feed, reason ORDER BY feed, count(*) DESC, reason"""
    ).fetchall()
    for feed, reason, count in rows:
        summary = summaries.setdefault(feed, QuarantineSummary(feed, 0))
        summary.total += int(count)
        if len(summary.reasons) < top:
            summary.reasons.append((reason, int(count)))
    examples = cur.execute(
        """SELECT feed, reason, dn FROM (
               SELECT feed, reason, dn, row_number() OVER (PARTITION BY feed ORDER BY id) AS n FROM quarantine
           ) ranked WHERE n <= 3 ORDER BY feed, n"""
    ).fetchall()
    for feed, reason, dn in examples:
        summaries[feed].examples.append((reason, dn or ""))
    return list(summaries.values())
