"""Full and incremental linking: prepare, block, (fit), score, cluster; and person ids after it.

:func:`link_full` matches every record against every other through blocking. :func:`link_incremental`
re-matches only what a set of changes touches and gives the same clusters as :func:`link_full`
would on the same records with the same model (tested). How it finds what a change touches:

1. the changed, new and removed records, and every record a human constraint names;
2. the previous clusters of those records (a removed or changed record may have been the link
   that held its cluster together);
3. the records of every block whose pairs may differ from the previous run: blocks holding a
   touched record, and blocks the previous run skipped as too large and that are now small
   enough (the state keeps their names);
4. then, until nothing is added, the previous clusters of every record linked to the region.

Clustering depends only on the links inside a connected group of records (see ``cluster``), and
the region is closed under links, so clusters outside it are those of the previous run.

The model (m, u, term frequencies) must be the same for both kinds of run to agree: the runner
fits one on a full run (:func:`matching.model.fit_model`, or ``link_full`` with ``model=None``)
and keeps it as JSON for the incremental runs that follow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .cluster import LINK, REVIEW, Clustering, Constraints, cluster
from .compare import DEFAULT_NEIGHBOURS
from .errors import IncrementalStateError
from .features import RecordTable, build_table
from .identity import IdentityChange, assign_identities
from .keys import (
    BlockingStats,
    CandidatePairs,
    block_index,
    candidate_pairs,
    rows_in_blocks,
    rows_sharing_blocks,
)
from .model import Model, fit_model
from .records import Record
from .scoring import (
    PairExplanation,
    ScoredPairs,
    TransferPrior,
    departing,
    departure_anchor,
    score_pairs,
    transfer_in_progress,
    transfer_prior,
)

__all__ = [
    "MatchResult",
    "MatchSettings",
    "MatchState",
    "PairDecision",
    "assign_person_ids",
    "link_full",
    "link_incremental",
]

P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Thresholds and bounds of a run (the defaults are those measured in ``docs/benchmarks.md``)."""

    link_threshold: float = 0.95
    """Match probability from which a pair is linked."""
    review_threshold: float = 0.5
    """Match probability from which a pair below the link threshold is queued for review."""
    max_block_size: int = 100
    """Blocks with more records are skipped (their names are kept, see ``BlockingStats``)."""
    random_pairs: int = 400_000
    """Random pairs drawn to estimate u when fitting."""
    seed: int = 0
    neighbours: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_NEIGHBOURS))
    """Academy code → neighbouring academy codes."""


DEFAULT_SETTINGS = MatchSettings()
NO_CONSTRAINTS = Constraints()


