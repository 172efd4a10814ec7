"""Read-only operations pages: what the nightly import did, feed by feed, and its quarantine.

Raw entries are stored already redacted of NUMEN and birth dates (``docs/privacy.md``); this page
drops any confidential-looking attribute and hash-looking value again before showing them, so a
redaction missed upstream still does not reach a screen.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from directory.db import Database
from directory.ui.web import Session, current, db_of, render

__all__ = ["router", "safe_raw"]

router = APIRouter(prefix="/admin", include_in_schema=False)

_CONFIDENTIAL = re.compile(r"password|hash|numen|employeenumber|naissance|birth", re.IGNORECASE)
_HASHLIKE = re.compile(r"^(?:[0-9a-f]{32,}|\$argon2.*|\{SSHA\}.*)$", re.IGNORECASE)
PAGE = 50


def safe_raw(raw: Any) -> str:
    """A raw entry as indented JSON, with confidential attributes and hash-like values hidden."""

    def clean(value: Any, key: str = "") -> Any:
        if key and _CONFIDENTIAL.search(key):
            return "[hidden]"
        if isinstance(value, dict):
            return {k: clean(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v, key) for v in value]
        if isinstance(value, str) and _HASHLIKE.match(value):
            return "[hidden]"
        return value

    return json.dumps(clean(raw), ensure_ascii=False, indent=2, sort_keys=True)


def _runs(db: Database, scope: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    latest = db.fetch_all(
        """SELECT DISTINCT ON (f.name) f.name AS feed, f.academy_code, f.kind, r.id, r.mode, r.dry_run,
                  r.started_at, r.ended_at, r.status, r.read, r.added, r.updated, r.removed, r.unchanged,
                  r.quarantined, r.error,
                  (SELECT count(*) FROM quarantine q WHERE q.feed = f.name) AS quarantine_total
           FROM feeds f LEFT JOIN import_runs r ON r.feed = f.name
           WHERE %(scope)s::text IS NULL OR f.academy_code = %(scope)s
           ORDER BY f.name, r.started_at DESC NULLS LAST""",
        {"scope": scope},
    )
    recent = db.fetch_all(
        """SELECT r.*, f.academy_code FROM import_runs r JOIN feeds f ON f.name = r.feed
           WHERE %(scope)s::text IS NULL OR f.academy_code = %(scope)s
           ORDER BY r.started_at DESC LIMIT 100""",
        {"scope": scope},
    )
    return latest, recent


@router.get("/imports", response_class=HTMLResponse)
async def imports_page(request: Request) -> Response:
    session: Session = current(request)
    latest, recent = await run_in_threadpool(_runs, db_of(request), session.admin.academy_code)
    return render(request, "imports.html", session=session, latest=latest, recent=recent)


def _quarantine(
    db: Database, scope: str | None, feed: str | None, reason: str | None, run: int | None, offset: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    params = {"scope": scope, "feed": feed, "reason": reason, "run": run, "limit": PAGE, "offset": offset}
    where = """(%(scope)s::text IS NULL OR f.academy_code = %(scope)s)
               AND (%(feed)s::text IS NULL OR q.feed = %(feed)s)"""
    counts = db.fetch_all(
        f"""SELECT q.feed, q.reason, count(*) AS n, max(q.created_at) AS last_seen
            FROM quarantine q JOIN feeds f ON f.name = q.feed WHERE {where}
            GROUP BY q.feed, q.reason ORDER BY q.feed, count(*) DESC""",
        params,
    )
    entries = db.fetch_all(
        f"""SELECT q.id, q.feed, q.run_id, q.dn, q.reason, q.detail, q.raw, q.created_at,
                   count(*) OVER () AS total
            FROM quarantine q JOIN feeds f ON f.name = q.feed
            WHERE {where} AND (%(reason)s::text IS NULL OR q.reason = %(reason)s)
              AND (%(run)s::bigint IS NULL OR q.run_id = %(run)s)
            ORDER BY q.id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        params,
    )
    for entry in entries:
        entry["raw"] = safe_raw(entry["raw"])
    return counts, entries, (entries[0]["total"] if entries else 0)


@router.get("/quarantine", response_class=HTMLResponse)
async def quarantine_page(
    request: Request,
    feed: str | None = None,
    reason: str | None = None,
    run: int | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    session = current(request)
    counts, entries, total = await run_in_threadpool(
        _quarantine,
        db_of(request),
        session.admin.academy_code,
        feed or None,
        reason or None,
        run,
        (page - 1) * PAGE,
    )
    return render(
        request,
        "quarantine.html",
        session=session,
        counts=counts,
        entries=entries,
        total=total,
        feed=feed or "",
        reason=reason or "",
        run=run,
        page=page,
        pages=max(1, -(-total // PAGE)),
    )
