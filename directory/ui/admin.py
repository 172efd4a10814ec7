"""The review pages: sign-in, the queue, a case, a person (split), suspicious clusters, the audit log.

Every page needs a session (:func:`directory.ui.web.current`); every action is a POST carrying
the CSRF token, calls :mod:`directory.review` (which enforces the administrator's academy scope)
and redirects (303) so that reloading a page never repeats a decision. After a merge or a
"distinct", the next pending case opens, with the decision just made and its undo button on top.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from directory import review
from directory.admins import authenticate, sign_out_everywhere
from directory.casework import STATUSES, audit_entries, neighbours, person, suspicious_clusters
from directory.errors import DirectoryError, InvalidInputError, NotFoundError
from directory.instances import move_person
from directory.ui.web import (
    Session,
    check_csrf,
    current,
    db_of,
    issue,
    pre_session,
    redirect,
    render,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE = 50
CsrfField = Annotated[str | None, Form(alias="csrf_token")]


def _academy_filter(session: Session, academy: str | None) -> str | None:
    """The academy filter in force: an academy administrator is always filtered to theirs."""
    if session.admin.academy_code is not None:
        return session.admin.academy_code
    return academy or None


def _safe_next(url: str | None) -> str:
    """Only local paths under /admin: the sign-in form must not become an open redirect."""
    if url and url.startswith("/admin") and not url.startswith("//"):
        return url
    return "/admin"


# -- sign-in --------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/admin", reason: str = "") -> Response:
    token = pre_session(request)
    response = render(request, "login.html", csrf=token, next=_safe_next(next), reason=reason, error=None)
    issue(request, response, admin_id=None, csrf=token, issued=0)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: CsrfField = None,
    next: Annotated[str, Form()] = "/admin",
) -> Response:
    await check_csrf(request, csrf_token, login=True)
    admin = await run_in_threadpool(authenticate, db_of(request), username=username, password=password)
    if admin is None:
        token = pre_session(request)
        response = render(
            request,
            "login.html",
            status_code=401,
            csrf=token,
            next=_safe_next(next),
            reason="",
            error="Unknown username or wrong password.",
            username=username,
        )
        issue(request, response, admin_id=None, csrf=token, issued=0)
        return response
    # A fresh token at sign-in: a token planted before it (session fixation) is worth nothing.
    session = Session(admin, csrf=_new_token(), issued=int(time.time()))
    return redirect(request, _safe_next(next), session=session)


def _new_token() -> str:
    return secrets.token_urlsafe(24)


@router.post("/logout")
async def logout(request: Request, csrf_token: CsrfField = None) -> Response:
    await check_csrf(request, csrf_token)
    session = current(request)
    await run_in_threadpool(sign_out_everywhere, db_of(request), admin_id=session.admin.id)
    response = RedirectResponse("/admin/login?reason=signed-out", status_code=303)
    response.delete_cookie("directory_admin", path="/")
    return response


# -- queue and case -------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    academy: str | None = None,
    status: Annotated[str, Query()] = "pending",
    page: Annotated[int, Query(ge=1)] = 1,
    done: int | None = None,
) -> Response:
    session = current(request)
    chosen = _academy_filter(session, academy)
    wanted = status if status in STATUSES else None
    q = await run_in_threadpool(
        review.queue,
        db_of(request),
        academy=chosen,
        status=wanted,
        limit=PAGE,
        offset=(page - 1) * PAGE,
        admin=session.admin,
    )
    return render(
        request,
        "queue.html",
        session=session,
        queue=q,
        statuses=STATUSES,
        status=wanted or "all",
        academy=chosen,
        page=page,
        pages=max(1, -(-q.total // PAGE)),
        flash=await _flash(request, session, done),
    )


async def _flash(request: Request, session: Session, audit_id: int | None) -> dict[str, object] | None:
    """The decision just made (shown with its undo button), if it is this administrator's."""
    if audit_id is None:
        return None
    row = await run_in_threadpool(
        db_of(request).fetch_one,
        """SELECT id, action, after->>'summary' AS summary, action = ANY(%s) AS undoable,
                  EXISTS (SELECT 1 FROM audit_log u WHERE u.action = 'undo' AND u.target = 'audit:' || a.id)
                    AS undone
           FROM audit_log a WHERE id = %s AND actor = %s""",
        (sorted(review.UNDOABLE), audit_id, session.admin.username),
    )
    return row


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, case_id: int, academy: str | None = None, done: int | None = None
) -> Response:
    session = current(request)
    db = db_of(request)
    try:
        c = await run_in_threadpool(review.case, db, case_id, admin=session.admin)
    except NotFoundError:
        return _not_found(
            request, session, "Case not found", f"There is no case #{case_id} among the cases you can see."
        )
    prev_id, next_id = await run_in_threadpool(
        neighbours, db, case_id, admin=session.admin, academy=_academy_filter(session, academy)
    )
    survivor = None
    if c.person_a and c.person_b and not c.same_person:
        survivor = await run_in_threadpool(review.survivor_of, db, c.person_a.id, c.person_b.id)
    return render(
        request,
        "case.html",
        session=session,
        case=c,
        prev_id=prev_id,
        next_id=next_id,
        survivor=survivor,
        academy=academy or "",
        flash=await _flash(request, session, done),
    )


