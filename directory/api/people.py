"""``/v1``: people search, one person by id, resolution by e-mail, uid or federated cloud id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from directory.api.deps import ResolveKey, SearchKey, StateDep
from directory.api.errors import ERROR_RESPONSES
from directory.api.responses import json_response, people_body
from directory.api.schemas import ErrorPublic, PeoplePublic, PersonPublic
from directory.apikeys import ApiKey
from directory.errors import AmbiguousError, InvalidInputError, NotFoundError, PermissionDeniedError
from directory.ratelimit import cap_limit, check_query
from directory.search.index import ACADEMY_BIT
from directory.search.service import Found

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["people"], responses=ERROR_RESPONSES)


def visible(key: ApiKey, found: Found) -> bool:
    """Whether a key restricted to an academy may see this person (any live record there)."""
    if key.academy_code is None:
        return True
    return bool(found.index.academy_mask_of(found.idx) & (1 << ACADEMY_BIT[key.academy_code]))


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
)
async def search_people(
    state: StateDep,
    key: SearchKey,
    q: Annotated[str, Query(description="What the user typed (2 to 100 characters).")],
    limit: Annotated[int | None, Query(ge=1, description="At most 25 (the default).")] = None,
    context: Annotated[
        str | None, Query(max_length=254, description="E-mail or uid of the person searching.")
    ] = None,
) -> Response:
    settings = state.settings
    text = check_query(
        q, min_length=settings.search_min_query_length, max_length=settings.search_max_query_length
    )
    n = cap_limit(limit, settings.search_max_results)
    found = state.search.search(text, limit=n, context=context, academy=key.academy_code)
    state.shown(key, found)
    state.metrics.results.labels("/v1/people/search").observe(len(found))
    return json_response(people_body(found))


@router.get("/people/{person_id}", response_model=PersonPublic, summary="One person by id")
async def get_person(state: StateDep, key: ResolveKey, person_id: str) -> Response:
    found = state.search.get(person_id)
    if found is None:
        raise NotFoundError(f"no person {person_id!r} is offered")
    if not visible(key, found):
        raise PermissionDeniedError("this API key is restricted to another academy")
    state.shown(key, [found])
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
        raise NotFoundError(f"nobody has this {kind}")
    if len(found) > 1:
        raise AmbiguousError(f"{len(found)} people have this {kind}: {', '.join(f.id for f in found)}")
    state.shown(key, found)
    return json_response(found[0].payload)
