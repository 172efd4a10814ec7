"""An import made with another hashing key is refused before anything is read, and a deliberate
rotation is accepted once, recorded (``importers.hashkey``, ``directory db accept-hash-key``)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from directory.config import Settings
from tests.import_helpers import SECRET, cli, dataset, records

FEED = "ac-corse"
OTHER = "another-secret-key-that-is-long-enough-9876543210"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset(tmp_path_factory.getbasetemp())


def _fingerprints(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT value FROM store_meta WHERE key = 'hash_key_fingerprint'")]


def test_another_key_is_refused_then_accepted_on_purpose(settings: Settings, data: Path) -> None:
    url = settings.database_url
    assert url
    feed = str(data / f"{FEED}.ldif")
    first = cli(settings, "import", "ldif", feed)
    assert first.returncode == 0, first.stderr[-2000:]
    [fingerprint] = _fingerprints(url)
    before = records(url, FEED)
    assert before

    refused = cli(settings, "import", "ldif", "--recheck", feed, DIRECTORY_SECRET_KEY=OTHER)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "hashing key" in output and "accept-hash-key" in output
    assert OTHER not in output and SECRET not in output  # fingerprints only, never a key
    assert records(url, FEED) == before  # not a row written
    with psycopg.connect(url) as conn:
        status, error = conn.execute(
            "SELECT status, error FROM import_runs WHERE feed = %s ORDER BY id DESC LIMIT 1", (FEED,)
        ).fetchone()  # type: ignore[misc]
    assert status == "failed" and "hashing key" in error

    unconfirmed = cli(settings, "db", "accept-hash-key", DIRECTORY_SECRET_KEY=OTHER)
    assert unconfirmed.returncode == 2 and _fingerprints(url) == [fingerprint]
    accepted = cli(settings, "db", "accept-hash-key", "--yes", "--by", "ops-jane", DIRECTORY_SECRET_KEY=OTHER)
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    assert _fingerprints(url) != [fingerprint]
    with psycopg.connect(url) as conn:
        audit = conn.execute(
            "SELECT actor, action FROM audit_log WHERE action = 'accept_hash_key'"
        ).fetchall()
    assert audit == [("ops-jane", "accept_hash_key")]

    rehashed = cli(settings, "import", "ldif", "--recheck", feed, DIRECTORY_SECRET_KEY=OTHER)
    assert rehashed.returncode == 0, rehashed.stderr[-2000:]
    after = records(url, FEED)
    carrying = [uid for uid, r in before.items() if r["numen_hash"]]
    assert carrying and all(after[uid]["numen_hash"] != before[uid]["numen_hash"] for uid in carrying)
    # and the old key is now the stranger
    assert cli(settings, "import", "ldif", "--recheck", feed).returncode != 0