@dataclass(slots=True)
class MatchState:
    """What an incremental run needs from the previous run; JSON-serialisable."""

    clusters: dict[int, int]
    """Record id → cluster label (the smallest record id of its cluster)."""
    oversize_keys: list[str] = field(default_factory=list)
    """Blocks the previous run skipped as larger than the bound."""
    departure_anchor: int | None = None
    """The previous run's "now" for departures (:func:`matching.scoring.departure_anchor`); None
    when unknown (then every recent departure is re-matched)."""

    def to_json(self) -> str:
        """The state as JSON."""
        return json.dumps(
            {
                "clusters": [[r, c] for r, c in self.clusters.items()],
                "oversize": self.oversize_keys,
                "departure_anchor": self.departure_anchor,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> MatchState:
        """Read a state written by :meth:`to_json`."""
        try:
            doc = json.loads(text)
            anchor = doc.get("departure_anchor")
            return cls(
                clusters={int(r): int(c) for r, c in doc["clusters"]},
                oversize_keys=[str(k) for k in doc["oversize"]],
                departure_anchor=None if anchor is None else int(anchor),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IncrementalStateError(f"malformed matching state: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PairDecision:
    """A linked or reviewable pair, by record ids."""

    left_id: int
    right_id: int
    match_probability: float
    match_weight: float
    decision: str
    """``link`` or ``review``."""
    reason: str | None = None
    """Why a pair above the link threshold was refused and queued instead (a chaining guard)."""


@dataclass(slots=True)
class MatchResult:
    """Everything a run produced."""

    clusters: dict[int, int]
    """Record id → cluster label (the smallest record id of its cluster), for every current record."""
    model: Model
    table: RecordTable
    scored: ScoredPairs
    """The pairs scored by this run (all candidates in a full run, the region's in an incremental one)."""
    clustering: Clustering
    blocking: BlockingStats
    state: MatchState
    timings: dict[str, float]
    """Seconds per stage: prepare, blocking, fit, scoring, clustering, total (incremental runs:
    prepare, region, clustering, total)."""
    rematched: frozenset[int] | None = None
    """Incremental runs: the record ids that were re-matched (None for a full run)."""
    cpu_timings: dict[str, float] = field(default_factory=dict)
    """CPU seconds of this process per stage, same keys as ``timings`` (on a shared machine the
    steadier figure; rapidfuzz's batch calls may use several cores)."""

    def decisions(self) -> list[PairDecision]:
        """The linked and reviewable pairs (distinct pairs are left out)."""
        ids, s = self.table.ids, self.scored
        reasons = {r.pair: r.reason for r in self.clustering.refused}
        out = []
        for k in np.flatnonzero(self.clustering.decisions >= REVIEW).tolist():
            d = int(self.clustering.decisions[k])
            out.append(
                PairDecision(
                    left_id=int(ids[s.left[k]]),
                    right_id=int(ids[s.right[k]]),
                    match_probability=float(s.match_probability[k]),
                    match_weight=float(s.match_weight[k]),
                    decision="link" if d == LINK else "review",
                    reason=reasons.get(k),
                )
            )
        return out

    def explain(self, left_id: int, right_id: int) -> PairExplanation | None:
        """The explanation of the pair of these two records, when this run scored it."""
        rows = self.table.row_of()
        a, b = rows.get(left_id), rows.get(right_id)
        if a is None or b is None:
            return None
        lo, hi = min(a, b), max(a, b)
        hit = np.flatnonzero((self.scored.left == lo) & (self.scored.right == hi))
        return self.scored.explain(int(hit[0])) if len(hit) else None

    def groups(self, record_ids: Iterable[int] | None = None) -> list[list[int]]:
        """Clusters as lists of record ids (only those holding one of ``record_ids`` when given)."""
        wanted: set[int] | None = None
        if record_ids is not None:
            # only the wanted clusters' lists are built: an incremental run wants a few thousand
            wanted = {self.clusters[r] for r in record_ids if r in self.clusters}
        by_label: dict[int, list[int]] = {}
        for rid, lab in self.clusters.items():
            if wanted is None or lab in wanted:
                by_label.setdefault(lab, []).append(rid)
        return list(by_label.values())


class _Clock:
    """Wall and CPU seconds of consecutive stages."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        self.last, self.cpu_last = self.start, self.cpu_start

    def lap(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.wall[name], self.cpu[name] = now - self.last, cpu - self.cpu_last
        self.last, self.cpu_last = now, cpu

    def done(self) -> None:
        self.wall["total"] = time.perf_counter() - self.start
        self.cpu["total"] = time.process_time() - self.cpu_start


def _labels(table: RecordTable, clustering: Clustering) -> dict[int, int]:
    return dict(zip(table.ids.tolist(), clustering.labels.tolist(), strict=True))


def _table(records: Sequence[Record] | RecordTable) -> RecordTable:
    return records if isinstance(records, RecordTable) else build_table(records)


def _score(
    model: Model,
    table: RecordTable,
    pairs: CandidatePairs,
    departs: npt.NDArray[np.bool_],
    settings: MatchSettings,
    prior: TransferPrior | None,
) -> ScoredPairs:
    """Score the candidate pairs, then let a departing record's transfer win (as both runs do)."""
    scored = score_pairs(model, table, pairs.left, pairs.right, neighbours=settings.neighbours)
    return transfer_in_progress(table, scored, departs, link_threshold=settings.link_threshold, prior=prior)


def _cluster(
    table: RecordTable, scored: ScoredPairs, constraints: Constraints, settings: MatchSettings
) -> Clustering:
    return cluster(
        table,
        scored,
        link_threshold=settings.link_threshold,
        review_threshold=settings.review_threshold,
        constraints=constraints,
    )


def _result(
    clock: _Clock,
    clusters: dict[int, int],
    model: Model,
    table: RecordTable,
    scored: ScoredPairs,
    clustering: Clustering,
    pairs: CandidatePairs,
    anchor: int | None,
    rematched: frozenset[int] | None = None,
) -> MatchResult:
    """The run's result, its clock stopped; ``rematched`` for an incremental run."""
    clock.done()
    return MatchResult(
        clusters=clusters,
        model=model,
        table=table,
        scored=scored,
        clustering=clustering,
        blocking=pairs.stats,
        state=MatchState(clusters=clusters, oversize_keys=pairs.oversize_keys, departure_anchor=anchor),
        timings=clock.wall,
        cpu_timings=clock.cpu,
        rematched=rematched,
    )


def link_full(
    records: Sequence[Record] | RecordTable,
    *,
    model: Model | None = None,
    constraints: Constraints = NO_CONSTRAINTS,
    settings: MatchSettings = DEFAULT_SETTINGS,
) -> MatchResult:
    """Match all ``records`` (or a table already built from them); fit a model first when none is given.

    Fitting also estimates the transfer prior (π and N of ``scoring.transfer_in_progress``) and keeps
    it in the model's ``stats``; a given model's prior is used as it is (one fitted before the prior
    was kept gets it estimated from these records, as incremental runs then do).
    """
    clock = _Clock()
    table = _table(records)
    clock.lap("prepare")
    pairs = candidate_pairs(table, max_block_size=settings.max_block_size)
    clock.lap("blocking")
    departs = departing(table)
    if model is None:
        model = fit_model(
            table, random_pairs=settings.random_pairs, seed=settings.seed, neighbours=settings.neighbours
        )
        model.stats.update(transfer_prior(table, departs).to_stats())
    clock.lap("fit")
    scored = _score(model, table, pairs, departs, settings, TransferPrior.from_stats(model.stats))
    clock.lap("scoring")
    clustering = _cluster(table, scored, constraints, settings)
    clusters = _labels(table, clustering)
    clock.lap("clustering")
    return _result(clock, clusters, model, table, scored, clustering, pairs, departure_anchor(table))


def link_incremental(
    records: Sequence[Record] | RecordTable,
    previous: MatchState,
    *,
    changed: Iterable[int],
    removed: Iterable[int] = (),
    model: Model,
    constraints: Constraints = NO_CONSTRAINTS,
    settings: MatchSettings = DEFAULT_SETTINGS,
    previous_keys: npt.NDArray[np.int64] | None = None,
) -> MatchResult:
    """Re-match what changed since ``previous``; the clusters equal those of a full run with ``model``.

    ``records`` is the full current record set (or its table: the previous run's table brought
    up to date with :func:`matching.features.update_table` saves preparing every record again);
    ``changed`` the ids of records whose content
    changed (new records and records absent from ``records`` are found by comparing with the state,
    so ``removed`` is only a cross-check and may be left empty).

    ``previous_keys``: the block keys (:func:`matching.keys.block_keys` of their previous rows, in
    this table's codes) that the changed and removed records had before. With them, and a model and
    state that keep the transfer prior and the departure anchor, only the recent departures whose
    candidates may have changed are re-matched; without, every recent departure is.
    """
    clock = _Clock()
    table = _table(records)
    row = table.row_of()
    n = len(table)
    clock.lap("prepare")

    # previous cluster label of each row (-1: a new record), by one sort instead of a dict per row
    prev_ids = np.fromiter(previous.clusters.keys(), dtype=np.int64, count=len(previous.clusters))
    prev_labels = np.fromiter(previous.clusters.values(), dtype=np.int64, count=len(previous.clusters))
    by_id = np.argsort(prev_ids, kind="stable")
    prev_ids, prev_labels = prev_ids[by_id], prev_labels[by_id]
    pos = np.minimum(np.searchsorted(prev_ids, table.ids), max(len(prev_ids) - 1, 0))
    known = prev_ids[pos] == table.ids if len(prev_ids) else np.zeros(n, dtype=np.bool_)
    label_of_row = np.where(known, prev_labels[pos] if len(prev_ids) else -1, -1)

    def rows_of_clusters(labels: Iterable[int]) -> npt.NDArray[np.bool_]:
        """The current rows of these previous clusters."""
        wanted = np.fromiter(labels, dtype=np.int64)
        out: npt.NDArray[np.bool_] = known & np.isin(label_of_row, wanted)
        return out

    gone = (previous.clusters.keys() - row.keys()) | set(removed)
    still_there = [r for r in removed if r in row]
    if still_there:
        raise IncrementalStateError(f"records {still_there[:5]} are said removed but are still given")
    touched_ids = set(changed) | (row.keys() - previous.clusters.keys()) | constraints.record_ids()
    touched = np.zeros(n, dtype=np.bool_)
    touched[[row[r] for r in touched_ids if r in row]] = True
    old_labels = {previous.clusters[r] for r in touched_ids | gone if r in previous.clusters}
    index = block_index(table)
    region = rows_sharing_blocks(
        table,
        touched,
        max_block_size=settings.max_block_size,
        previous_oversize=previous.oversize_keys,
        index=index,
    )
    region |= rows_of_clusters(old_labels)
    seen_labels: set[int] = set(old_labels)

    def absorb_clusters(rows_: npt.NDArray[np.int64]) -> None:
        """Add the previous clusters of these rows (all their current records) to the region."""
        labels = set(label_of_row[rows_].tolist()) - seen_labels
        if labels:
            seen_labels.update(labels)
            region[rows_of_clusters(labels)] = True

    # Whether a recent departure is linked depends on all of its live candidates
    # (``scoring.transfer_in_progress``): it is re-matched when one of them may have changed.
    departs = departing(table)
    anchor = departure_anchor(table)
    prior = TransferPrior.from_stats(model.stats)
    if prior is None or previous.departure_anchor is None or previous_keys is None:
        # π and N would follow the data, or the rivals' old blocks are unknown: every one
        region |= departs
    else:
        if anchor != previous.departure_anchor:
            # "now" moved: the records that started or stopped being recent departures
            region |= departs ^ departing(table, anchor=previous.departure_anchor)
        # a candidate that changed or appeared shares a block with it now (in the region above);
        # one that changed or left shared one with it before
        region |= departs & rows_in_blocks(
            table,
            previous_keys,
            max_block_size=settings.max_block_size,
            previous_oversize=previous.oversize_keys,
            index=index,
        )
    absorb_clusters(np.flatnonzero(region & known))
    while True:
        pairs = candidate_pairs(table, max_block_size=settings.max_block_size, focus=region, index=index)
        scored = _score(model, table, pairs, departs, settings, prior)
        linked = scored.match_probability >= settings.link_threshold
        ends = np.r_[scored.left[linked], scored.right[linked]].astype(np.int64)
        outside = ends[~region[ends]]
        if not len(outside):
            break
        region[outside] = True
        absorb_clusters(outside[known[outside]])
    # blocking and scoring alternate while the region closes: timed together
    clock.lap("region")

    # Every linked pair lies inside the region now; the pairs reaching out of it are reviews or
    # distinct pairs, kept so that the review queue is the one a full run gives.
    clustering = _cluster(table, scored, constraints, settings)
    # outside the region: previous clusters, relabelled by their smallest current record id
    outside_rows = np.flatnonzero(~region)
    out_ids, out_labels = table.ids[outside_rows], label_of_row[outside_rows]
    order = np.lexsort((out_ids, out_labels))  # by label, then id: a label's first is its smallest
    starts = (
        np.flatnonzero(np.r_[True, out_labels[order][1:] != out_labels[order][:-1]]) if len(order) else order
    )
    smallest = np.repeat(out_ids[order][starts], np.diff(np.r_[starts, len(order)]))
    clusters: dict[int, int] = dict(zip(out_ids[order].tolist(), smallest.tolist(), strict=True))
    region_rows = np.flatnonzero(region)
    for rid, lab in zip(
        table.ids[region_rows].tolist(), clustering.labels[region_rows].tolist(), strict=True
    ):
        clusters[rid] = lab
    clock.lap("clustering")
    return _result(
        clock,
        clusters,
        model,
        table,
        scored,
        clustering,
        pairs,
        anchor,
        frozenset(table.ids[region_rows].tolist()),
    )


def assign_person_ids(
    result: MatchResult,
    previous: Mapping[int, P],
    mint: Callable[[], P],
) -> IdentityChange[P]:
    """Person ids for the result's clusters, keeping the previous ones (see :mod:`matching.identity`).

    ``previous`` maps record ids to person ids (the last stored assignment). After an incremental
    run only the re-matched clusters are reconsidered; every other record keeps its person id.
    """
    if result.rematched is None:
        return assign_identities(previous, result.groups(), mint)
    region = result.rematched
    region_persons = {previous[r] for r in region if r in previous}
    # the previous persons of the region, with their removed records (to tell merged from retired)
    prev_region = {r: p for r, p in previous.items() if p in region_persons or (r not in result.clusters)}
    change = assign_identities(prev_region, result.groups(region), mint)
    assignment = {r: p for r, p in previous.items() if r in result.clusters and r not in region}
    assignment.update(change.assignment)
    change.assignment = assignment
    return change
