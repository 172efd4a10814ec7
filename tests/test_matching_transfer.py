"""A record that left its post recently is linked to its one likely new record (``transfer_in_progress``)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from matching.engine import MatchResult, MatchSettings, link_full, link_incremental
from matching.evaluate import evaluate
from matching.records import Record
from matching.scoring import TRANSFER_LABEL, departing
from tests.matching_data import generate, record

SETTINGS = MatchSettings(random_pairs=100_000)
LATEST = date(2026, 11, 2)


def _with_departures(records: list[Record], seed: int) -> list[Record]:
    """Inactive records get a ``dateff``: most within the last months, some years ago."""
    rng = random.Random(seed)
    out = []
    for r in records:
        if not r.active:
            days = rng.randrange(150) if rng.random() < 0.8 else 400 + rng.randrange(1000)
            r = replace(r, left_on=LATEST - timedelta(days=days))
        out.append(r)
    return out


@pytest.fixture(scope="module")
def data() -> tuple[list[Record], dict[int, int], MatchResult, MatchResult]:
    records, truth = generate(6000, seed=11)
    dated = _with_departures(records, seed=5)
    return dated, truth, link_full(records, settings=SETTINGS), link_full(dated, settings=SETTINGS)


def test_departing_is_relative_to_the_latest_departure() -> None:
    records = [
        record(1, active=False, left_on=date(2025, 11, 20)),
        record(2, active=False, left_on=date(2025, 7, 1)),  # 142 days before the latest
        record(3, active=False, left_on=date(2024, 12, 1)),  # a year before: left for good
        record(4, active=True, left_on=date(2025, 11, 1)),  # active again: not departing
        record(5, active=False),  # no date
    ]
    assert departing(records).tolist() == [True, True, False, False, False]
    assert not departing([record(1), record(2)]).any()


def test_recent_departures_find_their_new_record_without_false_merges(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult],
) -> None:
    dated, truth, plain, with_dates = data
    by_id = {r.id: r for r in dated}
    before = evaluate(plain.clusters, truth, records=by_id)
    after = evaluate(with_dates.clusters, truth, records=by_id)
    # 30 surnames and 16 first names for 6,000 people: most departures have rivals, a few do not
    assert after.by_scenario["transfer"]["recall"] > before.by_scenario["transfer"]["recall"]
    assert after.recall > before.recall
    assert after.precision >= 0.99
    s = with_dates.scored
    assert s.transfer_weight is not None
    raised = [k for k in range(len(s)) if s.transfer_weight[k] > 0]
    right = sum(truth[int(s.ids[s.left[k]])] == truth[int(s.ids[s.right[k]])] for k in raised)
    assert raised and right >= 0.98 * len(raised)


def test_a_raised_pair_explains_the_raise(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult],
) -> None:
    _, _, _, result = data
    s = result.scored
    assert s.transfer_weight is not None
    k = int(s.transfer_weight.argmax())
    assert s.transfer_weight[k] > 0
    why = s.explain(k)
    extra = [c for c in why.comparisons if c.comparison == TRANSFER_LABEL]
    assert len(extra) == 1 and extra[0].weight > 0
    assert abs(why.prior_weight + sum(c.weight for c in why.comparisons) - why.match_weight) < 1e-3
    assert why.match_probability >= SETTINGS.link_threshold


def test_a_rival_with_the_same_evidence_stops_the_raise(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult],
) -> None:
    dated, _, _, result = data
    s = result.scored
    assert s.transfer_weight is not None
    # a pair linked only thanks to the raise
    raised = [
        k for k in range(len(s)) if s.transfer_weight[k] > 0 and s.match_weight[k] - s.transfer_weight[k] < 0
    ]
    assert raised
    k = raised[0]
    a, b = int(s.ids[s.left[k]]), int(s.ids[s.right[k]])
    live = b if next(r for r in dated if r.id == b).active else a
    other = a if live == b else b
    twin_of = next(r for r in dated if r.id == live)
    twin = replace(twin_of, id=max(r.id for r in dated) + 1, uid="twin")
    rerun = link_full([*dated, twin], model=result.model, settings=SETTINGS)
    assert rerun.clusters[other] != rerun.clusters[live] or rerun.clusters[other] == rerun.clusters[twin.id]
    why = rerun.explain(min(other, live), max(other, live))
    assert why is not None
    assert all(c.comparison != TRANSFER_LABEL for c in why.comparisons)


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_equals_full_with_departures(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult], seed: int
) -> None:
    dated, _, _, first = data
    rng = random.Random(seed)
    changed: set[int] = set()
    after: list[Record] = []
    for r in dated:
        x = rng.random()
        if x < 0.01:
            # a live record leaves its post now, or a departure is undone
            r = replace(r, active=not r.active, left_on=None if not r.active else LATEST)
            changed.add(r.id)
        elif x < 0.015:
            continue  # removed
        after.append(r)
    removed = {r.id for r in dated} - {r.id for r in after}
    full = link_full(after, model=first.model, settings=SETTINGS)
    inc = link_incremental(
        after, first.state, changed=changed, removed=removed, model=first.model, settings=SETTINGS
    )
    assert inc.clusters == full.clusters
    region = inc.rematched
    assert region is not None

    def touching(result: MatchResult) -> set[tuple[int, int, str]]:
        return {
            (d.left_id, d.right_id, d.decision)
            for d in result.decisions()
            if d.left_id in region or d.right_id in region
        }

    assert touching(inc) == touching(full)
