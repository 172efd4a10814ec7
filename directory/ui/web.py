"""What every page of the admin UI shares: templates, the store, sessions in signed cookies, CSRF.

Sessions: the cookie holds the administrator id, the time of sign-in and a CSRF token, signed with
``DIRECTORY_SECRET_KEY`` (itsdangerous). It expires after ``DIRECTORY_ADMIN_SESSION_IDLE_SECONDS``
without a request (it is re-signed on each page) and ``DIRECTORY_ADMIN_SESSION_MAX_SECONDS`` after
sign-in whatever happens. Signing out records the instant in ``admins.signed_out_at``: every cookie
issued before it stops working, so a copied cookie does not outlive the sign-out. A disabled
account's sessions stop at the next request.

CSRF: every form carries the session's token in a hidden ``csrf_token`` field and every
state-changing request is a POST that must present it; the sign-in form has one too (a pre-session
cookie), against login CSRF. POSTs whose ``Origin`` names another site are refused as well.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from directory.academies import ACADEMIES, by_code
from directory.admins import Admin, get_admin
from directory.config import Settings
from directory.db import Database

__all__ = [
    "COOKIE",
    "STATIC_DIR",
    "LoginRequired",
    "Session",
    "UiState",
    "check_csrf",
    "current",
    "db_of",
    "redirect",
    "render",
    "ui_state",
]

COOKIE = "directory_admin"
_SALT = "directory.ui.session"
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"

# No inline script or style anywhere: the policy can forbid both.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """Raised by :func:`current` when there is no valid session; rendered as a redirect to sign-in."""

    def __init__(self, next_url: str, reason: str) -> None:
        super().__init__(reason)
        self.next_url = next_url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in administrator, with the session's CSRF token and sign-in time."""

    admin: Admin
    csrf: str
    issued: int


def _fmt_dt(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone()
    return value.strftime(fmt)


def _academy_name(code: str | None) -> str:
    academy = by_code(code) if code else None
    return academy.name if academy else (code or "—")


class UiState:
    """Per-app UI state: settings, templates, the cookie signer and (standalone) the store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["dt"] = _fmt_dt
        self.env.filters["academy"] = _academy_name
        self.env.globals["academies"] = sorted(ACADEMIES, key=lambda a: a.name)
        self.signer = URLSafeTimedSerializer(settings.hashing_secret(), salt=_SALT)
        self._db: Database | None = None
        self._lock = threading.Lock()

    def database(self) -> Database:
        """The UI's own pool, for an app without the API's state (opened on first use)."""
        with self._lock:
            if self._db is None:
                from directory.migrate import open_database

                self._db = open_database(self.settings)
            return self._db

    def close(self) -> None:
        """Close the UI's own pool if it opened one."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def ui_state(request: Request) -> UiState:
    """The UI state set by ``mount_ui``."""
    state: UiState = request.app.state.ui
    return state


def db_of(request: Request) -> Database:
    """The primary store: the API's when the UI is mounted on ``create_app``'s app, else the UI's."""
    api = getattr(request.app.state, "api", None)
    db = getattr(api, "db", None)
    if isinstance(db, Database):
        return db
    return ui_state(request).database()


# -- sessions -------------------------------------------------------------------------------------


def _read_cookie(request: Request, max_age: int) -> tuple[dict[str, Any] | None, str]:
    """The cookie payload, or None and why ("none", "expired", "invalid")."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None, "none"
    try:
        data = ui_state(request).signer.loads(raw, max_age=max_age)
    except SignatureExpired:
        return None, "expired"
    except BadSignature:
        return None, "invalid"
    return (data if isinstance(data, dict) else None), "ok"


def current(request: Request) -> Session:
    """The valid session of this request, or :class:`LoginRequired`."""
    settings = ui_state(request).settings
    data, why = _read_cookie(request, settings.admin_session_idle_seconds)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("referer", "/admin")
        target = urlsplit(target).path or "/admin"
    if data is None or "a" not in data:
        raise LoginRequired(target, "expired" if why == "expired" else "required")
    issued = int(data.get("i", 0))
    if time.time() - issued > settings.admin_session_max_seconds:
        raise LoginRequired(target, "expired")
    admin = get_admin(db_of(request), int(data["a"]))
    if admin is None or admin.disabled_at is not None:
        raise LoginRequired(target, "required")
    if admin.signed_out_at is not None and issued <= admin.signed_out_at.timestamp():
        raise LoginRequired(target, "required")
    return Session(admin, str(data["c"]), issued)


def issue(request: Request, response: Response, *, admin_id: int | None, csrf: str, issued: int) -> None:
    """(Re)sign the session cookie on a response."""
    state = ui_state(request)
    payload: dict[str, Any] = {"c": csrf}
    if admin_id is not None:
        payload.update(a=admin_id, i=issued)
    lifetime = state.settings.admin_session_idle_seconds if admin_id is not None else 3600
    response.set_cookie(
        COOKIE,
        state.signer.dumps(payload),
        max_age=lifetime,
        httponly=True,
        samesite="strict",
        secure=state.settings.environment == "prod",
        path="/",
    )


def pre_session(request: Request) -> str:
    """The CSRF token of the sign-in form (from the pre-session cookie, or a new one)."""
    data, _ = _read_cookie(request, 3600)
    token = data.get("c") if data else None
    return str(token) if token else secrets.token_urlsafe(24)


async def check_csrf(request: Request, token: str | None, *, login: bool = False) -> None:
    """Refuse a POST whose token does not match the cookie's, or that comes from another origin.

    A form posted after its session ended (the browser dropped the expired cookie) is a stale form:
    the administrator is sent to sign in again, told that nothing was changed.
    """
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("this form was sent from another site")
    settings = ui_state(request).settings
    data, why = _read_cookie(request, 3600 if login else settings.admin_session_idle_seconds)
    if data is None or (not login and "a" not in data):
        target = urlsplit(request.headers.get("referer", "")).path or "/admin"
        raise LoginRequired(target, "expired" if token or why == "expired" else "required")
    expected = str(data.get("c", ""))
    if not token or not expected or not hmac.compare_digest(token, expected):
        raise Forbidden("the form's security token is missing or does not match this session")


class Forbidden(Exception):  # noqa: N818  (rendered as a 403 page)
    """A forged or foreign form; rendered as a 403 page, nothing changed."""


# -- responses ------------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    *,
    session: Session | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with the common context; re-sign the session cookie (sliding expiry)."""
    state = ui_state(request)
    html = state.env.get_template(template).render(
        request=request,
        session=session,
        admin=session.admin if session else None,
        csrf=session.csrf if session else context.pop("csrf", ""),
        environment=state.settings.environment,
        now=datetime.now(UTC),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if session is not None:
        issue(request, response, admin_id=session.admin.id, csrf=session.csrf, issued=session.issued)
    return response


def redirect(request: Request, url: str, *, session: Session | None = None) -> RedirectResponse:
    """A 303 redirect (after a POST), re-signing the session cookie."""
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    if session is not None:
        issue(request, response, admin_id=session.admin.id, csrf=session.csrf, issued=session.issued)
    return response
