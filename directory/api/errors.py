"""The one place where errors become HTTP answers: ``{"error": {"code": ..., "message": ...}}``.

Every ``DirectoryError`` carries its ``status`` and stable ``code``; request validation failures
become ``invalid_input`` (422); unknown routes ``not_found``; anything unexpected an
``internal_error`` whose message says nothing of the request (the log has the traceback, never
the query).
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from directory.api.schemas import ErrorPublic
from directory.errors import AuthenticationError, DirectoryError, RateLimitedError

__all__ = ["ERROR_RESPONSES", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "too_large"}

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorPublic, "description": text}
    for status, text in (
        (401, "No API key, or an unknown or revoked one (`unauthenticated`)."),
        (403, "The key lacks the scope or its academy excludes the person (`forbidden`)."),
        (422, "The request cannot be served as given (`invalid_input`)."),
        (429, "Too many requests for this key (`rate_limited`); see `Retry-After`."),
    )
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error answer."""
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def _count(request: Request, code: str) -> None:
    state = getattr(request.app.state, "api", None)
    if state is not None:
        state.metrics.errors.labels(code).inc()


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def directory_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DirectoryError)
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimitedError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = "Bearer"
        if exc.status >= 500 and exc.code != "index_loading":  # a worker starting is not an error
            log.error("%s on %s: %s", exc.code, request.url.path, exc)
        _count(request, exc.code)
        return error_response(exc.status, exc.code, str(exc), headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        _count(request, "invalid_input")
        return error_response(422, "invalid_input", _validation_message(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        _count(request, code)
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        _count(request, "internal_error")
        return error_response(500, "internal_error", "internal error")

    app.add_exception_handler(DirectoryError, directory_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
