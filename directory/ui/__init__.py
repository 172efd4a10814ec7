"""The admin review UI (``/admin``) and the share-dialog demo (``/demo/share``), server-rendered.

``mount_ui(app, settings)`` adds them to an application: the API's (``create_app`` calls it), or a
bare FastAPI app (the UI then opens its own store). Pages use Jinja2 templates and a little plain
JavaScript from ``static/``; there is no front-end build step.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from directory.config import Settings
from directory.ui import admin, demo, operations
from directory.ui.web import STATIC_DIR, Forbidden, LoginRequired, UiState, redirect, render

__all__ = ["mount_ui"]


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Add the admin UI and the demo to ``app`` (routers, static files, their two page errors)."""
    app.state.ui = UiState(settings)
    app.include_router(admin.router)
    app.include_router(operations.router)
    app.include_router(demo.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        query = urlencode({"next": exc.next_url, "reason": exc.reason})
        return redirect(request, f"/admin/login?{query}")

    async def forbidden(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title="Form refused: nothing was changed",
            message=f"{exc}. Reload the page and try again.",
            back=urlsplit(request.headers.get("referer", "")).path or "/admin",
        )

    # Handlers for the UI's own signals only: the API's JSON error handlers stay as they are.
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Forbidden, forbidden)
