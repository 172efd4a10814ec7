"""What clients already speak: the Nextcloud Global Scale lookup server, a sharees-shaped search for
a Nextcloud collaborator plugin, and Tchap's (Matrix) user-directory search.

Each is the same index and ranking as ``/v1/people/search``, in the client's own JSON shape, so
that a Nextcloud or a Tchap can be pointed at the directory with configuration, not code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from directory.accounts import Account, remove_accounts, report_accounts
from directory.api.deps import ApiState, SearchKey, StateDep, authenticate, bearer_token
from directory.api.errors import ERROR_RESPONSES
from directory.api.people import visible
from directory.api.responses import json_response
from directory.api.schemas import (
    GsAccount,
    GsRemoval,
    GsRemovalResult,
    GsReport,
    GsReportResult,
    GsUser,
    MatrixSearch,
    MatrixUsers,
    ShareesPublic,
)
from directory.apikeys import ApiKey
from directory.errors import InvalidInputError, NotFoundError
from directory.ratelimit import cap_limit, check_query
from directory.search.service import Found
from matching.normalize import normalize_text

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES)


@dataclass(frozen=True, slots=True)
class _Searched:
    """A dialect's search: the query as checked, the people shown, and whether more matched."""

    text: str
    found: list[Found]
    limited: bool


def _search(
    state: ApiState,
    key: ApiKey,
    query: str,
    limit: int | None,
    *,
    route: str,
    name: str = "search",
    context: str | None = None,
    tell_limited: bool = False,
    shows: Callable[[Found], bool] | None = None,
) -> _Searched:
    """The same search as ``/v1/people/search``, in the key's academy: the query checked (422, naming
    the dialect's parameter), the limit capped, the people shown counted (exposure, and the results
    metric under ``route``, the route template). ``tell_limited`` asks
    for one more to know whether more matched (Matrix's ``limited``). ``shows`` says which results
    the dialect can show (Tchap: those with an e-mail); the others are dropped, not counted."""
    settings = state.settings
    text = check_query(
        query,
        min_length=settings.search_min_query_length,
        max_length=settings.search_max_query_length,
        name=name,
    )
    n = cap_limit(limit, settings.search_max_results)
    found = state.search.search(
        text, limit=n + 1 if tell_limited else n, context=context, academy=key.academy_code
    )
    shown = found[:n]
    if shows is not None:
        shown = [f for f in shown if shows(f)]
    state.shown(key, shown, route)
    return _Searched(text, shown, len(found) > n)


def _gs_user(f: Found) -> dict[str, object]:
    p = f.fields()
    cloud_id = str(p.get("cloud_id") or "")
    return {
        "federationId": cloud_id,
        "name": {"value": p["display_name"], "verified": 0},
        "email": {"value": p.get("email") or "", "verified": 1 if p.get("email") else 0},
        "userid": {"value": cloud_id.rpartition("@")[0], "verified": 0},
    }


_GS_USERS = "/users"
_SHAREES = "/v1/sharees"
_MATRIX_SEARCH = "/_matrix/client/v3/user_directory/search"


