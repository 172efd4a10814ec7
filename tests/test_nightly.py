"""``directory import all``: every configured feed, each isolated; a broken academy does not stop the
others, and the exit code says it failed."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from directory.config import Settings
from importers.feeds import FeedsFile, feed_for_ldif
from importers.nightly import LDAP_ENTRY_BYTES, FeedTask, run_tasks, start_order, task_weights
from tests.import_helpers import SECRET, cli, dataset, records, snapshot
from tests.slapd import Slapd

PASSWORD_ENV = "TEST_NIGHTLY_BIND_PASSWORD"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.getbasetemp())


def feeds_file(tmp_path: Path, data: Path, server: Slapd, *, broken: bool) -> Path:
    text = f"""
[defaults]
page_size = 100
overlap_minutes = 0

[feeds.ac-lyon]
kind = "ldif"
path = "{data / "ac-lyon.ldif"}"

[feeds.ac-versailles]
url = "{server.url}"
bind_dn = "{server.bind_dn}"
password_env = "{PASSWORD_ENV}"
base_dn = "ou=ac-versailles,ou=education,o=gouv,c=fr"

[feeds.ac-nice]
kind = "ldif"
path = "{data / "ac-nice.ldif"}"
"""
    if broken:
        # Nothing listens on port 9: the server is "down".
        text += """
