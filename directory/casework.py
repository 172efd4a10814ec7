"""The read side of human review: the queue of doubtful pairs, a case, a person, suspicious clusters
and the audit log, each limited to what an administrator may see.

The queue puts first the decisions that matter most: the pairs the engine is least sure of
(probability closest to 0.5), then those that touch the most records. Confidential values never
leave the store: NUMEN and birth dates are compared by their keyed hashes in SQL and shown only as
"same" / "different" / "unknown".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from directory.admins import Admin
from directory.db import Database
from directory.errors import NotFoundError

__all__ = [
    "STATUSES",
    "AuditEntry",
    "Case",
    "Cluster",
    "Explanation",
    "FieldDiff",
    "PersonView",
    "Queue",
    "QueueItem",
    "RecordView",
    "audit_entries",
    "case",
    "fold",
    "neighbours",
    "person",
    "queue",
    "suspicious_clusters",
]

STATUSES = ("pending", "merged", "distinct", "obsolete")
# Rounded so that 0.48 and 0.52 count as equally uncertain and the number of records touched decides.
UNCERTAINTY = "round(abs({0}.probability - 0.5)::numeric, 2)"
_TOUCHED = """greatest(2, (SELECT count(*) FROM record_links l
                            WHERE l.person_id IN (la.person_id, lb.person_id)))"""


def fold(value: object) -> str:
    """Accents, case, hyphens, apostrophes and spacing folded away: tells a real difference from a
    cosmetic one when highlighting."""
    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    for ch in "-'’_.":
        text = text.replace(ch, " ")
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class RecordView:
    """One source record as a reviewer sees it (no hashes, no raw entry)."""

    id: int
    feed: str
    uid: str | None
    kind: str
    civility: str | None
    given_name: str | None
    usage_name: str | None
    birth_name: str | None
    display_name: str | None
    role: str | None
    admin_function: str | None
    discipline: str | None
    main_uai: str | None
    establishment: str | None
    town: str | None
    academy_code: str | None
    academy: str | None
    mail: str | None
    birth_year: int | None
    active: bool
    left_on: date | None
    removed_at: datetime | None
    person_id: str | None
    link_method: str | None

    @property
    def name(self) -> str:
        """ "Given USAGE" as the directory spells it, for lists."""
        return " ".join(p for p in (self.given_name, self.usage_name) if p) or (self.display_name or "?")

    @property
    def state(self) -> str:
        """Active, left (with the date) or removed from the feed."""
        if self.removed_at is not None:
            return "removed from the feed"
        if not self.active:
            return f"left on {self.left_on:%d/%m/%Y}" if self.left_on else "left"
        return "active"


_RECORD_SELECT = """
    SELECT r.id, r.feed, r.uid, r.kind, r.civility, r.given_name, r.usage_name, r.birth_name,
           r.display_name, r.role, r.admin_function, r.discipline, r.main_uai,
           e.name AS establishment, e.town, r.academy_code, a.name AS academy, r.mail, r.birth_year,
           r.active, r.left_on, r.removed_at, l.person_id, l.method AS link_method
    FROM source_records r
    LEFT JOIN establishments e ON e.uai = r.main_uai
    LEFT JOIN academies a ON a.code = r.academy_code
    LEFT JOIN record_links l ON l.record_id = r.id
"""


def _record(row: dict[str, Any]) -> RecordView:
    return RecordView(**{k: row[k] for k in RecordView.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class PersonView:
    """A resolved person with its records and the live human decisions on them."""

    id: str
    status: str
    display_name: str
    merged_into: str | None
    academy_code: str | None
    has_account: bool
    records: tuple[RecordView, ...]
    decisions: tuple[dict[str, Any], ...] = ()
    home_instance: str | None = None

    @property
    def academies(self) -> set[str | None]:
        """Academies of the person's records."""
        return {r.academy_code for r in self.records}


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One line of the queue."""

    id: int
    status: str
    probability: float
    weight: float
    name_a: str
    name_b: str
    academy_a: str | None
    academy_b: str | None
    records_touched: int
    persons_touched: int
    updated_at: datetime

    @property
    def uncertainty(self) -> float:
        """1 at probability 0.5, 0 at certainty either way."""
        return 1.0 - abs(self.probability - 0.5) * 2


@dataclass(frozen=True, slots=True)
class Queue:
    """A page of the queue with the filter that made it and the counts per status."""

    items: tuple[QueueItem, ...]
    total: int
    counts: dict[str, int]
    academy: str | None
    status: str | None
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One compared field: ``state`` is same, cosmetic (differs in accents/case only), different
    or missing (one side empty)."""

    label: str
    a: str
    b: str
    state: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """One comparison of the engine: its level's label and its match weight (log2 odds)."""

    comparison: str
    level: str
    label: str
    weight: float


