"""Home instances through the real app and CLI: an admin move (``directory instances move``),
accounts reported and deleted by instances (``POST``/``DELETE /gs/users``), accounts on two instances."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from directory.admins import create_admin
from directory.api.app import create_app
from directory.apikeys import create_key
from directory.config import Settings
from directory.db import Database
from directory.instances import move_person
from directory.search.service import SearchService
from tests.api_client import TestClient
from tests.factories import INSTANCES, World

VERS_MAIL = "marie.martin@ac-versailles.fr"
LYON_MAIL = "marie.martin@ac-lyon.fr"
PASSWORD = "a long enough password"


@dataclass
class Env:
    client: TestClient
    db: Database
    db_url: str
    data_dir: Path
    search_headers: dict[str, str]
    cloud07: str  # the plain instance keys
    cloud01: str

    @property
    def service(self) -> SearchService:
        service: SearchService = self.client.app.state.api.search  # type: ignore[attr-defined]
        return service

    def search(self, q: str) -> list[dict[str, Any]]:
        r = self.client.get("/v1/people/search", params={"q": q}, headers=self.search_headers)
        assert r.status_code == 200, r.text
        results: list[dict[str, Any]] = r.json()["results"]
        return results

    def report(self, key: str, users: object) -> httpx.Response:
        """``POST /gs/users`` as GS instances send it: the key in the body."""
        r: httpx.Response = self.client.post("/gs/users", json={"authKey": key, "users": users})
        return r

    def remove(self, key: str, users: object, *, bearer: bool = False) -> httpx.Response:
        """``DELETE /gs/users``, the key in the body (GS) or in the Bearer header."""
        body = {"users": users} if bearer else {"authKey": key, "users": users}
        headers = {"Authorization": f"Bearer {key}"} if bearer else {}
        r: httpx.Response = self.client.request("DELETE", "/gs/users", json=body, headers=headers)
        return r

    def person(self, pid: str) -> dict[str, Any]:
        row = self.db.fetch_one("SELECT home_instance, has_account FROM persons WHERE id = %s", (pid,))
        assert row is not None
        return row

    def audits(self, action: str) -> list[dict[str, Any]]:
        return self.db.fetch_all(
            "SELECT actor, target, before, after, academies FROM audit_log WHERE action = %s ORDER BY id",
            (action,),
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``directory ARGS`` in a child process, on this test's database."""
        env = {**os.environ, "DIRECTORY_DATABASE_URL": self.db_url, "DIRECTORY_DATA_DIR": str(self.data_dir)}
        return subprocess.run(
            [sys.executable, "-c", "from directory.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )


@pytest.fixture
def env(db: Database, db_url: str, settings: Settings, tmp_path: Path) -> Iterator[Env]:
    path = tmp_path / "instances.toml"
    path.write_text(INSTANCES)
    world = World(db)
    jm = world.establishment("078", 1, name="Collège Jean Moulin", town="Versailles", academy_code="25")
    vh = world.establishment("069", 2, name="Lycée Victor Hugo", town="Lyon", academy_code="10")
    marie: dict[str, Any] = {"given_name": "Marie", "usage_name": "MARTIN", "uid": "mmartin"}
    world.person(person_id="P-VERS", mail=VERS_MAIL, academy_code="25", main_uai=jm, **marie)
    world.person(person_id="P-LYON", mail=LYON_MAIL, academy_code="10", main_uai=vh, **marie)
    create_admin(db, username="alice", password=PASSWORD)
    create_admin(db, username="lea", password=PASSWORD, academy_code="10")
    # The app syncs the instances file and assigns homes at start: P-VERS on cloud07 (it serves
    # Versailles), P-LYON on cloud01. Tests refresh the index themselves (no background poll).
    settings = settings.model_copy(update={"instances": path, "search_refresh_interval": 3600})
    with TestClient(create_app(settings, index="blocking")) as client:
        _, search = create_key(db, name="nextcloud", scopes={"search", "resolve"})
        _, cloud07 = create_key(db, name="cloud07", scopes={"instance"}, instance="cloud07")
        _, cloud01 = create_key(db, name="cloud01", scopes={"instance"}, instance="cloud01")
        yield Env(client, db, db_url, tmp_path, {"Authorization": f"Bearer {search}"}, cloud07, cloud01)


def _by_id(results: list[dict[str, Any]], pid: str) -> dict[str, Any]:
    return next(r for r in results if r["id"] == pid)


def test_cli_move_is_audited_and_the_cloud_id_follows(env: Env) -> None:
    before = _by_id(env.search("marie martin"), "P-VERS")
    assert before["instance"] == "cloud07" and before["cloud_id"] == "mmartin@cloud07.example.fr"

    done = env.cli("instances", "move", "P-VERS", "cloud01", "--reason", "mutated to Lyon", "--by", "alice")
    assert done.returncode == 0, done.stderr
    assert "moved P-VERS from cloud07 to cloud01" in done.stdout
    assert "mmartin@cloud01.example.fr" in done.stdout

    (audit,) = env.audits("person.move")
    assert audit["actor"] == "alice" and audit["target"] == "P-VERS"
    assert audit["before"] == {"home_instance": "cloud07"}
    assert audit["after"] == {
        "home_instance": "cloud01",
        "reason": "mutated to Lyon",
        "summary": "home instance cloud07 → cloud01: mutated to Lyon",
    }
    assert audit["academies"] == ["25"]  # what lets a Versailles administrator see it in the UI
    assert env.person("P-VERS")["home_instance"] == "cloud01"

    # The API workers see it at their next poll of the store.
    assert env.service.refresh() == "patched"
    after = _by_id(env.search("marie martin"), "P-VERS")
    assert after["instance"] == "cloud01" and after["cloud_id"] == "mmartin@cloud01.example.fr"
    resolve = env.client.get(
        "/v1/resolve", params={"cloud_id": "mmartin@cloud01.example.fr"}, headers=env.search_headers
    )
    assert resolve.status_code == 200 and resolve.json()["id"] == "P-VERS"
    old = env.client.get(
        "/v1/resolve", params={"cloud_id": "mmartin@cloud07.example.fr"}, headers=env.search_headers
    )
    assert old.status_code == 404

    # Again: nothing to do, nothing recorded.
    again = env.cli("instances", "move", "P-VERS", "cloud01", "--reason", "twice", "--by", "alice")
    assert again.returncode == 0 and "already lives on cloud01" in again.stdout
    assert len(env.audits("person.move")) == 1

    listed = env.cli("instances", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split("\t")[0]: line for line in listed.stdout.splitlines()}
    assert "people 2/1000" in lines["cloud01"] and "people 0/1000" in lines["cloud07"]
    assert "academies versailles" in lines["cloud07"] and "academies any" in lines["cloud01"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["NOPE", "cloud01", "--reason", "r", "--by", "alice"], 1, "no person 'NOPE'"),
        (["P-VERS", "cloud99", "--reason", "r", "--by", "alice"], 1, "known instances: cloud01, cloud07"),
        (["P-VERS", "cloud01", "--reason", "r", "--by", "mallory"], 1, "no active administrator"),
        (["P-VERS", "cloud01", "--reason", "r", "--by", "lea"], 1, "has no record in academy 10"),
        (["P-VERS", "cloud01", "--reason", "  ", "--by", "alice"], 1, "--reason must say why"),
        (["P-VERS", "cloud01", "--by", "alice"], 2, "--reason"),
    ],
)
def test_cli_move_refuses_clearly(env: Env, args: list[str], code: int, message: str) -> None:
    done = env.cli("instances", "move", *args)
    assert done.returncode == code
    assert message in " ".join(done.stderr.split())  # rich may wrap the line
    assert "Traceback" not in done.stderr
    assert env.audits("person.move") == []
    assert env.person("P-VERS")["home_instance"] == "cloud07"


