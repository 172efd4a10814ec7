"""The search API through the real app: matching, ranking, shapes, one result per person, privacy."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from directory.api.app import create_app
from directory.apikeys import create_key
from directory.config import Settings
from directory.db import Database
from tests.api_client import TestClient
from tests.factories import World, add_person, add_record
from tests.import_helpers import cli


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


def _client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, index="blocking")
    with TestClient(app) as client:
        yield client


def _key(db: Database, scopes: str = "search,resolve", **kw: object) -> dict[str, str]:
    _, plain = create_key(db, name=f"k{len(scopes)}{len(kw)}", scopes=set(scopes.split(",")), **kw)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {plain}"}


def search(client: TestClient, headers: dict[str, str], q: str, **params: object) -> list[dict[str, object]]:
    r = client.get("/v1/people/search", params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    results: list[dict[str, object]] = r.json()["results"]
    return results


def names(results: list[dict[str, object]]) -> list[object]:
    return [r["display_name"] for r in results]


def test_prefix_any_part_any_order_accents_and_typo(db: Database, world: World, settings: Settings) -> None:
    celine = world.person(given_name="Céline", usage_name="DURAND", birth_name="LE GALL")
    world.person(given_name="Marc", usage_name="DUPONT")
    headers = _key(db)
    for client in _client(settings):
        for q in ("celine", "CÉLINE dur", "dur cel", "le gall", "legall", "gall celine", "Celnie durand"):
            assert [r["id"] for r in search(client, headers, q)] == [celine], q
        assert search(client, headers, "zzz") == []


def test_one_result_per_person_and_left_people_hidden(db: Database, world: World, settings: Settings) -> None:
    a = add_record(db, academy_code="25", given_name="Nathalie", usage_name="MARTIN")
    b = add_record(db, academy_code="24", given_name="Nathalie", usage_name="MARTIN")
    both = add_person(db, [a, b])
    gone = add_record(db, academy_code="10", given_name="Nathalie", usage_name="MARTIN", active=False)
    add_person(db, [gone])
    removed = add_record(db, academy_code="10", given_name="Nathalie", usage_name="MARTIN", removed=True)
    add_person(db, [removed])
    headers = _key(db)
    for client in _client(settings):
        assert [r["id"] for r in search(client, headers, "nathalie martin")] == [both]


def test_result_shape_and_no_confidential_values(db: Database, world: World, settings: Settings) -> None:
    world.person(given_name="MARIE", usage_name="MARTIN", mail="marie.martin@ac-versailles.fr")
    headers = _key(db)
    for client in _client(settings):
        r = client.get("/v1/people/search", params={"q": "mar mar"}, headers=headers)
        (result,) = r.json()["results"]
        assert set(result) >= {"id", "display_name", "subline", "email", "instance", "cloud_id"}
        assert result["display_name"] == "Marie Martin"
        assert result["email"] == "marie.martin@ac-versailles.fr"
        for forbidden in ("numen", "birth", "1980", "hash"):
            assert forbidden not in r.text.lower()
        json.loads(r.text)


def test_homonyms_get_distinct_sublines_from_the_fewest_attributes(
    db: Database, world: World, settings: Settings
) -> None:
    a = world.establishment("078", 1, name="Collège Jean Moulin", town="Versailles", academy_code="25")
    b = world.establishment("078", 2, name="Lycée Hoche", town="Versailles", academy_code="25")
    same = {"given_name": "Nathalie", "usage_name": "MARTIN", "academy_code": "25", "civility": "MME"}
    world.person(main_uai=a, discipline="L1300", **same)
    world.person(main_uai=b, discipline="L1300", **same)
    world.person(main_uai=a, discipline="L0422", **same)
    world.person(given_name="Zoé", usage_name="UNIQUE", main_uai=a, discipline="L0422")
    headers = _key(db)
    for client in _client(settings):
        results = search(client, headers, "nathalie martin")
        lines = [r["subline"] for r in results]
        assert len(results) == 3 and len(set(lines)) == 3
        assert "Professeure de mathématiques · Collège Jean Moulin, Versailles" in lines
        assert search(client, headers, "zoe")[0]["subline"] == "Professeure d'anglais"


def test_transferred_person_is_one_result_with_the_live_record(
    db: Database, world: World, settings: Settings
) -> None:
    old = add_record(db, academy_code="10", given_name="Paul", usage_name="DURAND", active=False,
                     mail="paul.durand@ac-lyon.fr")  # fmt: skip
    new = add_record(
        db, academy_code="25", given_name="Paul", usage_name="DURAND", mail="paul.durand@ac-versailles.fr"
    )
    pid = add_person(db, [old, new])
    headers = _key(db)
    for client in _client(settings):
        (result,) = search(client, headers, "paul durand")
        assert result["id"] == pid and result["email"] == "paul.durand@ac-versailles.fr"
        assert result["subline"]


def test_limit_above_the_cap_returns_at_most_25(db: Database, world: World, settings: Settings) -> None:
    for n in range(30):
        world.person(given_name="Nathalie", usage_name="MARTIN", uid=f"nmartin{n}")
    headers = _key(db)
    for client in _client(settings):
        assert len(search(client, headers, "nathalie martin", limit=1000)) == 25
        assert len(search(client, headers, "nathalie martin")) == 25  # the default is the cap
        assert len(search(client, headers, "nathalie martin", limit=3)) == 3
        r = client.get("/users", params={"search": "nathalie martin", "limit": 1000}, headers=headers)
        assert len(r.json()) == 25


_GIVEN = ("Anaïs", "Bastien", "Chloé", "Damien", "Élodie", "Fabrice", "Gaëlle", "Hugo")
_SURNAMES = ("LEBRETON", "ROUSSEAU", "FAURE")


def test_search_ids_are_the_person_ids_that_export_clusters_writes(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    # Records only, each person in two academies with one NUMEN: the matching run makes the
    # persons, as in production (it needs 20 pairs sharing a NUMEN to fit its model).
    people = [(g, s) for g in _GIVEN for s in _SURNAMES]  # 24
    for n, (given, surname) in enumerate(people):
        pair = [
            add_record(db, given_name=given, usage_name=surname, academy_code=academy, uid=f"p{n}-{academy}")
            for academy in ("25", "10")
        ]
        db.execute(
            "UPDATE source_records SET numen_hash = %s, birth_hash = %s WHERE id = ANY(%s)",
            (f"numen-{n}", f"birth-{n}", pair),
        )
    done = cli(settings, "match")
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "clusters.csv"
    done = cli(settings, "export", "clusters", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    with out.open(newline="") as fh:
        exported = {row["uid"]: row["person_id"] for row in csv.DictReader(fh)}
    assert len(exported) == 48
    headers = _key(db)
    for client in _client(settings):
        for n, (given, surname) in enumerate(people):
            (result,) = search(client, headers, f"{given} {surname}")  # one result for the two records
            assert result["id"] == exported[f"p{n}-25"] == exported[f"p{n}-10"], (given, surname)
