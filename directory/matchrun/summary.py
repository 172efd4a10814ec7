"""What a matching run reports: its error, its summary (``match_runs.stats``) and how it times its
steps."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any

from directory.errors import DirectoryError

__all__ = ["Laps", "MatchRunError", "MatchRunSummary", "peak_rss_mb"]


class MatchRunError(DirectoryError):
    """A matching run could not start or complete (another run holds the lock, bad state...)."""

    status = 409
    code = "match_run_error"


@dataclass(slots=True)
class MatchRunSummary:
    """What one run did, as recorded in ``match_runs.stats``."""

    run_id: int
    mode: str
    records: int = 0
    rematched: int = 0
    pairs_scored: int = 0
    linked_pairs: int = 0
    review_pairs: int = 0
    links_written: int = 0
    persons_created: int = 0
    persons_merged: int = 0
    persons_split: int = 0
    persons_retired: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: read, engine_* (the engine's own stages), write and write_* (its
    steps), total; ``cpu`` is this process's CPU seconds for the whole run (PostgreSQL's work is
    not in it)."""
    table_cache: str = "off"
    """Whether the previous run's prepared table was used: ``used``, ``missing``, ``stale``,
    ``unreadable``, ``full run`` (never used by a full run) or ``off`` (no cache directory)."""
    peak_rss_mb: int = 0
    """Peak resident memory of this process so far (MB)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (also what ``directory match`` prints)."""
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "records": self.records,
            "rematched": self.rematched,
            "pairs_scored": self.pairs_scored,
            "linked_pairs": self.linked_pairs,
            "review_pairs": self.review_pairs,
            "links_written": self.links_written,
            "persons_created": self.persons_created,
            "persons_merged": self.persons_merged,
            "persons_split": self.persons_split,
            "persons_retired": self.persons_retired,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "table_cache": self.table_cache,
            "peak_rss_mb": self.peak_rss_mb,
        }


class Laps:
    """Wall seconds of consecutive steps, into ``timings`` under ``prefix + name``."""

    def __init__(self, timings: dict[str, float], prefix: str) -> None:
        self.timings, self.prefix, self.last = timings, prefix, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[self.prefix + name] = now - self.last
        self.last = now


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far (MB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