@dataclass(frozen=True, slots=True)
class Case:
    """A candidate pair with all a reviewer needs to decide it."""

    id: int
    status: str
    probability: float
    weight: float
    created_at: datetime
    updated_at: datetime
    record_a: RecordView
    record_b: RecordView
    person_a: PersonView | None
    person_b: PersonView | None
    diffs: tuple[FieldDiff, ...]
    explanation: tuple[Explanation, ...]
    pair_decisions: tuple[dict[str, Any], ...]
    blocking_conflicts: tuple[dict[str, Any], ...]
    prior_weight: float | None = None

    @property
    def same_person(self) -> bool:
        """Whether both records already belong to one person."""
        return self.record_a.person_id is not None and self.record_a.person_id == self.record_b.person_id

    @property
    def explanation_total(self) -> float:
        """Sum of the comparisons' weights (the match weight without the prior)."""
        return sum(e.weight for e in self.explanation)

    @property
    def academies(self) -> set[str | None]:
        """Academies of the two records."""
        return {self.record_a.academy_code, self.record_b.academy_code}


def _scope_sql(admin: Admin | None, alias_a: str = "ra", alias_b: str = "rb") -> tuple[str, list[Any]]:
    if admin is None or admin.academy_code is None:
        return "", []
    return f" AND ({alias_a}.academy_code = %s OR {alias_b}.academy_code = %s)", [admin.academy_code] * 2


def queue(
    db: Database,
    *,
    academy: str | None = None,
    status: str | None = "pending",
    limit: int = 50,
    offset: int = 0,
    admin: Admin | None = None,
) -> Queue:
    """A page of candidate pairs: pending ones by how much a decision matters (uncertainty, then
    records touched), decided ones most recent first. ``academy`` is a code; ``status`` None: all."""
    scope, scope_args = _scope_sql(admin)
    filters, args = scope, list(scope_args)
    if academy:
        filters += " AND (ra.academy_code = %s OR rb.academy_code = %s)"
        args += [academy, academy]
    counts = dict.fromkeys(STATUSES, 0)
    for row in db.fetch_all(
        f"""SELECT mc.status, count(*) AS n FROM match_candidates mc
            JOIN source_records ra ON ra.id = mc.record_a JOIN source_records rb ON rb.id = mc.record_b
            WHERE true {filters} GROUP BY mc.status""",
        args,
    ):
        counts[row["status"]] = row["n"]
    status_sql = ""
    if status:
        status_sql = " AND mc.status = %s"
        args.append(status)
    order = (
        f"{UNCERTAINTY.format('c')}, records_touched DESC, c.id"
        if status == "pending"
        else "c.updated_at DESC, c.id DESC"
    )
    rows = db.fetch_all(
        f"""WITH c AS (
              SELECT mc.id, mc.status, mc.probability, mc.weight, mc.updated_at,
                     ra.academy_code AS academy_a, rb.academy_code AS academy_b,
                     concat_ws(' ', ra.given_name, ra.usage_name) AS name_a,
                     concat_ws(' ', rb.given_name, rb.usage_name) AS name_b,
                     la.person_id AS person_a, lb.person_id AS person_b
              FROM match_candidates mc
              JOIN source_records ra ON ra.id = mc.record_a JOIN source_records rb ON rb.id = mc.record_b
              LEFT JOIN record_links la ON la.record_id = mc.record_a
              LEFT JOIN record_links lb ON lb.record_id = mc.record_b
              WHERE true {filters} {status_sql})
            SELECT c.*, count(*) OVER () AS total,
                   greatest(2, (SELECT count(*) FROM record_links l
                                WHERE l.person_id IN (c.person_a, c.person_b))) AS records_touched,
                   (SELECT count(DISTINCT p) FROM unnest(ARRAY[c.person_a, c.person_b]) p) AS persons_touched
            FROM c ORDER BY {order} LIMIT %s OFFSET %s""",
        [*args, limit, offset],
    )
    items = tuple(
        QueueItem(**{k: row[k] for k in QueueItem.__dataclass_fields__ if k in row}) for row in rows
    )
    total = rows[0]["total"] if rows else 0
    if not rows and offset:
        total = counts.get(status or "", 0) if status else sum(counts.values())
    return Queue(items, total, counts, academy, status, limit, offset)


