"""The nightly job, ``directory import all``: every configured feed, each on its own, then matching.

Each feed runs in isolation: a feed that fails (server down, bad password, a broken file) or is
refused (deletion limit) is recorded and reported, and the next feed runs all the same, so one
broken academy never keeps the 29 others stale. The job fails (exit code 1) when any feed did.

LDAP feeds run incrementally unless ``full`` (a weekly full scan is what notices who left; see
``docs/operations.md``); LDIF feeds always are full scans of their file.

Then, unless it is a dry run, the records the feeds changed (``source_records.match_pending``) go
to matching: ``directory.matchrun.run_matching`` when that module exists (the matching issue
provides it), imported lazily so that the importers work without it.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from directory.config import Settings
from directory.db import Database
from directory.errors import DirectoryError
from directory.secrets import Hasher
from importers.errors import FeedConfigError, FeedProblem
from importers.feeds import FeedConfig, FeedsFile
from importers.pipeline import Progress, RunResult, import_ldap, import_ldif
from importers.runs import Counts

__all__ = ["MATCHING_ENTRY_POINT", "NightlyResult", "import_all", "run_matching_if_available"]

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
) -> NightlyResult:
    """Run every feed of ``feeds`` (isolated), then matching if available and not a dry run.

    Each feed runs on its own session of ``db``'s server; matching gets ``db`` itself.
    """
    started = time.monotonic()
    db_url = db.url
    hasher = Hasher(settings.hashing_secret())
    nightly = NightlyResult()
    if not len(feeds):
        raise FeedConfigError(
            [FeedProblem("*", "DIRECTORY_FEEDS", "no feed configured (set DIRECTORY_FEEDS)")]
        )
    for feed in feeds:
        mode = "full" if full or feed.kind == "ldif" else "incremental"
        log.info("feed %s: %s import (%s)", feed.name, mode, feed.kind)
        on_progress = progress(feed) if progress else None
        try:
            if feed.kind == "ldif":
                if feed.path is None:
                    raise FeedConfigError([FeedProblem(feed.name, "path", "an ldif feed needs a path")])
                result = import_ldif(
                    db_url, feed.path, feed, hasher=hasher, dry_run=dry_run, force=force, progress=on_progress
                )
            else:
                result = import_ldap(
                    db_url,
                    feed,
                    hasher=hasher,
                    mode="full" if full else "incremental",
                    dry_run=dry_run,
                    force=force,
                    progress=on_progress,
                )
        except DirectoryError as exc:  # locked, misconfigured: recorded here, the next feed runs
            log.error("feed %s: %s", feed.name, exc)
            result = _failed(feed, mode, str(exc))
        except Exception as exc:  # a bug or a lost database must not stop the other academies
            log.exception("feed %s: unexpected error", feed.name)
            result = _failed(feed, mode, f"{type(exc).__name__}: {exc}")
        nightly.results.append(result)
    if matching and not dry_run:
        try:
            nightly.matching = run_matching_if_available(db)
        except Exception as exc:  # the imports are committed; matching's failure is reported
            log.exception("matching failed")
            nightly.matching, nightly.matching_failed = f"failed: {type(exc).__name__}: {exc}", True
    nightly.seconds = time.monotonic() - started
    return nightly


def run_matching_if_available(db: Database) -> str:
    """Call ``directory.matchrun.run_matching(db)`` (incremental) if it exists; a line saying what
    happened. Imported lazily: the importers do not depend on matching."""
    module_name, function_name = MATCHING_ENTRY_POINT
    try:
        module = importlib.import_module(module_name)
        run: Callable[..., Any] = getattr(module, function_name)
    except (ImportError, AttributeError):
        log.info("matching is not available (%s.%s not found): skipped", module_name, function_name)
        return "skipped: matching not available"
    log.info("matching the changed records")
    outcome = run(db)
    return f"done: {outcome}" if outcome is not None else "done"
