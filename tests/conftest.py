"""Shared fixtures: real PostgreSQL (see ``tests/pg.py``), real slapd (``tests/fixtures_slapd.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from directory.config import Settings
from directory.db import Database
from tests.pg import TestServer

pytest_plugins = ["tests.fixtures_slapd"]

IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, why: str) -> None:
    """Skip when a component is missing, except in CI, where a missing component is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required test component missing under CI=true: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    """This session's PostgreSQL server and migrated template database."""
    server = TestServer()
    yield server
    server.close()


@pytest.fixture
def db_url(pg_server: TestServer) -> Iterator[str]:
    """URL of a fresh, migrated database for this test only."""
    yield from pg_server.fresh()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An open ``Database`` on a fresh, migrated database."""
    with Database(db_url, max_size=4) as database:
        yield database


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at this test's database, with a fixed test secret."""
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-that-is-long-enough-0123456789",  # type: ignore[arg-type]
    )
