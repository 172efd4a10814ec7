"""Scoring candidate pairs with a model, and explaining any one of them.

A :class:`ScoredPairs` keeps, for every pair, the level of each comparison, the total match weight
and the match probability, all as numpy arrays; :meth:`ScoredPairs.explain` turns one pair into a
:class:`PairExplanation` that lists each comparison's level label and weight (the TF adjustment
included), which is what the review screen and the logs show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .compare import COMPARISONS, DEFAULT_NEIGHBOURS, compare
from .features import MISSING, RecordTable, build_table
from .model import Model, vectors_weights
from .records import Record

__all__ = [
    "TRANSFER_WINDOW_DAYS",
    "ComparisonExplanation",
    "PairExplanation",
    "ScoredPairs",
    "TransferPrior",
    "departing",
    "departure_anchor",
    "probability",
    "score_pairs",
    "transfer_in_progress",
    "transfer_prior",
]

TRANSFER_WINDOW_DAYS = 183
"""A record that left its post at most this many days before the latest departure in the data is a
transfer in progress (the reference: "both entries exist for weeks or months")."""

TRANSFER_SHARE_MAX = 0.99
"""Cap of the estimated share of recent departures that have a live record elsewhere."""

TRANSFER_MIN_ANCHORS = 20
"""Fewer recent departures carrying a NUMEN than this: too few to estimate that share; no adjustment."""

TRANSFER_LABEL = "transfer_in_progress"


def probability(weight: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
    """Match probability of a total match weight (log2 odds): ``2^w / (1 + 2^w)``."""
    w = np.clip(np.asarray(weight, dtype=np.float64), -200.0, 200.0)
    return 1.0 / (1.0 + np.exp2(-w))


@dataclass(frozen=True, slots=True)
class ComparisonExplanation:
    """One comparison of one pair: the level it fell in and the weight that level adds."""

    comparison: str
    level: str
    weight: float
    """Level weight including any term-frequency adjustment."""
    tf_adjustment: float = 0.0


@dataclass(frozen=True, slots=True)
class PairExplanation:
    """Why two records were scored as they were."""

    left_id: int
    right_id: int
    prior_weight: float
    comparisons: tuple[ComparisonExplanation, ...]
    match_weight: float
    match_probability: float

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "left_id": self.left_id,
            "right_id": self.right_id,
            "prior_weight": round(self.prior_weight, 3),
            "match_weight": round(self.match_weight, 3),
            "match_probability": self.match_probability,
            "comparisons": [
                {
                    "comparison": c.comparison,
                    "level": c.level,
                    "weight": round(c.weight, 3),
                    "tf_adjustment": round(c.tf_adjustment, 3),
                }
                for c in self.comparisons
            ],
        }


@dataclass(slots=True)
class ScoredPairs:
    """Candidate pairs (rows of a table) with their levels, weights and probabilities."""

    left: npt.NDArray[np.int32]
    right: npt.NDArray[np.int32]
    levels: npt.NDArray[np.int8]
    level_weights: npt.NDArray[np.float32]
    """``(n, len(COMPARISONS))`` weights of each pair's levels, TF adjustments included."""
    tf_adjustments: npt.NDArray[np.float32]
    """``(n, 2)`` TF adjustments of surname and first name (already inside ``level_weights``)."""
    match_weight: npt.NDArray[np.float64]
    match_probability: npt.NDArray[np.float64]
    prior_weight: float
    ids: npt.NDArray[np.int64]
    """Record ids of the table's rows (``ids[left[k]]`` is the left record of pair ``k``)."""
    transfer_weight: npt.NDArray[np.float32] | None = None
    """Per pair, the weight :func:`transfer_in_progress` added (None: no pair has one)."""
    transfer_candidates: npt.NDArray[np.int32] | None = None
    """Per pair, how many live candidates its departing record had (0 where no weight was added)."""

    def __len__(self) -> int:
        return len(self.left)

    def explain(self, k: int) -> PairExplanation:
        """The explanation of pair number ``k``."""
        comps = []
        for i, comp in enumerate(COMPARISONS):
            tf = float(self.tf_adjustments[k, i]) if i < 2 else 0.0
            comps.append(
                ComparisonExplanation(
                    comparison=comp.name,
                    level=comp.levels[int(self.levels[k, i])].label,
                    weight=float(self.level_weights[k, i]),
                    tf_adjustment=tf,
                )
            )
        if self.transfer_weight is not None and self.transfer_weight[k] != 0:
            assert self.transfer_candidates is not None
            comps.append(
                ComparisonExplanation(
                    comparison=TRANSFER_LABEL,
                    level=f"left its post recently: the likeliest of {int(self.transfer_candidates[k])}"
                    " live candidates for its new record",
                    weight=float(self.transfer_weight[k]),
                )
            )
        return PairExplanation(
            left_id=int(self.ids[self.left[k]]),
            right_id=int(self.ids[self.right[k]]),
            prior_weight=self.prior_weight,
            comparisons=tuple(comps),
            match_weight=float(self.match_weight[k]),
            match_probability=float(self.match_probability[k]),
        )

    def select(self, mask: npt.NDArray[np.bool_]) -> ScoredPairs:
        """The pairs where ``mask`` is true."""
        return ScoredPairs(
            left=self.left[mask],
            right=self.right[mask],
            levels=self.levels[mask],
            level_weights=self.level_weights[mask],
            tf_adjustments=self.tf_adjustments[mask],
            match_weight=self.match_weight[mask],
            match_probability=self.match_probability[mask],
            prior_weight=self.prior_weight,
            ids=self.ids,
            transfer_weight=None if self.transfer_weight is None else self.transfer_weight[mask],
            transfer_candidates=None if self.transfer_candidates is None else self.transfer_candidates[mask],
        )