def neighbours(
    db: Database, candidate_id: int, *, admin: Admin | None = None, academy: str | None = None
) -> tuple[int | None, int | None]:
    """The previous and next pending cases around this one in queue order (for j/k)."""
    scope, args = _scope_sql(admin)
    if academy:
        scope += " AND (ra.academy_code = %s OR rb.academy_code = %s)"
        args += [academy, academy]
    row = db.fetch_one(
        f"""WITH q AS (
              SELECT mc.id,
                     row_number() OVER (ORDER BY {UNCERTAINTY.format("mc")}, {_TOUCHED} DESC, mc.id) AS n
              FROM match_candidates mc
              JOIN source_records ra ON ra.id = mc.record_a JOIN source_records rb ON rb.id = mc.record_b
              LEFT JOIN record_links la ON la.record_id = mc.record_a
              LEFT JOIN record_links lb ON lb.record_id = mc.record_b
              WHERE (mc.status = 'pending' OR mc.id = %s) {scope})
            SELECT (SELECT id FROM q WHERE n = me.n - 1) AS prev,
                   (SELECT id FROM q WHERE n = me.n + 1) AS next
            FROM q me WHERE me.id = %s""",
        [candidate_id, *args, candidate_id],
    )
    return (row["prev"], row["next"]) if row else (None, None)


def _person_view(db: Database, person_id: str | None) -> PersonView | None:
    if person_id is None:
        return None
    row = db.fetch_one(
        """SELECT id, status, display_name, merged_into, academy_code, has_account, home_instance
           FROM persons WHERE id = %s""",
        (person_id,),
    )
    if row is None:
        return None
    records = tuple(
        _record(r)
        for r in db.fetch_all(_RECORD_SELECT + " WHERE l.person_id = %s ORDER BY r.feed, r.id", (person_id,))
    )
    ids = [r.id for r in records]
    decisions = db.fetch_all(
        """SELECT id, kind, record_a, record_b, decided_by, created_at FROM match_decisions
           WHERE revoked_at IS NULL AND (record_a = ANY(%s) OR record_b = ANY(%s)) ORDER BY id""",
        (ids, ids),
    )
    return PersonView(**row, records=records, decisions=tuple(decisions))


def person(db: Database, person_id: str, *, admin: Admin | None = None) -> PersonView:
    """A person with its records; not found for an administrator of another academy."""
    view = _person_view(db, person_id)
    if view is None or (admin is not None and not admin.may_see(view.academies)):
        raise NotFoundError(f"no person {person_id}")
    return view


