"""Applying a feed: additions, updates, renames, soft removals, the deletion limit, dry runs, reads
that fail, crash safety (SIGKILL mid-apply) and the per-feed lock. Real PostgreSQL, LDIF input."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from directory.config import Settings
from importers.apply import TEST_SLEEP_IN_APPLY
from importers.errors import FeedLockedError
from importers.feeds import FeedsFile, feed_for_ldif
from importers.pipeline import RunResult, import_ldif
from importers.runs import FeedLock, latest_runs
from tests.import_helpers import (
    Entry,
    cli,
    cli_env,
    dataset,
    hasher,
    read_entries,
    records,
    snapshot,
    write_ldif,
)

FEED = "ac-versailles"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.getbasetemp())


@pytest.fixture
def entries(data: Path) -> list[Entry]:
    return read_entries(data / f"{FEED}.ldif")


def run(settings: Settings, path: Path, **options: Any) -> RunResult:
    assert settings.database_url is not None
    options.setdefault("recheck", True)
    feed = feed_for_ldif(path, FeedsFile({}))
    return import_ldif(settings.database_url, path, feed, hasher=hasher(settings), **options)


def people(entries: list[Entry]) -> list[Entry]:
    """Clean person entries (no planted dirt), in file order."""
    return [
        (dn, e)
        for dn, e in entries
        if "personnels EN" in dn and "uid" in e and "sn" in e and "givenName" in e and dn.startswith("uid=")
    ]


def with_uuids(entries: list[Entry]) -> list[Entry]:
    """The entries with an ``entryUUID`` each (derived from the DN), as a server export carries."""
    return [
        (dn, {**e, "entryUUID": [str(uuid.uuid5(uuid.NAMESPACE_URL, dn))]})
        if dn.startswith("uid=")
        else (dn, e)
        for dn, e in entries
    ]


def reset_match_pending(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM match_queue")


def test_first_import_then_a_second_run_writes_nothing(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    path = shutil.copy(data / f"{FEED}.ldif", tmp_path / f"{FEED}.ldif")
    first = run(settings, Path(path))
    assert first.status == "ok" and first.mode == "full"
    rows = records(url)
    assert first.counts.added == len(rows) > 200
    assert first.counts.read == first.counts.added + first.counts.quarantined
    assert all(r["match_pending"] and r["removed_at"] is None for r in rows.values())
    assert {r["kind"] for r in rows.values()} == {"person", "functional"}

    before = snapshot(url)
    second = run(settings, Path(path))  # recheck: read, map, stage and diff everything again
    assert second.status == "ok"
    assert (second.counts.added, second.counts.updated, second.counts.removed) == (0, 0, 0)
    assert second.counts.unchanged == first.counts.added
    assert snapshot(url) == before  # not one row written: same xmin everywhere

    third = run(settings, Path(path), recheck=False)  # the same file: not even read
    assert third.skipped and third.status == "ok"
    assert snapshot(url) == before
    with psycopg.connect(url) as conn:
        statuses = conn.execute("SELECT status FROM import_runs ORDER BY id").fetchall()
    assert statuses == [("ok",), ("ok",), ("ok",)]


def test_updates_additions_renames_and_removals(
    settings: Settings, entries: list[Entry], tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    base = with_uuids(entries)
    path = write_ldif(tmp_path / f"{FEED}.ldif", base)
    assert run(settings, path).status == "ok"
    reset_match_pending(url)
    before = records(url, FEED)

    clean = people(base)
    changed_dn, gone_dn, renamed_dn, template_dn = (clean[i][0] for i in (3, 5, 7, 9))
    renamed_uid = dict(clean)[renamed_dn]["uid"][0]
    edited: list[Entry] = []
    for dn, e in base:
        if dn == gone_dn:
            continue
        if dn == changed_dn:
            e = {**e, "givenName": ["Marie-Changée"]}
        if dn == renamed_dn:  # modrdn: new DN and uid, same entryUUID
            dn = dn.replace(f"uid={renamed_uid},", f"uid={renamed_uid}x,")
            e = {**e, "uid": [f"{renamed_uid}x"]}
        edited.append((dn, e))
    template = dict(base)[template_dn]
    new_dn = template_dn.replace("uid=", "uid=zznouveau", 1)
    edited.append((new_dn, {**template, "uid": ["zznouveau"], "entryUUID": [str(uuid.uuid4())]}))
    write_ldif(path, edited)

    result = run(settings, path)
    assert result.status == "ok"
    c = result.counts
    assert (c.added, c.updated, c.removed) == (1, 2, 1)
    assert result.plan is not None and result.plan.renamed == 1
    after = records(url, FEED)
    gone_uid = dict(base)[gone_dn]["uid"][0]
    changed_uid = dict(base)[changed_dn]["uid"][0]
    # The change, the removal (soft: the row stays), the rename (same record id), the addition.
    assert after[f"{FEED}/{changed_uid}"]["given_name"] == "Marie-Changée"
    assert after[f"{FEED}/{gone_uid}"]["removed_at"] is not None
    renamed = after[f"{FEED}/{renamed_uid}x"]
    assert renamed["id"] == before[f"{FEED}/{renamed_uid}"]["id"] and renamed["dn"].startswith(
        f"uid={renamed_uid}x,"
    )
    assert f"{FEED}/zznouveau" in after
    touched = {changed_uid, gone_uid, f"{renamed_uid}x", "zznouveau"}
    for key, row in after.items():
        uid = key.split("/", 1)[1]
        assert row["match_pending"] == (uid in touched), key
        if uid not in touched:
            assert row["xmin"] == before[key]["xmin"], f"{key} was rewritten although unchanged"

    # The removed entry comes back: the same record, no longer removed.
    write_ldif(path, [*edited, (gone_dn, dict(base)[gone_dn])])
    back = run(settings, path)
    assert back.counts.added == 1 and back.counts.removed == 0
    row = records(url, FEED)[f"{FEED}/{gone_uid}"]
    assert row["removed_at"] is None and row["id"] == before[f"{FEED}/{gone_uid}"]["id"]


def test_half_a_feed_is_refused_by_the_deletion_limit_unless_forced(
    settings: Settings, data: Path, entries: list[Entry], tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    path = shutil.copy(data / f"{FEED}.ldif", tmp_path / f"{FEED}.ldif")
    assert run(settings, Path(path)).status == "ok"
    before = snapshot(url)
    kept = [(dn, e) for i, (dn, e) in enumerate(entries) if not dn.startswith("uid=") or i % 2 == 0]
    write_ldif(Path(path), kept)

    refused = run(settings, Path(path))
    assert refused.status == "refused"
    assert refused.plan is not None and refused.plan.removed > refused.plan.limit  # type: ignore[operator]
    assert "nothing applied" in (refused.error or "")
    assert snapshot(url) == before
    with psycopg.connect(url) as conn:
        status, error, details = conn.execute(
            "SELECT status, error, details FROM import_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    assert status == "refused" and "would remove" in error
    assert details["limit"]["would_remove"] == refused.plan.removed

    # The command line says so with a non-zero exit code; --force applies after a human looked.
    shown = cli(settings, "import", "ldif", str(path), "--recheck")
    assert shown.returncode == 1 and "refused" in shown.stdout
    assert snapshot(url)["source_records"] == before["source_records"]
    forced = cli(settings, "import", "ldif", str(path), "--recheck", "--force")
    assert forced.returncode == 0, forced.stderr
    assert sum(r["removed_at"] is not None for r in records(url).values()) == refused.plan.removed


def test_dry_run_prints_the_plan_and_applies_nothing(
    settings: Settings, entries: list[Entry], tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    path = write_ldif(tmp_path / f"{FEED}.ldif", entries)
    assert run(settings, path).status == "ok"
    clean = people(entries)
    gone = clean[0][0]
    write_ldif(
        path, [(dn, {**e, "title": ["DIR"]} if dn == clean[1][0] else e) for dn, e in entries if dn != gone]
    )
    before = snapshot(url)
    shown = cli(settings, "import", "ldif", str(path), "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "would be updated: 1" in shown.stdout and "would be removed: 1" in shown.stdout
    assert gone in shown.stdout.replace("\n", "")
    assert snapshot(url) == before
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT dry_run, status FROM import_runs ORDER BY id DESC LIMIT 1"
        ).fetchone() == (
            True,
            "ok",
        )
        assert [r.dry_run for r in latest_runs(conn)] == [False]  # monitoring sees real runs only


def test_a_truncated_file_fails_and_removes_nobody(settings: Settings, data: Path, tmp_path: Path) -> None:
    url = settings.database_url
    assert url is not None
    path = tmp_path / f"{FEED}.ldif"
    shutil.copy(data / f"{FEED}.ldif", path)
    assert run(settings, path).status == "ok"
    before = snapshot(url)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])  # an export cut short, mid-line
    failed = run(settings, path)
    assert failed.status == "failed" and "newline" in (failed.error or "")
    assert snapshot(url) == before
    shutil.copy(data / f"{FEED}.ldif", path)
    assert run(settings, path).status == "ok"


def test_two_runs_of_one_feed_do_not_interleave(settings: Settings, data: Path, tmp_path: Path) -> None:
    url = settings.database_url
    assert url is not None
    path = Path(shutil.copy(data / f"{FEED}.ldif", tmp_path / f"{FEED}.ldif"))
    with psycopg.connect(url, autocommit=True) as other:
        lock = FeedLock(other, FEED)
        lock.acquire()
        with pytest.raises(FeedLockedError):
            run(settings, path)
        # Another feed is not blocked.
        assert run(settings, Path(shutil.copy(data / "ac-lyon.ldif", tmp_path / "ac-lyon.ldif"))).ok
        lock.release()
    assert run(settings, path).ok


@contextlib.contextmanager
def _held_in_apply(settings: Settings, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``directory import ldif ARGS`` in a child process, yielded once it holds its apply
    transaction open (``TEST_SLEEP_IN_APPLY``); killed on the way out if still running."""
    child = subprocess.Popen(
        [sys.executable, "-c", "from directory.cli import main; main()", "import", "ldif", *args],
        env=cli_env(settings, **{TEST_SLEEP_IN_APPLY: "60"}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        deadline = time.monotonic() + 60
        for line in child.stderr:
            if "inside the apply transaction" in line or time.monotonic() > deadline:
                break
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr is not None:
            child.stderr.close()


def test_sigkill_mid_apply_leaves_the_previous_state_and_the_next_run_completes(
    settings: Settings, entries: list[Entry], tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    path = write_ldif(tmp_path / f"{FEED}.ldif", entries)
    assert run(settings, path).ok
    clean = {dn for dn, _ in people(entries)[:5]}
    write_ldif(path, [(dn, {**e, "givenName": ["Renommée"]} if dn in clean else e) for dn, e in entries])
    before = snapshot(url)

    with _held_in_apply(settings, str(path), "--recheck") as child:
        # The apply transaction is open (its writes are done, not committed): a second run refuses.
        second = cli(settings, "import", "ldif", str(path), "--recheck")
        assert second.returncode == 1 and "another import of this feed is running" in second.stderr
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert snapshot(url)["source_records"] == before["source_records"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM import_runs WHERE status = 'running'").fetchone() == (1,)

    # --wait: the server may take a moment to notice the dead session and free its lock.
    again = cli(settings, "import", "ldif", str(path), "--recheck", "--wait")
    assert again.returncode == 0, again.stderr
    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT status, error FROM import_runs ORDER BY id").fetchall()
    assert [s for s, _ in runs] == ["ok", "failed", "ok"]
    assert "interrupted" in runs[1][1]
    assert sum(r["given_name"] == "Renommée" for r in records(url).values()) == 5


def _comparable(url: str, feed: str) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """A feed's records (by uid) and quarantine without what differs between two feeds or runs."""
    skip = {"id", "feed", "first_seen", "last_seen", "updated_at", "last_run_id", "xmin"}
    rows = {
        key.partition("/")[2]: {k: v for k, v in r.items() if k not in skip}
        for key, r in records(url, feed).items()
    }
    with psycopg.connect(url) as conn:
        quarantined = conn.execute(
            "SELECT dn, reason, detail, raw::text FROM quarantine WHERE feed = %s ORDER BY dn, reason",
            (feed,),
        ).fetchall()
    return rows, quarantined


def test_a_first_load_gives_what_staging_gives(
    settings: Settings, entries: list[Entry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed's first run copies straight into source_records; a run through staging (what every
    later run does) of the same file gives the same records, quarantine, figures and queue."""
    url = settings.database_url
    assert url is not None
    uuids = with_uuids(entries)
    clean = people(uuids)
    # A second entry with the first one's entryUUID: the later one is quarantined, on both paths.
    twin_dn, twin = clean[3][0].replace("uid=", "uid=twin", 1), dict(clean[3][1])
    twin["uid"] = ["twin" + clean[3][1]["uid"][0]]
    twin["entryUUID"] = clean[1][1]["entryUUID"]
    source = [*uuids, (twin_dn, twin)]
    direct_path = write_ldif(tmp_path / f"{FEED}.ldif", source)
    staged_path = write_ldif(tmp_path / "ac-versailles-staged.ldif", source)
    direct = run(settings, direct_path)
    assert direct.ok and direct.plan is not None and direct.plan.present == 0

    # Another feed of the same academy: its records differ only by the feed's name.
    staged_feed = dataclasses.replace(feed_for_ldif(direct_path, FeedsFile({})), name="ac-versailles-staged")
    # The staging path, as a feed that already has records takes it.
    monkeypatch.setattr("importers.pipeline.is_first_load", lambda conn, feed: False)
    staged = import_ldif(url, staged_path, staged_feed, hasher=hasher(settings), recheck=True)
    assert staged.ok
    monkeypatch.undo()

    assert direct.counts == staged.counts
    assert direct.counts.added > 200 and direct.quarantine_reasons["duplicate_id"] == 1
    assert direct.quarantine_reasons == staged.quarantine_reasons
    assert direct.plan.examples == staged.plan.examples  # type: ignore[union-attr]
    assert _comparable(url, FEED) == _comparable(url, "ac-versailles-staged")
    rows = records(url, FEED)
    assert all(r["match_pending"] for r in rows.values())
    assert f"{FEED}/twin{clean[3][1]['uid'][0]}" not in rows and f"{FEED}/{clean[1][1]['uid'][0]}" in rows
    with psycopg.connect(url) as conn:
        (detail,) = conn.execute(
            "SELECT detail FROM quarantine WHERE feed = %s AND reason = 'duplicate_id'", (FEED,)
        ).fetchone() or (None,)
    assert detail == f"stable id {clean[1][1]['entryUUID'][0]} already used in this feed run by {clean[1][0]}"

    # The next run of the feed takes the staging path and finds nothing to do.
    before = snapshot(url)
    again = run(settings, direct_path)
    assert again.ok and again.plan is not None and again.plan.present == direct.counts.added
    assert (again.counts.added, again.counts.updated, again.counts.removed) == (0, 0, 0)
    assert snapshot(url)["source_records"] == before["source_records"]


def test_a_first_load_cut_short_leaves_nothing_and_the_next_run_loads_it(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    path = tmp_path / f"{FEED}.ldif"
    content = (data / f"{FEED}.ldif").read_bytes()
    path.write_bytes(content[: len(content) // 2])  # quarantined entries come before the cut
    before = snapshot(url)
    failed = run(settings, path)
    assert failed.status == "failed" and "newline" in (failed.error or "")
    after = snapshot(url)
    assert after["source_records"] == before["source_records"] == []
    assert after["match_queue"] == [] and after["quarantine"] == []
    path.write_bytes(content)
    loaded = run(settings, path)
    assert loaded.ok and loaded.counts.added == len(records(url, FEED)) > 200
    with psycopg.connect(url) as conn:
        statuses = conn.execute("SELECT status FROM import_runs ORDER BY id").fetchall()
    assert statuses == [("failed",), ("ok",)]


def test_sigkill_mid_first_load_leaves_nothing_and_the_next_run_completes(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    path = Path(shutil.copy(data / f"{FEED}.ldif", tmp_path / f"{FEED}.ldif"))
    with _held_in_apply(settings, str(path)) as child:
        with psycopg.connect(url) as conn:  # the records are written, not committed: unseen
            assert conn.execute("SELECT count(*) FROM source_records").fetchone() == (0,)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    after = snapshot(url)
    assert after["source_records"] == after["match_queue"] == after["quarantine"] == []
    again = cli(settings, "import", "ldif", str(path), "--wait")
    assert again.returncode == 0, again.stderr
    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT status FROM import_runs ORDER BY id").fetchall()
    assert [s for (s,) in runs] == ["failed", "ok"]
    assert len(records(url, FEED)) > 200
