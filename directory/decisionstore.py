"""The rows a review decision keeps besides persons and links, and what every decision shares.

- ``match_decisions``: the hard constraints (``must_link``/``cannot_link``) that every matching
  run honours; added once (a live duplicate is not added again) and revoked, never deleted;
- ``match_candidates``: the review queue, whose pending pairs a decision settles;
- the transaction-scoped lock that serialises decisions (and that a matching run writing persons
  takes too), the administrator's scope check, the signal to the search index, and the
  :class:`Outcome` that a decision (:mod:`directory.review`) and an undo (:mod:`directory.undo`)
  return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from directory.admins import Admin
from directory.db import DictConnection
from directory.errors import DirectoryError, InvalidInputError, NotFoundError
from directory.search.hooks import mark_changed

__all__ = [
    "DECISION_LOCK_KEY",
    "DecisionConflictError",
    "Outcome",
    "add_decision",
    "check_scope",
    "live_decisions",
    "lock",
    "ordered_pair",
    "pending_between",
    "refresh_search_index",
    "revoke",
    "set_candidates",
]

# Taken (transaction-scoped) by every decision, so two administrators deciding on overlapping
# records one after the other see each other's effect. A matching run that writes persons may take
# the same lock to avoid interleaving with a decision.
DECISION_LOCK_KEY = 0x7265766965770001


class DecisionConflictError(DirectoryError):
    """The decision contradicts an earlier one (e.g. a merge across a cannot-link), or the state
    changed since the entry to undo; the message says which and what to do first."""

    status = 409
    code = "decision_conflict"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decision did: its audit entry, a one-line summary, and the persons it touched."""

    audit_id: int
    action: str
    summary: str
    person_ids: tuple[str, ...]
    decision_ids: tuple[int, ...] = ()


def lock(conn: DictConnection) -> None:
    """Serialise this decision with every other one (until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DECISION_LOCK_KEY,))


def check_scope(admin: Admin, academies: Iterable[str | None], what: str) -> None:
    """Refuse (as not found) what involves no academy the administrator may see."""
    if not admin.may_see(set(academies)):
        # Not found rather than forbidden: an academy administrator need not learn that it exists.
        raise NotFoundError(f"no {what} visible to you")


def refresh_search_index(conn: DictConnection, person_ids: Iterable[str]) -> None:
    """Tell every API worker's search index that these persons changed. Inside the decision's
    transaction: the signal becomes visible together with the change it announces."""
    mark_changed(conn, person_ids)


def ordered_pair(a: int, b: int) -> tuple[int, int]:
    """Two different record ids, smaller first (as ``match_decisions`` and ``match_candidates`` keep them)."""
    if a == b:
        raise InvalidInputError("a decision needs two different records")
    return (a, b) if a < b else (b, a)


def add_decision(
    conn: DictConnection, kind: str, a: int, b: int, admin: Admin, candidate_id: int | None = None
) -> int | None:
    """Insert a live decision unless the same one is already live; its id, or None."""
    a, b = ordered_pair(a, b)
    live = conn.execute(
        """SELECT id FROM match_decisions
           WHERE kind = %s AND record_a = %s AND record_b = %s AND revoked_at IS NULL""",
        (kind, a, b),
    ).fetchone()
    if live:
        return None
    row = conn.execute(
        """INSERT INTO match_decisions (kind, record_a, record_b, decided_by, candidate_id)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (kind, a, b, admin.username, candidate_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def live_decisions(
    conn: DictConnection, kind: str, left: Iterable[int], right: Iterable[int]
) -> list[dict[str, Any]]:
    """Live decisions of ``kind`` joining a record of ``left`` to a record of ``right``."""
    left_ids, right_ids = sorted(set(left)), sorted(set(right))
    return conn.execute(
        """SELECT id, record_a, record_b, decided_by, created_at FROM match_decisions
           WHERE kind = %s AND revoked_at IS NULL
             AND ((record_a = ANY(%s) AND record_b = ANY(%s))
                  OR (record_a = ANY(%s) AND record_b = ANY(%s)))
           ORDER BY id""",
        (kind, left_ids, right_ids, right_ids, left_ids),
    ).fetchall()


def revoke(conn: DictConnection, ids: Iterable[int], admin: Admin) -> list[int]:
    """Revoke these decisions (those still live); the ids, sorted."""
    ids = sorted(set(ids))
    conn.execute(
        """UPDATE match_decisions SET revoked_at = now(), revoked_by = %s
           WHERE id = ANY(%s) AND revoked_at IS NULL""",
        (admin.username, ids),
    )
    return ids


def pending_between(conn: DictConnection, left: Iterable[int], right: Iterable[int]) -> list[int]:
    """The pending candidates joining a record of ``left`` to a record of ``right``."""
    left_ids, right_ids = sorted(set(left)), sorted(set(right))
    rows = conn.execute(
        """SELECT id FROM match_candidates WHERE status = 'pending'
             AND ((record_a = ANY(%s) AND record_b = ANY(%s))
                  OR (record_a = ANY(%s) AND record_b = ANY(%s)))""",
        (left_ids, right_ids, right_ids, left_ids),
    ).fetchall()
    return [r["id"] for r in rows]


def set_candidates(conn: DictConnection, ids: Iterable[int], status: str) -> None:
    """Give these candidates a status (``merged``, ``distinct``, or back what an undo restores)."""
    conn.execute(
        "UPDATE match_candidates SET status = %s, updated_at = now() WHERE id = ANY(%s)",
        (status, sorted(set(ids))),
    )