def score_pairs(
    model: Model,
    table: RecordTable,
    left: npt.NDArray[np.int32],
    right: npt.NDArray[np.int32],
    *,
    neighbours: Mapping[str, frozenset[str]] = DEFAULT_NEIGHBOURS,
) -> ScoredPairs:
    """Compare and weigh the pairs ``(left[k], right[k])``."""
    vectors = compare(table, left, right, neighbours=neighbours)
    weights, adj_s, adj_g = vectors_weights(model, table, vectors)
    weights[:, 0] += adj_s
    weights[:, 1] += adj_g
    total = model.prior_weight + weights.sum(axis=1)
    return ScoredPairs(
        left=left,
        right=right,
        levels=vectors.levels,
        level_weights=weights.astype(np.float32),
        tf_adjustments=np.stack([adj_s, adj_g], axis=1).astype(np.float32),
        match_weight=total,
        match_probability=probability(total),
        prior_weight=model.prior_weight,
        ids=table.ids,
    )


def departure_anchor(records: Sequence[Record] | RecordTable) -> int | None:
    """The latest ``left_on`` of the data (a proleptic ordinal), which stands for "now"; None when
    no record carries one."""
    if not isinstance(records, RecordTable):
        records = build_table(records)
    days = records.left_on
    known = days != MISSING
    return int(days[known].max()) if known.any() else None


def departing(
    records: Sequence[Record] | RecordTable,
    *,
    window_days: int = TRANSFER_WINDOW_DAYS,
    anchor: int | None = None,
) -> npt.NDArray[np.bool_]:
    """Per record: inactive, and left its post at most ``window_days`` before the latest departure.

    The latest ``left_on`` of the data (:func:`departure_anchor`) stands for "now", so that the
    result depends on the records alone (a full and an incremental run on the same records agree).
    ``anchor`` replaces it (an incremental run asks which records departed as the previous run saw
    them). Read from the table's ``left_on`` column, so that an incremental run over a kept table
    sees every departure, not only the records it prepared again.
    """
    if not isinstance(records, RecordTable):
        records = build_table(records)
    days = records.left_on
    known = days != MISSING
    latest = departure_anchor(records) if anchor is None else anchor
    if latest is None:
        return np.zeros(len(days), dtype=np.bool_)
    out: npt.NDArray[np.bool_] = known & (days <= latest) & (latest - days <= window_days)
    return out


@dataclass(frozen=True, slots=True)
class TransferPrior:
    """What :func:`transfer_in_progress` needs beyond a record's own pairs: ``share`` (π, the share
    of recent departures that have a live record; 0 when the data cannot tell) and ``live`` (N, the
    live records). Estimated when the model is fitted and kept with it, so that a record's
    posterior depends on its own candidates only and a change elsewhere cannot move it."""

    share: float
    live: int

    def to_stats(self) -> dict[str, float]:
        """As the model's ``stats`` entries."""
        return {"transfer_share": self.share, "transfer_live": float(self.live)}

    @classmethod
    def from_stats(cls, stats: Mapping[str, float]) -> TransferPrior | None:
        """From a model's ``stats``; None for a model fitted before the prior was kept."""
        if "transfer_share" not in stats or "transfer_live" not in stats:
            return None
        return cls(share=float(stats["transfer_share"]), live=int(stats["transfer_live"]))


