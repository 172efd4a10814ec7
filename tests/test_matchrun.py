"""The matching run over the store: real PostgreSQL, a generated dataset imported by the real importer."""

from __future__ import annotations

import csv
import gc
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from directory.config import Settings
from directory.db import Database
from directory.matchrun import (
    MATCH_LOCK_KEY,
    TABLE_CACHE_FILE,
    MatchRunError,
    evaluate_against_truth,
    export_clusters,
    run_matching,
)
from directory.matchrun.write import refresh_persons, write_candidates
from matching.engine import MatchSettings
from tests.import_helpers import SECRET, cli, dataset, rewrite_ldif
from tests.pg import TestServer

PEOPLE = 2000


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.mktemp("matchrun"), people=PEOPLE, seed=11)


def _import(settings: Settings, paths: list[Path], *flags: str) -> None:
    result = cli(settings, "import", "ldif", *flags, *map(str, paths), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def imported_template(
    pg_server: TestServer, feeds: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database holding the imported sample, made once; each test gets its own copy."""
    name = pg_server.derived_template()
    settings = Settings(
        database_url=pg_server.url_of(name),
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key=SECRET,  # type: ignore[arg-type]
    )
    _import(settings, sorted(feeds.glob("*.ldif")))
    yield name
    pg_server.drop(name)


@pytest.fixture
def settings(pg_server: TestServer, imported_template: str, tmp_path: Path) -> Iterator[Settings]:
    for url in pg_server.fresh(template=imported_template):
        yield Settings(database_url=url, data_dir=tmp_path / "data", secret_key=SECRET)  # type: ignore[arg-type]


@pytest.fixture
def imported(settings: Settings) -> Iterator[Database]:
    assert settings.database_url
    with Database(settings.database_url, max_size=4) as db:
        yield db


def _partition(db: Database) -> set[frozenset[int]]:
    rows = db.fetch_all(
        """SELECT l.person_id, array_agg(l.record_id ORDER BY l.record_id) AS ids
           FROM record_links l JOIN source_records r ON r.id = l.record_id
           WHERE r.removed_at IS NULL GROUP BY l.person_id"""
    )
    return {frozenset(r["ids"]) for r in rows}


def _links(db: Database) -> dict[int, str]:
    return {
        r["record_id"]: r["person_id"] for r in db.fetch_all("SELECT record_id, person_id FROM record_links")
    }


def _pending_reviews(db: Database) -> set[tuple[int, int]]:
    rows = db.fetch_all("SELECT record_a, record_b FROM match_candidates WHERE status = 'pending'")
    return {(r["record_a"], r["record_b"]) for r in rows}


def test_full_run_resolves_people_and_keeps_quality(imported: Database, feeds: Path, tmp_path: Path) -> None:
    summary = run_matching(imported, full=True)
    records = imported.fetch_value(
        "SELECT count(*) FROM source_records WHERE kind = 'person' AND removed_at IS NULL"
    )
    assert summary.mode == "full" and summary.records == records
    active_persons = imported.fetch_value("SELECT count(*) FROM persons WHERE status <> 'merged'")
    assert PEOPLE * 0.9 < active_persons < records  # duplicates were linked, people not lumped
    assert imported.fetch_value("SELECT count(*) FROM match_queue") == 0
    assert imported.fetch_value("SELECT count(*) FROM persons WHERE display_name = ''") == 0

    quality = evaluate_against_truth(imported, feeds / "truth.csv")
    # Floors for this small sample; the national figures live in docs/benchmarks.md.
    assert quality.precision >= 0.95
    assert quality.recall >= 0.85
    assert quality.blocking_recall is not None and quality.blocking_recall >= 0.95

    out = tmp_path / "clusters.csv"
    written = export_clusters(imported, out)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert written == len(rows) == imported.fetch_value("SELECT count(*) FROM source_records")
    links = {
        (r["feed"], r["uid"]): r["person_id"]
        for r in imported.fetch_all(
            """SELECT s.feed, s.uid, l.person_id
               FROM source_records s JOIN record_links l ON l.record_id = s.id"""
        )
    }
    assert all(links.get((r["feed"], r["uid"]), "") == r["person_id"] for r in rows)


def test_review_candidates_explain_themselves(imported: Database) -> None:
    run_matching(imported, full=True)
    candidate = imported.fetch_one("SELECT * FROM match_candidates WHERE status = 'pending' LIMIT 1")
    assert candidate is not None, "a national sample always has doubtful pairs"
    explanation: dict[str, Any] = candidate["explanation"]
    assert {c["comparison"] for c in explanation["comparisons"]} >= {"surname", "given_name", "birth_date"}
    assert 0 < candidate["probability"] < 1


def test_second_run_writes_nothing_and_ids_are_stable(imported: Database) -> None:
    run_matching(imported, full=True)
    before = _links(imported)
    again = run_matching(imported)
    assert again.mode == "incremental"
    assert (again.links_written, again.persons_created, again.persons_merged) == (0, 0, 0)
    full_again = run_matching(imported, full=True)
    assert full_again.links_written == 0
    assert _links(imported) == before


def _edit(dn: str, entry: dict[str, list[Any]]) -> list[tuple[str, dict[str, list[Any]]]]:
    bucket = zlib.crc32(str((entry.get("uid") or [""])[0]).encode()) % 25
    if bucket == 0 and "sn" in entry:
        entry = {**entry, "sn": [entry["sn"][0] + "E"]}  # a typo fixed or made
    if bucket == 1:
        return []  # left
    return [(dn, entry)]


def test_incremental_run_equals_full_run(
    imported: Database, settings: Settings, feeds: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    run_matching(imported, full=True, cache_dir=cache)
    kept_by_first_run = (cache / TABLE_CACHE_FILE).read_bytes()
    changed = rewrite_ldif(feeds / "ac-versailles.ldif", tmp_path / "ac-versailles.ldif", _edit)
    changed_lyon = rewrite_ldif(feeds / "ac-lyon.ldif", tmp_path / "ac-lyon.ldif", _edit)
    result = cli(settings, "import", "ldif", "--force", str(changed), str(changed_lyon), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    pending = imported.fetch_value("SELECT count(*) FROM match_queue")
    assert pending > 0

    # the kept table brought up to date with the changed records only
    incremental = run_matching(imported, cache_dir=cache)
    assert incremental.mode == "incremental" and incremental.table_cache == "used"
    assert incremental.rematched < incremental.records  # only what the change touched
    after_incremental, reviews = _partition(imported), _pending_reviews(imported)
    run_matching(imported, full=True, refit=False)  # the same model: the same resolution
    assert _partition(imported) == after_incremental
    # and the same review queue: a removed record's pairs are no longer proposed
    assert _pending_reviews(imported) == reviews
    # People whose every record left are no longer offered.
    assert imported.fetch_value("SELECT count(*) FROM persons WHERE status = 'left'") > 0

    # A table kept by an older run misses the changes of the runs since: never used.
    (cache / TABLE_CACHE_FILE).write_bytes(kept_by_first_run)
    (tmp_path / "again").mkdir()
    again = rewrite_ldif(feeds / "ac-versailles.ldif", tmp_path / "again" / "ac-versailles.ldif", _edit_again)
    result = cli(settings, "import", "ldif", "--force", str(again), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    stale = run_matching(imported, cache_dir=cache)
    assert stale.table_cache == "stale" and stale.rematched < stale.records
    after_stale = _partition(imported)
    run_matching(imported, full=True, refit=False)
    assert _partition(imported) == after_stale

    # Missing or unreadable: every record is read and prepared again, nothing changes.
    (cache / TABLE_CACHE_FILE).unlink()
    assert run_matching(imported, cache_dir=cache).table_cache == "missing"
    (cache / TABLE_CACHE_FILE).write_bytes(b"not a pickle")
    unreadable = run_matching(imported, cache_dir=cache)
    assert unreadable.table_cache == "unreadable" and unreadable.links_written == 0
    assert _partition(imported) == after_stale
    assert run_matching(imported, cache_dir=cache).table_cache == "used"  # written again


def test_a_removed_record_leaves_the_review_queue(
    imported: Database, settings: Settings, feeds: Path, tmp_path: Path
) -> None:
    """An incremental run takes a record that left out of the pairs to review, as a full run does."""
    cache = tmp_path / "cache"
    run_matching(imported, full=True, cache_dir=cache)
    pair = imported.fetch_one(
        """SELECT c.record_a, c.record_b, r.feed, r.uid FROM match_candidates c
           JOIN source_records r ON r.id = c.record_a
           WHERE c.status = 'pending' ORDER BY c.record_a, c.record_b LIMIT 1"""
    )
    assert pair is not None
    uid = pair["uid"]

    def drop(dn: str, entry: dict[str, list[Any]]) -> list[tuple[str, dict[str, list[Any]]]]:
        return [] if str((entry.get("uid") or [""])[0]) == uid else [(dn, entry)]

    (tmp_path / "feed").mkdir()
    changed = rewrite_ldif(feeds / f"{pair['feed']}.ldif", tmp_path / "feed" / f"{pair['feed']}.ldif", drop)
    result = cli(settings, "import", "ldif", "--force", str(changed), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    run_matching(imported, cache_dir=cache)
    status = imported.fetch_value(
        "SELECT status FROM match_candidates WHERE record_a = %s AND record_b = %s",
        (pair["record_a"], pair["record_b"]),
    )
    assert status == "obsolete"
    reviews = _pending_reviews(imported)
    run_matching(imported, full=True, refit=False)
    assert _pending_reviews(imported) == reviews


def _edit_again(dn: str, entry: dict[str, list[Any]]) -> list[tuple[str, dict[str, list[Any]]]]:
    """The changes of ``_edit`` and a few more."""
    edited = _edit(dn, entry)
    if not edited:
        return []
    dn, entry = edited[0]
    bucket = zlib.crc32(str((entry.get("uid") or [""])[0]).encode()) % 25
    if bucket == 3 and "sn" in entry:
        entry = {**entry, "sn": [entry["sn"][0] + "S"]}
    return [(dn, entry)]


def test_human_decisions_win_over_the_model(imported: Database) -> None:
    run_matching(imported, full=True)
    linked = imported.fetch_one(
        """SELECT min(record_id) AS a, max(record_id) AS b FROM record_links
           GROUP BY person_id HAVING count(*) = 2 LIMIT 1"""
    )
    singles = imported.fetch_all(
        """SELECT min(record_id) AS r FROM record_links GROUP BY person_id HAVING count(*) = 1
           ORDER BY 1 LIMIT 2"""
    )
    assert linked and len(singles) == 2
    a, b = linked["a"], linked["b"]
    c, d = sorted(r["r"] for r in singles)
    imported.execute(
        """INSERT INTO match_decisions (kind, record_a, record_b, decided_by)
           VALUES ('cannot_link', %s, %s, 'alice'), ('must_link', %s, %s, 'alice')""",
        (a, b, c, d),
    )
    for full in (False, True):  # honoured by incremental and full runs alike, night after night
        run_matching(imported, full=full)
        links = _links(imported)
        assert links[a] != links[b]
        assert links[c] == links[d]


_PERSON_FIELDS = """SELECT id, status, merged_into, display_name, given_name, family_name, academy_code,
                             created_at = updated_at AS written_once
                      FROM persons ORDER BY id"""


def _link_keys(db: Database) -> list[dict[str, Any]]:
    """The foreign keys of ``record_links`` and ``persons`` (a first run checks them once)."""
    return db.fetch_all(
        """SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS definition,
                  convalidated FROM pg_constraint
           WHERE conrelid IN ('record_links'::regclass, 'persons'::regclass) AND contype = 'f'
           ORDER BY 1, 2"""
    )


def _indexes(db: Database) -> list[dict[str, Any]]:
    """The indexes of ``record_links`` and ``persons`` (a first run builds the plain ones once)."""
    return db.fetch_all(
        """SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid IN ('record_links'::regclass, 'persons'::regclass) ORDER BY 1"""
    )


def test_first_run_writes_persons_with_their_fields_and_keeps_the_keys(imported: Database) -> None:
    keys = _link_keys(imported)
    indexes = _indexes(imported)
    assert {"record_links_person", "persons_home_instance"} <= {i["name"] for i in indexes}
    # record_links: record_id -> source_records, person_id -> persons; persons: academy_code,
    # home_instance, merged_into
    assert len(keys) == 5
    # a record whose given name and academy are missing as stored (the read fills them in for
    # matching), alone (nothing left to link it by): its person's fields say missing
    bare = imported.fetch_value("SELECT min(id) FROM source_records WHERE kind = 'person'")
    imported.execute(
        """UPDATE source_records SET given_name = NULL, academy_code = NULL, usage_name = 'ZZALONE',
               birth_name = NULL, numen_hash = NULL, birth_hash = NULL, birth_swapped_hash = NULL,
               mail = NULL WHERE id = %s""",
        (bare,),
    )
    run_matching(imported, full=True)  # empty resolution: persons and links written in bulk
    written = imported.fetch_all(_PERSON_FIELDS)
    assert written and all(p["written_once"] for p in written)
    alone = imported.fetch_one(
        """SELECT p.display_name, p.given_name, p.family_name, p.academy_code FROM persons p
           JOIN record_links l ON l.person_id = p.id WHERE l.record_id = %s""",
        (bare,),
    )
    assert alone == {
        "display_name": "Zzalone",
        "given_name": None,
        "family_name": "ZZALONE",
        "academy_code": None,
    }
    # persons with an active and an inactive record: the fields must come from the active one
    assert imported.fetch_value(
        """SELECT count(*) FROM (SELECT l.person_id FROM record_links l
               JOIN source_records r ON r.id = l.record_id
               GROUP BY 1 HAVING bool_or(r.active) AND NOT bool_and(r.active)) x"""
    )
    assert _link_keys(imported) == keys  # dropped for the bulk insert, back as declared, validated
    assert _indexes(imported) == indexes  # plain indexes built after the load, as declared

    # The fields written with the persons are what the previous path (links first, then
    # refresh_persons over the stored links) gives.
    with imported.connection() as conn:
        refresh_persons(conn, {p["id"] for p in written})
        refreshed = conn.execute(_PERSON_FIELDS).fetchall()
        conn.rollback()
    assert [p | {"written_once": True} for p in refreshed] == written

    # Integrity still enforced on what follows.
    with pytest.raises(psycopg.errors.ForeignKeyViolation), imported.connection() as conn:
        record = conn.execute("SELECT min(id) AS id FROM source_records").fetchone()
        assert record is not None
        conn.execute("DELETE FROM record_links WHERE record_id = %s", (record["id"],))
        conn.execute(
            "INSERT INTO record_links (record_id, person_id, method) VALUES (%s, 'no-such-person', 'model')",
            (record["id"],),
        )


def test_a_run_that_fails_while_writing_leaves_the_previous_state(
    imported: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _link_keys(imported)
    indexes = _indexes(imported)
    queued = imported.fetch_value("SELECT count(*) FROM match_queue")
    assert queued > 0

    collector_during: list[bool] = []

    def fail(conn: Any) -> None:  # after every write of the run, before its commit
        collector_during.append(gc.isenabled())
        raise RuntimeError("disk full")

    monkeypatch.setattr("directory.matchrun.write.bump_generation", fail)
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="disk full"):
        run_matching(imported, full=True)
    # the garbage collector is paused for the run (directory.matchrun.run.paused_gc) and back after
    # it, even when it failed
    assert collector_during == [False] and gc.isenabled()
    assert imported.fetch_value("SELECT count(*) FROM persons") == 0
    assert imported.fetch_value("SELECT count(*) FROM record_links") == 0
    assert imported.fetch_value("SELECT count(*) FROM match_queue") == queued
    assert _link_keys(imported) == keys
    assert _indexes(imported) == indexes
    assert imported.fetch_value("SELECT status FROM match_runs ORDER BY id DESC LIMIT 1") == "failed"

    monkeypatch.undo()
    run_matching(imported, full=True)
    before = _links(imported)
    fields = imported.fetch_all(_PERSON_FIELDS)
    record = min(before)
    imported.execute("UPDATE source_records SET usage_name = 'ZZTEST' WHERE id = %s", (record,))
    imported.execute("INSERT INTO match_queue (record_id) VALUES (%s)", (record,))
    monkeypatch.setattr("directory.matchrun.write.bump_generation", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        run_matching(imported)  # incremental: the upsert path
    assert _links(imported) == before
    assert imported.fetch_all(_PERSON_FIELDS) == fields
    assert imported.fetch_value("SELECT array_agg(record_id) FROM match_queue") == [record]


def test_a_record_queued_again_during_a_run_stays_queued(
    imported: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert imported.url
    queued = imported.fetch_all("SELECT record_id FROM match_queue ORDER BY record_id LIMIT 1")
    record = queued[0]["record_id"]
    original = write_candidates

    def import_meanwhile(conn: Any, result: Any, run_id: int, gone: Any = ()) -> None:
        # what the importer's apply step does when the record changes again, committed meanwhile
        with psycopg.connect(imported.url or "") as other:
            other.execute(
                """INSERT INTO match_queue (record_id) VALUES (%s)
                   ON CONFLICT (record_id) DO UPDATE SET seq = EXCLUDED.seq""",
                (record,),
            )
        original(conn, result, run_id, gone)

    monkeypatch.setattr("directory.matchrun.write.write_candidates", import_meanwhile)
    run_matching(imported, full=True)
    assert imported.fetch_value("SELECT array_agg(record_id) FROM match_queue") == [record]


def test_one_run_at_a_time(imported: Database) -> None:
    assert imported.url
    with psycopg.connect(imported.url) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (MATCH_LOCK_KEY,))
        with pytest.raises(MatchRunError, match="in progress"):
            run_matching(imported)


def test_cli_match_evaluate_and_export(
    imported: Database, settings: Settings, feeds: Path, tmp_path: Path
) -> None:
    result = cli(settings, "match", "--full", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["mode"] == "full"
    evaluation = cli(settings, "match", "evaluate", "--truth", str(feeds / "truth.csv"), timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr[-2000:]
    line = evaluation.stdout.strip().splitlines()
    assert len(line) == 1
    figures = json.loads(line[0])
    assert {"precision", "recall", "f1", "blocking_recall"} <= figures.keys()
    out = tmp_path / "c.csv"
    export = cli(settings, "export", "clusters", "--out", str(out))
    assert export.returncode == 0, export.stderr[-2000:]
    assert out.read_text().splitlines()[0] == "feed,uid,person_id"
    missing = cli(settings, "match", "evaluate", "--truth", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "cannot read truth file" in missing.stderr


def test_a_merge_carries_the_merged_persons_accounts(imported: Database) -> None:
    """When a run merges two persons, an account an instance reported for the merged one now
    belongs to the survivor, whose ``has_account`` and home follow."""
    run_matching(imported, full=True)
    pair = imported.fetch_one(
        """SELECT person_id, array_agg(record_id ORDER BY record_id) AS ids FROM record_links
           GROUP BY person_id HAVING count(*) = 3 ORDER BY person_id LIMIT 1"""
    )
    assert pair is not None
    first, _, second = pair["ids"]
    with imported.connection() as conn:
        # as an earlier run could have left it: one of three records on a person of its own, which
        # an instance has reported an account for (the person of the other two keeps its id)
        conn.execute(
            """INSERT INTO persons (id, display_name) VALUES ('p-apart', 'Apart');
               INSERT INTO instances (name, host, capacity) VALUES ('cloud-test', 'cloud.example.fr', 10);
               INSERT INTO instance_accounts (instance, userid, person_id)
                   VALUES ('cloud-test', 'apart', 'p-apart');
               UPDATE persons SET has_account = true, home_instance = 'cloud-test' WHERE id = 'p-apart'"""
        )
        conn.execute("UPDATE record_links SET person_id = 'p-apart' WHERE record_id = %s", (second,))
        conn.execute("INSERT INTO match_queue (record_id) VALUES (%s)", (second,))
        conn.commit()
    summary = run_matching(imported)
    assert summary.mode == "incremental" and summary.persons_merged == 1
    links = _links(imported)
    survivor = links[first]
    assert links[second] == survivor
    assert survivor == pair["person_id"]
    assert imported.fetch_value("SELECT merged_into FROM persons WHERE id = 'p-apart'") == survivor
    owner = imported.fetch_value("SELECT person_id FROM instance_accounts WHERE userid = 'apart'")
    assert owner == survivor
    row = imported.fetch_one("SELECT has_account, home_instance FROM persons WHERE id = %s", (survivor,))
    assert row == {"has_account": True, "home_instance": "cloud-test"}


def _night(db: Database, ids: list[int], *, leave: bool) -> None:
    """These records leave (or come back) in one import: changed and queued for matching."""
    db.execute(
        "UPDATE source_records SET removed_at = CASE WHEN %s THEN now() END WHERE id = ANY(%s)", (leave, ids)
    )
    db.execute("INSERT INTO match_queue (record_id) SELECT unnest(%s::bigint[])", (ids,))


@pytest.mark.parametrize(("kept_table", "bound"), [(False, 4), (True, 3)])
def test_incremental_nights_follow_blocks_across_the_bound(
    imported: Database, tmp_path: Path, kept_table: bool, bound: int
) -> None:
    """Blocks that cross the size bound one night and cross back the next: each incremental run
    must start from the blocks the run before it skipped (not those of the last full run), or it
    keeps links that a full run no longer makes."""
    small = MatchSettings(max_block_size=bound)  # many blocks near the bound here
    cache = tmp_path / "cache" if kept_table else None
    run_matching(imported, full=True, settings=small, cache_dir=cache)
    ids = [
        r["id"]
        for r in imported.fetch_all(
            "SELECT id FROM source_records WHERE kind = 'person' AND removed_at IS NULL AND id % 5 = 0"
        )
    ]
    _night(imported, ids, leave=True)
    run_matching(imported, settings=small, cache_dir=cache)
    _night(imported, ids, leave=False)
    second = run_matching(imported, settings=small, cache_dir=cache)
    assert second.mode == "incremental"
    after, reviews = _partition(imported), _pending_reviews(imported)
    run_matching(imported, full=True, refit=False, settings=small)
    assert _partition(imported) == after
    assert _pending_reviews(imported) == reviews


def test_a_split_gives_an_account_to_the_part_whose_record_it_matches(imported: Database) -> None:
    """When a human decision splits a person in the next run, an account reported for that
    person goes to the part holding the record whose e-mail it has."""
    run_matching(imported, full=True)
    trio = imported.fetch_one(
        """SELECT person_id, array_agg(record_id ORDER BY record_id) AS ids FROM record_links
           GROUP BY person_id HAVING count(*) = 3 ORDER BY person_id LIMIT 1"""
    )
    assert trio is not None
    first, second, third = trio["ids"]
    mail = imported.fetch_value("SELECT mail FROM source_records WHERE id = %s", (third,))
    assert mail
    with imported.connection() as conn:
        conn.execute(
            "INSERT INTO instances (name, host, capacity) VALUES ('cloud-test', 'cloud.example.fr', 10)"
        )
        conn.execute(
            """INSERT INTO instance_accounts (instance, userid, person_id, email)
               VALUES ('cloud-test', 'third', %s, upper(%s))""",
            (trio["person_id"], mail),
        )
        conn.execute(
            "UPDATE persons SET has_account = true, home_instance = 'cloud-test' WHERE id = %s",
            (trio["person_id"],),
        )
        for other in (first, second):
            conn.execute(
                """INSERT INTO match_decisions (kind, record_a, record_b, decided_by)
                   VALUES ('cannot_link', %s, %s, 'nadia')""",
                (other, third),
            )
        conn.execute("INSERT INTO match_queue (record_id) VALUES (%s), (%s), (%s)", (first, second, third))
        conn.commit()
    run_matching(imported)
    links = _links(imported)
    assert links[first] == links[second] == trio["person_id"] != links[third]
    owner = imported.fetch_value("SELECT person_id FROM instance_accounts WHERE userid = 'third'")
    assert owner == links[third]
    rows = imported.fetch_all(
        "SELECT id, has_account, home_instance FROM persons WHERE id = ANY(%s) ORDER BY id",
        ([trio["person_id"], links[third]],),
    )
    settled = {r["id"]: (r["has_account"], r["home_instance"]) for r in rows}
    assert settled[links[third]] == (True, "cloud-test")
    assert settled[trio["person_id"]] == (False, "cloud-test")  # no account left; the home stays
