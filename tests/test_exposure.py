"""The distinct people returned per key and day, end to end (API → store → ``directory keys list``
and the metric), and the bound on what a worker holds in memory for it."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg_pool
import pytest

from directory.api.app import create_app
from directory.apikeys import create_key
from directory.config import Settings
from directory.db import Database
from directory.ratelimit import ExposureCounter
from tests.api_client import TestClient
from tests.factories import World


def _people(db: Database) -> None:
    world = World(db)
    marie: dict[str, Any] = {"given_name": "Marie", "usage_name": "MARTIN"}
    world.person(person_id="P-VERS", mail="marie.martin@ac-versailles.fr", academy_code="25", **marie)
    world.person(person_id="P-LYON", mail="marie.martin@ac-lyon.fr", academy_code="10", **marie)
    world.person(person_id="P-PAUL", given_name="Paul", usage_name="PETIT", academy_code="25")
    world.person(person_id="P-ZOE", given_name="Zoé", usage_name="SANSMAIL", academy_code="25", mail="")


def _app(db: Database, settings: Settings, **update: object) -> TestClient:
    _people(db)
    # The test flushes the counter itself; the background flush would race it.
    settings = settings.model_copy(update={"exposure_flush_interval": 3600, **update})
    return TestClient(create_app(settings, index="blocking"))


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with _app(db, settings) as client:
        yield client


def _metric(client: TestClient, key: str) -> float:
    db: Database = client.app.state.api.db  # type: ignore[attr-defined]
    _, admin = create_key(db, name=f"ops-{secrets.token_hex(4)}", scopes={"admin"})  # /metrics needs one
    r = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    text = r.text
    match = re.search(rf'^directory_api_people_returned_total\{{key="{key}"\}} (\S+)$', text, re.M)
    return float(match[1]) if match else 0.0


def _exposure(client: TestClient) -> ExposureCounter:
    counter: ExposureCounter = client.app.state.api.exposure  # type: ignore[attr-defined]
    return counter


def _rows(db: Database, key: str) -> list[str]:
    return [
        r["person_id"]
        for r in db.fetch_all(
            """SELECT e.person_id FROM api_key_exposure e JOIN api_keys k ON k.id = e.key_id
               WHERE k.name = %s AND e.day = (now() AT TIME ZONE 'UTC')::date ORDER BY 1""",
            (key,),
        )
    ]


def test_people_returned_reach_the_store_keys_list_and_the_metric(
    client: TestClient, db: Database, db_url: str, tmp_path: Path
) -> None:
    _, plain = create_key(db, name="nextcloud", scopes={"search", "resolve"})
    headers = {"Authorization": f"Bearer {plain}"}
    found = client.get("/v1/people/search", params={"q": "marie"}, headers=headers).json()["results"]
    assert {r["id"] for r in found} == {"P-VERS", "P-LYON"}
    assert _metric(client, "nextcloud") == 2.0
    # The same people again, by search and by id: nobody new.
    client.get("/v1/people/search", params={"q": "marie martin"}, headers=headers)
    assert client.get("/v1/people/P-LYON", headers=headers).status_code == 200
    assert _metric(client, "nextcloud") == 2.0
    assert _rows(db, "nextcloud") == []  # buffered until the flush
    assert _exposure(client).flush() == 2
    assert _rows(db, "nextcloud") == ["P-LYON", "P-VERS"]
    # Someone Tchap cannot show (no e-mail, so no Matrix id): dropped, and not counted.
    tchap = client.post(
        "/_matrix/client/v3/user_directory/search", json={"search_term": "zoe sansmail"}, headers=headers
    )
    assert tchap.status_code == 200 and tchap.json()["results"] == []
    assert _metric(client, "nextcloud") == 2.0
    assert _exposure(client).flush() == 0
    # (a real hit: another key's search finds her, and that key is counted)
    _, other = create_key(db, name="other-app", scopes={"search"})
    hit = client.get(
        "/v1/people/search", params={"q": "zoe sansmail"}, headers={"Authorization": f"Bearer {other}"}
    )
    assert [r["id"] for r in hit.json()["results"]] == ["P-ZOE"]
    assert _exposure(client).flush() == 1 and _rows(db, "other-app") == ["P-ZOE"]
    # Someone new, through a compatibility endpoint: counted too.
    client.get("/users", params={"search": "paul"}, headers=headers)
    assert _metric(client, "nextcloud") == 3.0
    assert _exposure(client).flush() == 1

    listed = subprocess.run(
        [sys.executable, "-c", "from directory.cli import main; main()", "keys", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "DIRECTORY_DATABASE_URL": db_url, "DIRECTORY_DATA_DIR": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("nextcloud")]
    assert line.endswith("people today: 3")


def test_past_its_share_a_key_is_counted_by_the_store(db: Database, settings: Settings) -> None:
    # Room for 4 ids in all, 1 per key: the second person each key sees is left to the store
    # (and with so small a queue the app's flushing thread writes at once: no intermediate state
    # is asserted, only what the flushes leave).
    with _app(db, settings, exposure_memory_ids=4) as client:
        _, plain = create_key(db, name="scraper", scopes={"search"})
        headers = {"Authorization": f"Bearer {plain}"}
        counter = _exposure(client)
        for _ in range(4):  # the same two people again and again: counted once each
            found = client.get("/v1/people/search", params={"q": "marie"}, headers=headers).json()
            assert len(found["results"]) == 2
            counter.flush()
            assert _metric(client, "scraper") == 2.0
            assert _rows(db, "scraper") == ["P-LYON", "P-VERS"]
            assert counter.held == 1  # the one it remembers; the other one the store knows


def test_memory_is_bounded_and_counts_stay_exact(db: Database) -> None:
    scraper, _ = create_key(db, name="scraper", scopes={"search"})
    quiet, _ = create_key(db, name="quiet", scopes={"search"})
    told: dict[str, int] = {}

    def on_new(label: str, n: int) -> None:
        told[label] = told.get(label, 0) + n

    counter = ExposureCounter(db, memory_ids=1000, on_new=on_new)
    ids = [f"P{i:07d}" for i in range(50_000)]
    most = 0

    def walk() -> None:
        nonlocal most
        for start in range(0, len(ids), 25):  # a key walking the directory, 25 people a page
            counter.record(scraper.id, ids[start : start + 25], label="scraper")
            most = max(most, counter.held)
            if counter.due.is_set():  # what the app's flushing thread waits for
                counter.flush()
        counter.flush()

    walk()
    # Held at most: 250 remembered (a quarter) + the queue, flushed from 250 rows on.
    assert most <= 250 + 250 + 25
    assert told == {"scraper": 50_000}
    assert db.fetch_value("SELECT count(*) FROM api_key_exposure WHERE key_id = %s", (scraper.id,)) == 50_000
    # The scraper did not take the other keys' room.
    assert counter.record(quiet.id, ids[:10], label="quiet") == 10
    # The same walk again: nobody new, the store says so.
    walk()
    counter.flush()
    assert told == {"scraper": 50_000, "quiet": 10}
    assert counter.held <= 260


def test_queue_is_bounded_while_the_store_cannot_be_written(db_url: str) -> None:
    store = Database(db_url, max_size=1).open()
    store.close()  # a store that refuses every write
    counter = ExposureCounter(store, memory_ids=100)
    for start in range(0, 5_000, 25):
        counter.record(1, [f"P{i:07d}" for i in range(start, start + 25)])
    assert counter.held <= 25 + 100  # remembered + the queue, whatever was shown
    assert counter.dropped > 0
    with pytest.raises(psycopg_pool.PoolClosed):
        counter.flush()
    assert counter.held <= 25 + 100  # what could not be written waits for the next flush