def transfer_prior(table: RecordTable, departing_rows: npt.NDArray[np.bool_]) -> TransferPrior:
    """Estimate π and N from the data (see :func:`transfer_in_progress`).

    π: among recent departures carrying a NUMEN, the share whose NUMEN a live record carries,
    divided by the share of live records carrying one (capped); 0 with fewer than
    ``TRANSFER_MIN_ANCHORS`` such departures.
    """
    live = table.active
    n_live = int(live.sum())
    numen = table.numen
    departing_numen = np.flatnonzero(departing_rows & (numen != MISSING))
    live_numen = numen[live & (numen != MISSING)]
    if n_live == 0 or len(departing_numen) < TRANSFER_MIN_ANCHORS or not len(live_numen):
        return TransferPrior(share=0.0, live=n_live)
    anchored = float(np.isin(numen[departing_numen], live_numen).mean())
    share = len(live_numen) / n_live
    return TransferPrior(share=min(anchored / share, TRANSFER_SHARE_MAX), live=n_live)


def transfer_in_progress(
    table: RecordTable,
    scored: ScoredPairs,
    departing_rows: npt.NDArray[np.bool_],
    *,
    link_threshold: float,
    prior: TransferPrior | None = None,
) -> ScoredPairs:
    """Links a record that left its post recently to its one likely new record.

    A record with ``finfonction: FF`` and a recent ``dateff`` is, most of the time, the old half of
    a transfer (or of a move after a name change): its person has *one* live record somewhere.
    Fellegi-Sunter scores each pair on its own, with the prior of two records drawn at random, and
    so misses what that says. Here, for a departing record ``a`` and its scored live candidates
    ``b_1..b_k`` (Bayes factors ``λ_j`` from the comparisons), with ``π`` the share of recent
    departures that have a live record and ``N`` the live records:

        P(b_j is a's new record) = (π λ_j / N) / (1 - π + Σ_i π λ_i / N)

    ``π`` and ``N`` are ``prior`` (kept with the model), else estimated from the data
    (:func:`transfer_prior`). A pair's probability is raised to this posterior only when it reaches
    ``link_threshold`` (otherwise it keeps its Fellegi-Sunter probability): a candidate that has
    rivals with similar evidence is not linked.

    Leaving out candidates only raises a posterior, so a run that scores a subset of a record's
    pairs (an incremental run) links at most what a full run would; the incremental run then adds
    the record to its region and scores all of its pairs (see ``engine.link_incremental``).
    """
    n = len(table)
    live = table.active
    if not len(scored) or not departing_rows.any():
        return scored
    if prior is None:
        prior = transfer_prior(table, departing_rows)
    pi, n_live = prior.share, prior.live
    if pi <= 0 or n_live <= 0:
        return scored
    left, right = scored.left.astype(np.intp), scored.right.astype(np.intp)
    left_departs = departing_rows[left] & live[right]
    right_departs = departing_rows[right] & live[left]
    sel = np.flatnonzero(left_departs | right_departs)
    if not len(sel):
        return scored
    owner = np.where(left_departs[sel], left[sel], right[sel])
    # log2 of π λ_j / N; the Bayes factor is the pair's weight without the prior
    bits = np.log2(pi / n_live) + (scored.match_weight[sel] - scored.prior_weight)
    bits = np.clip(bits, -1000.0, 1000.0)
    # Σ per departing record, in log space (scaled by each record's largest term)
    top = np.full(n, -np.inf)
    np.maximum.at(top, owner, bits)
    total = np.zeros(n)
    np.add.at(total, owner, np.exp2(bits - top[owner]))
    count = np.bincount(owner, minlength=n)
    # posterior odds: (π λ_j / N) / (1 - π + Σ_{i≠j} π λ_i / N)
    own = np.exp2(bits - top[owner])
    rest = (total[owner] - own) * np.exp2(top[owner]) + (1.0 - pi)
    new_weight = bits - np.log2(np.maximum(rest, 1e-300))
    new_prob = probability(new_weight)
    raise_ = (new_prob >= link_threshold) & (new_weight > scored.match_weight[sel])
    if not raise_.any():
        return scored
    k = sel[raise_]
    match_weight = scored.match_weight.copy()
    added = np.zeros(len(scored), dtype=np.float32)
    candidates = np.zeros(len(scored), dtype=np.int32)
    added[k] = (new_weight[raise_] - match_weight[k]).astype(np.float32)
    candidates[k] = count[owner[raise_]]
    match_weight[k] = new_weight[raise_]
    return replace(
        scored,
        match_weight=match_weight,
        match_probability=probability(match_weight),
        transfer_weight=added,
        transfer_candidates=candidates,
    )
