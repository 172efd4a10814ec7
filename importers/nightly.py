"""The nightly job, ``directory import all``: every configured feed, each on its own, then matching.

Each feed runs in isolation: a feed that fails (server down, bad password, a broken file) or is
refused (deletion limit) is recorded and reported, and the next feed runs all the same, so one
broken academy never keeps the 29 others stale. The job fails (exit code 1) when any feed did.

LDAP feeds run incrementally unless ``full`` (a weekly full scan is what notices who left; see
``docs/operations.md``); LDIF feeds always are full scans of their file.

Then, unless it is a dry run, the records the feeds changed (their ids in ``match_queue``) go
to matching: ``directory.matchrun.run_matching`` when that module exists (the matching issue
provides it), imported lazily so that the importers work without it.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from directory.config import Settings
from directory.db import Database
from directory.errors import DirectoryError
from directory.secrets import Hasher
from importers.errors import FeedConfigError, FeedProblem
from importers.feeds import FeedConfig, FeedsFile
from importers.pipeline import Progress, RunResult, import_ldap, import_ldif
from importers.runs import Counts, Mode

__all__ = [
    "MATCHING_ENTRY_POINT",
    "FeedTask",
    "NightlyResult",
    "import_all",
    "run_matching_if_available",
    "run_task",
    "run_tasks",
    "task_for",
]

log = logging.getLogger(__name__)

MATCHING_ENTRY_POINT = ("directory.matchrun", "run_matching")
"""Where matching is looked for after the imports: module and function."""


@dataclass
class NightlyResult:
    """Every feed's result, and what matching did."""

    results: list[RunResult] = field(default_factory=list)
    matching: str = "not run"
    matching_failed: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every feed ended ``ok`` and matching, if it ran, did not fail."""
        return all(r.ok for r in self.results) and not self.matching_failed

    @property
    def changed(self) -> int:
        """Records added, updated or removed by all feeds together."""
        return sum(
            r.counts.added + r.counts.updated + r.counts.removed for r in self.results if not r.dry_run
        )


def _failed(feed: FeedConfig, mode: str, error: str) -> RunResult:
    return RunResult(
        feed.name, None, "full" if mode == "full" else "incremental", "failed", Counts(), error=error
    )


@dataclass(frozen=True)
class FeedTask:
    """One feed to run: an LDAP feed in a mode, or an LDIF file."""

    feed: FeedConfig
    mode: Mode = "incremental"
    path: Path | None = None
    """The LDIF file (``None``: the feed is read over LDAP)."""
    dry_run: bool = False
    force: bool = False
    wait: bool = False
    recheck: bool = False


def task_for(feed: FeedConfig, *, full: bool = False, **options: bool) -> FeedTask:
    """The task of a configured feed: LDIF feeds read their ``path``, LDAP feeds are incremental
    unless ``full``."""
    if feed.kind == "ldif":
        return FeedTask(feed, "full", feed.path, **options)
    return FeedTask(feed, "full" if full else "incremental", None, **options)


def run_task(db_url: str, secret: str, task: FeedTask, progress: Progress | None = None) -> RunResult:
    """Run one task; never raises: whatever goes wrong becomes a ``failed`` result."""
    feed = task.feed
    log.info("feed %s: %s import (%s)", feed.name, task.mode, feed.kind)
    try:
        hasher = Hasher(secret)
        if feed.kind == "ldif" or task.path is not None:
            if task.path is None:
                raise FeedConfigError([FeedProblem(feed.name, "path", "an ldif feed needs a path")])
            return import_ldif(
                db_url,
                task.path,
                feed,
                hasher=hasher,
                dry_run=task.dry_run,
                force=task.force,
                wait=task.wait,
                progress=progress,
                recheck=task.recheck,
            )
        return import_ldap(
            db_url,
            feed,
            hasher=hasher,
            mode=task.mode,
            dry_run=task.dry_run,
            force=task.force,
            wait=task.wait,
            progress=progress,
        )
    except DirectoryError as exc:  # locked, misconfigured: recorded here, the next feed runs
        log.error("feed %s: %s", feed.name, exc)
        return _failed(feed, task.mode, str(exc))
    except Exception as exc:  # a bug or a lost database must not stop the other academies
        log.exception("feed %s: unexpected error", feed.name)
        return _failed(feed, task.mode, f"{type(exc).__name__}: {exc}")


def _worker_init(level: int) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def run_tasks(
    db_url: str,
    secret: str,
    tasks: list[FeedTask],
    *,
    jobs: int = 1,
    progress: Callable[[FeedConfig], Progress | None] | None = None,
) -> list[RunResult]:
    """Run tasks one after the other, or ``jobs`` at a time in worker processes; results in order.

    Feeds are independent (each has its own lock, session and transaction), so running several at
    once only shares the machine: on two cores, two LDIF files import in about the time of one.
    Worker processes log plain lines (no progress bar).
    """
    if jobs <= 1 or len(tasks) <= 1:
        return [run_task(db_url, secret, t, progress(t.feed) if progress else None) for t in tasks]
    # spawn, not fork: the parent holds a connection pool and its threads.
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_worker_init, initargs=(level,)
    ) as pool:
        futures = [pool.submit(run_task, db_url, secret, t) for t in tasks]
        try:
            return [f.result() for f in futures]
        except BaseException:
            # Ctrl-C (or a worker lost): the feeds not started yet must not start. Without this
            # the pool's exit waits for every queued feed, each worker taking the next one.
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def import_all(
    db: Database,
    feeds: FeedsFile,
    *,
    settings: Settings,
    full: bool = False,
    dry_run: bool = False,
    force: bool = False,
    progress: Callable[[FeedConfig], Progress | None] | None = None,
    matching: bool = True,
    jobs: int = 1,
) -> NightlyResult:
    """Run every feed of ``feeds`` (isolated, ``jobs`` at a time), then matching if available and
    not a dry run. Each feed runs on its own session of ``db``'s server; matching gets ``db``."""
    started = time.monotonic()
    nightly = NightlyResult()
    if not len(feeds):
        raise FeedConfigError(
            [FeedProblem("*", "DIRECTORY_FEEDS", "no feed configured (set DIRECTORY_FEEDS)")]
        )
    tasks = [task_for(feed, full=full, dry_run=dry_run, force=force) for feed in feeds]
    nightly.results = run_tasks(db.url, settings.hashing_secret(), tasks, jobs=jobs, progress=progress)
    if matching and not dry_run:
        try:
            # the same inputs as ``directory match``: the instances file and the kept table
            nightly.matching = run_matching_if_available(
                db, instances_file=settings.instances, cache_dir=settings.data_dir / "match-cache"
            )
        except Exception as exc:  # the imports are committed; matching's failure is reported
            log.exception("matching failed")
            nightly.matching, nightly.matching_failed = f"failed: {type(exc).__name__}: {exc}", True
    nightly.seconds = time.monotonic() - started
    return nightly


def run_matching_if_available(db: Database, **options: Any) -> str:
    """Call ``directory.matchrun.run_matching(db, **options)`` (incremental) if it exists; a line
    saying what happened. Imported lazily: the importers do not depend on matching."""
    module_name, function_name = MATCHING_ENTRY_POINT
    try:
        module = importlib.import_module(module_name)
        run: Callable[..., Any] = getattr(module, function_name)
    except (ImportError, AttributeError):
        log.info("matching is not available (%s.%s not found): skipped", module_name, function_name)
        return "skipped: matching not available"
    log.info("matching the changed records")
    outcome = run(db, **options)
    return f"done: {outcome}" if outcome is not None else "done"
