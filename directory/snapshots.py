"""What a review decision touched, before and after: the snapshot and the audit entry.

A decision (:mod:`directory.review`) snapshots the part of the store it is about to change (the
records' links, the persons, the candidates it settles, the constraints it adds or revokes, and
each person's records), changes it, snapshots the same part again, and writes both into one
``audit_log`` entry with who, when and what. Undo (:mod:`directory.undo`) reads the two back: the
"after" to check that nothing has changed since, the "before" to restore.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from directory.admins import Admin
from directory.db import DictConnection

__all__ = [
    "ACCOUNT_FIELDS",
    "PERSON_FIELDS",
    "State",
    "person_records",
    "recapture",
    "snapshot",
    "write_audit",
]


@dataclass(slots=True)
class State:
    """The part of the store a decision touches, as stored in ``audit_log.before``/``after``."""

    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    persons: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    candidates: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, bool] = field(default_factory=dict)  # id -> live
    members: dict[str, list[int]] = field(default_factory=dict)  # person -> its records
    accounts: dict[str, list[list[str]]] = field(default_factory=dict)
    """person -> its instance accounts as ``[instance, userid]`` (entries older than 2026-12-05
    have none: their undo leaves accounts where they are)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "links": self.links,
            "persons": self.persons,
            "candidates": self.candidates,
            "decisions": self.decisions,
            "members": self.members,
            "accounts": self.accounts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> State:
        data = data or {}
        return cls(
            links=dict(data.get("links", {})),
            persons=dict(data.get("persons", {})),
            candidates=dict(data.get("candidates", {})),
            decisions={k: bool(v) for k, v in data.get("decisions", {}).items()},
            members={k: sorted(v) for k, v in data.get("members", {}).items()},
            accounts={k: [list(a) for a in v] for k, v in data.get("accounts", {}).items()},
        )


PERSON_FIELDS = ("status", "merged_into", "display_name", "given_name", "family_name", "academy_code")
ACCOUNT_FIELDS = ("home_instance", "has_account")
"""Captured with the persons since accounts follow a merge; restored when an entry has them."""


def person_records(conn: DictConnection, person_ids: Iterable[str]) -> dict[str, list[int]]:
    """Each person's record ids, in order (an empty list for a person without records)."""
    out: dict[str, list[int]] = {p: [] for p in person_ids}
    for row in conn.execute(
        "SELECT person_id, record_id FROM record_links WHERE person_id = ANY(%s) ORDER BY record_id",
        (sorted(out),),
    ):
        out[row["person_id"]].append(row["record_id"])
    return out


def snapshot(
    conn: DictConnection,
    *,
    records: Iterable[int],
    persons: Iterable[str],
    candidates: Iterable[int] = (),
    decisions: Iterable[int] = (),
) -> State:
    """The current state of these records, persons, candidates and decisions."""
    state = State()
    for row in conn.execute(
        "SELECT record_id, person_id, method, score, decided_by FROM record_links WHERE record_id = ANY(%s)",
        (sorted(set(records)),),
    ):
        state.links[str(row["record_id"])] = {
            k: row[k] for k in ("person_id", "method", "score", "decided_by")
        }
    wanted = sorted(set(persons))
    state.persons = dict.fromkeys(wanted)
    for row in conn.execute(
        f"SELECT id, {', '.join(PERSON_FIELDS + ACCOUNT_FIELDS)} FROM persons WHERE id = ANY(%s)", (wanted,)
    ):
        state.persons[row["id"]] = {k: row[k] for k in PERSON_FIELDS + ACCOUNT_FIELDS}
    state.members = person_records(conn, wanted)
    for row in conn.execute(
        """SELECT person_id, instance, userid FROM instance_accounts WHERE person_id = ANY(%s)
           ORDER BY instance, userid""",
        (wanted,),
    ):
        state.accounts.setdefault(row["person_id"], []).append([row["instance"], row["userid"]])
    for row in conn.execute(
        "SELECT id, status FROM match_candidates WHERE id = ANY(%s)", (sorted(set(candidates)),)
    ):
        state.candidates[str(row["id"])] = row["status"]
    for row in conn.execute(
        "SELECT id, revoked_at IS NULL AS live FROM match_decisions WHERE id = ANY(%s)",
        (sorted(set(decisions)),),
    ):
        state.decisions[str(row["id"])] = row["live"]
    return state


def recapture(conn: DictConnection, like: State) -> State:
    """The current state of exactly what ``like`` describes."""
    return snapshot(
        conn,
        records=[int(r) for r in like.links],
        persons=like.persons,
        candidates=[int(c) for c in like.candidates],
        decisions=[int(d) for d in like.decisions],
    )


def write_audit(
    conn: DictConnection,
    *,
    admin: Admin,
    action: str,
    target: str,
    summary: str,
    before: State,
    after: State,
    academies: Iterable[str | None],
    extra: dict[str, Any] | None = None,
) -> int:
    """Write the audit entry of a decision (``extra`` goes into its "after"); its id."""
    after_json = {**after.as_json(), "summary": summary, **(extra or {})}
    row = conn.execute(
        """INSERT INTO audit_log (actor, action, target, before, after, academies)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (
            admin.username,
            action,
            target,
            json.dumps(before.as_json(), default=str),
            json.dumps(after_json, default=str),
            sorted({a for a in academies if a}),
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])
