"""Stable person ids: kept, merged, split, retired, minted."""

from __future__ import annotations

import itertools

from matching.identity import assign_identities


def _mint(start: int = 100):  # type: ignore[no-untyped-def]
    counter = itertools.count(start)
    return lambda: next(counter)


def test_unchanged_clusters_keep_their_ids() -> None:
    prev = {1: 10, 2: 10, 3: 11}
    change = assign_identities(prev, [[1, 2], [3]], _mint())
    assert change.assignment == prev
    assert not change.created and not change.merged and not change.split and not change.retired


def test_new_record_joins_and_new_person_is_minted() -> None:
    change = assign_identities({1: 10}, [[1, 4], [5]], _mint())
    assert change.assignment == {1: 10, 4: 10, 5: 100}
    assert change.created == [100]


def test_merge_keeps_the_larger_then_older_id() -> None:
    change = assign_identities({1: 12, 2: 12, 3: 11}, [[1, 2, 3]], _mint())
    assert set(change.assignment.values()) == {12}
    assert change.merged == {11: 12}
    change = assign_identities({1: 12, 3: 11}, [[1, 3]], _mint())
    assert set(change.assignment.values()) == {11}  # equal sizes: the smaller (older) id
    assert change.merged == {12: 11}


def test_split_keeps_the_id_on_the_larger_part() -> None:
    change = assign_identities({1: 10, 2: 10, 3: 10}, [[1], [2, 3]], _mint())
    assert change.assignment == {1: 100, 2: 10, 3: 10}
    assert change.split == {10: [100]}
    assert not change.merged


def test_retired_when_every_record_is_gone() -> None:
    change = assign_identities({1: 10, 2: 11}, [[1]], _mint())
    assert change.retired == [11]
    assert change.assignment == {1: 10}


def test_does_not_depend_on_cluster_order() -> None:
    prev = {1: 10, 2: 11, 3: 12, 4: 12}
    a = assign_identities(prev, [[1, 2], [3], [4]], _mint())
    b = assign_identities(prev, [[4], [3], [2, 1]], _mint())
    assert a.assignment == b.assignment
