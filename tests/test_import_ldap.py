"""Importing over LDAP from a real slapd: paged full scans, incremental runs, renames, removals,
a server killed mid-scan, the deletion limit, quarantine, LDIF parity, and no password in sight."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ldap3
import psycopg
import pytest

from directory.config import Settings
from importers.feeds import FeedConfig
from importers.ldap import LdapReader
from importers.pipeline import RunResult, import_ldap, import_ldif
from tests.import_helpers import cli, dataset, hasher, read_entries, records, snapshot, write_ldif
from tests.slapd import Slapd

FEED = "ac-versailles"
BASE = f"ou={FEED},ou=education,o=gouv,c=fr"
PEOPLE = f"ou=personnels EN,{BASE}"
PASSWORD_ENV = "TEST_SLAPD_BIND_PASSWORD"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.getbasetemp())


@pytest.fixture
def server(slapd: Slapd, data: Path, monkeypatch: pytest.MonkeyPatch) -> Slapd:
    """A slapd holding the generated Versailles feed; its bind password in the feed's variable."""
    # With the schema check slapadd writes structuralObjectClass, without which slapd refuses to
    # modify an entry later.
    loaded = slapd.load_ldif([data / f"{FEED}.ldif"], schema_check=True)
    assert loaded.added > 200
    monkeypatch.setenv(PASSWORD_ENV, slapd.password)
    return slapd


def feed_of(server: Slapd, **options: Any) -> FeedConfig:
    settings: dict[str, Any] = {"page_size": 50, "overlap_minutes": 0.0, **options}
    return FeedConfig(
        name=FEED,
        academy_code="25",
        kind="ldap",
        url=server.url,
        bind_dn=server.bind_dn,
        password_env=PASSWORD_ENV,
        base_dn=BASE,
        **settings,
    )


def run(settings: Settings, server: Slapd, mode: str = "full", **options: Any) -> RunResult:
    assert settings.database_url is not None
    feed = feed_of(server, **options.pop("feed_options", {}))
    return import_ldap(settings.database_url, feed, hasher=hasher(settings), mode=mode, **options)  # type: ignore[arg-type]


def feeds_file(tmp_path: Path, server: Slapd) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(
        f"""
[feeds.{FEED}]
url = "{server.url}"
bind_dn = "{server.bind_dn}"
password_env = "{PASSWORD_ENV}"
base_dn = "{BASE}"
page_size = 50
overlap_minutes = 0
""",
        encoding="utf-8",
    )
    return path


def uid_entries(server: Slapd) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """Person entries of the feed in slapd, by uid: (DN, attributes)."""
    conn = server.connection()
    try:
        found = conn.extend.standard.paged_search(
            PEOPLE, "(&(uid=*)(givenName=*)(sn=*))", attributes=["*"], paged_size=500, generator=True
        )
        out = {}
        for item in found:
            if item.get("type") == "searchResEntry":
                attrs = {k: [v.decode() for v in vs] for k, vs in item["raw_attributes"].items()}
                out[attrs["uid"][0]] = (item["dn"], attrs)
        return out
    finally:
        conn.unbind()


def test_paged_full_scan_then_a_second_run_writes_nothing(
    settings: Settings, server: Slapd, data: Path
) -> None:
    url = settings.database_url
    assert url is not None
    feed = feed_of(server)
    reader = LdapReader(feed, mapping=feed.attribute_mapping())
    entries = list(reader)
    ldif_entries = [dn for dn, _ in read_entries(data / f"{FEED}.ldif") if dn.startswith("uid=")]
    assert len(entries) == len(ldif_entries)
    assert reader.pages >= len(entries) // 50  # many pages, the cookie followed to the end
    assert reader.server_info is not None and reader.server_info.paged_results
    assert reader.server_info.family == "openldap"
    # Only the mapped attributes come back (plus the stable id the server adds when asked).
    requested = {a.lower() for a in feed.attribute_mapping().requested_attributes()}
    assert all(k.lower() in requested for _, attrs in entries for k in attrs)
    assert all("entryUUID" in attrs for _, attrs in entries)

    first = run(settings, server)
    assert first.status == "ok" and first.counts.added + first.counts.quarantined == len(entries)
    rows = records(url, FEED)
    assert all(len(r["source_id"]) == 36 for r in rows.values())  # entryUUIDs, not DNs

    before = snapshot(url)
    second = run(settings, server)
    assert second.ok and second.counts.unchanged == first.counts.added
    assert snapshot(url) == before

    time.sleep(1.1)  # GeneralizedTime has whole seconds: let the window start after the load
    third = run(settings, server)
    fourth = run(settings, server, mode="incremental")
    assert third.ok and fourth.ok and fourth.mode == "incremental"
    assert fourth.counts.read == 0
    assert snapshot(url)["source_records"] == before["source_records"]


