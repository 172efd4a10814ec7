"""A record that left its post recently is linked to its one likely new record (``transfer_in_progress``)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from matching.engine import MatchResult, MatchSettings, link_full, link_incremental
from matching.evaluate import evaluate
from matching.features import take_rows, update_table
from matching.keys import block_keys
from matching.model import Model
from matching.records import Record
from matching.scoring import TRANSFER_LABEL, TransferPrior, departing
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


def _changes(
    dated: list[Record], seed: int, *, shift: int = 0, typos: bool = False
) -> tuple[list[Record], set[int], set[int]]:
    """About 1 % of records leave their post ``shift`` days after the latest departure (or come
    back), 0.5 % are removed and, with ``typos``, 0.5 % get a given-name typo: (records, changed,
    removed)."""
    rng = random.Random(seed)
    changed: set[int] = set()
    after: list[Record] = []
    for r in dated:
        x = rng.random()
        if x < 0.01:
            left = None if not r.active else LATEST + timedelta(days=shift)
            r = replace(r, active=not r.active, left_on=left)
            changed.add(r.id)
        elif x < 0.015:
            continue  # removed
        elif typos and x < 0.02:
            r = replace(r, given_name=r.given_name + "e")  # a typo fixed, or made
            changed.add(r.id)
        after.append(r)
    return after, changed, {r.id for r in dated} - {r.id for r in after}


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_equals_full_with_departures(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult], seed: int
) -> None:
    dated, _, _, first = data
    after, changed, removed = _changes(dated, seed)
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


def _incremental_as_the_runner_does(
    first: MatchResult, after: list[Record], changed: set[int], removed: set[int], *, keys: bool = True
) -> MatchResult:
    """``link_incremental`` over the previous table brought up to date, with the old block keys of
    the changed and removed records (``directory.matchrun.run`` does the same)."""
    old = take_rows(first.table, np.isin(first.table.ids, np.fromiter(changed | removed, np.int64)))
    by_id = {r.id: r for r in after}
    table = update_table(first.table, [by_id[r] for r in sorted(changed) if r in by_id], removed=removed)
    return link_incremental(
        table,
        first.state,
        changed=changed,
        removed=removed,
        model=first.model,
        settings=SETTINGS,
        previous_keys=block_keys(old)[0] if keys else None,
    )


def _touching(result: MatchResult, region: frozenset[int]) -> set[tuple[int, int, str]]:
    return {
        (d.left_id, d.right_id, d.decision)
        for d in result.decisions()
        if d.left_id in region or d.right_id in region
    }


def test_the_transfer_prior_is_kept_with_the_model(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult],
) -> None:
    dated, _, _, first = data
    prior = TransferPrior.from_stats(first.model.stats)
    assert prior is not None and 0 < prior.share <= 0.99
    assert prior.live == sum(r.active for r in dated)
    assert TransferPrior.from_stats(Model.from_json(first.model.to_json()).stats) == prior
    assert first.state.departure_anchor == LATEST.toordinal()
    # a thousand more live people change neither π nor N: every raise stays as it was
    top = max(r.id for r in dated)
    more = [record(top + 1 + i, usage_name=f"NOUVEAU{i}", academy="02") for i in range(1000)]
    again = link_full([*dated, *more], model=first.model, settings=SETTINGS)
    assert again.scored.transfer_weight is not None and first.scored.transfer_weight is not None
    raised = {
        (int(first.scored.left[k]), int(first.scored.right[k])): float(first.scored.transfer_weight[k])
        for k in np.flatnonzero(first.scored.transfer_weight)
    }
    again_raised = {
        (int(again.scored.left[k]), int(again.scored.right[k])): float(again.scored.transfer_weight[k])
        for k in np.flatnonzero(again.scored.transfer_weight)
    }
    assert again_raised == raised  # new rows come after every old one: row numbers agree


@pytest.mark.parametrize(("seed", "shift"), [(1, 0), (2, 0), (3, 60)])
def test_an_incremental_run_rematches_only_the_departures_its_changes_touch(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult], seed: int, shift: int
) -> None:
    """The same clusters and decisions as a full run, with far fewer departures re-matched; with
    ``shift``, a new departure moves "now" and some records stop being recent departures."""
    dated, _, _, first = data
    after, changed, removed = _changes(dated, seed, shift=shift, typos=True)
    full = link_full(after, model=first.model, settings=SETTINGS)
    inc = _incremental_as_the_runner_does(first, after, changed, removed)
    assert inc.clusters == full.clusters
    assert inc.rematched is not None
    assert _touching(inc, inc.rematched) == _touching(full, inc.rematched)
    every = _incremental_as_the_runner_does(first, after, changed, removed, keys=False)
    assert every.clusters == full.clusters
    assert every.rematched is not None
    departed = {int(i) for i in full.table.ids[departing(full.table)]}
    assert departed <= every.rematched
    # 30 surnames for 6,000 people: most departures share a block with some change, not all
    assert len(inc.rematched & departed) < len(departed)
    assert len(inc.rematched) < len(every.rematched)
    if shift:
        assert inc.state.departure_anchor == (LATEST + timedelta(days=shift)).toordinal()
        before = {int(i) for i in full.table.ids[departing(full.table, anchor=LATEST.toordinal())]}
        assert before ^ departed <= inc.rematched


def test_a_departure_whose_rival_left_is_rematched(
    data: tuple[list[Record], dict[int, int], MatchResult, MatchResult],
) -> None:
    """Two live namesakes hold a departure back; when one of them leaves the directory, the
    departure links to the other, in an incremental run as in a full one."""
    dated, _, _, first = data
    top = max(r.id for r in dated)
    same = {"given_name": "Perrine", "usage_name": "PIEDALLU", "birth_year": 1971, "role": "ENS"}
    gone, kept, rival = top + 1, top + 2, top + 3
    trio = [
        record(gone, academy="13", feed="ac-nice", active=False, left_on=LATEST, **same),
        record(kept, academy="02", feed="ac-amiens", **same),
        record(rival, academy="03", feed="ac-besancon", **same),
    ]
    before = link_full([*dated, *trio], model=first.model, settings=SETTINGS)
    assert before.clusters[gone] not in (before.clusters[kept], before.clusters[rival])
    after = [*dated, *trio[:2]]
    full = link_full(after, model=first.model, settings=SETTINGS)
    assert full.clusters[gone] == full.clusters[kept]  # the raise, once the rival is gone
    inc = _incremental_as_the_runner_does(before, after, set(), {rival})
    assert inc.rematched is not None and gone in inc.rematched
    assert inc.clusters == full.clusters