async def _decide(
    request: Request, case_id: int, action: str, csrf_token: str | None, academy: str
) -> Response:
    await check_csrf(request, csrf_token)
    session = current(request)
    db = db_of(request)
    fn = review.merge if action == "merge" else review.mark_distinct
    try:
        outcome = await run_in_threadpool(fn, db, candidate_id=case_id, admin=session.admin)
    except DirectoryError as exc:
        return _refused(request, session, exc, back=f"/admin/cases/{case_id}")
    _, next_id = await run_in_threadpool(
        neighbours, db, case_id, admin=session.admin, academy=_academy_filter(session, academy or None)
    )
    suffix = f"done={outcome.audit_id}" + (f"&academy={academy}" if academy else "")
    if next_id is not None:
        return redirect(request, f"/admin/cases/{next_id}?{suffix}", session=session)
    return redirect(request, f"/admin?{suffix}", session=session)


def _not_found(request: Request, session: Session, title: str, message: str) -> Response:
    """The page of a case or person the administrator cannot see (or that does not exist)."""
    return render(request, "error.html", session=session, status_code=404, title=title, message=message)


def _refused(request: Request, session: Session, exc: DirectoryError, *, back: str) -> Response:
    return render(
        request,
        "error.html",
        session=session,
        status_code=exc.status,
        title="Nothing was changed" if exc.status != 404 else "Not found",
        message=str(exc),
        back=back,
    )


@router.post("/cases/{case_id}/merge")
async def merge_action(
    request: Request, case_id: int, csrf_token: CsrfField = None, academy: Annotated[str, Form()] = ""
) -> Response:
    return await _decide(request, case_id, "merge", csrf_token, academy)


@router.post("/cases/{case_id}/distinct")
async def distinct_action(
    request: Request, case_id: int, csrf_token: CsrfField = None, academy: Annotated[str, Form()] = ""
) -> Response:
    return await _decide(request, case_id, "distinct", csrf_token, academy)


# -- persons: split -------------------------------------------------------------------------------


@router.get("/persons/{person_id}", response_class=HTMLResponse)
async def person_page(
    request: Request, person_id: str, done: int | None = None, case: int | None = None
) -> Response:
    session = current(request)
    try:
        p = await run_in_threadpool(person, db_of(request), person_id, admin=session.admin)
    except NotFoundError:
        return _not_found(
            request,
            session,
            "Person not found",
            f"There is no person {person_id} among the people you can see.",
        )
    instances = await run_in_threadpool(
        db_of(request).fetch_all, "SELECT name, host FROM instances ORDER BY name"
    )
    return render(
        request,
        "person.html",
        session=session,
        person=p,
        instances=[i["name"] for i in instances],
        case_id=case,
        flash=await _flash(request, session, done),
    )