def test_incremental_and_full_follow_modify_add_rename_delete(settings: Settings, server: Slapd) -> None:
    url = settings.database_url
    assert url is not None
    time.sleep(1.1)  # GeneralizedTime has whole seconds: the run starts a second after the load
    assert run(settings, server).ok
    before = records(url, FEED)
    people = uid_entries(server)
    changed, renamed, deleted, template = sorted(people)[10:14]

    conn = server.connection()
    try:
        assert conn.modify(people[changed][0], {"givenName": [(ldap3.MODIFY_REPLACE, ["Zoé-Modifiée"])]})
        assert conn.modify_dn(people[renamed][0], f"uid={renamed}-nouveau", delete_old_dn=True)
        assert conn.delete(people[deleted][0])
        attrs = {k: v for k, v in people[template][1].items() if k not in ("entryUUID",)}
        attrs["uid"] = ["zznouveau"]
        assert conn.add(f"uid=zznouveau,{PEOPLE}", attributes=attrs)
    finally:
        conn.unbind()

    incremental = run(settings, server, mode="incremental")
    assert incremental.ok and incremental.mode == "incremental"
    c = incremental.counts
    assert (c.added, c.updated, c.removed) == (1, 2, 0)  # an incremental scan never removes
    assert c.read == 3  # only what changed
    after = records(url, FEED)
    assert after[f"{FEED}/{changed}"]["given_name"] == "Zoé-Modifiée"
    moved = after[f"{FEED}/{renamed}-nouveau"]
    assert moved["id"] == before[f"{FEED}/{renamed}"]["id"]  # a rename is the same record
    assert moved["dn"].startswith(f"uid={renamed}-nouveau,")
    assert after[f"{FEED}/{deleted}"]["removed_at"] is None
    assert f"{FEED}/zznouveau" in after

    full = run(settings, server)
    assert full.ok and (full.counts.added, full.counts.updated, full.counts.removed) == (0, 0, 1)
    assert records(url, FEED)[f"{FEED}/{deleted}"]["removed_at"] is not None


def test_a_server_killed_mid_scan_fails_the_run_and_nothing_is_applied(
    settings: Settings, server: Slapd
) -> None:
    url = settings.database_url
    assert url is not None
    assert run(settings, server).ok
    people = uid_entries(server)
    conn = server.connection()
    try:
        for uid in sorted(people)[:3]:
            assert conn.modify(people[uid][0], {"title": [(ldap3.MODIFY_REPLACE, ["INS"])]})
        assert conn.delete(people[sorted(people)[5]][0])
    finally:
        conn.unbind()
    before = snapshot(url)

    def kill_after_100(read: int) -> None:
        if read >= 100 and server.running:
            server.stop_abruptly()

    failed = run(settings, server, progress=kill_after_100, progress_every=10)
    assert failed.status == "failed"
    assert "after" in (failed.error or "") and failed.counts.read >= 100
    assert snapshot(url)["source_records"] == before["source_records"]
    with psycopg.connect(url) as db:
        assert db.execute("SELECT status FROM import_runs ORDER BY id DESC LIMIT 1").fetchone() == ("failed",)

    down = run(settings, server)  # the server is still down: a failed run, nobody removed
    assert down.status == "failed" and down.counts.read == 0
    server.restart()
    again = run(settings, server)
    assert again.ok and (again.counts.updated, again.counts.removed) == (3, 1)