def test_academy_admin_moves_their_own_people(env: Env) -> None:
    done = env.cli("instances", "move", "P-LYON", "cloud07", "--reason", "pilot", "--by", "lea")
    assert done.returncode == 0, done.stderr
    assert env.person("P-LYON")["home_instance"] == "cloud07"
    assert env.audits("person.move")[0]["actor"] == "lea"


def test_accounts_on_two_instances_do_not_flip_the_home(env: Env) -> None:
    assert env.person("P-VERS") == {"home_instance": "cloud07", "has_account": False}
    # An account on cloud01 and none where the person lives: the account fixes the home.
    r = env.report(env.cloud01, [{"userid": "marie.m", "email": VERS_MAIL}])
    assert r.status_code == 200 and r.json()["linked"] == 1
    assert env.person("P-VERS") == {"home_instance": "cloud01", "has_account": True}
    # A second account on cloud07, and every instance reporting again, in any order: no flip.
    for key, userid in [(env.cloud07, "mmartin"), (env.cloud01, "marie.m")] * 2:
        assert env.report(key, [{"userid": userid, "email": VERS_MAIL}]).json()["linked"] == 1
        assert env.person("P-VERS")["home_instance"] == "cloud01"
    (fixed,) = env.audits("person.home_fixed_by_account")
    assert fixed["actor"] == "instance:cloud01" and fixed["after"]["home_instance"] == "cloud01"
    assert env.service.refresh() == "patched"
    assert _by_id(env.search("marie martin"), "P-VERS")["cloud_id"] == "marie.m@cloud01.example.fr"

    # cloud01 deletes its account: the home goes where the other account is.
    r = env.remove(env.cloud01, ["marie.m@cloud01.example.fr"])
    assert r.status_code == 200 and r.json() == {"received": 1, "removed": 1, "absent": 0}
    assert env.person("P-VERS") == {"home_instance": "cloud07", "has_account": True}
    assert len(env.audits("person.home_fixed_by_account")) == 2
    assert env.service.refresh() == "patched"
    assert _by_id(env.search("marie martin"), "P-VERS")["cloud_id"] == "mmartin@cloud07.example.fr"

    # Idempotent: the same removal again changes nothing.
    r = env.remove(env.cloud01, ["marie.m@cloud01.example.fr"])
    assert r.status_code == 200 and r.json() == {"received": 1, "removed": 0, "absent": 1}
    assert env.person("P-VERS") == {"home_instance": "cloud07", "has_account": True}

    # The last account goes (Bearer key, object form): no account left, the home stays put.
    r = env.remove(env.cloud07, [{"userid": "mmartin"}], bearer=True)
    assert r.status_code == 200 and r.json()["removed"] == 1
    assert env.person("P-VERS") == {"home_instance": "cloud07", "has_account": False}
    assert env.db.fetch_value("SELECT count(*) FROM instance_accounts") == 0


