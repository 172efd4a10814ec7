"""``DIRECTORY_READ_DATABASE_URL``: search and resolution read the replica, every write goes to
the primary.

Two real databases copied from one filled template stand for a primary and its replica; each is
then changed in one person only, which no replication carries here, so every answer tells which
database it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import sql
from pydantic import SecretStr

from directory.api.app import create_app
from directory.apikeys import create_key
from directory.cli.serve import _build_index, _generation
from directory.config import Settings
from directory.db import Database
from directory.instances import assign_home_instances, load_instances, sync_instances
from directory.search.hooks import bump_generation, mark_changed, read_state
from directory.search.service import SearchService
from tests.api_client import TestClient
from tests.factories import World
from tests.pg import TestServer

INSTANCES = """
[instances.cloud07]
host = "cloud07.example.fr"
capacity = 1000
"""


@dataclass
class Stores:
    primary: Database
    replica: Database
    settings: Settings
    search_key: str  # made on the primary only
    instance_key: str


@pytest.fixture
def stores(pg_server: TestServer, tmp_path: Path) -> Iterator[Stores]:
    path = tmp_path / "instances.toml"
    path.write_text(INSTANCES)
    template = pg_server.derived_template()
    with ExitStack() as stack:
        try:
            with Database(pg_server.url_of(template), max_size=1) as db:
                sync_instances(db, load_instances(path))
                World(db).person(
                    person_id="P-BOTH",
                    given_name="Marie",
                    usage_name="MARTIN",
                    uid="mmartin",
                    academy_code="25",
                )
                assign_home_instances(db)
            # Copies of a template need it idle: made now, and the template dropped at once.
            primary_url = stack.enter_context(contextmanager(pg_server.fresh)(template))
            replica_url = stack.enter_context(contextmanager(pg_server.fresh)(template))
        finally:
            pg_server.drop(template)
        primary = stack.enter_context(Database(primary_url, max_size=4))
        replica = stack.enter_context(Database(replica_url, max_size=4))
        World(primary).person(
            person_id="P-PRIMARY",
            given_name="Zoé",
            usage_name="PRIMAIRE",
            mail="zoe.primary@ac-versailles.fr",
        )
        World(replica).person(
            person_id="P-REPLICA",
            given_name="Zoé",
            usage_name="REPLIQUE",
            mail="zoe.replica@ac-versailles.fr",
        )
        _, search_key = create_key(primary, name="nextcloud", scopes={"search", "resolve"})
        _, instance_key = create_key(primary, name="cloud07", scopes={"instance"}, instance="cloud07")
        settings = Settings(
            database_url=primary_url,
            read_database_url=replica_url,
            data_dir=tmp_path / "data",
            secret_key=SecretStr("test-secret-key-that-is-long-enough-0123456789"),
            instances=path,
            # The tests poll and flush themselves.
            search_refresh_interval=3600,
            exposure_flush_interval=3600,
        )
        yield Stores(primary, replica, settings, search_key, instance_key)


def _ids(client: TestClient, stores: Stores, q: str) -> list[str]:
    headers = {"Authorization": f"Bearer {stores.search_key}"}
    r = client.get("/v1/people/search", params={"q": q}, headers=headers)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["results"]]


def _home(db: Database, pid: str) -> str | None:
    home: str | None = db.fetch_value("SELECT home_instance FROM persons WHERE id = %s", (pid,))
    return home


def _count(db: Database, table: str) -> int:
    return int(db.fetch_value(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))))


def test_search_and_resolve_read_the_replica_writes_go_to_the_primary(stores: Stores) -> None:
    headers = {"Authorization": f"Bearer {stores.search_key}"}
    with TestClient(create_app(stores.settings, index="blocking")) as client:
        service: SearchService = client.app.state.api.search  # type: ignore[attr-defined]
        # The index and the lookups are the replica's...
        assert _ids(client, stores, "zoe") == ["P-REPLICA"]
        r = client.get("/v1/resolve", params={"email": "zoe.replica@ac-versailles.fr"}, headers=headers)
        assert r.status_code == 200 and r.json()["id"] == "P-REPLICA"
        r = client.get("/v1/resolve", params={"email": "zoe.primary@ac-versailles.fr"}, headers=headers)
        assert r.status_code == 404
        assert client.get("/v1/people/P-PRIMARY", headers=headers).status_code == 404

        # ...while the key was checked on the primary (the replica has no key at all)...
        assert _count(stores.replica, "api_keys") == 0
        used = "SELECT last_used_at IS NOT NULL FROM api_keys WHERE name = 'nextcloud'"
        assert stores.primary.fetch_value(used) is True
        # ...the people shown are counted there...
        assert client.app.state.api.exposure.flush() == 1  # type: ignore[attr-defined]
        assert stores.primary.fetch_all("SELECT person_id FROM api_key_exposure") == [
            {"person_id": "P-REPLICA"}
        ]
        assert _count(stores.replica, "api_key_exposure") == 0
        # ...the start-up assignment of home instances ran there (the replica would get it by
        # replication)...
        assert _home(stores.primary, "P-PRIMARY") == "cloud07"
        assert _home(stores.replica, "P-REPLICA") is None
        # ...and so do the accounts instances report.
        body = {"authKey": stores.instance_key, "users": [{"userid": "mmartin"}]}
        assert client.post("/gs/users", json=body).json()["linked"] == 1
        assert _count(stores.primary, "instance_accounts") == 1
        assert _count(stores.replica, "instance_accounts") == 0

        # The index follows the replica's change signals, not the primary's.
        rename = "UPDATE source_records SET given_name = 'Solange' WHERE uid = 'mmartin'"
        stores.primary.execute(rename)
        mark_changed(stores.primary, ["P-BOTH"])
        assert service.refresh() == "unchanged"
        assert _ids(client, stores, "solange") == []
        stores.replica.execute(rename)  # what replication would do
        mark_changed(stores.replica, ["P-BOTH"])
        assert service.refresh() == "patched"
        assert _ids(client, stores, "solange") == ["P-BOTH"]


def test_forked_workers_build_from_the_replica_and_write_to_the_primary(stores: Stores) -> None:
    # What `directory serve --workers N` does before and after forking (cli/serve.py, prefork.py).
    service = _build_index(stores.settings)
    assert [f.id for f in service.search("zoe", limit=10)] == ["P-REPLICA"]
    # The parent's preparation wrote to the primary only.
    assert _home(stores.primary, "P-PRIMARY") == "cloud07"
    assert _home(stores.replica, "P-REPLICA") is None

    worker = create_app(stores.settings, search=service, prepare=False, follow_store=True)
    with TestClient(worker) as client:
        assert _ids(client, stores, "zoe") == ["P-REPLICA"]
        assert client.app.state.api.exposure.flush() == 1  # type: ignore[attr-defined]
        assert _count(stores.primary, "api_key_exposure") == 1
        assert _count(stores.replica, "api_key_exposure") == 0
        stores.replica.execute("UPDATE source_records SET given_name = 'Solange' WHERE uid = 'mmartin'")
        mark_changed(stores.replica, ["P-BOTH"])
        assert service.refresh() == "patched"
        assert _ids(client, stores, "solange") == ["P-BOTH"]

        # The parent watches the replica's generation for rebuilds (a worker leaves them to it).
        before = _generation(stores.settings)
        bump_generation(stores.primary)
        assert _generation(stores.settings) == before
        bump_generation(stores.replica)
        assert _generation(stores.settings) == before + 1 == read_state(stores.replica)[0]
        assert service.refresh() == "unchanged"