@router.post("/persons/{person_id}/move")
async def move_action(
    request: Request,
    person_id: str,
    csrf_token: CsrfField = None,
    instance: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Move a person's home instance: an admin act, recorded (``directory.instances.move_person``;
    the same as ``directory instances move``). An academy administrator moves only people with a
    record in their academy."""
    await check_csrf(request, csrf_token)
    session = current(request)
    back = f"/admin/persons/{person_id}"
    try:
        if not reason.strip():
            raise InvalidInputError("say why the person moves: the reason goes into the audit log")
        move = await run_in_threadpool(
            move_person,
            db_of(request),
            person_id,
            instance,
            actor=session.admin.username,
            reason=reason.strip(),
            academy_code=session.admin.academy_code,
        )
    except DirectoryError as exc:
        return _refused(request, session, exc, back=back)
    suffix = f"?done={move.audit_id}" if move.audit_id is not None else ""
    return redirect(request, back + suffix, session=session)


@router.post("/persons/{person_id}/split")
async def split_action(request: Request, person_id: str) -> Response:
    form = await request.form()
    await check_csrf(request, str(form.get("csrf_token") or ""))
    session = current(request)
    groups: dict[int, list[int]] = {}
    for key, value in form.multi_items():
        if key.startswith("group-") and key[6:].isdigit() and str(value).isdigit():
            groups.setdefault(int(str(value)), []).append(int(key[6:]))
    ordered = [groups.get(0, [])] + [groups[g] for g in sorted(groups) if g != 0]
    try:
        outcome = await run_in_threadpool(
            review.split_person, db_of(request), person_id=person_id, groups=ordered, admin=session.admin
        )
    except DirectoryError as exc:
        return _refused(request, session, exc, back=f"/admin/persons/{person_id}")
    return redirect(request, f"/admin/persons/{person_id}?done={outcome.audit_id}", session=session)


@router.get("/clusters", response_class=HTMLResponse)
async def clusters_page(request: Request, academy: str | None = None) -> Response:
    session = current(request)
    chosen = _academy_filter(session, academy)
    found = await run_in_threadpool(suspicious_clusters, db_of(request), admin=session.admin, academy=chosen)
    return render(request, "clusters.html", session=session, clusters=found, academy=chosen)


# -- audit and undo -------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, page: Annotated[int, Query(ge=1)] = 1, actor: str | None = None, done: int | None = None
) -> Response:
    session = current(request)
    entries, total = await run_in_threadpool(
        audit_entries,
        db_of(request),
        admin=session.admin,
        limit=PAGE,
        offset=(page - 1) * PAGE,
        actor=actor or None,
    )
    return render(
        request,
        "audit.html",
        session=session,
        entries=entries,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        undoable=review.UNDOABLE,
        actor=actor or "",
        flash=await _flash(request, session, done),
    )


@router.post("/audit/{audit_id}/undo")
async def undo_action(
    request: Request,
    audit_id: int,
    csrf_token: CsrfField = None,
    back: Annotated[str, Form()] = "/admin/audit",
) -> Response:
    await check_csrf(request, csrf_token)
    session = current(request)
    try:
        outcome = await run_in_threadpool(review.undo, db_of(request), audit_id=audit_id, admin=session.admin)
    except DirectoryError as exc:
        return _refused(request, session, exc, back="/admin/audit")
    return redirect(request, _with_done(_safe_next(back), outcome.audit_id), session=session)


def _with_done(url: str, audit_id: int) -> str:
    """``url`` with its ``done`` parameter set to this audit entry (the banner with undo)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "done"] + [("done", str(audit_id))]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))