@router.get(
    _GS_USERS,
    tags=["Nextcloud Global Scale"],
    response_model=list[GsUser] | GsUser,
    summary="Lookup-server search (array) or exact lookup (one object)",
    description="`search=marie mart` answers an array like the GS lookup server (ranked, accent- "
    "and order-insensitive, at most 25). With `exact=1&keys[]=userid` or `keys[]=email` it answers "
    "the single matching object, as Nextcloud expects at login to route a person to their home "
    "instance; 404 when nobody matches.",
)
async def gs_users(
    state: StateDep,
    key: SearchKey,
    search: Annotated[str, Query(description="Query, or the exact user id / e-mail.")],
    exact: Annotated[int, Query(ge=0, le=1)] = 0,
    keys: Annotated[list[str] | None, Query(alias="keys[]", description="`userid` and/or `email`.")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    if exact:
        key.require("resolve")
        value = check_query(search, min_length=1, max_length=300, name="search")
        fields = set(keys or ["userid", "email"])
        if not fields <= {"userid", "email"}:
            raise InvalidInputError("keys[] must be userid or email")
        found: list[Found] = []
        if "userid" in fields:
            found += state.search.lookup(userid=value)
        if "email" in fields and not found:
            found += state.search.lookup(email=value)
        found = [f for f in found if visible(key, f)]
        if len(found) != 1:
            state.shown(key, [], _GS_USERS)
            raise NotFoundError("no single user matches")
        state.shown(key, found, _GS_USERS)
        return json_response(_gs_user(found[0]))
    return json_response([_gs_user(f) for f in _search(state, key, search, limit, route=_GS_USERS).found])


_MAX_ACCOUNTS = 10_000


def _accounts(users: Sequence[str | GsAccount] | Mapping[str, GsAccount]) -> list[Account]:
    """The accounts of a ``/gs/users`` body: a list of objects or of cloud ids, or an object keyed
    by cloud id (GS's own form). Each needs a user id, given or taken from its cloud id."""
    if len(users) > _MAX_ACCOUNTS:
        raise InvalidInputError(f"at most {_MAX_ACCOUNTS:,} accounts per report")
    items: Iterable[tuple[str | None, str | GsAccount]]
    items = users.items() if isinstance(users, Mapping) else [(None, u) for u in users]
    accounts: list[Account] = []
    for cloud_id, acc in items:
        if isinstance(acc, str):
            cloud_id, acc = acc, GsAccount()
            if "@" not in cloud_id:
                raise InvalidInputError(f"{cloud_id!r} is not a cloud id (userid@host)")
        cid = acc.cloudId or cloud_id
        userid = acc.userid or (cid.rpartition("@")[0] if cid else None)
        if not userid:
            raise InvalidInputError("every account needs a userid or a cloudId")
        accounts.append(
            Account(userid=userid, email=acc.email, display_name=acc.displayName or acc.name, cloud_id=cid)
        )
    return accounts


async def _instance_key(request: Request, state: ApiState, auth_key: str | None) -> str:
    """The instance a ``/gs/users`` call speaks for: its key (Bearer, or ``authKey`` as GS sends it)
    with the ``instance`` scope names it."""
    key = await authenticate(request, state, bearer_token(request) or auth_key, "instance")
    if key.instance is None:
        raise InvalidInputError("this key names no instance; create it with --instance")
    return key.instance


@router.post(
    "/gs/users",
    tags=["Nextcloud Global Scale"],
    response_model=GsReportResult,
    summary="An instance reports its accounts (batch)",
    description="Shaped like the GS lookup server's provisioning call. Needs a key with the "
    "`instance` scope (Bearer header, or `authKey` in the body as GS instances send it). Each "
    "account is linked to its person by e-mail (else uid); a linked account fixes the person's "
    "home instance there (unless they have an account where they live already, or an "
    "administrator put them there) and ranks them first among equals.",
)
async def gs_report(request: Request, state: StateDep, report: GsReport) -> Response:
    instance = await _instance_key(request, state, report.authKey)
    accounts = _accounts(report.users)
    assert state.db is not None
    counts = await run_in_threadpool(report_accounts, state.db, instance, accounts)
    return json_response(counts)


@router.delete(
    "/gs/users",
    tags=["Nextcloud Global Scale"],
    response_model=GsRemovalResult,
    summary="An instance reports accounts it deleted (batch)",
    description="The GS lookup server's batch removal: `users` is a list of cloud ids "
    "(`userid@host`, on the calling instance's host), or the forms `POST /gs/users` takes. Same "
    "key as the report. Idempotent: an account not recorded counts as `absent`. A person with no "
    "account left stops ranking as having one; a home that lost its account moves to an instance "
    "where the person still has one, else stays.",
)
async def gs_remove(request: Request, state: StateDep, removal: GsRemoval) -> Response:
    instance = await _instance_key(request, state, removal.authKey)
    accounts = _accounts(removal.users)
    assert state.db is not None
    counts = await run_in_threadpool(remove_accounts, state.db, instance, accounts)
    return json_response(counts)


@router.get(
    _SHAREES,
    tags=["Nextcloud sharees"],
    response_model=ShareesPublic,
    summary="Search in the Nextcloud sharees shape",
    description="For a Nextcloud collaborator plugin: the `ocs.data` of the files_sharing sharees "
    "API. `shareType` is 0 for people whose home is the calling instance (`instance`, or the key's "
    "own instance) and 6 (federated) otherwise; `label` and `subline` are ready to show, so the "
    "dialog never needs `Name (user@instance)`.",
)
async def sharees(
    state: StateDep,
    key: SearchKey,
    search: Annotated[str, Query()],
    perPage: Annotated[int | None, Query(ge=1)] = None,  # noqa: N803 - Nextcloud's parameter name
    context: Annotated[str | None, Query(max_length=254)] = None,
    instance: Annotated[str | None, Query(max_length=100, description="The calling instance.")] = None,
) -> Response:
    searched = _search(state, key, search, perPage, route=_SHAREES, context=context)
    text = searched.text
    caller = instance or key.instance
    typed = normalize_text(text)
    exact_items: dict[str, list[dict[str, object]]] = {"users": [], "remotes": []}
    items: dict[str, list[dict[str, object]]] = {"users": [], "remotes": []}
    for f in searched.found:
        p = f.fields()
        cloud_id = str(p.get("cloud_id") or "")
        userid, _, server = cloud_id.rpartition("@")
        local = caller is not None and p.get("instance") == caller
        item: dict[str, object] = {
            "label": p["display_name"],
            "subline": p["subline"],
            "icon": "icon-user",
            "value": {
                "shareType": 0 if local else 6,
                "shareWith": userid if local else cloud_id,
                "server": server or None,
            },
            "shareWithDisplayNameUnique": p.get("email") or cloud_id,
        }
        group = "users" if local else "remotes"
        is_exact = normalize_text(str(p["display_name"])) == typed or (p.get("email") or "") == text.lower()
        (exact_items if is_exact else items)[group].append(item)
    data = {"exact": exact_items, **items, "lookup": []}
    body = {"ocs": {"meta": {"status": "ok", "statuscode": 200, "message": "OK"}, "data": data}}
    return json_response(json.dumps(body, ensure_ascii=False).encode())


@router.post(
    _MATRIX_SEARCH,
    tags=["Tchap (Matrix)"],
    response_model=MatrixUsers,
    summary="Matrix user-directory search",
    description="Tchap's shape: `user_id` derived from the e-mail as Tchap does "
    "(`@marie.martin-ac-lyon.fr:<homeserver>`), `display_name` as `Prénom Nom [domaine]`; "
    "`subline` is an addition that tells homonyms apart.",
)
async def matrix_search(state: StateDep, key: SearchKey, body: MatrixSearch) -> Response:
    searched = _search(
        state,
        key,
        body.search_term,
        body.limit,
        route=_MATRIX_SEARCH,
        name="search_term",
        tell_limited=True,
        shows=lambda f: bool(f.fields().get("email")),  # a Matrix id is made of the e-mail
    )
    results = []
    for f in searched.found:
        p = f.fields()
        email = str(p["email"])
        domain = email.rpartition("@")[2]
        label = domain.rsplit(".", 1)[0] if "." in domain else domain
        results.append(
            {
                "user_id": f"@{email.replace('@', '-')}:{state.settings.tchap_homeserver}",
                "display_name": f"{p['display_name']} [{label}]",
                "avatar_url": None,
                "subline": p["subline"],
            }
        )
    return json_response({"limited": searched.limited, "results": results})