def _diffs(a: RecordView, b: RecordView, secret: dict[str, Any]) -> tuple[FieldDiff, ...]:
    def est(r: RecordView) -> str:
        return ", ".join(p for p in (r.establishment, r.town, r.main_uai and f"UAI {r.main_uai}") if p)

    fields: list[tuple[str, str, str]] = [
        ("Given name", a.given_name or "", b.given_name or ""),
        ("Usage name", a.usage_name or "", b.usage_name or ""),
        ("Birth name", a.birth_name or "", b.birth_name or ""),
        ("Civility", a.civility or "", b.civility or ""),
        ("Birth year", str(a.birth_year or ""), str(b.birth_year or "")),
        ("Role", a.role or "", b.role or ""),
        ("Discipline", a.discipline or "", b.discipline or ""),
        ("Establishment", est(a), est(b)),
        ("Academy", a.academy or a.academy_code or "", b.academy or b.academy_code or ""),
        ("E-mail", a.mail or "", b.mail or ""),
        ("Uid", a.uid or "", b.uid or ""),
        ("Feed", a.feed, b.feed),
        ("State", a.state, b.state),
    ]
    out = []
    for label, x, y in fields:
        if not x and not y:
            continue
        if not x or not y:
            state = "missing"
        elif x == y:
            state = "same"
        elif fold(x) == fold(y):
            state = "cosmetic"
        else:
            state = "different"
        out.append(FieldDiff(label, x or "—", y or "—", state))
    # Confidential values: only whether they agree, computed from the keyed hashes.
    for label, key in (("Birth date", "birth"), ("NUMEN", "numen")):
        verdict = secret[key]
        out.append(FieldDiff(label, "hidden", "hidden", verdict))
    return tuple(out)


