"""``directory demo`` (what ``make demo`` runs): the whole pipeline on a small sample, without serving."""

from __future__ import annotations

from pathlib import Path

import psycopg

from directory.config import Settings
from tests.import_helpers import cli


def test_demo_pipeline_imports_matches_and_says_where_to_look(settings: Settings, tmp_path: Path) -> None:
    result = cli(
        settings, "demo", "--people", "1000", "--out", str(tmp_path / "sample"), "--no-serve", timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for where in ("/docs", "/demo/share", "/admin", "Bearer dir_"):
        assert where in result.stdout
    assert settings.database_url
    with psycopg.connect(settings.database_url) as conn:
        feeds = conn.execute("SELECT count(DISTINCT feed) FROM import_runs WHERE status = 'ok'").fetchone()
        persons = conn.execute("SELECT count(*) FROM persons WHERE home_instance IS NOT NULL").fetchone()
        admins = conn.execute("SELECT count(*) FROM admins").fetchone()
    assert feeds == (30,)
    assert persons is not None and persons[0] > 900
    assert admins == (1,)
    # A second run re-uses the sample, and the unchanged feeds write nothing.
    again = cli(
        settings, "demo", "--people", "1000", "--out", str(tmp_path / "sample"), "--no-serve", timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "re-using the generated sample" in again.stdout


def test_demo_refuses_outside_dev(settings: Settings) -> None:
    result = cli(settings, "demo", "--no-serve", DIRECTORY_ENVIRONMENT="prod")
    assert result.returncode == 1
