"""Scoring candidate pairs with a model, and explaining any one of them.

A :class:`ScoredPairs` keeps, for every pair, the level of each comparison, the total match weight
and the match probability, all as numpy arrays; :meth:`ScoredPairs.explain` turns one pair into a
:class:`PairExplanation` that lists each comparison's level label and weight (the TF adjustment
included), which is what the review screen and the logs show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .compare import COMPARISONS, DEFAULT_NEIGHBOURS, compare
from .features import RecordTable
from .model import Model, vectors_weights

__all__ = ["ComparisonExplanation", "PairExplanation", "ScoredPairs", "probability", "score_pairs"]


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