def case(db: Database, candidate_id: int, *, admin: Admin | None = None) -> Case:
    """Everything about one candidate pair; not found for an administrator of another academy."""
    row = db.fetch_one(
        """SELECT mc.*,
                  CASE WHEN ra.birth_hash IS NULL OR rb.birth_hash IS NULL THEN 'missing'
                       WHEN ra.birth_hash = rb.birth_hash THEN 'same'
                       WHEN ra.birth_hash = rb.birth_swapped_hash THEN 'cosmetic'
                       ELSE 'different' END AS birth,
                  CASE WHEN ra.numen_hash IS NULL OR rb.numen_hash IS NULL THEN 'missing'
                       WHEN ra.numen_hash = rb.numen_hash THEN 'same' ELSE 'different' END AS numen
           FROM match_candidates mc
           JOIN source_records ra ON ra.id = mc.record_a JOIN source_records rb ON rb.id = mc.record_b
           WHERE mc.id = %s""",
        (candidate_id,),
    )
    if row is None:
        raise NotFoundError(f"no case {candidate_id}")
    recs = {
        r["id"]: _record(r)
        for r in db.fetch_all(_RECORD_SELECT + " WHERE r.id = ANY(%s)", ([row["record_a"], row["record_b"]],))
    }
    a, b = recs[row["record_a"]], recs[row["record_b"]]
    if admin is not None and not admin.may_see({a.academy_code, b.academy_code}):
        raise NotFoundError(f"no case {candidate_id}")
    person_a = _person_view(db, a.person_id)
    person_b = person_a if b.person_id == a.person_id else _person_view(db, b.person_id)
    pair_decisions = db.fetch_all(
        """SELECT id, kind, decided_by, created_at, revoked_at, revoked_by FROM match_decisions
           WHERE record_a = %s AND record_b = %s ORDER BY id""",
        (row["record_a"], row["record_b"]),
    )
    conflicts: list[dict[str, Any]] = []
    if person_a and person_b and person_a.id != person_b.id:
        left = [r.id for r in person_a.records]
        right = [r.id for r in person_b.records]
        conflicts = [
            d
            for d in db.fetch_all(
                """SELECT id, record_a, record_b, decided_by, created_at FROM match_decisions
                   WHERE kind = 'cannot_link' AND revoked_at IS NULL
                     AND ((record_a = ANY(%s) AND record_b = ANY(%s))
                  OR (record_a = ANY(%s) AND record_b = ANY(%s)))""",
                (left, right, right, left),
            )
            if (d["record_a"], d["record_b"]) != (a.id, b.id)
        ]
    # Two shapes: a list of comparisons, or the engine's object {prior_weight, comparisons: [...]}.
    raw = row["explanation"] or []
    comparisons = raw.get("comparisons", []) if isinstance(raw, dict) else raw
    prior = raw.get("prior_weight") if isinstance(raw, dict) else None
    explanation = tuple(
        Explanation(
            str(e.get("comparison", "")),
            str(e.get("level", "")),
            str(e.get("label") or str(e.get("level", "")).replace("_", " ")),
            float(e.get("weight", 0.0)),
        )
        for e in comparisons
        if isinstance(e, dict)
    )
    return Case(
        id=row["id"],
        status=row["status"],
        probability=row["probability"],
        weight=row["weight"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        record_a=a,
        record_b=b,
        person_a=person_a,
        person_b=person_b,
        diffs=_diffs(a, b, row),
        explanation=explanation,
        prior_weight=float(prior) if isinstance(prior, int | float) else None,
        pair_decisions=tuple(pair_decisions),
        blocking_conflicts=tuple(conflicts),
    )


@dataclass(frozen=True, slots=True)
class Cluster:
    """A person whose records look like more than one human, and why."""

    person_id: str
    display_name: str
    records: int
    reasons: tuple[str, ...]


def suspicious_clusters(
    db: Database, *, admin: Admin | None = None, academy: str | None = None, limit: int = 100
) -> list[Cluster]:
    """Active persons whose records disagree on NUMEN or birth year, hold two active records of one
    academy, or are unusually many: the clusters a chaining error would produce."""
    scope_academy = admin.academy_code if admin is not None else None
    rows = db.fetch_all(
        """SELECT p.id, p.display_name, count(*) AS n,
                  count(DISTINCT r.numen_hash) > 1 AS numens,
                  count(DISTINCT r.birth_year) > 1 AS years,
                  count(r.academy_code) FILTER (WHERE r.active AND r.removed_at IS NULL)
                    > count(DISTINCT r.academy_code) FILTER (WHERE r.active AND r.removed_at IS NULL)
                    AS same_academy,
                  count(*) > 4 AS large
           FROM persons p JOIN record_links l ON l.person_id = p.id
           JOIN source_records r ON r.id = l.record_id
           WHERE p.status = 'active'
           GROUP BY p.id, p.display_name
           HAVING count(*) > 1
              AND (count(DISTINCT r.numen_hash) > 1 OR count(DISTINCT r.birth_year) > 1 OR count(*) > 4
                   OR count(r.academy_code) FILTER (WHERE r.active AND r.removed_at IS NULL)
                      > count(DISTINCT r.academy_code) FILTER (WHERE r.active AND r.removed_at IS NULL))
              AND (%(scope)s::text IS NULL OR bool_or(r.academy_code = %(scope)s))
              AND (%(academy)s::text IS NULL OR bool_or(r.academy_code = %(academy)s))
           ORDER BY count(DISTINCT r.numen_hash) > 1 DESC, count(*) DESC, p.id
           LIMIT %(limit)s""",
        {"scope": scope_academy, "academy": academy, "limit": limit},
    )
    labels = {
        "numens": "different NUMENs",
        "years": "different birth years",
        "same_academy": "two active records in one academy",
        "large": "more than four records",
    }
    return [
        Cluster(r["id"], r["display_name"], r["n"], tuple(text for key, text in labels.items() if r[key]))
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log line, with whether (and by which entry) it was undone."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    summary: str
    before: Any
    after: Any
    undone_by: int | None


def audit_entries(
    db: Database, *, admin: Admin | None = None, limit: int = 50, offset: int = 0, actor: str | None = None
) -> tuple[list[AuditEntry], int]:
    """A page of the audit log, newest first, and the total; an academy administrator sees the
    entries that concern their academy."""
    scope = admin.academy_code if admin is not None else None
    rows = db.fetch_all(
        """SELECT a.id, a.at, a.actor, a.action, a.target, a.before, a.after, count(*) OVER () AS total,
                  (SELECT max(u.id) FROM audit_log u WHERE u.action = 'undo' AND u.target = 'audit:' || a.id)
                    AS undone_by
           FROM audit_log a
           WHERE (%(scope)s::text IS NULL OR %(scope)s = ANY(a.academies))
             AND (%(actor)s::text IS NULL OR a.actor = %(actor)s)
           ORDER BY a.id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {"scope": scope, "actor": actor, "limit": limit, "offset": offset},
    )
    entries = [
        AuditEntry(
            id=r["id"],
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            target=r["target"],
            summary=str((r["after"] or {}).get("summary", "")) if isinstance(r["after"], dict) else "",
            before=r["before"],
            after=r["after"],
            undone_by=r["undone_by"],
        )
        for r in rows
    ]
    return entries, (rows[0]["total"] if rows else 0)