def test_half_the_entries_gone_is_refused_unless_forced(
    settings: Settings, server: Slapd, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    assert run(settings, server).ok
    people = uid_entries(server)
    conn = server.connection()
    try:
        gone = [people[uid][0] for uid in sorted(people)[::2]]
        for dn in gone:
            assert conn.delete(dn)
    finally:
        conn.unbind()
    before = snapshot(url)
    feeds = feeds_file(tmp_path, server)
    env = {"DIRECTORY_FEEDS": str(feeds), PASSWORD_ENV: server.password}
    refused = cli(settings, "import", "ldap", "--feed", FEED, "--full", **env)
    assert refused.returncode == 1
    assert "refused" in refused.stdout and f"would remove {len(gone)}" in refused.stdout.replace("\n", " ")
    assert snapshot(url)["source_records"] == before["source_records"]
    status = cli(settings, "import", "status", "--json", **env)
    assert status.returncode == 0 and '"status": "refused"' in status.stdout

    forced = cli(settings, "import", "ldap", "--feed", FEED, "--full", "--force", **env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert sum(r["removed_at"] is not None for r in records(url, FEED).values()) == len(gone)
    for output in (refused, forced, status):
        assert server.password not in output.stdout + output.stderr


def test_a_wrong_password_fails_without_showing_it(settings: Settings, server: Slapd, tmp_path: Path) -> None:
    feeds = feeds_file(tmp_path, server)
    wrong = "Wr0ng-Pa55word-zz"
    result = cli(
        settings,
        "-v",
        "import",
        "ldap",
        "--feed",
        FEED,
        "--full",
        DIRECTORY_FEEDS=str(feeds),
        **{PASSWORD_ENV: wrong},
    )
    assert result.returncode == 1
    assert "invalidCredentials" in result.stdout + result.stderr
    assert wrong not in result.stdout + result.stderr
    ok = cli(
        settings,
        "-v",
        "import",
        "ldap",
        "--feed",
        FEED,
        DIRECTORY_FEEDS=str(feeds),
        **{PASSWORD_ENV: server.password},
    )
    assert ok.returncode == 0, ok.stderr
    assert server.password not in ok.stdout + ok.stderr
    feeds.write_text(feeds.read_text().replace(PASSWORD_ENV, "NO_SUCH_PASSWORD_VARIABLE"))
    missing = cli(settings, "import", "ldap", "--feed", FEED, DIRECTORY_FEEDS=str(feeds))
    assert (
        missing.returncode == 1 and "NO_SUCH_PASSWORD_VARIABLE is not set" in missing.stdout + missing.stderr
    )


def test_bad_entries_are_quarantined_and_the_rest_goes_in(
    settings: Settings, slapd: Slapd, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = settings.database_url
    assert url is not None
    entries = read_entries(data / f"{FEED}.ldif")
    persons = [e for dn, e in entries if dn.startswith("uid=") and "employeeNumber" in e and "givenName" in e]
    person = persons[0]
    bad = [
        (
            f"uid=sanssn,{PEOPLE}",
            {k: v for k, v in person.items() if k != "sn"}
            | {"uid": ["sanssn"], "employeeNumber": ["25E9812345ABC"]},
        ),
        (f"uid=ctrl,{PEOPLE}", {**person, "uid": ["ctrl"], "sn": ["DUR\x07AND"]}),
        (f"uid=doublon,{PEOPLE}", {**person, "uid": [persons[1]["uid"][0]]}),
    ]
    path = write_ldif(tmp_path / f"{FEED}.ldif", [*entries, *bad])
    slapd.load_ldif([path])
    monkeypatch.setenv(PASSWORD_ENV, slapd.password)
    result = run(settings, slapd)
    assert result.ok
    assert result.quarantine_reasons == {"missing_surname": 1, "control_characters": 1, "duplicate_uid": 1}
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT reason, dn, raw FROM quarantine ORDER BY reason").fetchall()
        leaked = conn.execute(
            "SELECT count(*) FROM quarantine WHERE raw::text LIKE '%25E9812345ABC%'"
        ).fetchone()
    assert [r[0] for r in rows] == ["control_characters", "duplicate_uid", "missing_surname"]
    missing = next(raw for reason, _, raw in rows if reason == "missing_surname")
    assert missing["employeeNumber"] == ["<redacted>"] and leaked == (0,)
    assert f"{FEED}/sanssn" not in records(url, FEED)
    # Every other entry went in.
    assert result.counts.read == len([dn for dn, _ in entries if dn.startswith("uid=")]) + len(bad)
    assert result.counts.added == result.counts.read - 3


def test_ldap_and_ldif_give_the_same_records(settings: Settings, server: Slapd, data: Path) -> None:
    url = settings.database_url
    assert url is not None
    assert run(settings, server).ok
    ldif_feed = FeedConfig(name="ldif-versailles", academy_code="25", kind="ldif")
    assert import_ldif(url, data / f"{FEED}.ldif", ldif_feed, hasher=hasher(settings)).ok
    by_ldap = {k.split("/", 1)[1]: v for k, v in records(url, FEED).items()}
    by_ldif = {k.split("/", 1)[1]: v for k, v in records(url, "ldif-versailles").items()}
    assert by_ldap.keys() == by_ldif.keys() and len(by_ldap) > 200
    skip = {
        "id",
        "feed",
        "source_id",
        "raw",
        "first_seen",
        "last_seen",
        "updated_at",
        "last_run_id",
        "xmin",
        "modify_timestamp",
    }
    for uid, row in by_ldap.items():
        other = by_ldif[uid]
        assert row["content_hash"] == other["content_hash"], uid
        assert {k: v for k, v in row.items() if k not in skip} == {
            k: v for k, v in other.items() if k not in skip
        }
