"""The share-dialog demo: what a Nextcloud user would see with the directory behind the picker.

The page calls the public search API exactly as a client would (``GET /v1/people/search`` with
``Authorization: Bearer <key>``), so its script is the reference for integrators. It needs an API
key, obtained one of two ways:

- pasted by the person trying it (``directory keys create --name demo --scopes search`` prints
  one); it stays in the tab's ``sessionStorage`` and is never sent to anything but the API;
- in development only (``DIRECTORY_ENVIRONMENT=dev``) and only for a browser on this machine
  (loopback address), the page may ask ``POST /demo/key`` for a **search-only** key named
  ``demo-...`` that is revoked ``DIRECTORY_DEMO_KEY_MINUTES`` after it was issued (expired demo keys
  are revoked whenever the demo page is served or a key is issued). The request must carry the
  page's signed token and come from the same origin. In ``prod`` the endpoint does not exist (404).
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from directory.apikeys import create_key
from directory.db import Database
from directory.ui.web import SECURITY_HEADERS, db_of, render, ui_state

__all__ = ["DEMO_KEY_PREFIX", "revoke_expired_demo_keys", "router"]

router = APIRouter(prefix="/demo", include_in_schema=False)

DEMO_KEY_PREFIX = "demo-"
_SALT = "directory.demo.key"


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ui_state(request).settings.hashing_secret(), salt=_SALT)


def _may_issue(request: Request) -> bool:
    """Dev only, and only for a browser on this machine."""
    if ui_state(request).settings.environment != "dev" or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def revoke_expired_demo_keys(db: Database, minutes: int) -> int:
    """Revoke the demo keys issued more than ``minutes`` ago; how many were revoked."""
    return db.execute(
        """UPDATE api_keys SET revoked_at = now()
           WHERE name LIKE 'demo-%%' AND revoked_at IS NULL
             AND created_at < now() - make_interval(mins => %s)""",
        (minutes,),
    )


@router.get("/share", response_class=HTMLResponse)
async def share_page(request: Request) -> Response:
    issuing = _may_issue(request)
    if issuing:
        await run_in_threadpool(
            revoke_expired_demo_keys, db_of(request), ui_state(request).settings.demo_key_minutes
        )
    token = _signer(request).dumps("demo") if issuing else ""
    return render(
        request,
        "share.html",
        csrf=token,
        can_issue=issuing,
        minutes=ui_state(request).settings.demo_key_minutes,
    )


@router.post("/key")
async def demo_key(request: Request, token: Annotated[str, Form()] = "") -> Response:
    if not _may_issue(request):
        return JSONResponse({"error": {"code": "not_found", "message": "Not Found"}}, status_code=404)
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    try:
        _signer(request).loads(token, max_age=3600)
        if origin and origin.split("://", 1)[-1] != host:
            raise BadSignature("foreign origin")
    except BadSignature:
        return JSONResponse(
            {"error": {"code": "forbidden", "message": "reload the demo page"}}, status_code=403
        )
    minutes = ui_state(request).settings.demo_key_minutes
    db = db_of(request)

    def issue() -> dict[str, Any]:
        revoke_expired_demo_keys(db, minutes)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        _, plain = create_key(
            db,
            name=f"{DEMO_KEY_PREFIX}{stamp}-{secrets.token_hex(3)}",
            scopes={"search"},
            rate_limit_per_minute=300,
        )
        return {"key": plain, "scopes": ["search"], "expires_in": minutes * 60}

    body = await run_in_threadpool(issue)
    return JSONResponse(body, headers=SECURITY_HEADERS)
