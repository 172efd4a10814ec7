"""One run of one feed, from reading to the committed result: the importers' public entry points.

``import_ldap`` and ``import_ldif`` (and ``run_feed`` under them) do, in order:

1. open a dedicated session (not a pooled connection: the staging tables and the feed's lock are
   bound to it) and take the feed's lock (``FeedLock``; the second run refuses or waits);
2. record the run as ``running`` in its own committed transaction, and mark the feed's stale
   ``running`` rows (left by a killed process) ``failed``;
3. read → map and validate (``FeedMapper``) → stream into staging (``COPY``), in bounded memory;
   a read that fails (``FeedReadError``) ends the run as ``failed`` with nothing applied;
4. in ONE transaction: plan the difference, check the deletion limit (``refused`` with the figures,
   nothing applied, unless ``force``), apply it and mark the run ``ok``. A dry run plans, rolls back
   and records the plan.

A feed's first load (no record yet: everything is an addition) skips staging: steps 3 and 4 are
one transaction that copies the entries straight into ``source_records`` (``FirstLoad``).

A process killed at any moment leaves the previous state: before step 4's commit nothing of the run
is visible, after it everything is.

An LDIF file identical to the one the feed's last ``ok`` full run imported (same bytes, same
mapping, same hashing secret) is not read again: nothing could change, and the run is recorded
``ok`` with ``details.skipped``. ``recheck=True`` reads it anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from directory.errors import DirectoryError
from directory.secrets import Hasher
from importers.apply import (
    Plan,
    apply_first_load,
    apply_plan,
    build_plan,
    check_limit,
    is_first_load,
    prepare_stage,
)
from importers.errors import DeletionLimitExceeded, FeedReadError
from importers.feedmapper import FeedMapper
from importers.feeds import FeedConfig
from importers.hashkey import check_hash_key
from importers.ldap import LdapReader
from importers.ldif import LdifReader
from importers.mapping import MAPPING_VERSION, Attrs
from importers.runs import (
    Counts,
    FeedLock,
    Mode,
    Status,
    ensure_feed,
    fail_stale_runs,
    finish_run,
    last_success,
    start_run,
)
from importers.stage import FirstLoad, create_stage, stage_entries
from importers.validate import UnparsableRecord

__all__ = ["Progress", "RunResult", "import_ldap", "import_ldif", "run_feed"]

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called every ``progress_every`` entries with the number read so far (and once at the end)."""

Source = Iterable[tuple[str, Attrs] | UnparsableRecord]


