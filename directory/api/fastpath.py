"""The hot route, ``GET /v1/people/search``, answered in front of FastAPI's machinery.

Every keystroke of every share dialog lands here. Profiled on the real app (``docs/benchmarks.md``),
half of a request's CPU went to Starlette's middleware stack, FastAPI's routing, the ``Request`` and
``Response`` objects and the timing middleware's message copies, the other half to the search. This
ASGI middleware, the outermost one, answers the route itself with the very same contract:

- the same key check (``deps.authenticate``: 401, 403 on the scope, the rate limit with 429 and
  ``Retry-After``), the academy restriction, the query checks (422), the exposure counter;
- the same JSON bodies, errors included (``errors.error_response``'s shape), and the same metrics
  (latency histogram by route template, result counts, error codes) and access log line;
- ``Server-Timing: app;dur=..., cpu;dur=...`` like ``TimingMiddleware``.

The FastAPI route of the same path stays registered: it documents the contract in OpenAPI and
serves any request this middleware passes on (only ``GET`` on the exact path is answered here).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client.metrics import Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from directory.api.deps import ApiState, admit, find_key
from directory.api.people import SEARCH_ROUTE, search_for
from directory.api.responses import people_body
from directory.errors import (
    AuthenticationError,
    DirectoryError,
    RateLimitedError,
)

__all__ = ["PATH", "SearchFastPath"]

PATH = SEARCH_ROUTE
ROUTE = PATH
log = logging.getLogger("directory.api.access")
error_log = logging.getLogger("directory.api.errors")

_JSON = (b"content-type", b"application/json")


class SearchFastPath:
    """ASGI middleware: answers ``GET /v1/people/search``, passes everything else to ``app``."""

    def __init__(self, app: ASGIApp, state: Callable[[], ApiState | None]) -> None:
        self.app = app
        self.state = state
        self._latency: dict[int, Any] = {}  # status -> the histogram child (labels() costs a lookup)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        state = self.state()
        if state is None:  # the lifespan has not run (an app used without it): the normal path
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        cpu_start = time.thread_time()
        who = ["-"]  # the key's name, for the access line, once known
        extra: list[tuple[bytes, bytes]] = []
        try:
            body = await self._search(scope, state, who)
            status = 200
        except DirectoryError as exc:
            status, body = exc.status, _error_body(exc.code, str(exc))
            if isinstance(exc, RateLimitedError):
                extra.append((b"retry-after", str(exc.retry_after).encode()))
            if isinstance(exc, AuthenticationError):
                extra.append((b"www-authenticate", b"Bearer"))
            if exc.status >= 500 and exc.code != "index_loading":  # a worker starting is not an error
                error_log.error("%s on %s: %s", exc.code, PATH, exc)
            state.metrics.errors.labels(exc.code).inc()
        except Exception:
            error_log.exception("unexpected error on %s", PATH)
            state.metrics.errors.labels("internal_error").inc()
            status, body = 500, _error_body("internal_error", "internal error")
        ms = (time.perf_counter() - start) * 1000
        cpu = (time.thread_time() - cpu_start) * 1000
        headers = [
            _JSON,
            (b"content-length", str(len(body)).encode()),
            (b"server-timing", f"app;dur={ms:.3f}, cpu;dur={cpu:.3f}".encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - start
        child = self._latency.get(status)
        if child is None:
            latency: Histogram = state.metrics.latency
            child = self._latency[status] = latency.labels(ROUTE, "GET", str(status))
        child.observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("GET %s %d %.2fms key=%s", ROUTE, status, elapsed * 1000, who[0])

    async def _search(self, scope: Scope, state: ApiState, who: list[str]) -> bytes:
        key = await find_key(state, _bearer(scope))
        who[0] = key.name
        admit(state, key, "search")
        # The same decoding as Starlette's QueryParams: latin-1 bytes, then percent-decoding as
        # UTF-8 with replacement (so that non-UTF-8 input shows as U+FFFD and check_query refuses it).
        params: dict[str, str] = {}
        for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            params[name] = value  # the last one wins, as with Starlette's query_params.get()
        return people_body(search_for(state, key, params))  # which counts the results too


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()
