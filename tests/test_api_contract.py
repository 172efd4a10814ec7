"""The API contract through the real app: credentials, errors, resolution, federation shapes, ops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from directory.api.app import create_app
from directory.apikeys import create_key
from directory.config import Settings
from directory.db import Database
from directory.instances import load_instances, sync_instances
from directory.search.hooks import bump_generation, mark_changed
from tests.api_client import TestClient
from tests.factories import INSTANCES, World, add_person, add_record


@pytest.fixture
def env(
    db: Database, settings: Settings, tmp_path: Path
) -> Iterator[tuple[TestClient, Database, dict[str, str]]]:
    path = tmp_path / "instances.toml"
    path.write_text(INSTANCES)
    sync_instances(db, load_instances(path))
    world = World(db)
    jm = world.establishment("078", 1, name="Collège Jean Moulin", town="Versailles", academy_code="25")
    vh = world.establishment("069", 2, name="Lycée Victor Hugo", town="Lyon", academy_code="10")
    marie = {"given_name": "Marie", "usage_name": "MARTIN", "uid": "mmartin", "discipline": "L1300"}
    world.person(
        person_id="P-VERS", mail="marie.martin@ac-versailles.fr", academy_code="25", main_uai=jm, **marie
    )
    world.person(person_id="P-LYON", mail="marie.martin@ac-lyon.fr", academy_code="10", main_uai=vh, **marie)
    me = {"given_name": "Paul", "usage_name": "PETIT", "uid": "ppetit", "mail": "paul.petit@ac-versailles.fr"}
    world.person(person_id="P-ME", academy_code="25", main_uai=jm, **me)
    # The tests poll the store themselves (service.refresh()): a background poll racing them would
    # take the change first and make their refresh() answer "unchanged".
    settings = settings.model_copy(update={"instances": path, "search_refresh_interval": 3600})
    _, plain = create_key(db, name="nextcloud", scopes={"search", "resolve"})
    with TestClient(create_app(settings, index="blocking")) as client:
        yield client, db, {"Authorization": f"Bearer {plain}"}


def test_credentials_are_required_and_checked(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, _ = env
    r = client.get("/v1/people/search", params={"q": "marie"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = client.get("/v1/people/search", params={"q": "marie"}, headers={"Authorization": "Bearer dir_nope"})
    assert r.status_code == 401
    _, search_only = create_key(db, name="search-only", scopes={"search"})
    r = client.get(
        "/v1/resolve", params={"uid": "ppetit"}, headers={"Authorization": f"Bearer {search_only}"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_search_needs_the_search_scope(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, _ = env
    _, resolve_only = create_key(db, name="resolve-only", scopes={"resolve"})
    headers = {"Authorization": f"Bearer {resolve_only}"}
    r = client.get("/v1/people/search", params={"q": "marie"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert "search" in r.json()["error"]["message"]
    assert client.get("/v1/resolve", params={"uid": "ppetit"}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "a"},
        {"q": "x" * 200},
        {"q": "mar\x01tin"},
        {"q": "marie", "limit": "many"},
        {"q": "marie", "limit": "0"},
        {"q": "marie", "limit": "²"},  # str.isdigit() says yes, int() refuses it
        {"q": "marie", "limit": "٣"},  # an Arabic-Indic digit: int() would read 3
        {"q": "marie", "limit": "9" * 5000},  # more digits than int() converts
        {},
    ],
)
def test_bad_queries_get_422_json(
    env: tuple[TestClient, Database, dict[str, str]], params: dict[str, str]
) -> None:
    client, _, headers = env
    r = client.get("/v1/people/search", params=params, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_input" and r.json()["error"]["message"]


@pytest.mark.parametrize("limit", ["²", "9" * 5000])
@pytest.mark.parametrize(
    ("path", "query", "name"), [("/users", "search", "limit"), ("/v1/sharees", "search", "perPage")]
)
def test_bad_limits_on_compatible_routes_get_422_json(
    env: tuple[TestClient, Database, dict[str, str]], path: str, query: str, name: str, limit: str
) -> None:
    client, _, headers = env
    r = client.get(path, params={query: "marie", name: limit}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_a_larger_limit_is_capped_not_refused(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, _, headers = env
    r = client.get("/v1/people/search", params={"q": "marie", "limit": "1000"}, headers=headers)
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    r = client.get("/v1/people/search", params={"q": "marie", "limit": "1"}, headers=headers)
    assert len(r.json()["results"]) == 1
    limit = client.get("/openapi.json").json()["paths"]["/v1/people/search"]["get"]["parameters"][1]
    assert limit["name"] == "limit" and "maximum" not in limit["schema"]
    assert "capped at 25" in limit["description"]


def test_non_utf8_query_gets_422(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, _, headers = env
    r = client.get("/v1/people/search?q=mar%FF%FEtin", headers=headers)
    assert r.status_code == 422 and "UTF-8" in r.json()["error"]["message"]


def test_rate_limit_gives_429_with_retry_after(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, _ = env
    _, plain = create_key(db, name="slow", scopes={"search"}, rate_limit_per_minute=1)
    headers = {"Authorization": f"Bearer {plain}"}
    codes = [
        client.get("/v1/people/search", params={"q": "marie"}, headers=headers).status_code for _ in range(70)
    ]
    assert codes[0] == 200 and codes[-1] == 429
    r = client.get("/v1/people/search", params={"q": "marie"}, headers=headers)
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["error"]["code"] == "rate_limited"


def test_homonyms_have_distinct_sublines_and_context_ranks(
    env: tuple[TestClient, Database, dict[str, str]],
) -> None:
    client, _, headers = env
    results = client.get(
        "/v1/people/search", params={"q": "marie mar", "context": "ppetit"}, headers=headers
    ).json()["results"]
    assert [r["id"] for r in results] == ["P-VERS", "P-LYON"]
    assert results[0]["subline"] == "Académie de Versailles" and results[1]["subline"] == "Académie de Lyon"
    assert results[0]["instance"] == "cloud07" and results[0]["cloud_id"] == "mmartin@cloud07.example.fr"
    assert results[1]["cloud_id"] == "mmartin.lyon@cloud01.example.fr"
    lyon_first = client.get(
        "/v1/people/search", params={"q": "marie mar", "context": "marie.martin@ac-lyon.fr"}, headers=headers
    ).json()["results"]
    assert lyon_first[0]["id"] == "P-LYON"


def test_resolve_and_get(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, _, headers = env
    r = client.get("/v1/resolve", params={"email": "Marie.Martin@ac-lyon.fr"}, headers=headers)
    assert r.status_code == 200 and r.json()["id"] == "P-LYON"
    r = client.get("/v1/resolve", params={"cloud_id": "mmartin@cloud07.example.fr"}, headers=headers)
    assert r.json()["id"] == "P-VERS"
    r = client.get("/v1/resolve", params={"uid": "mmartin"}, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "ambiguous"
    r = client.get("/v1/resolve", params={"uid": "nobody"}, headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get(
        "/v1/resolve", params={"uid": "ppetit", "email": "paul.petit@ac-versailles.fr"}, headers=headers
    )
    assert r.status_code == 422
    assert client.get("/v1/people/P-ME", headers=headers).json()["display_name"] == "Paul Petit"
    assert client.get("/v1/people/NOPE", headers=headers).status_code == 404


def test_academy_restricted_key_sees_only_its_academy(
    env: tuple[TestClient, Database, dict[str, str]],
) -> None:
    client, db, _ = env
    _, plain = create_key(db, name="lyon-only", scopes={"search", "resolve"}, academy="lyon")
    headers = {"Authorization": f"Bearer {plain}"}
    results = client.get("/v1/people/search", params={"q": "marie"}, headers=headers).json()["results"]
    assert [r["id"] for r in results] == ["P-LYON"]
    assert client.get("/v1/people/P-VERS", headers=headers).status_code == 403


def test_global_scale_lookup_server_shapes(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, _, headers = env
    users = client.get("/users", params={"search": "marie mart"}, headers=headers).json()
    assert isinstance(users, list) and len(users) == 2
    assert users[0]["federationId"].endswith("@cloud07.example.fr") or users[0]["federationId"]
    assert set(users[0]) == {"federationId", "name", "email", "userid"}
    one = client.get(
        "/users", params={"search": "ppetit", "exact": 1, "keys[]": "userid"}, headers=headers
    ).json()
    assert isinstance(one, dict) and one["federationId"] == "ppetit@cloud07.example.fr"
    one = client.get(
        "/users",
        params={"search": "paul.petit@ac-versailles.fr", "exact": 1, "keys[]": "email"},
        headers=headers,
    )
    assert one.json()["name"]["value"] == "Paul Petit"
    assert client.get("/users", params={"search": "zz", "exact": 1}, headers=headers).status_code == 404


def test_sharees_shape_relative_to_the_calling_instance(
    env: tuple[TestClient, Database, dict[str, str]],
) -> None:
    client, _, headers = env
    data = client.get(
        "/v1/sharees", params={"search": "marie", "instance": "cloud07"}, headers=headers
    ).json()
    data = data["ocs"]["data"]
    (local,) = data["users"]
    (remote,) = data["remotes"]
    assert local["value"] == {"shareType": 0, "shareWith": "mmartin", "server": "cloud07.example.fr"}
    assert (
        remote["value"]["shareType"] == 6
        and remote["value"]["shareWith"] == "mmartin.lyon@cloud01.example.fr"
    )
    assert local["label"] == "Marie Martin" and local["subline"] != remote["subline"]


def test_tchap_user_directory_shape(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, _, headers = env
    r = client.post(
        "/_matrix/client/v3/user_directory/search", json={"search_term": "marie", "limit": 1}, headers=headers
    )
    body = r.json()
    assert body["limited"] is True and len(body["results"]) == 1
    assert body["results"][0]["user_id"].startswith("@marie.martin-ac-")
    assert body["results"][0]["display_name"].startswith("Marie Martin [ac-")


def test_instance_reports_accounts_and_ranking_follows(
    env: tuple[TestClient, Database, dict[str, str]],
) -> None:
    client, db, headers = env
    before = client.get("/v1/people/search", params={"q": "marie martin"}, headers=headers).json()["results"]
    assert [r["id"] for r in before] == ["P-LYON", "P-VERS"]  # equals: the stable order, by id
    # The account goes to the person who sorted second: only the account can bring them first.
    _, plain = create_key(db, name="cloud01", scopes={"instance"}, instance="cloud01")
    body = {"authKey": plain, "users": {"mm@cloud01.example.fr": {"email": "marie.martin@ac-versailles.fr"}}}
    r = client.post("/gs/users", json=body)
    assert r.status_code == 200 and r.json()["linked"] == 1
    assert client.post("/gs/users", json=body, headers=headers).status_code == 403  # not an instance key
    service = client.app.state.api.search  # type: ignore[attr-defined]
    assert service.refresh() == "patched"
    results = client.get("/v1/people/search", params={"q": "marie martin"}, headers=headers).json()["results"]
    assert [r["id"] for r in results] == ["P-VERS", "P-LYON"]
    # The account fixed P-VERS's home on the reporting instance (cloud07 serves Versailles).
    assert results[0]["instance"] == "cloud01" and results[0]["cloud_id"] == "mm@cloud01.example.fr"


def test_index_follows_changes_and_generations(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, headers = env
    service = client.app.state.api.search  # type: ignore[attr-defined]
    db.execute("UPDATE persons SET status = 'left' WHERE id = 'P-ME'")
    mark_changed(db, ["P-ME"])
    assert service.refresh() == "patched"
    assert client.get("/v1/people/search", params={"q": "paul"}, headers=headers).json()["results"] == []
    rid = add_record(db, given_name="Zoé", usage_name="ZOLA", academy_code="25")
    add_person(db, [rid], person_id="P-NEW")
    bump_generation(db)
    assert service.refresh() == "rebuilt"
    assert [
        r["id"]
        for r in client.get("/v1/people/search", params={"q": "zoe"}, headers=headers).json()["results"]
    ] == ["P-NEW"]


def _samples(text: str) -> dict[tuple[str, str], float]:
    """``(sample name, route label)`` -> value, from a Prometheus text answer."""
    return {
        (sample.name, sample.labels.get("route", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_operations_endpoints(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, headers = env
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}  # not the directory's size
    client.get("/v1/people/search", params={"q": "marie"}, headers=headers)
    client.get("/v1/people/search", params={"q": ""}, headers=headers)
    # Every lookup and every search shape counts its results (a lookup finding nobody counts 0).
    client.get("/users", params={"search": "marie"}, headers=headers)
    client.get("/users", params={"search": "ppetit", "exact": 1, "keys[]": "userid"}, headers=headers)
    client.get("/users", params={"search": "zz", "exact": 1}, headers=headers)
    client.get("/v1/sharees", params={"search": "marie"}, headers=headers)
    client.post("/_matrix/client/v3/user_directory/search", json={"search_term": "marie"}, headers=headers)
    client.get("/v1/resolve", params={"email": "paul.petit@ac-versailles.fr"}, headers=headers)
    client.get("/v1/resolve", params={"uid": "nobody"}, headers=headers)
    client.get("/v1/people/P-ME", headers=headers)
    client.get("/v1/people/NOPE", headers=headers)

    r = client.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert client.get("/metrics", headers=headers).status_code == 403  # search and resolve: not metrics
    _, admin = create_key(db, name="ops", scopes={"admin"})
    assert client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    # The scraper's own scope opens the metrics and nothing else.
    _, scraper = create_key(db, name="prometheus", scopes={"metrics"})
    scraping = {"Authorization": f"Bearer {scraper}"}
    assert client.get("/v1/people/search", params={"q": "marie"}, headers=scraping).status_code == 403
    assert client.get("/v1/resolve", params={"uid": "ppetit"}, headers=scraping).status_code == 403
    r = client.get("/metrics", headers=scraping)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    metrics = r.text
    assert (
        'directory_api_request_seconds_count{method="GET",route="/v1/people/search",status="200"}' in metrics
    )
    assert 'directory_api_errors_total{code="invalid_input"}' in metrics
    samples = _samples(metrics)
    expected = {  # route: (answers, results in all)
        "/v1/people/search": (1, 2),
        "/users": (3, 3),
        "/v1/sharees": (1, 2),
        "/_matrix/client/v3/user_directory/search": (1, 2),
        "/v1/resolve": (2, 1),
        "/v1/people/{person_id}": (2, 1),
    }
    for route, (count, total) in expected.items():
        assert samples[("directory_api_results_count", route)] == count, route
        assert samples[("directory_api_results_sum", route)] == total, route
    assert samples[("directory_search_index_people", "")] == 3
    assert "server-timing" in client.get("/healthz").headers
    spec = client.get("/openapi.json").json()
    paths = ["/v1/people/search", "/v1/people/{person_id}", "/v1/resolve", "/users", "/gs/users"]
    paths += ["/v1/sharees", "/_matrix/client/v3/user_directory/search", "/healthz", "/readyz", "/metrics"]
    for path in paths:
        assert path in spec["paths"], path
    assert "PersonPublic" in spec["components"]["schemas"]
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"


def test_no_confidential_value_in_any_answer(env: tuple[TestClient, Database, dict[str, str]]) -> None:
    client, db, headers = env
    secrets = [
        r["v"]
        for r in db.fetch_all(
            "SELECT numen_hash AS v FROM source_records UNION SELECT birth_hash FROM source_records"
        )
    ]
    answers = [
        client.get("/v1/people/search", params={"q": "marie"}, headers=headers).text,
        client.get("/v1/people/P-VERS", headers=headers).text,
        client.get("/v1/resolve", params={"email": "marie.martin@ac-lyon.fr"}, headers=headers).text,
        client.get("/users", params={"search": "marie"}, headers=headers).text,
        client.get("/v1/sharees", params={"search": "marie"}, headers=headers).text,
        client.post(
            "/_matrix/client/v3/user_directory/search", json={"search_term": "marie"}, headers=headers
        ).text,
    ]
    for text in answers:
        assert all(s not in text for s in secrets if s)
        assert "numen" not in text.lower() and "birth" not in text.lower() and "1980" not in text


def test_queries_are_not_logged(
    env: tuple[TestClient, Database, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    client, _, headers = env
    with caplog.at_level("DEBUG"):
        client.get(
            "/v1/people/search",
            params={"q": "zorglub", "context": "paul.petit@ac-versailles.fr"},
            headers=headers,
        )
        client.get("/v1/resolve", params={"email": "zorglub@ac-lyon.fr"}, headers=headers)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("directory"))
    assert "GET /v1/people/search 200" in ours  # the access line is there...
    assert "zorglub" not in ours and "paul.petit" not in ours  # ...without the query


def test_readyz_is_503_while_the_index_loads(db: Database, db_url: str, settings: Settings) -> None:
    World(db).person(given_name="Anaïs", usage_name="LEBRETON")
    _, plain = create_key(db, name="early", scopes={"search"})
    headers = {"Authorization": f"Bearer {plain}"}
    # A transaction holding the persons table keeps the app's background load waiting, as a long
    # build of a large index would: the real app and store, nothing stubbed. The server ends the
    # session after a minute should the test go wrong, so it can never hang the suite.
    with psycopg.connect(db_url) as blocker:
        blocker.execute("SET idle_in_transaction_session_timeout = '60s'")
        blocker.execute("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE")
        with TestClient(create_app(settings)) as client:  # the index loads in the background
            r = client.get("/readyz")
            assert r.status_code == 503 and r.json() == {"status": "starting"}
            r = client.get("/v1/people/search", params={"q": "lebret"}, headers=headers)
            assert r.status_code == 503 and r.json()["error"]["code"] == "index_loading"
            assert client.get("/healthz").status_code == 200  # the process answers meanwhile
            blocker.commit()
            deadline = time.monotonic() + 60
            while client.get("/readyz").status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.05)
            r = client.get("/readyz")
            assert r.status_code == 200 and r.json() == {"status": "ok"}
            r = client.get("/v1/people/search", params={"q": "lebret"}, headers=headers)
            assert [p["display_name"] for p in r.json()["results"]] == ["Anaïs Lebreton"]
