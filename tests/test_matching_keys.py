"""Blocking: the keys pair true duplicates, the block bound holds, a focus restricts the pairs."""

from __future__ import annotations

import numpy as np

from matching.features import build_table
from matching.keys import candidate_pairs, rows_sharing_blocks
from tests.matching_data import generate, record


def _pairs(records: list, **kw: object) -> set[tuple[int, int]]:
    table = build_table(records)
    cp = candidate_pairs(table, max_block_size=kw.pop("max_block_size", 100), **kw)  # type: ignore[arg-type]
    ids = table.ids
    return {(int(ids[a]), int(ids[b])) for a, b in zip(cp.left.tolist(), cp.right.tolist(), strict=True)}


def test_each_family_pairs_its_duplicates() -> None:
    records = [
        record(1, usage_name="LE GALL", given_name="Jean-Pierre"),
        record(2, usage_name="LEGALL", given_name="Jean Pierre"),  # name key
        record(3, usage_name="DUPOND", given_name="Loic", academy="24"),
        record(4, usage_name="DUPONT", given_name="Loïc"),  # phonetic key
        record(5, usage_name="PIEDALLU", given_name="J-Pierre"),
        record(6, usage_name="PIEDALLU", given_name="Jean-Pierre"),  # initial key
        record(7, usage_name="BERNARD", given_name="Anne", birth_hash="b:1980-01-02"),
        record(8, usage_name="THOMAS", given_name="Anne", birth_hash="b:1980-01-02"),  # birth key
        record(9, usage_name="KERGOAT", given_name="Yann", birth_hash="b:1970-05-04"),
        record(
            10, usage_name="KERGOAT", given_name="Erwan", birth_swapped_hash="b:1970-05-04", birth_hash="x"
        ),
        record(11, usage_name="A", given_name="Zoé", numen_hash="n:1"),
        record(12, usage_name="B", given_name="Yves", numen_hash="n:1"),  # numen key
        record(13, usage_name="C", given_name="Paul", mail="p.c@ac-paris.fr"),
        record(14, usage_name="D", given_name="Luc", mail="P.C@ac-lyon.fr"),  # mail local part
        record(15, usage_name="DUBOIS", birth_name="MOREAU", given_name="Eve"),
        record(16, usage_name="MOREAU", given_name="Eve"),  # crosswise birth name
    ]
    pairs = _pairs(records)
    for a in range(1, 17, 2):
        assert (a, a + 1) in pairs, a
    assert (1, 3) not in pairs


def test_oversize_blocks_are_skipped_and_named() -> None:
    records = [record(i, given_name=f"N{i}") for i in range(1, 30)]
    table = build_table(records)
    cp = candidate_pairs(table, max_block_size=10)
    assert "initial:martin|n" in cp.oversize_keys
    assert cp.stats.oversize["initial"] >= 1
    # the first names differ, so only the skipped MARTIN + N block could have paired them
    assert len(cp) == 0


def test_pairs_are_distinct_and_ordered() -> None:
    records, _ = generate(2000, seed=5)
    cp = candidate_pairs(build_table(records), max_block_size=50)
    assert (cp.left < cp.right).all()
    codes = cp.left.astype(np.int64) << 32 | cp.right
    assert len(np.unique(codes)) == len(codes)


def test_focus_returns_exactly_the_pairs_touching_it() -> None:
    records, _ = generate(1500, seed=6)
    table = build_table(records)
    full = candidate_pairs(table, max_block_size=50)
    focus = np.zeros(len(table), dtype=np.bool_)
    focus[::37] = True
    part = candidate_pairs(table, max_block_size=50, focus=focus)
    expected = focus[full.left] | focus[full.right]
    assert set(zip(part.left.tolist(), part.right.tolist(), strict=True)) == set(
        zip(full.left[expected].tolist(), full.right[expected].tolist(), strict=True)
    )


def test_rows_sharing_blocks_includes_blocks_that_shrank_below_the_bound() -> None:
    # nine MARTIN N... records: within the initial family's bound (10) now, skipped before
    records = [record(i, given_name=f"N{i}") for i in range(1, 10)]
    table = build_table(records)
    none = np.zeros(len(table), dtype=np.bool_)
    assert not rows_sharing_blocks(table, none, max_block_size=20).any()
    grown = rows_sharing_blocks(table, none, max_block_size=20, previous_oversize=["initial:martin|n"])
    assert grown.all()
