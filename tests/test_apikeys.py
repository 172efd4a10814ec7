"""API keys: stored hashed, scopes, academy restriction, revocation; the ``directory keys`` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from directory.apikeys import KeyCache, create_key, hash_key, list_keys, revoke_key, verify_key
from directory.db import Database
from directory.errors import AuthenticationError, InvalidInputError, NotFoundError, PermissionDeniedError


def test_key_is_stored_hashed_and_verifies(db: Database) -> None:
    key, plain = create_key(db, name="nextcloud", scopes={"search", "resolve"})
    row = db.fetch_one("SELECT key_hash, prefix FROM api_keys WHERE name = 'nextcloud'")
    assert row is not None
    assert plain not in str(row) and row["key_hash"] == hash_key(plain)
    assert plain.startswith(f"dir_{row['prefix']}_")
    assert verify_key(db, plain) == key


def test_unknown_malformed_and_revoked_keys_are_refused(db: Database) -> None:
    _, plain = create_key(db, name="tchap", scopes={"search"})
    with pytest.raises(AuthenticationError):
        verify_key(db, "not-a-key")
    with pytest.raises(AuthenticationError):
        verify_key(db, plain[:-2] + "xx")
    revoke_key(db, "tchap")
    with pytest.raises(AuthenticationError, match="revoked"):
        verify_key(db, plain)
    with pytest.raises(NotFoundError):
        revoke_key(db, "tchap")


def test_scopes_and_academy(db: Database) -> None:
    key, _ = create_key(db, name="lyon", scopes={"search"}, academy="lyon")
    assert key.academy_code == "10"
    key.require("search")
    with pytest.raises(PermissionDeniedError):
        key.require("resolve")
    admin, _ = create_key(db, name="ops", scopes={"admin"})
    admin.require("resolve")
    with pytest.raises(InvalidInputError):
        create_key(db, name="bad", scopes={"write"})
    with pytest.raises(InvalidInputError):
        create_key(db, name="bad2", scopes={"search"}, academy="atlantis")
    with pytest.raises(InvalidInputError):
        create_key(db, name="lyon", scopes={"search"})
    with pytest.raises(InvalidInputError, match="instance"):
        create_key(db, name="cloud", scopes={"instance"})


def test_cache_avoids_the_store_but_not_for_failures(db: Database) -> None:
    cache = KeyCache(db, ttl=60)
    _, plain = create_key(db, name="cached", scopes={"search"})
    assert cache.peek(plain) is None
    assert cache.check(plain).name == "cached"
    assert cache.peek(plain) is not None
    with pytest.raises(AuthenticationError):
        cache.check("dir_abcdefgh_" + "x" * 40)
    assert list_keys(db)[0]["last_used_at"] is not None


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from directory.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_keys_commands(db_url: str, tmp_path: Path) -> None:
    env = {"DIRECTORY_DATABASE_URL": db_url, "DIRECTORY_DATA_DIR": str(tmp_path)}
    created = _cli("keys", "create", "--name", "nc07", "--scopes", "search,resolve", env=env)
    assert created.returncode == 0, created.stderr
    plain = created.stdout.strip().splitlines()[-1]
    assert plain.startswith("dir_") and " " not in plain
    with Database(db_url) as db:
        assert verify_key(db, plain).scopes == {"search", "resolve"}
    listed = _cli("keys", "list", env=env)
    assert "nc07" in listed.stdout and plain not in listed.stdout
    assert _cli("keys", "revoke", "nc07", env=env).returncode == 0
    assert _cli("keys", "revoke", "nc07", env=env).returncode == 1
    assert _cli("keys", "create", "--name", "x", "--scopes", "nope", env=env).returncode == 1