@dataclass
class RunResult:
    """How one feed run ended."""

    feed: str
    run_id: int | None
    mode: Mode
    status: Status
    counts: Counts
    dry_run: bool = False
    error: str | None = None
    plan: Plan | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Whether the run succeeded (a dry run that would be refused is not ok)."""
        return self.status == "ok"


def _connect(url: str) -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True, application_name="directory-import")
    return conn


def run_feed(
    db_url: str,
    feed: FeedConfig,
    *,
    hasher: Hasher,
    open_source: Callable[[psycopg.Connection[Any], int], tuple[Mode, Source]],
    mode: Mode,
    dry_run: bool = False,
    force: bool = False,
    wait: bool = False,
    progress: Progress | None = None,
    progress_every: int = 1000,
    fingerprint: str | None = None,
    recheck: bool = False,
) -> RunResult:
    """Run one feed (see the module docstring) and return how it ended.

    ``open_source(conn, run_id)`` gives the mode actually used and the entries to read; it is
    called once the lock is held. Expected failures (``FeedReadError``, the deletion limit, other
    ``DirectoryError``) end as a ``failed`` or ``refused`` result; ``FeedLockedError`` is raised
    (no run is recorded for a run that never started), and so is anything unexpected, after the
    run was recorded ``failed``. ``fingerprint`` identifies the input (LDIF): when the last ``ok``
    full run had the same, nothing is read.
    """
    started = time.monotonic()
    feed.attribute_mapping()  # a bad mapping fails before anything is recorded
    conn = _connect(db_url)
    lock = FeedLock(conn, feed.name)
    try:
        ensure_feed(conn, feed)
        lock.acquire(wait=wait)
        run_id = start_run(conn, feed.name, mode, dry_run=dry_run)
        stale = fail_stale_runs(conn, feed.name, current=run_id)
        if stale:
            log.warning("feed %s: %d interrupted run(s) marked failed", feed.name, stale)
        run = _Run(conn, feed, run_id, mode, dry_run=dry_run, force=force)
        try:
            if fingerprint is not None and not recheck and not dry_run:
                skipped = run.skip_if_unchanged(fingerprint)
                if skipped is not None:
                    skipped.seconds = time.monotonic() - started
                    return skipped
            result = run.execute(hasher, open_source, progress, fingerprint, progress_every)
        except BaseException as exc:
            # Unexpected (a bug, the database gone, Ctrl-C): say so on the run if the session lives.
            if not conn.closed and not conn.broken:
                # If even that fails, the next run marks this one failed.
                with contextlib.suppress(psycopg.Error):
                    finish_run(
                        conn, run_id, status="failed", counts=Counts(), error=f"{type(exc).__name__}: {exc}"
                    )
            raise
        result.seconds = time.monotonic() - started
        return result
    finally:
        with contextlib.suppress(psycopg.Error):  # closing the session releases it anyway
            lock.release()
        conn.close()


class _Run:
    """The steps of one recorded run, on the run's own session."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        feed: FeedConfig,
        run_id: int,
        mode: Mode,
        *,
        dry_run: bool,
        force: bool,
    ) -> None:
        self.conn = conn
        self.feed = feed
        self.run_id = run_id
        self.mode: Mode = mode
        self.dry_run = dry_run
        self.force = force

    def skip_if_unchanged(self, fingerprint: str) -> RunResult | None:
        """Record an ``ok`` run without reading when the input is the last full run's."""
        previous = last_success(self.conn, self.feed.name)
        if previous is None or previous.mode != "full" or previous.details.get("fingerprint") != fingerprint:
            return None
        counts = Counts(
            read=previous.read,
            unchanged=previous.read - previous.quarantined,
            quarantined=previous.quarantined,
        )
        details = {"fingerprint": fingerprint, "skipped": f"input identical to run {previous.id}"}
        finish_run(self.conn, self.run_id, status="ok", counts=counts, details=details)
        log.info("feed %s: input identical to the one of run %d: nothing to do", self.feed.name, previous.id)
        return RunResult(self.feed.name, self.run_id, "full", "ok", counts, skipped=True)

    def execute(
        self,
        hasher: Hasher,
        open_source: Callable[[psycopg.Connection[Any], int], tuple[Mode, Source]],
        progress: Progress | None,
        fingerprint: str | None,
        progress_every: int,
    ) -> RunResult:
        """Read and stage, then plan and apply in one transaction."""
        conn, feed, run_id = self.conn, self.feed, self.run_id
        mapper = FeedMapper(
            feed=feed.name, academy_code=feed.academy_code, mapping=feed.attribute_mapping(), hasher=hasher
        )
        counts = Counts()
        try:
            # before anything is read: a store hashed with another key is refused, not rewritten
            check_hash_key(conn, hasher)
            self.mode, source = open_source(conn, run_id)
            create_stage(conn)
            if not self.dry_run and is_first_load(conn, feed.name):
                return self._first_load(mapper, source, progress, progress_every, fingerprint)
            staged = stage_entries(conn, mapper.map_all(source), on_progress=progress, every=progress_every)
            counts.read = mapper.stats.read
            counts.quarantined = staged.quarantined
            duplicates = prepare_stage(conn, feed.name, repeated_ids=staged.repeated_ids)
        except DirectoryError as exc:
            return self._failed(exc, mapper)
        details, reasons = self._details(mapper, duplicates, fingerprint)
        status: Status = "ok"
        error: str | None = None
        plan: Plan | None = None
        try:
            with conn.transaction() as tx:
                plan = build_plan(conn, feed, self.mode, duplicates=duplicates)
                counts = plan.counts(read=counts.read, quarantined=counts.quarantined)
                details["plan"] = plan.as_dict()
                check_limit(plan, force=self.force)
                if self.dry_run:
                    tx.force_rollback = True
                else:
                    apply_plan(conn, plan, run_id=run_id, mode=self.mode)
                    finish_run(conn, run_id, status="ok", counts=counts, mode=self.mode, details=details)
        except DeletionLimitExceeded as exc:
            status, error = "refused", str(exc)
            details["limit"] = {"would_remove": exc.would_remove, "present": exc.active, "limit": exc.limit}
            log.error("%s", exc)
        if status != "ok" or self.dry_run:
            finish_run(
                conn, run_id, status=status, counts=counts, mode=self.mode, error=error, details=details
            )
        self._log(status, counts)
        return RunResult(feed.name, run_id, self.mode, status, counts, self.dry_run, error, plan, reasons)

    def _first_load(
        self,
        mapper: FeedMapper,
        source: Source,
        progress: Progress | None,
        every: int,
        fingerprint: str | None,
    ) -> RunResult:
        """The feed's first run (no record yet, not a dry run): straight into ``source_records``.

        Reading, copying and recording the run ``ok`` are one transaction, so that a failed read
        (raised from here, after the rollback) or a killed process leaves nothing, as with staging.
        """
        conn, feed, run_id = self.conn, self.feed, self.run_id
        with conn.transaction():
            into = FirstLoad(feed.name, run_id)
            staged = stage_entries(conn, mapper.map_all(source), on_progress=progress, every=every, into=into)
            plan = apply_first_load(
                conn, feed, run_id=run_id, mode=self.mode, added=staged.entries, duplicates=staged.duplicates
            )
            counts = plan.counts(read=mapper.stats.read, quarantined=staged.quarantined)
            details, reasons = self._details(mapper, staged.duplicates, fingerprint)
            details["plan"] = plan.as_dict()
            finish_run(conn, run_id, status="ok", counts=counts, mode=self.mode, details=details)
        self._log("ok", counts)
        return RunResult(feed.name, run_id, self.mode, "ok", counts, False, None, plan, reasons)

    def _failed(self, exc: DirectoryError, mapper: FeedMapper) -> RunResult:
        """Record a run whose read (or staging) failed: nothing was applied."""
        feed = self.feed.name
        counts = Counts(read=mapper.stats.read, quarantined=sum(mapper.stats.quarantined.values()))
        # The read error's stable code (server_down, tls_failed, timeout...) for monitoring.
        failure = {"reason": exc.reason} if isinstance(exc, FeedReadError) else None
        finish_run(
            self.conn,
            self.run_id,
            status="failed",
            counts=counts,
            mode=self.mode,
            error=str(exc),
            details=failure,
        )
        log.error("feed %s: %s; nothing applied", feed, exc)
        return RunResult(feed, self.run_id, self.mode, "failed", counts, self.dry_run, str(exc))

    @staticmethod
    def _details(
        mapper: FeedMapper, duplicates: int, fingerprint: str | None
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """The run's ``details`` (quarantine reasons, fingerprint, flags) and its reasons."""
        reasons = dict(mapper.stats.quarantined)
        if duplicates:
            reasons["duplicate_id"] = duplicates
        details: dict[str, Any] = {"quarantine_reasons": reasons}
        if fingerprint is not None:
            details["fingerprint"] = fingerprint
        if mapper.stats.flags:
            details["flags"] = dict(mapper.stats.flags.most_common())
        return details, reasons

    def _log(self, status: Status, counts: Counts) -> None:
        log.info(
            "feed %s: %s%s: read %d, added %d, updated %d, removed %d, unchanged %d, quarantined %d",
            self.feed.name,
            status,
            " (dry run)" if self.dry_run else "",
            counts.read,
            counts.added,
            counts.updated,
            counts.removed,
            counts.unchanged,
            counts.quarantined,
        )


def import_ldap(
    db_url: str,
    feed: FeedConfig,
    *,
    hasher: Hasher,
    mode: Mode = "incremental",
    dry_run: bool = False,
    force: bool = False,
    wait: bool = False,
    progress: Progress | None = None,
    progress_every: int = 1000,
) -> RunResult:
    """Import an LDAP feed. Incremental reads what changed since the last successful run (minus
    the feed's overlap) and never removes; with no successful run yet it is a full scan."""
    mapping = feed.attribute_mapping()

    def open_source(conn: psycopg.Connection[Any], run_id: int) -> tuple[Mode, Source]:
        since: datetime | None = None
        actual: Mode = mode
        if mode == "incremental":
            previous = last_success(conn, feed.name)
            if previous is None:
                log.info(
                    "feed %s: no successful run yet: a full scan instead of an incremental one", feed.name
                )
                actual = "full"
            else:
                since = previous.start - timedelta(minutes=feed.overlap_minutes)
                log.info("feed %s: entries changed since %s", feed.name, since.isoformat())
        return actual, LdapReader(feed, mapping=mapping, since=since)

    return run_feed(
        db_url,
        feed,
        hasher=hasher,
        open_source=open_source,
        mode=mode,
        dry_run=dry_run,
        force=force,
        wait=wait,
        progress=progress,
        progress_every=progress_every,
    )


def file_fingerprint(path: Path, feed: FeedConfig, hasher: Hasher) -> str:
    """What makes two imports of an LDIF file give the same records: the file's bytes, the feed's
    mapping and academy, the mapping rules' version and the hashing secret (as a keyed hash)."""
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    context = repr(
        (MAPPING_VERSION, feed.academy_code, sorted(feed.mapping.items()), hasher.hash("fingerprint", ""))
    )
    digest.update(context.encode())
    return digest.hexdigest()


def import_ldif(
    db_url: str,
    path: Path,
    feed: FeedConfig,
    *,
    hasher: Hasher,
    dry_run: bool = False,
    force: bool = False,
    wait: bool = False,
    progress: Progress | None = None,
    progress_every: int = 1000,
    recheck: bool = False,
) -> RunResult:
    """Import one LDIF export as a full scan of ``feed``."""
    mapping = feed.attribute_mapping()
    try:
        fingerprint: str | None = file_fingerprint(path, feed, hasher)
    except OSError:
        fingerprint = None  # the reader reports the problem as a failed run

    def open_source(conn: psycopg.Connection[Any], run_id: int) -> tuple[Mode, Source]:
        return "full", LdifReader(path, mapping=mapping, feed=feed.name)

    return run_feed(
        db_url,
        feed,
        hasher=hasher,
        open_source=open_source,
        mode="full",
        dry_run=dry_run,
        force=force,
        wait=wait,
        progress=progress,
        progress_every=progress_every,
        fingerprint=fingerprint,
        recheck=recheck,
    )
