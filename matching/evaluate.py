"""Evaluation against a truth (record id → true person): pairwise precision, recall, F1, blocking recall.

Pairwise measures count pairs of records: a *predicted* pair is two records in one cluster, a
*true* pair two records of one person. Precision is the share of predicted pairs that are true
(a false merge costs one false pair per record pair it joins), recall the share of true pairs
predicted. Blocking recall is the share of true pairs that blocking offered for comparison: no
scoring can link a pair that was never compared.

Recall and blocking recall are broken down by duplicate scenario when the caller labels each true
pair (:func:`infer_scenario` labels it from the two records the way the academy feeds produce
duplicates); false merges are broken down by cause (:func:`false_merge_cause`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .arrays import pairs_within_runs
from .normalize import given_name_key, surname_key
from .records import Record

__all__ = ["Evaluation", "evaluate", "false_merge_cause", "infer_scenario"]

_MAX_CLUSTER_PAIRS = 2_000_000
"""Bound on the false pairs enumerated for causes (a runaway cluster is reported, not expanded)."""


@dataclass(slots=True)
class Evaluation:
    """Pairwise quality figures of one run against a truth."""

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    blocking_recall: float | None = None
    by_scenario: dict[str, dict[str, float]] = field(default_factory=dict)
    """Scenario → ``pairs``, ``recall``, ``blocking_recall``."""
    false_merges: dict[str, int] = field(default_factory=dict)
    """Cause → false pairs."""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (the ``directory match evaluate`` line)."""
        return {
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs,
            "blocking_recall": None if self.blocking_recall is None else round(self.blocking_recall, 6),
            "by_scenario": self.by_scenario,
            "false_merges": self.false_merges,
        }


def _codes(values: list[Hashable]) -> npt.NDArray[np.int64]:
    index: dict[Hashable, int] = {}
    return np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))


def _pair_count(labels: npt.NDArray[np.int64]) -> int:
    """Pairs of rows sharing a label: the sum of n(n-1)/2 over the run lengths of the sorted labels."""
    if not len(labels):
        return 0
    s = np.sort(labels)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    counts = np.diff(np.r_[starts, len(s)])
    return int((counts * (counts - 1) // 2).sum())


def _pairs_within(ids: npt.NDArray[np.int64], labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``(k, 2)`` record-id pairs (smaller first) of records sharing a label."""
    order = np.lexsort((ids, labels))
    ids_s, lab_s = ids[order], labels[order]
    starts = np.flatnonzero(np.r_[True, lab_s[1:] != lab_s[:-1]])
    sizes = np.diff(np.r_[starts, len(lab_s)])
    # ids are sorted within a label: the first of each pair is the smaller
    out = [np.stack([lo, hi], axis=1) for lo, hi in pairs_within_runs(ids_s, starts, sizes)]
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)


def _pack(pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    return (lo << 32) | hi


def infer_scenario(a: Record, b: Record) -> str:
    """How two records of one person came about, read from the records (a heuristic for reports).

    ``name change`` when the usage names differ; otherwise ``in-academy duplicate`` within one
    academy, ``transfer`` when one record has left its post, ``double posting`` when both are active.
    """
    if surname_key(a.usage_name) != surname_key(b.usage_name):
        return "name change"
    if a.academy == b.academy:
        return "in-academy duplicate"
    if not (a.active and b.active):
        return "transfer"
    return "double posting"


def false_merge_cause(a: Record, b: Record, *, directly_linked: bool) -> str:
    """Why two records of different people may have been put together."""
    if not directly_linked:
        return "chaining through other records"
    same_name = surname_key(a.usage_name) == surname_key(b.usage_name) and given_name_key(
        a.given_name
    ) == given_name_key(b.given_name)
    if same_name:
        if a.academy == b.academy:
            return "homonym in the same academy"
        if a.birth_year is not None and a.birth_year == b.birth_year:
            return "homonym born the same year"
        return "homonym"
    return "lookalike names"


def evaluate(
    clusters: Mapping[int, Hashable],
    truth: Mapping[int, Hashable],
    *,
    candidate_pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    linked_pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    records: Mapping[int, Record] | None = None,
    scenario_of: Callable[[Record, Record], str] | None = infer_scenario,
) -> Evaluation:
    """Compare predicted ``clusters`` (record id → label) with ``truth`` (record id → person).

    Only records present in both count. ``candidate_pairs`` (left and right record ids) gives
    blocking recall; ``linked_pairs`` tells direct links from chaining in false-merge causes;
    ``records`` enables the scenario and cause breakdowns.
    """
    ids = np.fromiter((r for r in clusters if r in truth), dtype=np.int64)
    pred = _codes([clusters[int(r)] for r in ids.tolist()])
    true = _codes([truth[int(r)] for r in ids.tolist()])
    predicted_pairs = _pair_count(pred)
    true_pairs = _pair_count(true)
    both = pred * (int(true.max(initial=0)) + 1) + true
    correct = _pair_count(both)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ev = Evaluation(precision, recall, f1, true_pairs, predicted_pairs, correct)

    truth_list = _pairs_within(ids, true)
    truth_codes = _pack(truth_list) if len(truth_list) else np.empty(0, dtype=np.int64)
    offered = np.zeros(len(truth_codes), dtype=np.bool_)
    if candidate_pairs is not None:
        cand = _pack(np.stack([candidate_pairs[0], candidate_pairs[1]], axis=1).astype(np.int64))
        offered = np.isin(truth_codes, cand)
        ev.blocking_recall = float(offered.mean()) if len(offered) else 1.0
    if records is not None and scenario_of is not None and len(truth_list):
        label_of = dict(zip(ids.tolist(), pred.tolist(), strict=True))
        found = np.fromiter(
            (label_of[a] == label_of[b] for a, b in truth_list.tolist()),
            dtype=np.bool_,
            count=len(truth_list),
        )
        scen = [scenario_of(records[a], records[b]) for a, b in truth_list.tolist()]
        for name in sorted(set(scen)):
            mask = np.fromiter((s == name for s in scen), dtype=np.bool_, count=len(scen))
            row: dict[str, float] = {"pairs": int(mask.sum()), "recall": round(float(found[mask].mean()), 6)}
            if candidate_pairs is not None:
                row["blocking_recall"] = round(float(offered[mask].mean()), 6)
            ev.by_scenario[name] = row
    if records is not None and predicted_pairs - correct > 0:
        if predicted_pairs <= _MAX_CLUSTER_PAIRS:
            pred_list = _pairs_within(ids, pred)
            false = pred_list[~np.isin(_pack(pred_list), truth_codes)] if len(pred_list) else pred_list
            links: set[int] = set()
            if linked_pairs is not None:
                packed = _pack(np.stack([linked_pairs[0], linked_pairs[1]], axis=1).astype(np.int64))
                links = set(packed.tolist())
            causes: Counter[str] = Counter()
            for (a, b), code in zip(false.tolist(), _pack(false).tolist(), strict=True):
                # without the links, every false pair is classified by what the two records share
                direct = linked_pairs is None or code in links
                causes[false_merge_cause(records[a], records[b], directly_linked=direct)] += 1
            ev.false_merges = dict(causes.most_common())
        else:
            ev.false_merges = {"not broken down (too many predicted pairs)": predicted_pairs - correct}
    return ev