[feeds.ac-grenoble]
url = "ldap://127.0.0.1:9"
connect_timeout = 2
base_dn = "ou=ac-grenoble,ou=education,o=gouv,c=fr"
"""
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_one_broken_feed_does_not_stop_the_others_and_fails_the_job(
    settings: Settings, slapd: Slapd, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    slapd.load_ldif([data / "ac-versailles.ldif"], schema_check=True)
    env = {
        "DIRECTORY_FEEDS": str(feeds_file(tmp_path, data, slapd, broken=True)),
        PASSWORD_ENV: slapd.password,
    }

    dry = cli(settings, "import", "all", "--dry-run", **env)
    assert dry.returncode == 1
    assert records(url) == {}

    night = cli(settings, "import", "all", "--no-match", **env)
    assert night.returncode == 1, night.stdout + night.stderr
    assert "3 of 4 feeds ok" in night.stdout and "not ok: ac-grenoble" in night.stdout
    feeds = {key.split("/", 1)[0] for key in records(url)}
    assert feeds == {"ac-lyon", "ac-versailles", "ac-nice"}
    runs = {r["feed"]: r for r in json.loads(cli(settings, "import", "status", "--json", **env).stdout)}
    assert runs["ac-grenoble"]["status"] == "failed" and "ac-grenoble" in runs["ac-grenoble"]["error"]
    assert runs["ac-versailles"]["mode"] == "full"  # no successful run yet: a full scan
    assert "matching: not run" in night.stdout
    assert slapd.password not in night.stdout + night.stderr


def test_the_nightly_job_is_incremental_for_ldap_and_skips_unchanged_exports(
    settings: Settings, slapd: Slapd, data: Path, tmp_path: Path
) -> None:
    url = settings.database_url
    assert url is not None
    slapd.load_ldif([data / "ac-versailles.ldif"], schema_check=True)
    env = {
        "DIRECTORY_FEEDS": str(feeds_file(tmp_path, data, slapd, broken=False)),
        PASSWORD_ENV: slapd.password,
    }
    first = cli(settings, "import", "all", **env)
    assert "3 of 3 feeds ok" in first.stdout, first.stdout + first.stderr
    # Matching is handed the records afterwards when its runner exists (on so few records it may
    # refuse to fit a model: then the job says so and fails), else it is skipped.
    if importlib.util.find_spec("directory.matchrun") is None:
        assert "matching: skipped" in first.stdout and first.returncode == 0
    else:
        assert ("matching: done" in first.stdout) == (first.returncode == 0)
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM match_queue")
    before = snapshot(url)
    second = cli(settings, "import", "all", "--no-match", **env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "3 of 3 feeds ok" in second.stdout
    runs = {r["feed"]: r for r in json.loads(cli(settings, "import", "status", "--json", **env).stdout)}
    assert runs["ac-versailles"]["mode"] == "incremental"
    assert runs["ac-lyon"]["added"] == runs["ac-lyon"]["updated"] == 0
    assert snapshot(url)["source_records"] == before["source_records"]

    full = cli(settings, "import", "all", "--full", "--no-match", **env)
    assert full.returncode == 0
    runs = {r["feed"]: r for r in json.loads(cli(settings, "import", "status", "--json", **env).stdout)}
    assert runs["ac-versailles"]["mode"] == "full" and runs["ac-versailles"]["removed"] == 0


def test_the_nightly_chain_matches_with_the_kept_table_like_directory_match(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    """Two nights over every academy's export: the first matches everything and keeps its
    prepared table where ``directory match`` keeps it; the second (one feed changed) reads only the
    queued records into that table."""
    url = settings.database_url
    assert url is not None
    exports = sorted(data.glob("ac-*.ldif"))
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        "".join(f'[feeds.{f.stem}]\nkind = "ldif"\npath = "{f}"\n\n' for f in exports), encoding="utf-8"
    )
    env = {"DIRECTORY_FEEDS": str(feeds)}
    first = cli(settings, "import", "all", timeout=300, **env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "matching: done" in first.stdout
    assert (settings.data_dir / "match-cache" / "match-table.pickle").exists()

    # the next night: one academy's export lost an entry (a departure), the others are unchanged
    changed = tmp_path / exports[0].name
    text = exports[0].read_text(encoding="utf-8")
    head, _, rest = text.partition("\ndn: ")
    changed.write_text(head + "\ndn: " + rest.partition("\n\n")[2], encoding="utf-8")
    feeds.write_text(
        feeds.read_text(encoding="utf-8").replace(str(exports[0]), str(changed)), encoding="utf-8"
    )
    second = cli(settings, "import", "all", "--force", timeout=300, **env)
    assert second.returncode == 0, second.stdout + second.stderr
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT mode, stats FROM match_runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    mode, stats = row
    assert mode == "incremental" and stats["table_cache"] == "used", stats


def test_feeds_start_largest_first_and_results_come_back_in_the_given_order(
    settings: Settings, data: Path, tmp_path: Path
) -> None:
    """With several workers the heaviest feeds start first (so that a large academy late in the
    alphabet does not run alone at the end); an LDIF file weighs its size, an LDAP feed what its last
    applied run read; the results are in the order the feeds were given."""
    url = settings.database_url
    assert url is not None
    files = sorted(data.glob("ac-*.ldif"), key=lambda p: p.stat().st_size)[:3]  # smallest first
    tasks = [FeedTask(feed_for_ldif(f, FeedsFile({})), "full", f) for f in files]
    results = run_tasks(url, SECRET, tasks, jobs=2)
    assert [r.feed for r in results] == [f.stem for f in files]
    assert all(r.status == "ok" and r.counts.added > 0 for r in results)

    # the same academies as LDAP feeds weigh what their last run read, in LDIF bytes
    ldap = [FeedTask(replace(t.feed, kind="ldap", path=None, base_dn="o=x")) for t in tasks]
    never_run = FeedTask(replace(ldap[0].feed, name="ac-nowhere"))
    missing = FeedTask(tasks[0].feed, "full", tmp_path / "gone.ldif")
    weights = task_weights(url, [*tasks, *ldap, never_run, missing])
    assert weights[:3] == [float(f.stat().st_size) for f in files]
    assert weights[3:6] == [float(r.counts.read * LDAP_ENTRY_BYTES) for r in results]
    assert weights[6:] == [0.0, 0.0]
    # largest first, ties in the given order; a database that does not answer leaves LDAP feeds at 0
    assert start_order([1.0, 3.0, 2.0, 3.0]) == [1, 3, 2, 0]
    assert start_order(weights[:3]) == [2, 1, 0]
    assert task_weights("postgresql://nobody@127.0.0.1:9/none", ldap) == [0.0, 0.0, 0.0]
