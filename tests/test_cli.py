"""The console script's contract: exit codes and the store commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``directory ARGS`` as a user would, in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from directory.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_help_lists_commands_and_exits_zero() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "db" in result.stdout


def test_usage_error_exits_two() -> None:
    assert run("no-such-command").returncode == 2
    assert run("db", "migrate", "--no-such-option").returncode == 2


def test_db_migrate_applies_then_reports_up_to_date(db_url: str, tmp_path: Path) -> None:
    env = {"DIRECTORY_DATABASE_URL": db_url, "DIRECTORY_DATA_DIR": str(tmp_path)}
    result = run("db", "migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "schema up to date" in result.stdout  # the template was already migrated


def test_unreachable_database_fails_with_exit_one_and_no_password(tmp_path: Path) -> None:
    env = {
        "DIRECTORY_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x?connect_timeout=1",
        "DIRECTORY_DATA_DIR": str(tmp_path),
    }
    result = run("db", "url", env=env)
    assert result.returncode == 1
    assert "cannot reach PostgreSQL" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
