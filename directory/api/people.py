"""``/v1``: people search, one person by id, resolution by e-mail, uid or federated cloud id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from directory.api.deps import ApiState, ResolveKey, StateDep, authenticate, bearer_token
from directory.api.errors import ERROR_RESPONSES
from directory.api.responses import json_response, people_body
from directory.api.schemas import ErrorPublic, PeoplePublic, PersonPublic
from directory.apikeys import ApiKey
from directory.errors import AmbiguousError, InvalidInputError, NotFoundError, PermissionDeniedError
from directory.ratelimit import check_limit, check_query
from directory.search.index import ACADEMY_BIT
from directory.search.service import Found

__all__ = ["SEARCH_ROUTE", "router"]

router = APIRouter(prefix="/v1", tags=["people"], responses=ERROR_RESPONSES)
SEARCH_ROUTE = "/v1/people/search"  # the route template, as metrics label it


def visible(key: ApiKey, found: Found) -> bool:
    """Whether a key restricted to an academy may see this person (any live record there)."""
    if key.academy_code is None:
        return True
    return bool(found.index.academy_mask_of(found.idx) & (1 << ACADEMY_BIT[key.academy_code]))


_SEARCH_PARAMETERS = [
    {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "What the user typed (2 to 100 characters).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "How many results at most: a positive integer, capped at 25 (the default); "
        "a larger value gets 25 results, it is not refused.",
        "schema": {"type": "integer", "minimum": 1, "default": 25},
    },
    {
        "name": "context",
        "in": "query",
        "required": False,
        "description": "E-mail or uid of the person searching.",
        "schema": {"type": "string", "maxLength": 254},
    },
]


@router.get(
    "/people/search",
    response_model=PeoplePublic,
    summary="Search people as you type",
    description="Every token of `q` matches as a prefix of any name part (given names, usage or "
    "birth name), in any order, whatever the accents, case, hyphens or apostrophes; one typo is "
    "tolerated in tokens of 5 letters or more; an e-mail or uid finds its person exactly. One "
    "result per person, best first: exact tokens before prefixes before typos, then people close "
    "to the searcher named by `context` (same establishment, then same academy), then people with a "
    "cloud account, then by name.",
    openapi_extra={"security": [{"HTTPBearer": []}], "parameters": _SEARCH_PARAMETERS},
)
async def search_people(request: Request) -> Response:
    # The hottest route (every keystroke of every share dialog) reads its parameters and checks
    # its key itself: FastAPI's dependency and parameter solving cost more than the search
    # (measured: ~0.6 ms of a ~1 ms request). ``openapi_extra`` documents the same contract.
    state: ApiState = request.app.state.api
    key = await authenticate(request, state, bearer_token(request), "search")
    return json_response(people_body(search_for(state, key, request.query_params)))


def search_for(state: ApiState, key: ApiKey, params: Mapping[str, str]) -> list[Found]:
    """``/v1/people/search`` for an admitted ``key``: the parameters checked (422), the search run
    within the key's academy, the people shown counted (exposure, metrics). Shared with the lean path
    (``directory.api.fastpath``), which parses the query string itself."""
    settings = state.settings
    text = check_query(
        params.get("q"),
        min_length=settings.search_min_query_length,
        max_length=settings.search_max_query_length,
    )
    n = check_limit(params.get("limit"), settings.search_max_results)
    context = params.get("context") or None
    if context is not None:
        context = check_query(context, min_length=1, max_length=254, name="context")
    found = state.search.search(text, limit=n, context=context, academy=key.academy_code)
    state.shown(key, found, SEARCH_ROUTE)
    return found


_PERSON_ROUTE = "/v1/people/{person_id}"
_RESOLVE_ROUTE = "/v1/resolve"


@router.get("/people/{person_id}", response_model=PersonPublic, summary="One person by id")
async def get_person(state: StateDep, key: ResolveKey, person_id: str) -> Response:
    found = state.search.get(person_id)
    if found is None:
        state.shown(key, [], _PERSON_ROUTE)
        raise NotFoundError(f"no person {person_id!r} is offered")
    if not visible(key, found):
        raise PermissionDeniedError("this API key is restricted to another academy")
    state.shown(key, [found], _PERSON_ROUTE)
    return json_response(found.payload)


@router.get(
    "/resolve",
    response_model=PersonPublic,
    summary="Exactly one person by e-mail, uid or federated cloud id",
    description="Give exactly one of `email`, `uid`, `cloud_id`. 404 when nobody matches, 409 "
    "(`ambiguous`) when several people do (a uid reused in two academies, for instance).",
    responses={409: {"model": ErrorPublic, "description": "Several people match (`ambiguous`)."}},
)
async def resolve(
    state: StateDep,
    key: ResolveKey,
    email: Annotated[str | None, Query(max_length=254)] = None,
    uid: Annotated[str | None, Query(max_length=128)] = None,
    cloud_id: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    given = {k: v for k, v in (("email", email), ("uid", uid), ("cloud_id", cloud_id)) if v}
    if len(given) != 1:
        raise InvalidInputError("give exactly one of email, uid, cloud_id")
    (kind, value), *_ = given.items()
    check_query(value, min_length=1, max_length=300, name=kind)
    found = [f for f in state.search.lookup(**{kind: value}) if visible(key, f)]
    if not found:
        state.shown(key, [], _RESOLVE_ROUTE)
        raise NotFoundError(f"nobody has this {kind}")
    if len(found) > 1:
        raise AmbiguousError(f"{len(found)} people have this {kind}: {', '.join(f.id for f in found)}")
    state.shown(key, found, _RESOLVE_ROUTE)
    return json_response(found[0].payload)
