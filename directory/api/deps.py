"""What every route depends on: the app's state, and a checked, rate-limited API key with a scope.

Used as ``Annotated`` dependencies (``key: SearchKey``) so that routes state what they need and
OpenAPI shows the Bearer scheme on each of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from directory.api.metrics import Metrics
from directory.apikeys import ApiKey, KeyCache
from directory.config import Settings
from directory.db import Database
from directory.errors import AuthenticationError
from directory.ratelimit import ExposureCounter, RateLimiter
from directory.search.service import Found, SearchService, ids_of

__all__ = [
    "AdminKey",
    "ApiState",
    "InstanceKey",
    "MetricsKey",
    "ResolveKey",
    "SearchKey",
    "StateDep",
    "authenticate",
    "bearer_token",
    "get_state",
    "require_scope",
]


@dataclass
class ApiState:
    """Everything a request needs, built once per app (one per worker process)."""

    settings: Settings
    db: Database | None
    read_db: Database | None
    search: SearchService
    keys: KeyCache | None
    limiter: RateLimiter
    exposure: ExposureCounter
    metrics: Metrics = field(default_factory=Metrics)

    def shown(self, key: ApiKey, found: list[Found], route: str) -> None:
        """Count the people returned to a key by ``route`` (a route template): the exposure counter
        (which feeds the metric of people returned per key through its ``on_new``), and the metric
        of results per answer. A lookup that finds nobody shows ``[]``."""
        self.metrics.results_of(route).observe(len(found))
        self.exposure.record(key.id, ids_of(found), label=key.name)


async def get_state(request: Request) -> ApiState:
    """The app's state (set by ``create_app``)."""
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dir_...`")


async def find_key(state: ApiState, token: str | None) -> ApiKey:
    """The presented key, known and not revoked (else 401)."""
    if not token:
        raise AuthenticationError("an API key is required: Authorization: Bearer <key>")
    if state.keys is None:
        raise AuthenticationError("this server has no key store")
    # A cached key costs no database round trip; only a miss goes to a thread.
    key = state.keys.peek(token)
    if key is None:
        key = await run_in_threadpool(state.keys.check, token)
    return key


def admit(state: ApiState, key: ApiKey, scope: str) -> None:
    """``key`` has ``scope`` (else 403) and is within its rate (else 429)."""
    key.require(scope)
    state.limiter.hit(key.id, key.rate_limit_per_minute)


async def authenticate(request: Request, state: ApiState, token: str | None, scope: str) -> ApiKey:
    """Check a presented key: known and not revoked (401), with ``scope`` (403), within its rate (429)."""
    key = await find_key(state, token)
    request.scope.setdefault("state", {})["key_name"] = key.name  # logged even when refused
    admit(state, key, scope)
    return key


def bearer_token(request: Request) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_scope(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that checks the Bearer key, its scope and its rate limit."""

    async def dependency(
        request: Request,
        state: StateDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        return await authenticate(request, state, credentials.credentials if credentials else None, scope)

    dependency.__name__ = f"require_{scope}"
    return dependency


SearchKey = Annotated[ApiKey, Depends(require_scope("search"))]
ResolveKey = Annotated[ApiKey, Depends(require_scope("resolve"))]
InstanceKey = Annotated[ApiKey, Depends(require_scope("instance"))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
MetricsKey = Annotated[ApiKey, Depends(require_scope("metrics"))]