def test_deleted_account_no_longer_ranks_first(env: Env) -> None:
    # Same name, no searcher context: the stable order puts P-LYON first...
    assert [r["id"] for r in env.search("marie martin")] == ["P-LYON", "P-VERS"]
    # ...until P-VERS has an account,
    assert env.report(env.cloud07, {"mmartin@cloud07.example.fr": {"email": VERS_MAIL}}).status_code == 200
    assert env.service.refresh() == "patched"
    assert [r["id"] for r in env.search("marie martin")] == ["P-VERS", "P-LYON"]
    # and again once cloud07 reports it deleted (GS's own form: a list of cloud ids).
    assert env.remove(env.cloud07, ["mmartin@cloud07.example.fr"]).json()["removed"] == 1
    assert env.person("P-VERS")["has_account"] is False
    assert env.service.refresh() == "patched"
    assert [r["id"] for r in env.search("marie martin")] == ["P-LYON", "P-VERS"]


def test_reports_never_undo_an_admin_move(env: Env) -> None:
    assert env.report(env.cloud07, [{"userid": "mmartin", "email": VERS_MAIL}]).status_code == 200
    assert env.person("P-VERS")["home_instance"] == "cloud07"
    move_person(env.db, "P-VERS", "cloud01", actor="alice", reason="new academy")
    # cloud07 still has the account and says so every night: the home stays where the admin put it.
    assert env.report(env.cloud07, [{"userid": "mmartin", "email": VERS_MAIL}]).status_code == 200
    assert env.person("P-VERS") == {"home_instance": "cloud01", "has_account": True}
    assert env.audits("person.home_fixed_by_account") == []


def test_an_account_reported_for_someone_else_leaves_the_first_person(env: Env) -> None:
    assert env.report(env.cloud01, [{"userid": "shared", "email": VERS_MAIL}]).json()["linked"] == 1
    assert env.person("P-VERS")["has_account"] is True
    # The instance corrects itself: that account is P-LYON's.
    assert env.report(env.cloud01, [{"userid": "shared", "email": LYON_MAIL}]).json()["linked"] == 1
    assert env.person("P-VERS")["has_account"] is False
    assert env.person("P-LYON")["has_account"] is True


@pytest.mark.parametrize(
    ("users", "message"),
    [
        (["mmartin@cloud07.example.fr"], "is not on this instance's host 'cloud01.example.fr'"),
        (["mmartin"], "is not a cloud id"),
        ([{"email": VERS_MAIL}], "needs a userid or a cloudId"),
        (["u@cloud01.example.fr"] * 10_001, "at most 10,000"),
    ],
)
def test_removal_input_is_checked(env: Env, users: list[Any], message: str) -> None:
    assert env.report(env.cloud01, [{"userid": "mmartin", "email": VERS_MAIL}]).status_code == 200
    r = env.remove(env.cloud01, users)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_input" and message in r.json()["error"]["message"]
    assert env.person("P-VERS")["has_account"] is True  # nothing removed


def test_removal_needs_an_instance_key(env: Env, db: Database) -> None:
    body = {"users": ["mmartin@cloud01.example.fr"]}
    r = env.client.request("DELETE", "/gs/users", json=body)
    assert r.status_code == 401
    r = env.client.request("DELETE", "/gs/users", json=body, headers=env.search_headers)
    assert r.status_code == 403
    _, admin = create_key(db, name="ops", scopes={"admin"})
    r = env.client.request("DELETE", "/gs/users", json={**body, "authKey": admin})
    assert r.status_code == 422 and "names no instance" in r.json()["error"]["message"]
    r = env.client.request("DELETE", "/gs/users", json={"authKey": env.cloud01})
    assert r.status_code == 422  # no users at all
