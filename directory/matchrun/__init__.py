"""The matching run over the store: records in, persons, links and review candidates out.

``matching`` is a pure library; this package is its only bridge to PostgreSQL. A run
(:mod:`~directory.matchrun.run`):

1. reads the current person records (``kind = 'person'``, not removed) and the records the importers
   queued in ``match_queue`` since the last run (:mod:`~directory.matchrun.read`; with a cache
   directory, only the changed ones, over the table the previous run kept:
   :mod:`~directory.matchrun.tablecache`);
2. reads the human decisions (``match_decisions`` not revoked): hard constraints for the engine;
3. runs the engine: a full run fits the model (kept as JSON in ``match_runs.model``); an
   incremental run re-uses the last model and the previous clusters (derived from ``record_links``)
   and re-matches only what the changes touch, with the same result as a full run;
4. gives person ids (stable: a person keeps its id while its records stay together; a merge keeps
   one and marks the other ``merged`` into it);
5. writes, in ONE transaction, the links that changed, the new and merged persons, the persons'
   display fields and status, the review candidates, and takes what it matched out of the queue;
   then tells the search index (``directory.search.hooks``) and gives new persons a home instance
   (:mod:`~directory.matchrun.write`).

Readers therefore see the previous resolution or the new one, never half of one. What a run did
is its :class:`MatchRunSummary` (:mod:`~directory.matchrun.summary`); the stored resolution is
evaluated against a truth file or exported as CSV by :mod:`~directory.matchrun.export`.
"""

from __future__ import annotations

from directory.matchrun.export import evaluate_against_truth, export_clusters
from directory.matchrun.read import load_records
from directory.matchrun.run import MATCH_LOCK_KEY, run_matching
from directory.matchrun.summary import MatchRunError, MatchRunSummary
from directory.matchrun.tablecache import TABLE_CACHE_FILE

__all__ = [
    "MATCH_LOCK_KEY",
    "TABLE_CACHE_FILE",
    "MatchRunError",
    "MatchRunSummary",
    "evaluate_against_truth",
    "export_clusters",
    "load_records",
    "run_matching",
]
