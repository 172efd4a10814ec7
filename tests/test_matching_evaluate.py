"""Pairwise evaluation figures on small hand-made partitions."""

from __future__ import annotations

import numpy as np
import pytest

from matching.evaluate import evaluate, false_merge_cause, infer_scenario
from tests.matching_data import record


def test_pairwise_precision_recall_f1() -> None:
    truth = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "c"}
    pred = {1: 1, 2: 1, 3: 3, 4: 4, 5: 4, 6: 4}
    ev = evaluate(pred, truth, records=None)
    # true pairs: 12 13 23 45 = 4; predicted: 12 45 46 56 = 4; correct: 12 45 = 2
    assert (ev.true_pairs, ev.predicted_pairs, ev.correct_pairs) == (4, 4, 2)
    assert ev.precision == pytest.approx(0.5)
    assert ev.recall == pytest.approx(0.5)
    assert ev.f1 == pytest.approx(0.5)


def test_blocking_recall_scenarios_and_causes() -> None:
    records = {
        1: record(1, academy="25"),
        2: record(2, academy="24", active=False),  # transfer of 1
        3: record(3, usage_name="DUBOIS", academy="24"),  # name change of 1
        4: record(4, academy="25"),  # homonym of 1, same academy
    }
    truth = {1: "p", 2: "p", 3: "p", 4: "q"}
    pred = {1: 1, 2: 1, 3: 3, 4: 1}
    ev = evaluate(
        pred,
        truth,
        candidate_pairs=(np.array([1, 1]), np.array([2, 4])),
        linked_pairs=(np.array([1]), np.array([4])),
        records=records,
    )
    assert ev.blocking_recall == pytest.approx(1 / 3)
    assert ev.by_scenario["transfer"] == {"pairs": 1, "recall": 1.0, "blocking_recall": 1.0}
    assert ev.by_scenario["name change"]["recall"] == 0.0
    assert ev.false_merges == {"homonym in the same academy": 1, "chaining through other records": 1}


def test_infer_scenario_and_cause_labels() -> None:
    a = record(1, academy="25")
    assert infer_scenario(a, record(2, academy="25")) == "in-academy duplicate"
    assert infer_scenario(a, record(2, academy="01")) == "double posting"
    assert infer_scenario(a, record(2, academy="01", active=False)) == "transfer"
    assert infer_scenario(a, record(2, usage_name="PETIT")) == "name change"
    assert false_merge_cause(a, record(2, academy="01", birth_year=None), directly_linked=True) == "homonym"
    assert false_merge_cause(a, record(2, usage_name="MARTINE"), directly_linked=True) == "lookalike names"
