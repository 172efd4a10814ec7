"""Clustering: thresholds, chaining guards, human constraints as hard constraints."""

from __future__ import annotations

import numpy as np
import pytest

from matching.cluster import DISTINCT, LINK, REVIEW, Constraints, cluster
from matching.compare import COMPARISONS
from matching.errors import ConstraintConflictError
from matching.features import build_table
from matching.records import Record
from matching.scoring import ScoredPairs, probability
from tests.matching_data import record


def _scored(records: list[Record], pairs: list[tuple[int, int, float]]) -> tuple[object, ScoredPairs]:
    """A table and hand-weighted pairs (record ids, match weight)."""
    table = build_table(records)
    row = table.row_of()
    left = np.array([min(row[a], row[b]) for a, b, _ in pairs], dtype=np.int32)
    right = np.array([max(row[a], row[b]) for a, b, _ in pairs], dtype=np.int32)
    w = np.array([p[2] for p in pairs], dtype=np.float64)
    n = len(pairs)
    scored = ScoredPairs(
        left=left,
        right=right,
        levels=np.zeros((n, len(COMPARISONS)), dtype=np.int8),
        level_weights=np.zeros((n, len(COMPARISONS)), dtype=np.float32),
        tf_adjustments=np.zeros((n, 2), dtype=np.float32),
        match_weight=w,
        match_probability=probability(w),
        prior_weight=-20.0,
        ids=table.ids,
    )
    return table, scored


def _groups(table: object, clustering: object) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for rid, lab in zip(table.ids.tolist(), clustering.labels.tolist(), strict=True):  # type: ignore[attr-defined]
        out.setdefault(lab, set()).add(rid)
    return {frozenset(g) for g in out.values()}


def _run(records: list[Record], pairs: list[tuple[int, int, float]], **kw: object) -> tuple[object, object]:
    table, scored = _scored(records, pairs)
    return table, cluster(table, scored, link_threshold=0.99, review_threshold=0.5, **kw)  # type: ignore[arg-type]


def test_decisions_follow_thresholds() -> None:
    records = [record(i) for i in range(1, 5)]
    table, c = _run(records, [(1, 2, 10.0), (2, 3, 2.0), (3, 4, -5.0)])
    assert c.decisions.tolist() == [LINK, REVIEW, DISTINCT]  # type: ignore[attr-defined]
    assert _groups(table, c) == {frozenset({1, 2}), frozenset({3}), frozenset({4})}
    assert c.labels.tolist() == [1, 1, 3, 4]  # type: ignore[attr-defined]


def test_no_cluster_holds_two_numens_even_through_a_chain() -> None:
    records = [record(1, numen_hash="n:A"), record(2), record(3, numen_hash="n:B")]
    table, c = _run(records, [(1, 2, 12.0), (2, 3, 11.0)])
    assert _groups(table, c) == {frozenset({1, 2}), frozenset({3})}
    assert [r.reason for r in c.refused] == ["different NUMEN"]  # type: ignore[attr-defined]
    assert c.decisions.tolist() == [LINK, REVIEW]  # type: ignore[attr-defined]


def test_two_active_records_of_one_academy_with_different_birth_dates_stay_apart() -> None:
    records = [
        record(1, birth_hash="b:1"),
        record(2, birth_hash="b:2"),
        record(3, birth_hash="b:2", academy="24", active=False),
        record(4, birth_hash="b:1", academy="24", active=False),
    ]
    table, c = _run(records, [(1, 2, 12.0), (3, 4, 11.0)], birth_date_guard=False)
    # 1 and 2 are two live accounts of one academy with two birth dates: two people;
    # 3 and 4 have left their posts, so this guard does not apply to them
    assert _groups(table, c) == {frozenset({1}), frozenset({2}), frozenset({3, 4})}
    assert [r.reason for r in c.refused] == ["two active records of one academy with different birth dates"]  # type: ignore[attr-defined]


def test_no_chain_joins_two_birth_dates_but_swapped_ones_meet() -> None:
    records = [
        record(1, birth_hash="b:1980-03-04", birth_swapped_hash="b:1980-04-03"),
        record(2),  # no date: the link in the chain
        record(3, birth_hash="b:1975-01-01", academy="24"),
        record(4, birth_hash="b:1980-04-03", birth_swapped_hash="b:1980-03-04", academy="01"),
    ]
    table, c = _run(records, [(1, 2, 12.0), (2, 3, 11.0), (1, 4, 10.0)])
    assert _groups(table, c) == {frozenset({1, 2, 4}), frozenset({3})}
    assert [r.reason for r in c.refused] == ["two different birth dates"]  # type: ignore[attr-defined]


def test_human_constraints_are_honoured() -> None:
    records = [record(i) for i in range(1, 7)]
    constraints = Constraints(must_link=((5, 6),), cannot_link=((1, 2),))
    table, c = _run(records, [(1, 2, 15.0), (2, 3, 14.0), (1, 3, 13.0)], constraints=constraints)
    groups = _groups(table, c)
    assert frozenset({5, 6}) in groups
    assert not any({1, 2} <= g for g in groups)


def test_split_partitions_a_person() -> None:
    records = [record(i) for i in range(1, 5)]
    constraints = Constraints(splits=((frozenset({1, 2}), frozenset({3, 4})),))
    table, c = _run(records, [(1, 3, 15.0), (2, 4, 15.0), (1, 4, 15.0)], constraints=constraints)
    assert _groups(table, c) == {frozenset({1, 2}), frozenset({3, 4})}


def test_contradictory_constraints_raise() -> None:
    records = [record(i) for i in range(1, 4)]
    constraints = Constraints(must_link=((1, 2), (2, 3)), cannot_link=((1, 3),))
    with pytest.raises(ConstraintConflictError) as info:
        _run(records, [], constraints=constraints)
    assert info.value.record_ids == (2, 3)


def test_result_does_not_depend_on_row_order() -> None:
    records = [record(1, numen_hash="n:A"), record(2), record(3, numen_hash="n:B"), record(4)]
    pairs = [(1, 2, 12.0), (2, 3, 12.0), (3, 4, 12.0), (2, 4, 12.0)]
    table1, c1 = _run(records, pairs)
    table2, c2 = _run(list(reversed(records)), list(reversed(pairs)))
    assert _groups(table1, c1) == _groups(table2, c2)
