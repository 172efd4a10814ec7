"""Importing over TLS from a real slapd: ``ldaps://`` and StartTLS trusting the feed's CA file; a
wrong or missing CA fails clearly, applies nothing and is recorded as failed; the bind password
appears in no log line, error or output. One TLS slapd for the module (its CA made by openssl)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
import pytest

from directory.config import Settings
from importers.feeds import FeedConfig
from importers.pipeline import RunResult, import_ldap
from tests.import_helpers import cli, dataset, hasher, records, snapshot
from tests.slapd import Slapd

FEED = "ac-versailles"
BASE = f"ou={FEED},ou=education,o=gouv,c=fr"
PASSWORD_ENV = "TEST_TLS_BIND_PASSWORD"


@pytest.fixture(scope="module")
def server(slapd_tls: Slapd, tmp_path_factory: pytest.TempPathFactory) -> Slapd:
    data = dataset(tmp_path_factory.getbasetemp())
    loaded = slapd_tls.load_ldif([data / f"{FEED}.ldif"], schema_check=True)
    assert loaded.added > 200
    return slapd_tls


@pytest.fixture(autouse=True)
def password(server: Slapd, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    return server.password


def feed_of(server: Slapd, *, tls: str, ca: Path | None) -> FeedConfig:
    return FeedConfig(
        name=FEED,
        academy_code="25",
        kind="ldap",
        url=server.ldaps_url if tls == "ldaps" else server.url,
        starttls=tls == "starttls",
        ca_file=ca,
        bind_dn=server.bind_dn,
        password_env=PASSWORD_ENV,
        base_dn=BASE,
        page_size=100,
    )


def run(settings: Settings, feed: FeedConfig, **options: Any) -> RunResult:
    assert settings.database_url is not None
    return import_ldap(settings.database_url, feed, hasher=hasher(settings), mode="full", **options)


def test_import_over_ldaps_trusting_the_feeds_ca_file(
    settings: Settings, server: Slapd, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert server.tls is not None
    caplog.set_level(logging.DEBUG)
    result = run(settings, feed_of(server, tls="ldaps", ca=server.tls.ca))
    assert result.ok, result.error
    assert result.counts.added > 200
    assert settings.database_url is not None
    assert len(records(settings.database_url, FEED)) == result.counts.added
    assert password not in caplog.text


def test_import_with_starttls_from_the_feeds_file(
    settings: Settings, server: Slapd, password: str, tmp_path: Path
) -> None:
    assert server.tls is not None and settings.database_url is not None
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        f"""
[feeds.{FEED}]
url = "{server.url}"
starttls = true
ca_file = "{server.tls.ca}"
bind_dn = "{server.bind_dn}"
password_env = "{PASSWORD_ENV}"
base_dn = "{BASE}"
""",
        encoding="utf-8",
    )
    done = cli(
        settings,
        "-v",
        "import",
        "ldap",
        "--feed",
        FEED,
        "--full",
        DIRECTORY_FEEDS=str(feeds),
        TEST_TLS_BIND_PASSWORD=password,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert password not in done.stdout + done.stderr
    added = records(settings.database_url, FEED)
    assert len(added) > 200
    # The same entries over plain ldaps: nothing to write.
    again = run(settings, feed_of(server, tls="ldaps", ca=server.tls.ca))
    assert again.ok and again.counts.unchanged == len(added) and again.counts.added == 0


@pytest.mark.parametrize(("tls", "trust"), [("ldaps", "other_ca"), ("starttls", "no_ca_file")])
def test_a_wrong_or_missing_ca_fails_clearly_and_applies_nothing(
    settings: Settings, server: Slapd, password: str, tls: str, trust: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert server.tls is not None and settings.database_url is not None
    url = settings.database_url
    assert run(settings, feed_of(server, tls=tls, ca=server.tls.ca)).ok
    before = snapshot(url)
    caplog.set_level(logging.DEBUG)
    ca = server.tls.other_ca if trust == "other_ca" else None
    failed = run(settings, feed_of(server, tls=tls, ca=ca))
    assert failed.status == "failed"
    assert failed.error is not None
    assert "certificate verify failed" in failed.error
    assert ("StartTLS" if tls == "starttls" else "TLS (ldaps)") in failed.error
    assert (str(ca) if ca is not None else "no ca_file set") in failed.error
    # Nothing applied: not one record removed or written, although the scan read nothing.
    assert snapshot(url)["source_records"] == before["source_records"]
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, error, read, removed, details->>'reason' FROM import_runs"
            " WHERE feed = %s ORDER BY id DESC LIMIT 1",
            (FEED,),
        ).fetchone()
    assert row is not None
    status, error, read, removed, reason = row
    assert (status, read, removed, reason) == ("failed", 0, 0, "tls_failed")
    assert "certificate verify failed" in error
    assert password not in error and password not in failed.error and password not in caplog.text


def test_the_password_never_shows_in_a_failed_tls_run_from_the_cli(
    settings: Settings, server: Slapd, password: str, tmp_path: Path
) -> None:
    assert server.tls is not None
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        f"""
[feeds.{FEED}]
url = "{server.ldaps_url}"
ca_file = "{server.tls.other_ca}"
bind_dn = "{server.bind_dn}"
password_env = "{PASSWORD_ENV}"
base_dn = "{BASE}"
""",
        encoding="utf-8",
    )
    done = cli(
        settings,
        "-v",
        "import",
        "ldap",
        "--feed",
        FEED,
        "--full",
        DIRECTORY_FEEDS=str(feeds),
        TEST_TLS_BIND_PASSWORD=password,
    )
    assert done.returncode == 1
    assert "certificate verify failed" in done.stdout + done.stderr
    assert password not in done.stdout + done.stderr
    status = cli(settings, "import", "status", "--json", DIRECTORY_FEEDS=str(feeds))
    assert '"status": "failed"' in status.stdout and password not in status.stdout
