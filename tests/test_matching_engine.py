"""The engine end to end on labelled records: quality, explanations, identities, incremental = full."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from matching.cluster import Constraints
from matching.engine import (
    MatchResult,
    MatchSettings,
    MatchState,
    assign_person_ids,
    link_full,
    link_incremental,
)
from matching.evaluate import evaluate
from matching.features import build_table_in_parts
from matching.model import Model
from matching.records import Record
from tests.matching_data import generate, record

SETTINGS = MatchSettings(random_pairs=100_000)


@pytest.fixture(scope="module")
def data() -> tuple[list[Record], dict[int, int], MatchResult]:
    records, truth = generate(6000, seed=11)
    return records, truth, link_full(records, settings=SETTINGS)


def _partition(clusters: dict[int, int]) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for rid, lab in clusters.items():
        out.setdefault(lab, set()).add(rid)
    return {frozenset(g) for g in out.values()}


def test_full_run_is_precise_on_homonym_heavy_data(
    data: tuple[list[Record], dict[int, int], MatchResult],
) -> None:
    records, truth, result = data
    ev = evaluate(result.clusters, truth, records={r.id: r for r in records})
    # 30 surnames and 16 first names for 6,000 people: homonyms everywhere, and no false merge allowed
    assert ev.precision >= 0.99
    assert ev.recall >= 0.6
    assert set(ev.by_scenario) == {"transfer", "name change", "double posting", "in-academy duplicate"}


def test_every_decision_explains_itself(data: tuple[list[Record], dict[int, int], MatchResult]) -> None:
    _, _, result = data
    link = next(d for d in result.decisions() if d.decision == "link")
    why = result.explain(link.left_id, link.right_id)
    assert why is not None
    assert abs(why.prior_weight + sum(c.weight for c in why.comparisons) - why.match_weight) < 1e-3
    assert why.match_probability == pytest.approx(link.match_probability)
    names = [c.comparison for c in why.comparisons]
    assert names[:4] == ["surname", "given_name", "birth_date", "numen"]
    assert all(c.level for c in why.comparisons)
    assert why.as_dict()["comparisons"]


def test_term_frequency_makes_rare_names_weigh_more() -> None:
    records = [record(i, usage_name="MARTIN", given_name="Nathalie") for i in range(1, 200)]
    records += [
        record(300 + i, usage_name=f"NOM{i}", given_name="Nathalie", numen_hash=f"n:{i}") for i in range(60)
    ]
    records += [
        record(400 + i, usage_name=f"NOM{i}", given_name="Nathalie", numen_hash=f"n:{i}") for i in range(60)
    ]
    records += [record(500, usage_name="PIEDALLU"), record(501, usage_name="PIEDALLU")]
    result = link_full(records, settings=replace(SETTINGS, max_block_size=500))
    rare = result.explain(500, 501)
    common = result.explain(1, 2)
    assert rare is not None and common is not None
    assert rare.comparisons[0].weight > common.comparisons[0].weight + 3


def test_model_and_state_round_trip_through_json(
    data: tuple[list[Record], dict[int, int], MatchResult],
) -> None:
    _, _, result = data
    model = Model.from_json(result.model.to_json())
    assert model.to_json() == result.model.to_json()
    state = MatchState.from_json(result.state.to_json())
    assert state == result.state


def _mutate(records: list[Record], seed: int) -> tuple[list[Record], set[int], set[int]]:
    """About 2 % of records changed, 1 % removed, 1 % added (copies of others: new duplicates)."""
    rng = random.Random(seed)
    out: list[Record] = []
    changed: set[int] = set()
    removed: set[int] = set()
    for r in records:
        x = rng.random()
        if x < 0.01:
            removed.add(r.id)
            continue
        if x < 0.02:
            r = replace(r, usage_name=rng.choice(["MARTIN", "PIEDALLU", r.usage_name + "E"]))
            changed.add(r.id)
        elif x < 0.03:
            r = replace(r, active=not r.active, birth_hash=None)
            changed.add(r.id)
        out.append(r)
    next_id = max(r.id for r in records) + 1
    for src in rng.sample(out, len(records) // 100):
        out.append(replace(src, id=next_id, uid=f"n{next_id}", academy="24", feed="ac-24", active=False))
        changed.add(next_id)
        next_id += 1
    rng.shuffle(out)
    return out, changed, removed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_full(data: tuple[list[Record], dict[int, int], MatchResult], seed: int) -> None:
    records, _, first = data
    constraints = Constraints(
        must_link=((records[0].id, records[1].id),), cannot_link=((records[2].id, records[3].id),)
    )
    before = link_full(records, model=first.model, constraints=constraints, settings=SETTINGS)
    after_records, changed, removed = _mutate(records, seed)
    full = link_full(after_records, model=first.model, constraints=constraints, settings=SETTINGS)
    inc = link_incremental(
        after_records,
        before.state,
        changed=changed,
        removed=removed,
        model=first.model,
        constraints=constraints,
        settings=SETTINGS,
    )
    assert inc.clusters == full.clusters
    assert inc.state.oversize_keys == full.state.oversize_keys
    assert inc.rematched is not None and len(inc.rematched) < len(after_records)
    # decisions touching the re-matched records are those of the full run
    region = inc.rematched

    def touching(result: MatchResult) -> set[tuple[int, int, str]]:
        return {
            (d.left_id, d.right_id, d.decision)
            for d in result.decisions()
            if d.left_id in region or d.right_id in region
        }

    assert touching(inc) == touching(full)

    # person ids: those that survive are the same either way
    mint_a, mint_b = itertools.count(1), itertools.count(10**6)
    persons = assign_person_ids(before, {}, lambda: next(mint_a)).assignment
    ids_full = assign_person_ids(full, persons, lambda: next(mint_b))
    ids_inc = assign_person_ids(inc, persons, lambda: next(mint_b))
    assert _partition(ids_full.assignment) == _partition(ids_inc.assignment)
    old = set(persons.values())
    kept_full = {r: p for r, p in ids_full.assignment.items() if p in old}
    kept_inc = {r: p for r, p in ids_inc.assignment.items() if p in old}
    assert kept_full == kept_inc
    assert ids_full.merged == ids_inc.merged


def test_incremental_with_no_change_changes_nothing(
    data: tuple[list[Record], dict[int, int], MatchResult],
) -> None:
    records, _, first = data
    inc = link_incremental(records, first.state, changed=(), model=first.model, settings=SETTINGS)
    assert inc.clusters == first.clusters
    assert inc.rematched == frozenset()


def test_a_table_built_in_parts_matches_as_the_whole(
    data: tuple[list[Record], dict[int, int], MatchResult],
) -> None:
    """What the runner does to hold one batch of records at a time gives the same run."""
    records, _, first = data
    parts = [records[i : i + 700] for i in range(0, len(records), 700)]
    table = build_table_in_parts(iter(parts))
    assert table.ids.tolist() == [r.id for r in records]
    again = link_full(table, model=first.model, settings=SETTINGS)
    assert again.clusters == first.clusters
    assert len(again.scored) == len(first.scored)
    assert sorted(again.scored.match_weight.tolist()) == pytest.approx(
        sorted(first.scored.match_weight.tolist())
    )
    assert build_table_in_parts(iter([])).ids.tolist() == []
