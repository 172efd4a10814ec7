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

import psycopg

from directory.config import Settings
from directory.db import Database
from directory.errors import DirectoryError
from directory.secrets import Hasher
from importers.errors import FeedConfigError, FeedProblem
from importers.feeds import FeedConfig, FeedsFile
from importers.pipeline import Progress, RunResult, import_ldap, import_ldif
from importers.runs import Counts, Mode, last_success

__all__ = [
    "MATCHING_ENTRY_POINT",
    "FeedTask",
    "NightlyResult",
    "import_all",
    "run_matching_if_available",
    "run_task",
    "run_tasks",
    "start_order",
    "task_for",
    "task_weights",
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
    # Largest first: the pool hands tasks out in submission order, so a large academy submitted
    # last (Versailles, in alphabetical order) would run alone while the other workers sit idle.
    order = start_order(task_weights(db_url, tasks))
    # spawn, not fork: the parent holds a connection pool and its threads.
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_worker_init, initargs=(level,)
    ) as pool:
        futures = {i: pool.submit(run_task, db_url, secret, tasks[i]) for i in order}
        try:
            return [futures[i].result() for i in range(len(tasks))]
        except BaseException:
            # Ctrl-C (or a worker lost): the feeds not started yet must not start. Without this
            # the pool's exit waits for every queued feed, each worker taking the next one.
            pool.shutdown(wait=True, cancel_futures=True)
            raise


LDAP_ENTRY_BYTES = 550
"""About what one person's entry weighs in an LDIF export (694 MB for 1.27 million entries): the
common unit in which LDAP feeds, weighed by entries read, are compared with LDIF files."""


def start_order(weights: list[float]) -> list[int]:
    """Task indexes, heaviest first (equal weights keep the given order): the longest-processing-
    time rule, within a few per cent of the best wall time for independent tasks on a few workers."""
    return sorted(range(len(weights)), key=lambda i: (-weights[i], i))


def task_weights(db_url: str, tasks: list[FeedTask]) -> list[float]:
    """How much work each task is expected to be, in LDIF bytes, to start the largest first.

    An LDIF file weighs its size; an LDAP feed what its last applied run read (an incremental run
    reads the changes only, so a feed whose last run was incremental looks small: the order is a
    heuristic for the wall time, never for correctness). A file that cannot be read or a database
    that does not answer weighs 0: the task itself will report the error.
    """
    weights: list[float] = []
    needs_db = [t.feed.name for t in tasks if t.path is None]
    read: dict[str, int] = {}
    if needs_db:
        try:
            with psycopg.connect(db_url, autocommit=True, connect_timeout=10) as conn:
                for name in needs_db:
                    last = last_success(conn, name)
                    if last is not None:
                        read[name] = last.read
        except psycopg.Error as exc:
            log.warning("feed sizes unknown (%s): feeds start in the given order", type(exc).__name__)
    for task in tasks:
        if task.path is not None:
            try:
                weights.append(float(task.path.stat().st_size))
            except OSError:
                weights.append(0.0)
        else:
            weights.append(float(read.get(task.feed.name, 0) * LDAP_ENTRY_BYTES))
    return weights


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
