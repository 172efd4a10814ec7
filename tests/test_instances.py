"""Home instances (configuration, stable assignment, admin moves) and the accounts instances report."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.accounts import PEOPLE_BY_EMAIL, PEOPLE_BY_USERID, Account, report_accounts
from directory.db import Database
from directory.errors import ConfigurationError
from directory.instances import assign_home_instances, load_instances, move_person, sync_instances
from tests.factories import World, add_person, add_record

TOML = """
[instances.cloud-versailles]
host = "cloud1.example.fr"
capacity = 2
academies = ["versailles"]

[instances.cloud-idf]
host = "cloud2.example.fr"
capacity = 4
academies = ["25", "creteil"]

[instances.cloud-any]
host = "cloud3.example.fr"
capacity = 100
"""


@pytest.fixture
def configured(db: Database, tmp_path: Path) -> Database:
    path = tmp_path / "instances.toml"
    path.write_text(TOML)
    sync_instances(db, load_instances(path))
    return db


def homes(db: Database) -> dict[str, str | None]:
    return {r["id"]: r["home_instance"] for r in db.fetch_all("SELECT id, home_instance FROM persons")}


def test_bad_file_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[instances.a]\nhost = "x/y"\ncapacity = 1\n[instances.b]\nhost = "b"\ncapacity = 0\n'
                    '[instances.c]\nhost = "c"\ncapacity = 3\nacademies = ["atlantis"]\n')  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        load_instances(path)
    assert len(info.value.problems) == 3
    academies = load_instances(_write(tmp_path, TOML))[1].academies
    assert academies == ("25", "24")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ok.toml"
    path.write_text(text)
    return path


def test_least_loaded_serving_instance_then_stable(configured: Database) -> None:
    world = World(configured)
    people = [world.person(academy_code="25", uid=f"v{i}") for i in range(6)]
    lyon = world.person(academy_code="10", uid="lyon1")
    generation = configured.fetch_value("SELECT generation FROM search_state")
    assert assign_home_instances(configured) == 7
    got = homes(configured)
    # the search index is told who got a home, in the same transaction (a matching run's own
    # signal came before: an index rebuilt then would show them without instance or cloud id)
    told = {r["person_id"] for r in configured.fetch_all("SELECT person_id FROM search_changes")}
    assert told == {*people, lyon}
    assert configured.fetch_value("SELECT generation FROM search_state") == generation
    # Versailles people spread by load ratio over the two instances that serve Versailles.
    assert {got[p] for p in people} == {"cloud-versailles", "cloud-idf"}
    assert sum(got[p] == "cloud-versailles" for p in people) == 2
    assert got[lyon] == "cloud-any"
    # Nothing moves on a second run, even after capacities change.
    configured.execute("UPDATE instances SET capacity = 1000 WHERE name = 'cloud-versailles'")
    assert assign_home_instances(configured) == 0
    assert homes(configured) == got
    userids = {r["userid"] for r in configured.fetch_all("SELECT userid FROM cloud_userids")}
    assert "v0" in userids and len(userids) == 7


def test_a_large_assignment_rebuilds_the_search_index(
    configured: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first assignment (a national dataset: a million people) asks every worker to rebuild its
    index instead of queueing a million changes."""
    monkeypatch.setattr("directory.instances._REBUILD_ABOVE", 3)
    world = World(configured)
    for i in range(4):
        world.person(academy_code="25", uid=f"w{i}")
    generation = configured.fetch_value("SELECT generation FROM search_state")
    assert assign_home_instances(configured) == 4
    assert configured.fetch_value("SELECT generation FROM search_state") == generation + 1
    assert configured.fetch_value("SELECT count(*) FROM search_changes") == 0


def test_userid_clash_across_academies_gets_a_suffix(configured: Database) -> None:
    world = World(configured)
    world.person(academy_code="25", uid="nmartin4", mail="a@ac-versailles.fr")
    world.person(academy_code="10", uid="nmartin4", mail="b@ac-lyon.fr")
    assign_home_instances(configured)
    assert sorted(r["userid"] for r in configured.fetch_all("SELECT userid FROM cloud_userids")) == [
        "nmartin4",
        "nmartin4.lyon",
    ]


def test_move_is_an_audited_admin_act(configured: Database) -> None:
    pid = World(configured).person(academy_code="25")
    assign_home_instances(configured)
    configured.execute("DELETE FROM search_changes")
    move_person(configured, pid, "cloud-any", actor="admin:alice", reason="asked by the person")
    assert homes(configured)[pid] == "cloud-any"
    row = configured.fetch_one("SELECT actor, after FROM audit_log WHERE action = 'person.move'")
    assert row is not None and row["actor"] == "admin:alice" and row["after"]["home_instance"] == "cloud-any"
    assert configured.fetch_value("SELECT count(*) FROM search_changes WHERE person_id = %s", (pid,)) == 1


def test_reported_account_fixes_home_and_counts(configured: Database) -> None:
    rid = add_record(configured, academy_code="25", uid="mmartin", mail="marie.martin@ac-versailles.fr")
    pid = add_person(configured, [rid])
    twin1 = add_record(configured, academy_code="24", uid="dup", mail="x1@ac-creteil.fr")
    twin2 = add_record(configured, academy_code="10", uid="dup", mail="x2@ac-lyon.fr")
    add_person(configured, [twin1])
    add_person(configured, [twin2])
    assign_home_instances(configured)
    counts = report_accounts(
        configured,
        "cloud-any",
        [
            Account(userid="marie.m", email="Marie.Martin@ac-versailles.fr"),
            Account(userid="dup"),
            Account(userid="ghost", email="ghost@example.org"),
        ],
    )
    assert counts == {"received": 3, "linked": 1, "unknown": 1, "ambiguous": 1}
    row = configured.fetch_one("SELECT home_instance, has_account FROM persons WHERE id = %s", (pid,))
    assert row == {"home_instance": "cloud-any", "has_account": True}
    assert (
        configured.fetch_value("SELECT count(*) FROM audit_log WHERE action = 'person.home_fixed_by_account'")
        == 1
    )


def test_an_account_is_found_by_alias_and_every_lookup_is_an_index_lookup(configured: Database) -> None:
    rid = add_record(
        configured,
        academy_code="25",
        uid="jdurand",
        mail="jean.durand@ac-versailles.fr",
        mail_aliases=("j.durand@ac-versailles.fr",),
    )
    pid = add_person(configured, [rid])
    assign_home_instances(configured)
    counts = report_accounts(
        configured, "cloud-any", [Account(userid="jd", email="J.Durand@AC-Versailles.fr")]
    )
    assert counts["linked"] == 1
    assert configured.fetch_value("SELECT person_id FROM instance_accounts WHERE userid = 'jd'") == pid

    # An instance reports up to 10,000 accounts at once: no lookup may scan the records. With
    # sequential scans priced out, the planner still picks one where no index can answer.
    with configured.connection() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        for query, params in (
            (PEOPLE_BY_EMAIL, {"email": "J.Durand@ac-versailles.fr"}),
            (PEOPLE_BY_USERID, {"userid": "JDurand"}),
        ):
            plan = "\n".join(
                str(next(iter(r.values()))) for r in conn.execute("EXPLAIN " + query, params).fetchall()
            )
            assert "Seq Scan on source_records" not in plan, plan
